from django.apps import AppConfig


class ConfigAdminConfig(AppConfig):
    name = "config_admin"
    verbose_name = "System configuration"
    default_auto_field = "django.db.models.AutoField"
