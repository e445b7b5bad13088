"""A curator's hand on the inference queue: retry failed or cancelled items, cancel pending ones (the admin's queue
actions; docs/admin.md, "The inference queue").

Each call is one set-based UPDATE in a transaction, on the rows selected (``queue_ids``), which it locks first so
that a worker claiming or giving back rows at the same moment is seen, not overwritten. Rows in a status the
action does not apply to are left alone and reported by status; when *none* of the selected rows can be acted on
the call raises ``GraphError`` (``QUEUE_ITEM_STATE``) naming them, so a curator who picked the wrong rows is told
so instead of seeing "0 retried".

**Retry** (failed or cancelled → pending): the item is queued again now, as if new: ``status = 'pending'``,
``queued_at = now()`` (so "waiting since" and the claim order count from the retry), ``retry_count = 0`` (a
fresh set of ``max_retries`` attempts: an item failed at 3 of 3 would otherwise fail for good on its next
error), no back-off (``run_after`` NULL), and the worker's traces of the last attempt cleared (``started_at``,
``completed_at``, ``processing_node``, ``batch_id``, ``estimated_completion``). ``error_message`` is kept: it says
why the item was retried, until the worker completes it (completion clears it).

At most one pending row per node (``unique_pending_inference_node``). An item whose node already has a pending row,
or a second selected item of the same node, is not made pending: that pending row carries the work. Such a
failed item is cancelled instead (it leaves the list of failures, as the worker cancels a row it gives back when
the node was queued again meanwhile); a cancelled one stays cancelled. The result names them as superseded.

**Cancel** (pending → cancelled, ``completed_at = now()``): a pending item, waiting for its back-off or not, is
taken out of the queue. A processing item is not: a worker holds it and will complete or give it back (cancel it
after that, or let its lease run out). Completed, failed and cancelled items have nothing left to cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction

from graph.choices import QueueStatus
from graph.errors import QUEUE_ITEM_STATE, GraphError
from kgsite.errors import require_permission

CHANGE_PERMISSION = "graph.change_inferencequeueitem"
NAMED_IDS = 10  # queue ids named in a message; the rest are counted
_ATTEMPTS = 3  # a node queued by a trigger between our check and our update: look again

RETRYABLE = (QueueStatus.FAILED, QueueStatus.CANCELLED)
CANCELLABLE = (QueueStatus.PENDING,)

# Why a status is left alone, said to a curator.
_LEFT_ALONE = {
    "retry": {
        QueueStatus.PENDING: "already waiting",
        QueueStatus.PROCESSING: "a worker holds it",
        QueueStatus.COMPLETED: "completed: queue its node again instead",
        None: "no status",
    },
    "cancel": {
        QueueStatus.PROCESSING: "a worker holds it; cancel it once the worker gives it back",
        QueueStatus.COMPLETED: "already completed",
        QueueStatus.FAILED: "already failed",
        QueueStatus.CANCELLED: "already cancelled",
        None: "no status",
    },
}


def _ids_text(ids: list[int]) -> str:
    """"queue items 4, 7 and 12 more"."""
    shown = ", ".join(str(i) for i in ids[:NAMED_IDS])
    more = f" and {len(ids) - NAMED_IDS:,} more" if len(ids) > NAMED_IDS else ""
    return f"queue item{'' if len(ids) == 1 else 's'} {shown}{more}"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class QueueActionResult:
    """What a retry or cancel did, row by row: acted on, superseded (retry only), left alone by status, gone."""

    action: str  # "retry" or "cancel"
    changed: list[int] = field(default_factory=list)
    # retry: items not made pending because their node already waits in another pending row (failed ones are
    # now cancelled)
    superseded: list[int] = field(default_factory=list)
    left_alone: dict[str | None, list[int]] = field(default_factory=dict)  # status -> queue ids, not touched
    missing: list[int] = field(default_factory=list)  # no such item (deleted meanwhile)

    @property
    def done(self) -> str:
        return "retried" if self.action == "retry" else "cancelled"

    def summary(self) -> str:
        """The first sentence says what changed; the others what was left alone and why."""
        parts = [f"{_plural(len(self.changed), 'item')} {self.done}"
                 + (" (pending again, with a fresh set of retries)" if self.action == "retry" and self.changed
                    else "") + "."]
        if self.superseded:
            parts.append(f"{_plural(len(self.superseded), 'item')} not made pending because the node is already "
                         f"waiting in another pending item, which will do the work (failed ones are now cancelled): "
                         f"{_ids_text(self.superseded)}.")
        for status, ids in self.left_alone.items():
            parts.append(f"{_plural(len(ids), 'item')} left alone, {_status_text(status)} "
                         f"({_LEFT_ALONE[self.action].get(status, 'not applicable')}): {_ids_text(ids)}.")
        if self.missing:
            parts.append(f"{_plural(len(self.missing), 'item')} no longer there (deleted meanwhile): "
                         f"{_ids_text(self.missing)}.")
        return " ".join(parts)


def _status_text(status: str | None) -> str:
    return QueueStatus(status).label.lower() if status else "without status"


def _refusal(result: QueueActionResult, allowed: tuple[str, ...]) -> GraphError:
    what = " or ".join(_status_text(status) for status in allowed)
    verb = "retried" if result.action == "retry" else "cancelled"
    reasons = [f"{_plural(len(ids), 'item')} {_status_text(status)} "
               f"({_LEFT_ALONE[result.action].get(status, 'not applicable')}: {_ids_text(ids)})"
               for status, ids in result.left_alone.items()]
    if result.missing:
        reasons.append(f"{_plural(len(result.missing), 'item')} no longer there ({_ids_text(result.missing)})")
    return GraphError(f"none of the selected queue items can be {verb}: only {what} items can be; "
                      f"{'; '.join(reasons)}", code=QUEUE_ITEM_STATE, left_alone=result.left_alone,
                      missing=result.missing)


def _requested(queue_ids) -> list[int]:
    ids = sorted({int(queue_id) for queue_id in queue_ids})
    if not ids:
        raise GraphError("no queue items were selected", code=QUEUE_ITEM_STATE)
    return ids


def _storable(ids: list[int]) -> list[int]:
    """The ids a queue id can be (an integer column); the others are reported as not there."""
    return [queue_id for queue_id in ids if 0 < queue_id < 2**31]


def _run(sql: str, ids: list[int]) -> list[tuple[int, str | None, str | None]]:
    """(queue id, status before, status after or None when untouched) per existing selected row."""
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, {"ids": ids})
                return cursor.fetchall()
        except IntegrityError:
            # A trigger queued one of the nodes between our look and our update (unique_pending_inference_node):
            # the next attempt sees that pending row and supersedes instead.
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _result(action: str, ids: list[int], rows, allowed: tuple[str, ...]) -> QueueActionResult:
    found = {queue_id for queue_id, _, _ in rows}
    changed, superseded, left_alone = [], [], {}
    for queue_id, before, after in sorted(rows):
        if before in allowed:
            (changed if after == ("pending" if action == "retry" else "cancelled") else superseded).append(queue_id)
        else:
            left_alone.setdefault(before, []).append(queue_id)
    result = QueueActionResult(action=action, changed=changed, superseded=superseded, left_alone=left_alone,
                               missing=[queue_id for queue_id in ids if queue_id not in found])
    if not changed and not superseded:
        raise _refusal(result, allowed)
    return result


# The selected rows, locked (a worker's claim or give-back in progress is waited for and then seen); of the failed
# or cancelled ones, the newest of each node becomes pending unless the node already has a pending row; the others
# of those nodes: failed -> cancelled (superseded), cancelled stays. Rows are locked in id order, as the worker's
# give-back locks them, so the two never deadlock.
_RETRY_SQL = """
WITH chosen AS MATERIALIZED (
    SELECT queue_id, node_id, status FROM relationship_inference_queue
    WHERE queue_id = ANY(%(ids)s::integer[])
    ORDER BY queue_id
    FOR UPDATE
), retryable AS MATERIALIZED (
    SELECT c.queue_id, c.status,
           EXISTS (SELECT 1 FROM relationship_inference_queue o
                   WHERE o.node_id = c.node_id AND o.status = 'pending')
           OR row_number() OVER (PARTITION BY c.node_id ORDER BY c.queue_id DESC) > 1 AS superseded
    FROM chosen c
    WHERE c.status IN ('failed', 'cancelled')
), changed AS (
    UPDATE relationship_inference_queue q
    SET status = CASE WHEN r.superseded THEN 'cancelled' ELSE 'pending' END,
        queued_at = CASE WHEN r.superseded THEN q.queued_at ELSE now() END,
        retry_count = CASE WHEN r.superseded THEN q.retry_count ELSE 0 END,
        run_after = CASE WHEN r.superseded THEN q.run_after END,
        started_at = CASE WHEN r.superseded THEN q.started_at END,
        completed_at = CASE WHEN r.superseded THEN coalesce(q.completed_at, now()) END,
        processing_node = CASE WHEN r.superseded THEN q.processing_node END,
        batch_id = CASE WHEN r.superseded THEN q.batch_id END,
        estimated_completion = NULL
    FROM retryable r
    WHERE q.queue_id = r.queue_id AND NOT (r.superseded AND r.status = 'cancelled')
    RETURNING q.queue_id, q.status
)
SELECT c.queue_id, c.status, coalesce(ch.status, CASE WHEN r.superseded THEN 'cancelled' END)
FROM chosen c LEFT JOIN changed ch USING (queue_id) LEFT JOIN retryable r USING (queue_id)
"""

_CANCEL_SQL = """
WITH chosen AS MATERIALIZED (
    SELECT queue_id, status FROM relationship_inference_queue
    WHERE queue_id = ANY(%(ids)s::integer[])
    ORDER BY queue_id
    FOR UPDATE
), changed AS (
    UPDATE relationship_inference_queue q
    SET status = 'cancelled', completed_at = now(), estimated_completion = NULL
    FROM chosen c
    WHERE q.queue_id = c.queue_id AND c.status = 'pending'
    RETURNING q.queue_id, q.status
)
SELECT c.queue_id, c.status, ch.status FROM chosen c LEFT JOIN changed ch USING (queue_id)
"""


def queue_items_retry(*, queue_ids: list[int], user) -> QueueActionResult:
    """Make the selected failed or cancelled items pending again (see the module's docstring for what is reset).
    ``user`` needs ``graph.change_inferencequeueitem`` (None: a trusted caller)."""
    require_permission(user, CHANGE_PERMISSION, "retry inference queue items")
    ids = _requested(queue_ids)
    return _result("retry", ids, _run(_RETRY_SQL, _storable(ids)), RETRYABLE)


def queue_items_cancel(*, queue_ids: list[int], user) -> QueueActionResult:
    """Cancel the selected pending items; processing ones are left to their worker."""
    require_permission(user, CHANGE_PERMISSION, "cancel inference queue items")
    ids = _requested(queue_ids)
    return _result("cancel", ids, _run(_CANCEL_SQL, _storable(ids)), CANCELLABLE)
