"""``manage.py run_worker [--batch-size N]``: the one long-running background process."""

from __future__ import annotations

import threading

from graph.management.commands.run_inference import stop_on_signals
from graph.services.inference_worker import Mode, inference_worker_run, worker_identity
from graph.services.maintenance import MaintenanceSchedule
from kgsite.management.base import DomainCommand, whole_number


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Run inference continuously and, between batches, the maintenance that is due (materialized views, stale "
        "confidence scores, cleanup_relationships), each job under a PostgreSQL advisory lock so that one worker "
        "anywhere runs it at a time (docs/inference.md). Start as many as you like, on any machines. SIGTERM or "
        "Ctrl-C stops it after the batch or job in hand."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=whole_number(1, 10_000), metavar="N",
                            help="Nodes per inference batch (default: the inference_batch_size parameter).")

    def handle(self, *args, batch_size, **options):
        stop = threading.Event()
        stop_on_signals(stop)
        verbose = options["verbosity"] > 1
        say = self.stdout.write
        schedule = MaintenanceSchedule(
            worker=worker_identity(),
            report=lambda outcome: say(f"{outcome.job}: {'done' if outcome.succeeded else 'failed'}, "
                                       f"{outcome.result}"))
        say(f"Worker {worker_identity()} started; stop it with Ctrl-C or SIGTERM.")
        report = inference_worker_run(
            mode=Mode.LOOP, batch_size=batch_size, stop=stop, between_batches=schedule.tick,
            on_batch=(lambda outcome: say(outcome.line())) if verbose else None)
        say(report.summary())
