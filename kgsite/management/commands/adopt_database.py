from django.db import connections

from kgsite.adoption import database_adopt
from kgsite.errors import InvalidArgument
from kgsite.management.base import DomainCommand


class Command(DomainCommand):
    # It runs migrations, whose SQL a pghistory context would rewrite (a '%' in them breaks).
    history_context = False
    help = (
        "Take over a database created from the spec's SQL: check it holds the spec's schema, record the spec-layer "
        "migrations as applied and apply kgsite's own, in one transaction. Data is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, **options):
        if options["database"] not in connections:
            raise InvalidArgument(f"--database: no database alias {options['database']!r} in the settings "
                                  f"(known: {', '.join(connections)})")
        report = database_adopt(using=options["database"], verbosity=options["verbosity"], stdout=self.stdout)
        rows = ", ".join(f"{table}: {count}" for table, count in report.rows_before.items())
        self.stdout.write(self.style.SUCCESS(
            f"Adopted: recorded {len(report.recorded)} spec-layer migrations as applied and migrated. "
            f"Rows kept: {rows}."
        ))
