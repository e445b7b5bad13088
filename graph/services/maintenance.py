"""The maintenance ``run_worker`` does besides inference (docs/inference.md, "run_worker"): each job is a plain
service call that is safe to repeat, runs only when due, and is guarded by a PostgreSQL advisory lock so that one
worker anywhere runs it at a time (the others skip it). ``maintenance_runs`` records the last run of each.

* ``refresh_views``: at every check; the SQL function decides per view (interval, writes since):
  ``materialized_views_refresh(due_only=True)``.
* ``recalculate_confidence``: ``confidence_stale_hours / 2`` after the last run:
  ``confidence_recalculate(stale_only=True)``.
* ``cleanup_relationships``: ``inference_cleanup_interval_hours`` after the last run: ``relationships_cleanup()``.
* ``optimize_vector_index``: ``vector_index_check_interval_hours`` after the last run, both tables:
  ``vector_index_optimize(table=..., actor="run_worker <worker>")`` (docs/vector-indexes.md). A table whose own
  lock another run holds (``manage.py optimize_vector_index``, the admin's "Rebuild now") is skipped, and a rebuild
  that failed makes the job's result say so; the run itself is in ``vector_index_builds`` either way.
* ``crawl_resources``: ``crawl_interval_minutes`` after the last run: ``resources_crawl(limit=crawl_batch_size,
  seconds=CRAWL_JOB_SECONDS)`` (docs/crawling.md): new, stale and due failed resources, never more than about
  ``CRAWL_JOB_SECONDS`` of this worker's time (what is left waits for the next run, or ``manage.py
  crawl_resources``).
* ``prune_history``: once a day: ``history_prune()`` deletes the history older than ``history_retention_days``
  (0, the default, keeps it all; docs/history.md).

Each job's ``run`` is called with the worker's name (``host:pid``), which the jobs that record who acted use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pghistory
from django.db import connection
from django.utils import timezone

from config_admin.selectors import config_get
from graph.choices import VectorIndexOutcome, VectorTable
from graph.errors import VECTOR_INDEX_BUSY, VECTOR_INDEX_REBUILD_FAILED, GraphError
from graph.models import MaintenanceRun
from graph.services.confidence import confidence_recalculate
from graph.services.crawler import resources_crawl
from graph.services.history import history_prune
from graph.services.inference import relationships_cleanup
from graph.services.matviews import materialized_views_refresh
from graph.services.vector_index import vector_index_optimize, vector_index_summary
from kgsite.errors import DomainError

logger = logging.getLogger(__name__)

# The crawl job claims no more resources after this many seconds (the resource in hand is finished, at most
# 3 × crawl_timeout_seconds more), so that a batch of slow hosts holds up this worker's inference for minutes at most.
CRAWL_JOB_SECONDS = 120


def _views(worker: str) -> str:
    results = materialized_views_refresh(due_only=True)
    done = [f"{r.view_name} ({r.row_count:,} rows, {r.duration_ms:,} ms)" for r in results if r.refreshed]
    return f"refreshed {', '.join(done)}" if done else "no view was due"


def _confidence(worker: str) -> str:
    return " ".join(confidence_recalculate(stale_only=True).lines())


def _cleanup(worker: str) -> str:
    return " ".join(relationships_cleanup().lines())


def _vector_indexes(worker: str) -> str:
    lines, failed = [], False
    for table in VectorTable.values:
        try:
            build = vector_index_optimize(table=table, actor=f"run_worker {worker}")
        except GraphError as exc:
            if exc.code != VECTOR_INDEX_BUSY:
                raise
            lines.append(f"{table}: skipped, {exc.message}")
            continue
        lines.append(vector_index_summary(build))
        if build.outcome == VectorIndexOutcome.FAILED:
            lines[-1] = "FAILED " + lines[-1]
            failed = True
    if failed:  # the run is recorded as failed (maintenance_runs), with both tables' lines
        raise GraphError("; ".join(lines), code=VECTOR_INDEX_REBUILD_FAILED)
    return "; ".join(lines)


def _crawl(worker: str) -> str:
    return resources_crawl(limit=int(config_get("crawl_batch_size")), seconds=CRAWL_JOB_SECONDS).line()


def _history(worker: str) -> str:
    return history_prune().summary()


def _every(hours: Callable[[], float]) -> Callable[[MaintenanceRun | None], bool]:
    def due(last: MaintenanceRun | None) -> bool:
        return last is None or last.last_started_at is None or \
            timezone.now() - last.last_started_at >= timedelta(hours=hours())
    return due


@dataclass(frozen=True)
class MaintenanceJob:
    name: str
    due: Callable[[MaintenanceRun | None], bool]
    run: Callable[[str], str]  # called with the worker's name; returns the result line

    @property
    def lock_key(self) -> str:
        return f"kgsite.maintenance.{self.name}"


JOBS = (
    MaintenanceJob("refresh_views", lambda last: True, _views),
    MaintenanceJob("recalculate_confidence", _every(lambda: int(config_get("confidence_stale_hours")) / 2),
                   _confidence),
    MaintenanceJob("cleanup_relationships", _every(lambda: int(config_get("inference_cleanup_interval_hours"))),
                   _cleanup),
    MaintenanceJob("optimize_vector_index", _every(lambda: int(config_get("vector_index_check_interval_hours"))),
                   _vector_indexes),
    MaintenanceJob("crawl_resources", _every(lambda: int(config_get("crawl_interval_minutes")) / 60), _crawl),
    MaintenanceJob("prune_history", _every(lambda: 24), _history),  # docs/history.md, "Retention"
)


@dataclass(frozen=True)
class JobOutcome:
    job: str
    ran: bool
    succeeded: bool | None
    result: str


def maintenance_job_run(job: MaintenanceJob, *, worker: str) -> JobOutcome:
    """Run ``job`` if it is due and no other worker holds its lock; record the run."""
    with pghistory.context(worker=worker, maintenance=job.name):  # what it edits is one history entry
        return _job_run(job, worker=worker)


def _job_run(job: MaintenanceJob, *, worker: str) -> JobOutcome:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [job.lock_key])
        if not cursor.fetchone()[0]:
            return JobOutcome(job.name, False, None, "another worker is running it")
    try:
        last = MaintenanceRun.objects.filter(job=job.name).first()
        try:
            due = job.due(last)
        except DomainError as exc:  # its parameter is missing or unusable: this job waits, the worker carries on
            logger.warning("maintenance job %s: cannot tell whether it is due: %s", job.name, exc)
            return JobOutcome(job.name, False, False, f"cannot tell whether it is due: {exc}")
        if not due:
            return JobOutcome(job.name, False, None, "not due")
        started = timezone.now()
        # The row describes this run from now on: the last run's outcome is not mixed into it.
        MaintenanceRun.objects.update_or_create(
            job=job.name, defaults={"last_started_at": started, "last_worker": worker, "last_finished_at": None,
                                    "last_succeeded": None, "last_result": "running"})
        clock = time.perf_counter()
        try:
            result, succeeded = job.run(worker), True
        except DomainError as exc:  # a refusal with its code (another run holds a lock, a bad setting)
            result, succeeded = str(exc), False
        except Exception as exc:  # a bug: logged with its traceback, recorded, and the worker carries on
            logger.exception("maintenance job %s failed", job.name)
            result, succeeded = f"{type(exc).__name__}: {exc}", False
        result = f"{result} ({time.perf_counter() - clock:.1f} s)"
        run = MaintenanceRun.objects.get(job=job.name)
        run.last_finished_at, run.last_succeeded, run.last_result = timezone.now(), succeeded, result[:4000]
        run.runs += 1
        run.save()
        return JobOutcome(job.name, True, succeeded, result)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [job.lock_key])


class MaintenanceSchedule:
    """Checks the jobs every ``worker_maintenance_interval_seconds`` (call ``tick`` as often as you like)."""

    def __init__(self, *, worker: str, jobs: tuple[MaintenanceJob, ...] = JOBS,
                 report: Callable[[JobOutcome], None] | None = None):
        self.worker, self.jobs, self.report = worker, jobs, report
        self._next_check = 0.0

    def tick(self) -> list[JobOutcome]:
        now = time.monotonic()
        if now < self._next_check:
            return []
        self._next_check = now + int(config_get("worker_maintenance_interval_seconds"))
        outcomes = [maintenance_job_run(job, worker=self.worker) for job in self.jobs]
        for outcome in outcomes:
            if outcome.ran and self.report:
                self.report(outcome)
        return outcomes
