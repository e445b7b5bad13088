from django.db import models


class ParameterType(models.TextChoices):
    INTEGER = "integer", "Integer"
    FLOAT = "float", "Float"
    TEXT = "text", "Text"
    BOOLEAN = "boolean", "Boolean"
