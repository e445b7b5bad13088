from django.conf import settings

from kgsite import embedded_pg
from kgsite.management.base import DomainCommand


class Command(DomainCommand):
    help = "Status, connection URL, or stop of the embedded PostgreSQL server (when DATABASE_URL is unset)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "url", "stop"])

    def handle(self, *args, action, **options):
        if not settings.KGSITE_EMBEDDED_POSTGRES:
            raise embedded_pg.EmbeddedServerError(
                "DATABASE_URL is set: kgsite is not using the embedded PostgreSQL server",
                code=embedded_pg.NOT_EMBEDDED,
            )
        data_dir = settings.KGSITE_DATA_DIR
        if action == "stop":
            stopped = embedded_pg.stop_server(data_dir)
            self.stdout.write("stopped" if stopped else "not running")
            return
        info = embedded_pg.running_server(data_dir)
        if info is None:
            self.stdout.write(f"not running (data: {data_dir})")
        elif action == "url":
            self.stdout.write(info.url(settings.DATABASES["default"]["EMBEDDED"]["DATABASE"]))
        else:
            self.stdout.write(f"running: pid {info.pid}, data {data_dir}, socket {info.socket_dir}")
