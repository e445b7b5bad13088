"""``manage.py run_inference [--once | --loop] [--batch-size N]``: process the inference queue."""

from __future__ import annotations

import signal
import threading

from graph.services.inference_worker import Mode, inference_worker_run
from kgsite.management.base import DomainCommand, whole_number


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the batch in hand is finished and committed, then the worker exits."""
    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Process the relationship-inference queue (docs/inference.md): claim batches of queued nodes (FOR UPDATE "
        "SKIP LOCKED, so any number of workers may run), infer, complete; failed nodes are retried with back-off; "
        "batches of workers that died are rescued after inference_lease_seconds. Without --once or --loop it "
        "works until the queue has nothing left to claim. SIGTERM or Ctrl-C stops it after the batch in hand."
    )

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="Process one batch, then exit.")
        mode.add_argument("--loop", action="store_true",
                          help="Keep waiting for work (worker_poll_seconds between looks) until stopped.")
        parser.add_argument("--batch-size", type=whole_number(1, 10_000), metavar="N",
                            help="Nodes per batch (default: the inference_batch_size parameter).")

    def handle(self, *args, once, loop, batch_size, **options):
        stop = threading.Event()
        stop_on_signals(stop)
        verbose = options["verbosity"] > 1
        report = inference_worker_run(
            mode=Mode.ONCE if once else Mode.LOOP if loop else Mode.DRAIN, batch_size=batch_size, stop=stop,
            on_batch=(lambda outcome: self.stdout.write(outcome.line())) if verbose else None)
        self.stdout.write(report.summary())
