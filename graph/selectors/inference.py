"""The inference queue at a glance, for the header of its admin page (docs/admin.md, "The inference queue").

The queue can hold millions of rows; nothing here reads all of them:

* counts by status: exact up to ``COUNT_CAP`` rows of a status (an index scan of at most ``COUNT_CAP + 1``
  entries of ``idx_inference_queue_status``), the planner's estimate beyond (EXPLAIN, not run), shown with ≈;
* the oldest pending item: the first entry of each priority in the claim index (``idx_inference_queue_claim``:
  pending rows by priority, then age), eleven probes (1 to 10 and no priority) instead of sorting every pending row;
* throughput: items completed (and failed) in the last hour, a range of ``idx_inference_queue_completed``, counted
  up to ``THROUGHPUT_CAP`` ("more than ..." beyond);
* the latest ``RECENT_FAILURES`` failed items with their errors, the workers holding items (``processing``, by
  ``processing_node``) and the ``maintenance_runs`` rows of ``run_worker``.

Six queries, whatever the size of the queue (plus one EXPLAIN per status past the cap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F
from django.db.models.functions import Left

from graph.choices import QueueStatus
from graph.models import InferenceQueueItem, MaintenanceRun
from kgsite.db import EXACT_COUNT_CAP, RowCount, planner_row_estimate

COUNT_CAP = EXACT_COUNT_CAP  # read at call time, so tests can lower it
THROUGHPUT_CAP = 100_000
RECENT_FAILURES = 20
WORKERS_LISTED = 10
ERROR_SHOWN = 300  # characters of an error message read for the overview


@dataclass(frozen=True)
class CappedCount:
    """A count read up to ``cap`` rows: ``value`` is at most ``cap + 1``."""

    value: int
    cap: int

    @property
    def exceeded(self) -> bool:
        return self.value > self.cap

    def __str__(self):
        return f"more than {self.cap:,}" if self.exceeded else f"{self.value:,}"


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: RowCount


@dataclass(frozen=True)
class WorkerLoad:
    """A worker (``host:pid``) holding items: how many, since when, and when its lease ends."""

    worker: str
    items: int
    started_at: datetime | None
    lease_ends: datetime | None
    lease_expired: bool


@dataclass(frozen=True)
class QueueOverview:
    at: datetime  # the database's now(), which the ages below are measured from
    counts: list[StatusCount]
    oldest_pending: InferenceQueueItem | None
    completed_last_hour: CappedCount
    failed_last_hour: CappedCount
    recent_failures: list[InferenceQueueItem] = field(default_factory=list)
    workers: list[WorkerLoad] = field(default_factory=list)
    more_workers: bool = False
    maintenance: list[MaintenanceRun] = field(default_factory=list)

    @property
    def oldest_pending_wait(self) -> timedelta | None:
        if self.oldest_pending is None or self.oldest_pending.queued_at is None:
            return None
        return max(self.at - self.oldest_pending.queued_at, timedelta(0))

    @property
    def completed_per_minute(self) -> float | None:
        """The last hour's completions per minute (None when they were more than the cap)."""
        return None if self.completed_last_hour.exceeded else self.completed_last_hour.value / 60

    @property
    def failed_total(self) -> RowCount:
        return self.count_of(QueueStatus.FAILED)

    @property
    def any_estimated(self) -> bool:
        return any(not line.count.exact for line in self.counts)

    def count_of(self, status: str) -> RowCount:
        return next(line.count for line in self.counts if line.status == status)


def _status_counts(cap: int) -> list[StatusCount]:
    statuses = [status.value for status in QueueStatus]
    # One capped subquery per status, each with its status as a constant: the planner then picks the status index
    # for a rare status and a short scan for a common one (with the status as a join column it scanned the table).
    capped = ", ".join("(SELECT count(*) FROM (SELECT 1 FROM relationship_inference_queue WHERE status = %s "
                       "LIMIT %s) AS x)" for _ in statuses)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {capped}", [value for status in statuses for value in (status, cap + 1)])
        counted = dict(zip(statuses, cursor.fetchone(), strict=True))
    lines = []
    for status in QueueStatus:
        exact = counted[status.value]
        if exact <= cap:
            count = RowCount(exact, True)
        else:
            estimate = planner_row_estimate(InferenceQueueItem.objects.filter(status=status.value))
            count = RowCount(max(estimate or 0, cap + 1), False)
        lines.append(StatusCount(status.value, status.label, count))
    return lines


