from django.core.management.base import BaseCommand, CommandError

from kgsite.adoption import AdoptionError, database_adopt


class Command(BaseCommand):
    help = (
        "Take over a database created from the spec's SQL: check it holds the spec's schema, record the spec-layer "
        "migrations as applied and apply kgsite's own, in one transaction. Data is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, **options):
        try:
            report = database_adopt(using=options["database"], verbosity=options["verbosity"], stdout=self.stdout)
        except AdoptionError as exc:
            raise CommandError(str(exc)) from exc
        rows = ", ".join(f"{table}: {count}" for table, count in report.rows_before.items())
        self.stdout.write(self.style.SUCCESS(
            f"Adopted: recorded {len(report.recorded)} spec-layer migrations as applied and migrated. "
            f"Rows kept: {rows}."
        ))
