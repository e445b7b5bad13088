"""Curators' decisions on what inference makes (docs/curation.md): accept, reject, skip, withdraw a rejection.

Every decision is set-based: a selection of relationships (a queryset or ids; its ids, at most ``BULK_LIMIT``,
passed as one array) is decided in **one writing statement** that changes the links and records one
``review_decisions`` row per link, so a bulk decision on 10,000 links is one statement over 10,000 rows, audited
row by row under one ``batch_id``.

* **Accept**: the link becomes curated (``auto_managed = false``): inference and cleanup leave it alone from then
  on; its reasons stay, and keep being marked when an attribute behind them changes.
* **Reject**: the link is deleted and its pair (lower node id first) and type recorded in
  ``inference_rejections``; inference leaves the pair out, imports skip it, and a trigger deletes an inferred
  link inserted for it by a pass that read the rejections before they were committed. The rejection first locks
  both nodes (``FOR UPDATE``, in node order): a worker inserting a link to them holds a key-share lock on them
  (the foreign-key check) until it commits, so the rejection waits for it, and its statement then sees and deletes
  what the worker wrote. Links are deleted by pair, not by id, for the same reason.
* **Skip**: the link stays pending, behind the others in the review queue.
* **Withdraw**: the rejection goes; both nodes are queued for inference, which may make the link again.

Only pending links (``auto_managed``) can be accepted, rejected or skipped; the others in a selection are left
as they are and counted. A decision needs the ``graph.review_relationship`` permission.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connection, models, transaction

from graph.errors import REVIEW_BAD_DECISION, REVIEW_NOTHING_PENDING, GraphError
from graph.models import InferenceRejection, Relationship, ReviewDecision
from kgsite.errors import require_permission

REVIEW_PERMISSION = "graph.review_relationship"
BULK_LIMIT = 10_000  # links one decision takes at most (the strongest first); the rest wait for the next
REASON_MAX_LENGTH = 2_000


@dataclass(frozen=True)
class DecisionResult:
    action: str
    decided: int  # links (or rejections) decided
    selected: int  # what the selection held, pending or not
    batch_id: uuid.UUID | None = None

    @property
    def left_alone(self) -> int:
        return self.selected - self.decided

    def summary(self) -> str:
        verbs = {"accept": "Accepted", "reject": "Rejected", "skip": "Skipped", "withdraw": "Withdrew"}
        noun = "rejection" if self.action == "withdraw" else "inferred link"
        text = f"{verbs[self.action]} {self.decided:,} {noun}{'s' * (self.decided != 1)}"
        if self.left_alone:
            text += (f"; {self.left_alone:,} of the selection {'was' if self.left_alone == 1 else 'were'} not "
                     "pending (already decided, or not inferred) and left as "
                     f"{'it was' if self.left_alone == 1 else 'they were'}")
        return text + "."


def reason_checked(reason: str | None, *, required: bool) -> str:
    """A decision's reason: stripped, at most ``REASON_MAX_LENGTH`` characters, no NUL; RG-REVIEW-001 if not."""
    text = (reason or "").strip()
    if required and not text:
        raise GraphError("say why the link is rejected (the reason is kept with the rejection)",
                         code=REVIEW_BAD_DECISION, field="reason")
    if len(text) > REASON_MAX_LENGTH:
        raise GraphError(f"the reason has {len(text):,} characters; at most {REASON_MAX_LENGTH:,} are kept",
                         code=REVIEW_BAD_DECISION, field="reason")
    if "\x00" in text:
        raise GraphError("the reason contains a NUL character", code=REVIEW_BAD_DECISION, field="reason")
    return text


def _selected_ids(relationships: models.QuerySet | list[int]) -> list[int]:
    """The ids of the selection: its strongest ``BULK_LIMIT`` (by review impact, then id)."""
    if not isinstance(relationships, models.QuerySet):
        ids = list(relationships)
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in ids):
            raise GraphError("relationship ids must be whole numbers", code=REVIEW_BAD_DECISION)
        relationships = Relationship.objects.filter(pk__in=ids)
    if not relationships.query.is_sliced:  # a sliced selection keeps its own order and size
        relationships = relationships.order_by(models.F("review_impact").desc(nulls_last=True), "relationship_id")
    return list(relationships.values_list("relationship_id", flat=True)[:BULK_LIMIT])


# One statement per decision: the pending links of the selection, their change, and their audit rows.
_LOG_COLUMNS = ("action, relationship_id, source_node_id, target_node_id, relationship_type, score, reason, "
                "decided_by_id, decided_at, batch_id, batch_size")
_LOG_VALUES = ("%(action)s, c.relationship_id, c.source_node_id, c.target_node_id, c.relationship_type, "
               "c.inference_confidence::float8, %(reason)s, %(user)s, now(), %(batch)s, "
               "(SELECT count(*) FROM changed)")