# The first pending row of each priority in the claim index, then the oldest of those (ties: the lower id).
_OLDEST_PENDING_SQL = """
SELECT first.queue_id FROM (
    SELECT q.queue_id, q.queued_at
    FROM generate_series(1, 10) AS p(priority)
    CROSS JOIN LATERAL (
        SELECT queue_id, queued_at FROM relationship_inference_queue
        WHERE status = 'pending' AND priority = p.priority
        ORDER BY priority DESC, queued_at, queue_id LIMIT 1) AS q
    UNION ALL
    (SELECT queue_id, queued_at FROM relationship_inference_queue
     WHERE status = 'pending' AND priority IS NULL
     ORDER BY queued_at, queue_id LIMIT 1)
) AS first
ORDER BY first.queued_at NULLS LAST, first.queue_id
LIMIT 1
"""

# The database's clock, the last hour's completions and failures (capped), and the oldest pending item's id.
_SUMMARY_SQL = f"""
SELECT now(),
       (SELECT count(*) FROM (SELECT 1 FROM relationship_inference_queue
                              WHERE status = 'completed' AND completed_at >= now() - interval '1 hour'
                              LIMIT %(cap)s) AS c),
       (SELECT count(*) FROM (SELECT 1 FROM relationship_inference_queue
                              WHERE status = 'failed' AND completed_at >= now() - interval '1 hour'
                              LIMIT %(cap)s) AS f),
       ({_OLDEST_PENDING_SQL})
"""

_WORKERS_SQL = """
SELECT coalesce(processing_node, ''), count(*), min(started_at), max(estimated_completion),
       bool_or(estimated_completion < now())
FROM relationship_inference_queue
WHERE status = 'processing'
GROUP BY processing_node
ORDER BY min(started_at) NULLS LAST, 1
LIMIT %s
"""

_LISTED_FIELDS = ("queue_id", "node_id", "priority", "status", "retry_count", "max_retries", "queued_at",
                  "started_at", "completed_at", "processing_node", "batch_id", "node__node_id", "node__name",
                  "node__node_type")


def _listed(queryset):
    return queryset.select_related("node").only(*_LISTED_FIELDS)


def inference_queue_overview() -> QueueOverview:
    """Counts by status, the oldest pending item, the last hour's throughput, recent failures, the workers at work
    and the maintenance jobs' last runs."""
    cap = COUNT_CAP
    counts = _status_counts(cap)
    with connection.cursor() as cursor:
        cursor.execute(_SUMMARY_SQL, {"cap": THROUGHPUT_CAP + 1})
        now, completed, failed, oldest_id = cursor.fetchone()
        cursor.execute(_WORKERS_SQL, [WORKERS_LISTED + 1])
        workers = [WorkerLoad(worker=worker, items=items, started_at=started, lease_ends=lease,
                              lease_expired=bool(expired))
                   for worker, items, started, lease, expired in cursor.fetchall()]
    oldest = _listed(InferenceQueueItem.objects.filter(queue_id=oldest_id)).first() if oldest_id else None
    failures = list(
        _listed(InferenceQueueItem.objects.filter(status=QueueStatus.FAILED))
        .annotate(error_head=Left("error_message", ERROR_SHOWN + 1))
        .order_by(F("completed_at").desc(nulls_last=True), "-queue_id")[:RECENT_FAILURES])
    return QueueOverview(
        at=now, counts=counts, oldest_pending=oldest,
        completed_last_hour=CappedCount(completed, THROUGHPUT_CAP),
        failed_last_hour=CappedCount(failed, THROUGHPUT_CAP),
        recent_failures=failures, workers=workers[:WORKERS_LISTED], more_workers=len(workers) > WORKERS_LISTED,
        maintenance=list(MaintenanceRun.objects.order_by("job")),
    )

