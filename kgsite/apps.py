from django.apps import AppConfig
from django.db.models.signals import post_migrate


class KgsiteConfig(AppConfig):
    name = "kgsite"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from kgsite.roles import sync_after_migrate

        # Once per migrate (sent for this app): the role groups get exactly what their rules give.
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="kgsite.roles")