_ACCEPT_SQL = f"""
WITH changed AS (
    UPDATE relationships r SET auto_managed = false, review_skipped_at = NULL, updated_at = now()
    WHERE r.relationship_id = ANY(%(ids)s::integer[]) AND r.auto_managed
    RETURNING r.relationship_id, r.source_node_id, r.target_node_id, r.relationship_type, r.inference_confidence
), logged AS (
    INSERT INTO review_decisions ({_LOG_COLUMNS}) SELECT {_LOG_VALUES} FROM changed c RETURNING 1
)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM logged)
"""

_SKIP_SQL = f"""
WITH changed AS (
    UPDATE relationships r SET review_skipped_at = now()
    WHERE r.relationship_id = ANY(%(ids)s::integer[]) AND r.auto_managed
    RETURNING r.relationship_id, r.source_node_id, r.target_node_id, r.relationship_type, r.inference_confidence
), logged AS (
    INSERT INTO review_decisions ({_LOG_COLUMNS}) SELECT {_LOG_VALUES} FROM changed c RETURNING 1
)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM logged)
"""

# The nodes of the selection's pending links, locked in node order (see the module docstring).
_REJECT_LOCK_SQL = """
SELECT n.node_id FROM nodes n
WHERE n.node_id = ANY(ARRAY(
    SELECT r.source_node_id FROM relationships r WHERE r.relationship_id = ANY(%(ids)s::integer[]) AND r.auto_managed
    UNION
    SELECT r.target_node_id FROM relationships r WHERE r.relationship_id = ANY(%(ids)s::integer[]) AND r.auto_managed))
ORDER BY n.node_id FOR UPDATE
"""

_REJECT_SQL = f"""
WITH chosen AS MATERIALIZED (
    SELECT r.relationship_id, r.source_node_id, r.target_node_id, r.relationship_type, r.inference_confidence,
           least(r.source_node_id, r.target_node_id) AS low, greatest(r.source_node_id, r.target_node_id) AS high
    FROM relationships r WHERE r.relationship_id = ANY(%(ids)s::integer[]) AND r.auto_managed
), recorded AS (
    INSERT INTO inference_rejections (source_node_id, target_node_id, relationship_type, reason, score,
                                      rejected_by_id, rejected_at)
    SELECT DISTINCT ON (low, high, relationship_type) low, high, relationship_type, %(reason)s,
           inference_confidence::float8, %(user)s, now()
    FROM chosen ORDER BY low, high, relationship_type, relationship_id
    ON CONFLICT (source_node_id, target_node_id, relationship_type) DO NOTHING
    RETURNING 1
), deleted AS (
    -- Every auto-managed link of the rejected pairs and types, whichever way it points: two equi-joins on the
    -- unique (source, target, type) index (an OR in one join condition would compare every pair with every link).
    -- The ids are gathered once (an ARRAY(...) sub-select runs as one init plan): with an IN (...) semi-join, a
    -- table whose statistics still say "empty" after a bulk insert gets a plan that re-runs both joins for every
    -- link in the table (hours for 10,000 links instead of milliseconds).
    DELETE FROM relationships r
    WHERE r.auto_managed AND r.relationship_id = ANY(ARRAY(
        SELECT x.relationship_id FROM chosen c JOIN relationships x
            ON x.source_node_id = c.low AND x.target_node_id = c.high AND x.relationship_type = c.relationship_type
        UNION ALL
        SELECT x.relationship_id FROM chosen c JOIN relationships x
            ON x.source_node_id = c.high AND x.target_node_id = c.low AND x.relationship_type = c.relationship_type))
    RETURNING r.relationship_id
), changed AS (SELECT * FROM chosen
), logged AS (
    INSERT INTO review_decisions ({_LOG_COLUMNS}) SELECT {_LOG_VALUES} FROM changed c RETURNING 1
)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM logged), (SELECT count(*) FROM deleted)
"""

_WITHDRAW_SQL = f"""
WITH gone AS (
    DELETE FROM inference_rejections j WHERE j.rejection_id = ANY(%(ids)s::integer[])
    RETURNING NULL::integer AS relationship_id, j.source_node_id, j.target_node_id, j.relationship_type,
              j.score AS inference_confidence
), changed AS (SELECT * FROM gone
), logged AS (
    INSERT INTO review_decisions ({_LOG_COLUMNS}) SELECT {_LOG_VALUES} FROM changed c RETURNING 1
)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM logged),
       inference_enqueue(ARRAY(SELECT source_node_id FROM gone UNION SELECT target_node_id FROM gone))
"""


