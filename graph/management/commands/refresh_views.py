"""``manage.py refresh_views [--only NAME ...] [--concurrently] [--due]``: refresh the materialized views."""

from __future__ import annotations

from graph.services.matviews import MATERIALIZED_VIEWS, materialized_views_refresh
from kgsite.management.base import DomainCommand


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Refresh the spec's materialized views (all five, or --only some) through refresh_materialized_views(), "
        "recording each refresh. --due refreshes only the views that are due: never refreshed, older than "
        "mv_refresh_interval_hours, or with mv_incremental_threshold rows of their tables written since; run it "
        "from cron. One line per view."
    )

    def add_arguments(self, parser):
        parser.add_argument("--only", nargs="+", metavar="NAME",
                            help=f"Only these views (of {', '.join(MATERIALIZED_VIEWS)}).")
        parser.add_argument("--concurrently", action="store_true",
                            help="REFRESH ... CONCURRENTLY: readers are not blocked (slower).")
        parser.add_argument("--due", action="store_true", help="Only the views that are due.")

    def handle(self, *args, only, concurrently, due, **options):
        for result in materialized_views_refresh(only, concurrently=concurrently, due_only=due):
            if result.refreshed:
                self.stdout.write(f"{result.view_name}: refreshed in {result.duration_ms:,} ms, "
                                  f"{result.row_count:,} rows ({result.reason})")
            else:
                self.stdout.write(f"{result.view_name}: skipped, {result.reason}")
