"""``manage.py run_worker [--batch-size N]``: the one long-running background process."""

from __future__ import annotations

import threading

from graph.management.commands.run_inference import stop_on_signals
from graph.services.embeddings import EmbeddingSchedule
from graph.services.heartbeat import Heartbeat
from graph.services.import_jobs import ImportSchedule
from graph.services.inference_worker import Mode, inference_worker_run, worker_identity
from graph.services.maintenance import MaintenanceSchedule
from kgsite.management.base import DomainCommand, whole_number


class Command(DomainCommand):
    # Each batch and maintenance job opens its own history context (docs/history.md).
    history_context = False
    requires_migrated_database = True
    help = (
        "Run inference continuously and, between batches and while idle, embed the nodes and resources queued "
        "for an embedding (new, renamed, attributes changed, vector cleared; up to 5 s at a time, "
        "embedding_batch_size rows per transaction; docs/embeddings.md), check and apply the imports uploaded in the "
        "admin (docs/import-format.md), and run the maintenance that is due "
        "(materialized views, stale confidence scores, cleanup_relationships, optimize_vector_index, "
        "crawl_resources every crawl_interval_minutes), each job under a PostgreSQL "
        "advisory lock so that one worker anywhere runs it at a time (docs/inference.md). An embedding provider "
        "that cannot be loaded is logged and tried again a minute later; inference goes on. Start as many as you "
        "like, on any machines. SIGTERM or Ctrl-C stops it after the batch or job in hand."
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
        embeddings = EmbeddingSchedule(report=(lambda report: say(report.line())) if verbose else None)
        imports = ImportSchedule(worker=worker_identity(), report=say if verbose else None)

        heartbeat = Heartbeat(worker_identity())  # /healthz and /metrics read it (docs/deployment.md)

        def between_batches():  # embeddings first: a renamed node's search waits on them; then a curator's upload
            heartbeat.beat()
            embeddings.tick()
            if not stop.is_set():
                imports.tick(stop)
            if not stop.is_set():
                schedule.tick()

        say(f"Worker {worker_identity()} started; stop it with Ctrl-C or SIGTERM.")
        heartbeat.beat(force=True)
        try:
            report = inference_worker_run(
                mode=Mode.LOOP, batch_size=batch_size, stop=stop, between_batches=between_batches,
                on_batch=(lambda outcome: say(outcome.line())) if verbose else None)
        finally:
            heartbeat.stop()
        failures = embeddings.failures
        say(embeddings.total.line() + (f"; {failures:,} failed attempt{'s' * (failures != 1)} (see the log)"
                                       if failures else ""))
        say(report.summary())  # the last line, as run_inference's