def _run(action: str, sql: str, ids: list[int], *, user, reason: str, lock_sql: str | None = None
         ) -> DecisionResult:
    batch = uuid.uuid4()
    params = {"action": action, "reason": reason, "user": getattr(user, "pk", None), "batch": batch, "ids": ids}
    if not ids:
        return DecisionResult(action=action, decided=0, selected=0)
    with transaction.atomic(), connection.cursor() as cursor:
        if lock_sql:
            cursor.execute(lock_sql, params)
        cursor.execute(sql, params)  # the one writing statement
        decided = cursor.fetchone()[0]
    return DecisionResult(action=action, decided=decided, selected=len(ids), batch_id=batch if decided else None)


def _decide(action: str, sql: str, relationships, *, user, reason: str, lock_sql: str | None = None
            ) -> DecisionResult:
    return _run(action, sql, _selected_ids(relationships), user=user, reason=reason, lock_sql=lock_sql)


def review_accept(relationships, *, user, reason: str = "") -> DecisionResult:
    """Accept the pending links of ``relationships`` (a queryset or ids): they become curated links."""
    require_permission(user, REVIEW_PERMISSION, "accept inferred relationships")
    return _decide("accept", _ACCEPT_SQL, relationships, user=user, reason=reason_checked(reason, required=False))


def review_reject(relationships, *, user, reason: str) -> DecisionResult:
    """Reject the pending links of ``relationships``: deleted, and never inferred again until withdrawn."""
    require_permission(user, REVIEW_PERMISSION, "reject inferred relationships")
    return _decide("reject", _REJECT_SQL, relationships, user=user, reason=reason_checked(reason, required=True),
                   lock_sql=_REJECT_LOCK_SQL)


def review_skip(relationships, *, user) -> DecisionResult:
    """Skip the pending links of ``relationships``: they wait behind the others in the review queue."""
    require_permission(user, REVIEW_PERMISSION, "skip inferred relationships in the review queue")
    return _decide("skip", _SKIP_SQL, relationships, user=user, reason="")


def rejections_withdraw(rejections, *, user, reason: str = "") -> DecisionResult:
    """Withdraw rejections (a queryset of ``InferenceRejection`` or ids); their nodes are queued for inference."""
    require_permission(user, REVIEW_PERMISSION, "withdraw rejections of inferred relationships")
    reason = reason_checked(reason, required=False)
    if not isinstance(rejections, models.QuerySet):
        ids = list(rejections)
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in ids):
            raise GraphError("rejection ids must be whole numbers", code=REVIEW_BAD_DECISION)
        rejections = InferenceRejection.objects.filter(pk__in=ids)
    ids = list(rejections.order_by("rejection_id").values_list("rejection_id", flat=True)[:BULK_LIMIT])
    return _run("withdraw", _WITHDRAW_SQL, ids, user=user, reason=reason)


def review_decide(action: str, relationships, *, user, reason: str = "") -> DecisionResult:
    """``accept``, ``reject`` or ``skip`` by name (the pages' and commands' entry); RG-REVIEW-001 for another."""
    if action == "accept":
        return review_accept(relationships, user=user, reason=reason)
    if action == "reject":
        return review_reject(relationships, user=user, reason=reason)
    if action == "skip":
        return review_skip(relationships, user=user)
    raise GraphError(f"the decision must be accept, reject or skip, not {str(action)[:40]!r}",
                     code=REVIEW_BAD_DECISION, field="action")


def acceptance_by_edit_record(relationship: Relationship, *, user) -> None:
    """Record that an edit (the relationship's admin form) turned an inferred link into a curated one: the same
    decision as an accept, audited the same way. The caller saved the link and checked ``REVIEW_PERMISSION``."""
    ReviewDecision.objects.create(
        action="accept", relationship_id=relationship.pk, source_node_id=relationship.source_node_id,
        target_node_id=relationship.target_node_id, relationship_type=relationship.relationship_type,
        score=float(relationship.inference_confidence) if relationship.inference_confidence is not None else None,
        reason="accepted by unticking auto-managed in the relationship's admin form", decided_by=user,
        batch_id=uuid.uuid4(), batch_size=1)


def rejection_of(source_id: int, target_id: int, relationship_type: str) -> InferenceRejection | None:
    """The rejection that forbids a link of ``relationship_type`` between the two nodes (either way), if any."""
    low, high = sorted((source_id, target_id))
    return (InferenceRejection.objects.select_related("rejected_by")
            .filter(source_node_id=low, target_node_id=high, relationship_type=relationship_type).first())


def pending_required(result: DecisionResult) -> DecisionResult:
    """A decision on one link that was not pending is an error for the page that asked (RG-REVIEW-002)."""
    if result.decided == 0:
        raise GraphError("this link is no longer waiting for a decision (it was decided, re-scored away or "
                         "deleted meanwhile)", code=REVIEW_NOTHING_PENDING)
    return result
