"""The inference worker (docs/inference.md, "The worker"): claim a batch of queued nodes, infer, complete; retry
failures with back-off; rescue the batches of workers that died.

The queue is the spec's ``relationship_inference_queue``. Any number of workers, on any number of machines, share
it safely:

* **Claim**: one statement takes up to ``batch_size`` pending rows, most urgent first (priority, then age), with
  ``FOR UPDATE SKIP LOCKED``, and marks them ``processing`` with a batch id, the worker (``host:pid``),
  ``started_at`` and a lease (``estimated_completion = now() + inference_lease_seconds``). It commits at once, so
  other workers see the rows taken.
* **Process**: the inference and the rows' completion commit together, in one transaction. A worker that dies
  before the commit leaves its rows ``processing``: nothing was half-written.
* **Rescue**: rows still ``processing`` after their lease are taken back (a retry: ``retry_count`` + 1) by any
  worker, and processed again. Completion only counts for the batch that holds the row, so a worker that
  outlived its lease cannot complete a row that was given to another.
* **Failure**: the error is recorded, ``retry_count`` incremented and the row returns to ``pending`` after
  ``inference_retry_delay_seconds × 2^(retries − 1)`` (``run_after``), until ``max_retries``: then it is
  ``failed``. A batch that fails is retried one node at a time, so one bad node does not fail its neighbours.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pghistory
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction

from config_admin.selectors import config_get
from graph.choices import QueueStatus
from graph.services.inference import InferenceParameters, InferenceResult, graph_node_count, relationships_infer

logger = logging.getLogger(__name__)

_TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure: run the batch again
_TRANSIENT_ATTEMPTS = 3
ERROR_TEXT_LIMIT = 2000


def worker_identity() -> str:
    """``host:pid``, what ``processing_node`` records."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, order=True)
class QueueItem:
    queue_id: int
    node_id: int


@dataclass
class Batch:
    batch_id: str
    items: list[QueueItem]

    @property
    def node_ids(self) -> list[int]:
        return [item.node_id for item in self.items]


def queue_claim(*, batch_size: int, worker: str, lease_seconds: int | None = None) -> Batch:
    """Take up to ``batch_size`` pending rows (committed before returning)."""
    lease = lease_seconds if lease_seconds is not None else int(config_get("inference_lease_seconds"))
    batch_id = uuid.uuid4().hex
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("""
            WITH picked AS (
                SELECT queue_id FROM relationship_inference_queue
                WHERE status = 'pending' AND (run_after IS NULL OR run_after <= now())
                ORDER BY priority DESC NULLS LAST, queued_at, queue_id
                LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE relationship_inference_queue q
            SET status = 'processing', batch_id = %s, processing_node = %s, started_at = now(),
                completed_at = NULL, estimated_completion = now() + make_interval(secs => %s)
            FROM picked WHERE q.queue_id = picked.queue_id
            RETURNING q.queue_id, q.node_id
        """, [batch_size, batch_id, worker, lease])
        items = sorted(QueueItem(queue_id, node_id) for queue_id, node_id in cursor.fetchall())
    return Batch(batch_id=batch_id, items=items)


def _complete(cursor, batch: Batch, items: list[QueueItem]) -> int:
    cursor.execute("""
        UPDATE relationship_inference_queue
        SET status = 'completed', completed_at = now(), estimated_completion = NULL, error_message = NULL
        WHERE queue_id = ANY(%s) AND batch_id = %s AND status = 'processing'
    """, [[item.queue_id for item in items], batch.batch_id])
    return cursor.rowcount


# A row given back (a failure, a rescue) counts one more retry; it is failed at max_retries, cancelled if the node
# has meanwhile been queued again (that newer row carries the work), else pending again after its back-off.
_GIVE_BACK_SQL = """
    WITH given AS (
        SELECT queue_id FROM relationship_inference_queue
        WHERE {which}
        ORDER BY queue_id
        FOR UPDATE SKIP LOCKED
    )
    UPDATE relationship_inference_queue q
    SET retry_count = coalesce(q.retry_count, 0) + 1,
        error_message = left(%(error)s, {limit}),
        status = CASE
            WHEN coalesce(q.retry_count, 0) + 1 >= coalesce(q.max_retries, 3) THEN 'failed'
            WHEN EXISTS (SELECT 1 FROM relationship_inference_queue o
                         WHERE o.node_id = q.node_id AND o.status = 'pending') THEN 'cancelled'
            ELSE 'pending' END,
        completed_at = CASE
            WHEN coalesce(q.retry_count, 0) + 1 >= coalesce(q.max_retries, 3) THEN now()
            WHEN EXISTS (SELECT 1 FROM relationship_inference_queue o
                         WHERE o.node_id = q.node_id AND o.status = 'pending') THEN now()
            END,
        run_after = now() + make_interval(secs => %(delay)s * {backoff}),
        estimated_completion = NULL
    FROM given WHERE q.queue_id = given.queue_id
    RETURNING q.queue_id, q.status
"""


