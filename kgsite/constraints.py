"""Constraint builders shared by the apps' models."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


def choices_check(field: str, choices: type[models.Choices], name: str, *,
                  allow_blank: bool = False) -> models.CheckConstraint:
    """``CHECK (field IN (...))`` over a ``TextChoices``, under the spec's constraint name, with a message that
    lists the allowed values (and the empty string with ``allow_blank``)."""
    label = field.replace("_", " ").capitalize()
    values = [*choices.values, ""] if allow_blank else choices.values
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": values}), name=name,
        violation_error_message=f"{label} must be one of: {', '.join(choices.values)}.",
    )
