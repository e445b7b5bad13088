"""``manage.py recalculate_confidence [--stale-only] [--batch-size N]``: recompute confidence scores set-based."""

from __future__ import annotations

from graph.services.confidence import confidence_recalculate
from kgsite.management.base import DomainCommand, whole_number
from kgsite.progress import Progress


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Recompute node and relationship confidence scores (docs/confidence.md) in batches, each committed on its "
        "own: recency decays with time even when nothing is written. An interrupted run is resumed by the next "
        "one with the same scope. Progress goes to stderr, the summary to stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--stale-only", action="store_true",
                            help="Only scores computed more than confidence_stale_hours ago.")
        parser.add_argument("--batch-size", type=whole_number(100, 1_000_000), default=10_000, metavar="N",
                            help="Rows per batch and transaction (100 to 1,000,000; default 10,000).")

    def handle(self, *args, stale_only, batch_size, **options):
        def progress(label: str, total: int, done: int) -> Progress | None:
            return Progress(total, label, self.stderr._out, done=done) if options["verbosity"] > 0 else None

        report = confidence_recalculate(stale_only=stale_only, batch_size=batch_size, progress=progress)
        for line in report.lines():
            self.stdout.write(line)
