from django.apps import AppConfig


class KgsiteConfig(AppConfig):
    name = "kgsite"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.AutoField"
