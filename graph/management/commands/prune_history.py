"""``manage.py prune_history [--older-than-days N] [--dry-run]``: delete old history (docs/history.md)."""

from __future__ import annotations

from graph.services.history import history_prune
from kgsite.management.base import DomainCommand, whole_number


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Delete the history of graph edits older than N days (default: the history_retention_days parameter; 0 "
        "keeps everything), in batches. run_worker does this once a day (docs/history.md, \"Retention\")."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=whole_number(0, 36_500), metavar="N",
                            help="Age in days (default: history_retention_days).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")

    def handle(self, *args, older_than_days, dry_run, **options):
        report = history_prune(older_than_days=older_than_days, dry_run=dry_run)
        summary = report.summary()
        self.stdout.write(summary.replace("Pruned", "Would prune") if dry_run else summary)