def _give_back(which: str, params: dict) -> list[tuple[int, str]]:
    sql = _GIVE_BACK_SQL.format(which=which, limit=ERROR_TEXT_LIMIT,
                                backoff="power(2, least(coalesce(q.retry_count, 0), 20))" if params.get("backoff")
                                else "0")
    params = {"delay": int(config_get("inference_retry_delay_seconds")), **params}
    for attempt in range(3):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        except IntegrityError:
            # A node was queued again between the check and the update (unique_pending_inference_node): the
            # next attempt sees that row and cancels instead.
            if attempt == 2:
                raise
    return []


def queue_fail(*, batch: Batch, item: QueueItem, error: str) -> str:
    """Record ``error`` on ``item`` and give it back (pending after its back-off, or failed); its new status."""
    rows = _give_back("queue_id = %(queue_id)s AND batch_id = %(batch_id)s AND status = 'processing'",
                      {"queue_id": item.queue_id, "batch_id": batch.batch_id, "error": error, "backoff": True})
    return rows[0][1] if rows else ""


def queue_rescue_expired() -> list[tuple[int, str]]:
    """Give back every row whose worker's lease has run out (it died, or hangs): [(queue_id, new status)]."""
    return _give_back(
        "status = 'processing' AND estimated_completion < now()",
        {"error": "rescued: the worker holding it (see processing_node) did not finish within its lease "
                  "(inference_lease_seconds)", "backoff": False})


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _is_transient(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in _TRANSIENT_SQLSTATES


def _infer_and_complete(batch: Batch, items: list[QueueItem], parameters: InferenceParameters,
                        nodes: int) -> tuple[InferenceResult, int]:
    """One transaction: the inference of ``items`` and their completion; returns the result and how many rows
    this batch still held and completed. Deadlocks are retried at once."""
    for attempt in range(_TRANSIENT_ATTEMPTS):
        try:
            with transaction.atomic():
                result = relationships_infer(node_ids=[item.node_id for item in items], parameters=parameters,
                                             nodes=nodes)
                with connection.cursor() as cursor:
                    return result, _complete(cursor, batch, items)
        except OperationalError as exc:
            if not _is_transient(exc) or attempt == _TRANSIENT_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass
class BatchOutcome:
    batch_id: str
    claimed: int
    completed: int = 0
    retried: int = 0
    failed: int = 0
    seconds: float = 0.0
    result: InferenceResult = field(default_factory=InferenceResult)

    def line(self) -> str:
        extra = f", {self.retried} to retry, {self.failed} failed" if self.retried or self.failed else ""
        return (f"batch {self.batch_id[:8]}: {self.completed}/{self.claimed} nodes in {self.seconds:.2f} s{extra}; "
                f"relationships {self.result.created} created, {self.result.updated} updated, "
                f"{self.result.removed} removed")


def batch_process(batch: Batch, *, parameters: InferenceParameters | None = None) -> BatchOutcome:
    """Infer a claimed batch and complete it; on an error, node by node, failing only the nodes that fail."""
    with pghistory.context(worker=worker_identity(), inference_batch=batch.batch_id):  # docs/history.md
        return _batch_process(batch, parameters=parameters)


def _batch_process(batch: Batch, *, parameters: InferenceParameters | None) -> BatchOutcome:
    started = time.perf_counter()
    outcome = BatchOutcome(batch_id=batch.batch_id, claimed=len(batch.items))
    try:
        parameters = parameters or InferenceParameters.current()
    except Exception as exc:  # a bad setting fails the batch's items with its message, for operators to see
        for item in batch.items:
            status = queue_fail(batch=batch, item=item, error=_error_text(exc))
            outcome.failed += status == QueueStatus.FAILED
            outcome.retried += status == QueueStatus.PENDING
        outcome.seconds = time.perf_counter() - started
        return outcome
    nodes = graph_node_count()
    groups = [batch.items]
    try:
        result, outcome.completed = _infer_and_complete(batch, batch.items, parameters, nodes)
        outcome.result.add(result)
        groups = []
    except Exception as exc:  # any error: the nodes are retried one by one, then failed with the message
        if len(batch.items) == 1:
            groups = []
            _record_failure(batch, batch.items[0], exc, outcome)
        else:
            logger.warning("inference batch %s failed (%s); retrying its %d nodes one at a time", batch.batch_id,
                           _error_text(exc), len(batch.items))
            groups = [[item] for item in batch.items]
    for group in groups:
        try:
            result, completed = _infer_and_complete(batch, group, parameters, nodes)
            outcome.result.add(result)
            outcome.completed += completed
        except Exception as exc:
            _record_failure(batch, group[0], exc, outcome)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _record_failure(batch: Batch, item: QueueItem, exc: BaseException, outcome: BatchOutcome) -> None:
    logger.warning("inference of node %s failed: %s", item.node_id, _error_text(exc),
                   exc_info=not isinstance(exc, DatabaseError))
    status = queue_fail(batch=batch, item=item, error=_error_text(exc))
    outcome.failed += status == QueueStatus.FAILED
    outcome.retried += status == QueueStatus.PENDING


@dataclass
class WorkerReport:
    worker: str
    batches: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0
    rescued: int = 0
    seconds: float = 0.0
    result: InferenceResult = field(default_factory=InferenceResult)

    def summary(self) -> str:
        rate = self.completed / self.seconds * 60 if self.seconds else 0.0
        return (f"Worker {self.worker}: {self.completed:,} nodes in {self.batches:,} batches, {self.seconds:.1f} s "
                f"({rate:,.0f} nodes/min); {self.retried:,} to retry, {self.failed:,} failed, {self.rescued:,} "
                f"rescued from stopped workers; relationships {self.result.created:,} created, "
                f"{self.result.updated:,} updated, {self.result.removed:,} removed")


class Mode:
    ONCE = "once"  # one batch
    DRAIN = "drain"  # until nothing is claimable
    LOOP = "loop"  # until told to stop


def inference_worker_run(*, mode: str = Mode.DRAIN, batch_size: int | None = None,
                         stop: threading.Event | None = None, on_batch: Callable[[BatchOutcome], None] | None = None,
                         between_batches: Callable[[], None] | None = None) -> WorkerReport:
    """Claim and process batches until ``mode`` says to end or ``stop`` is set (checked between batches: a batch
    in hand is always finished). ``between_batches`` runs after each batch and while idle (run_worker's
    maintenance)."""
    stop = stop or threading.Event()
    worker = worker_identity()
    report = WorkerReport(worker=worker)
    started = time.perf_counter()
    session_ready = False
    while not stop.is_set():
        try:
            if not session_ready:
                with connection.cursor() as cursor:
                    # A worker killed mid-statement leaves its backend running until it next writes to the socket;
                    # with this the server notices the dead client within seconds and rolls the batch back.
                    cursor.execute("SET client_connection_check_interval = '2s'")
                session_ready = True
            report.rescued += len(queue_rescue_expired())
            size = batch_size or int(config_get("inference_batch_size"))
            batch = queue_claim(batch_size=size, worker=worker)
        except (OperationalError, InterfaceError) as exc:
            if mode != Mode.LOOP:
                raise
            # The database went away (a restart, a failover): a long-running worker waits and reconnects.
            logger.warning("worker %s lost the database (%s); retrying", worker, _error_text(exc))
            connection.close()
            session_ready = False
            stop.wait(5)
            continue
        if not batch.items:
            if mode != Mode.LOOP:
                break
            if between_batches:
                between_batches()
            stop.wait(int(config_get("worker_poll_seconds")))
            continue
        outcome = batch_process(batch)
        report.batches += 1
        report.completed += outcome.completed
        report.retried += outcome.retried
        report.failed += outcome.failed
        report.result.add(outcome.result)
        if on_batch:
            on_batch(outcome)
        if mode == Mode.ONCE:
            break
        if between_batches and not stop.is_set():
            between_batches()
    report.seconds = time.perf_counter() - started
    return report
