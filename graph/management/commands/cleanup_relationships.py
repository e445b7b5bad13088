"""``manage.py cleanup_relationships [--dry-run]``: remove inferred links that no longer hold."""

from __future__ import annotations

from graph.services.inference import relationships_cleanup
from kgsite.management.base import DomainCommand


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Remove auto-managed relationships whose shared attributes no longer meet the inference rule or whose "
        "confidence score fell below confidence_threshold_cleanup; queue again the nodes whose inferred links are "
        "older than max_inference_age_days; delete finished queue items older than inference_queue_retention_days. "
        "Manual relationships are never touched. Counts on stdout (docs/inference.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; change nothing.")

    def handle(self, *args, dry_run, **options):
        for line in relationships_cleanup(dry_run=dry_run).lines():
            self.stdout.write(line)
