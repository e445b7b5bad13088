"""Confidence scores: the formulas (docs/confidence.md), their explanation, and recalculation.

The database keeps the scores current itself (graph/sql/confidence.sql: triggers on every write path). This module
holds the same formulas in Python, for explaining a score to a curator and for tests that pin their properties
(the tests check that both give the same numbers), and ``confidence_recalculate``: the set-based batch job that
recomputes scores as time passes (recency decays even when nothing is written), resumable after an interruption.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.utils import timezone

from config_admin.selectors import config_get
from graph.errors import RECALCULATION_RUNNING, GraphError
from graph.models import ConfidenceRecalculation, Node, NodeAttribute, Relationship

PRIOR = 0.5  # a node's score before any evidence, and the stated confidence of a link that states none
_PLACES = Decimal("0.0001")
# pg_try_advisory_lock key for recalculate_confidence: one run at a time ('conf' in ASCII).
RECALCULATION_LOCK = 0x636F6E66


def _score(value: float) -> Decimal:
    """A score as the database stores it: NUMERIC(5,4), clamped to [0, 1]."""
    return Decimal(repr(min(1.0, max(0.0, value)))).quantize(_PLACES, ROUND_HALF_UP)


def attribute_effective_confidence(*, confidence, source_reliability, verified_at: datetime | None,
                                   as_of: datetime, half_life_days: float) -> float:
    """confidence × source reliability × 0.5 ^ (age in days / half-life); the age counts from ``verified_at``
    (a date in the future counts as today; no date: no decay). NULL columns count as their defaults."""
    confidence = PRIOR if confidence is None else float(confidence)
    reliability = 1.0 if source_reliability is None else float(source_reliability)
    age_days = max((as_of - verified_at).total_seconds(), 0.0) / 86400 if verified_at else 0.0
    return confidence * reliability * math.pow(0.5, age_days / half_life_days)


def node_confidence(*, weighted_sum: float, weight_sum: float, prior_weight: float) -> Decimal:
    """(0.5 × W0 + Σ weight·e) / (W0 + Σ weight): the attributes' weighted mean, pulled towards 0.5 by W0."""
    if prior_weight + weight_sum <= 0:
        return _score(PRIOR)
    return _score((PRIOR * prior_weight + weighted_sum) / (prior_weight + weight_sum))


def relationship_confidence(*, evidence, source_reliability, source_node_confidence,
                            target_node_confidence) -> Decimal:
    """evidence × source reliability × (0.5 + 0.5 × √(N_source × N_target))."""
    def value(x, default):
        return default if x is None else float(x)

    nodes = math.sqrt(value(source_node_confidence, PRIOR) * value(target_node_confidence, PRIOR))
    return _score(value(evidence, PRIOR) * value(source_reliability, 1.0) * (0.5 + 0.5 * nodes))


def relationship_evidence(relationship: Relationship):
    """What a link's score starts from: inference's confidence for an inferred link, else the stated one."""
    if relationship.auto_managed and relationship.inference_confidence is not None:
        return relationship.inference_confidence
    return relationship.stated_confidence


@dataclass(frozen=True)
class ConfidenceParameters:
    half_life_days: float
    prior_weight: float
    stale_hours: int
    propagation_limit: int

    @classmethod
    def current(cls) -> ConfidenceParameters:
        return cls(half_life_days=float(config_get("confidence_half_life_days")),
                   prior_weight=float(config_get("confidence_prior_weight")),
                   stale_hours=int(config_get("confidence_stale_hours")),
                   propagation_limit=int(config_get("confidence_propagation_limit")))


# --- Explaining a node's score ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttributeContribution:
    attribute: NodeAttribute
    weight: float
    age_days: float
    recency: float  # 0.5 ^ (age / half-life)
    effective: float  # confidence × reliability × recency
    share: float  # weight / (W0 + Σ weight): how much of the score this attribute decides


@dataclass(frozen=True)
class NodeConfidenceExplanation:
    node: Node
    as_of: datetime
    parameters: ConfidenceParameters
    contributions: list[AttributeContribution] = field(default_factory=list)
    score: Decimal = Decimal("0.5")
    prior_share: float = 1.0
    attribute_count: int = 0  # all of the node's attributes (``contributions`` lists the heaviest ``limit``)

    @property
    def stored_score(self):
        return self.node.confidence_score


def node_confidence_explained(*, node: Node, as_of: datetime | None = None,
                              limit: int = 200) -> NodeConfidenceExplanation:
    """Each attribute's part in ``node``'s score, heaviest first (at most ``limit`` listed; the score counts all),
    computed now as the database would (the stored score may be older: see ``confidence_last_updated``)."""
    as_of = as_of or timezone.now()
    parameters = ConfidenceParameters.current()
    weighted_sum = weight_sum = 0.0
    count = 0
    rows = []
    attributes = NodeAttribute.objects.filter(node=node).only(
        "attribute_id", "node_id", "attribute_type", "attribute_key", "attribute_value", "weight", "confidence",
        "source_reliability", "last_verified", "created_at",
    ).order_by("-weight", "attribute_id")
    for attribute in attributes.iterator(chunk_size=2000):
        verified_at = attribute.last_verified or attribute.created_at
        effective = attribute_effective_confidence(
            confidence=attribute.confidence, source_reliability=attribute.source_reliability,
            verified_at=verified_at, as_of=as_of, half_life_days=parameters.half_life_days)
        weight = 1.0 if attribute.weight is None else float(attribute.weight)
        weighted_sum += weight * effective
        weight_sum += weight
        count += 1
        if len(rows) < limit:
            age = max((as_of - verified_at).total_seconds(), 0.0) / 86400 if verified_at else 0.0
            rows.append((attribute, weight, age, math.pow(0.5, age / parameters.half_life_days), effective))
    total = parameters.prior_weight + weight_sum
    contributions = [
        AttributeContribution(attribute=a, weight=w, age_days=age, recency=recency, effective=e,
                              share=w / total if total > 0 else 0.0)
        for a, w, age, recency, e in rows
    ]
    return NodeConfidenceExplanation(
        node=node, as_of=as_of, parameters=parameters, contributions=contributions,
        score=node_confidence(weighted_sum=weighted_sum, weight_sum=weight_sum,
                              prior_weight=parameters.prior_weight),
        prior_share=parameters.prior_weight / total if total > 0 else 1.0,
        attribute_count=count,
    )


# --- Recalculation ------------------------------------------------------------------------------------------------

@dataclass
class RecalculationReport:
    run: ConfidenceRecalculation
    resumed: bool
    pending_nodes: int = 0  # noted nodes whose relationships were brought up to date first
    pending_relationships_changed: int = 0

    def lines(self) -> list[str]:
        run = self.run
        scope = f"stale scores (computed before {run.stale_before:%Y-%m-%d %H:%M} UTC)" if run.stale_only \
            else "all scores"
        lines = [f"{'Resumed' if self.resumed else 'Ran'} recalculation #{run.pk} of {scope}."]
        if self.pending_nodes:
            lines.append(f"Carried {self.pending_nodes:,} nodes' new scores on to their relationships "
                         f"({self.pending_relationships_changed:,} changed).")
        lines.append(f"Nodes: {run.nodes_recomputed:,} recomputed, {run.nodes_changed:,} changed.")
        lines.append(f"Relationships: {run.relationships_recomputed:,} recomputed, {run.relationships_changed:,} "
                     "changed.")
        return lines


Progress = Callable[[str, int, int], object]  # (phase, total, done so far) -> an object with advance(n)


def _stale_before(parameters: ConfidenceParameters, now: datetime) -> datetime:
    return now - timedelta(hours=parameters.stale_hours)


def _ids_after(table: str, key: str, after: int, limit: int, stale_before: datetime | None) -> list[int]:
    stale = " AND (confidence_last_updated IS NULL OR confidence_last_updated < %s)" if stale_before else ""
    params = [after] + ([stale_before] if stale_before else []) + [limit]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key} FROM {table} WHERE {key} > %s{stale} ORDER BY {key} LIMIT %s", params)
        return [row[0] for row in cursor.fetchall()]


def _count(table: str, key: str, after: int, stale_before: datetime | None) -> int:
    stale = " AND (confidence_last_updated IS NULL OR confidence_last_updated < %s)" if stale_before else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {key} > %s{stale}",
                       [after] + ([stale_before] if stale_before else []))
        return cursor.fetchone()[0]


def confidence_pending_propagate(*, batch_size: int = 1000) -> tuple[int, int]:
    """Carry noted nodes' scores on to their relationships, batch by batch (each its own transaction); returns
    (nodes taken, relationships whose score changed)."""
    nodes = changed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT nodes_taken, relationships_changed FROM confidence_pending_propagate(%s)",
                           [batch_size])
            taken, rel_changed = cursor.fetchone()
        nodes += taken
        changed += rel_changed
        if taken < batch_size:
            return nodes, changed


def confidence_recalculate(*, stale_only: bool = False, batch_size: int = 10_000,
                           progress: Progress | None = None) -> RecalculationReport:
    """Recompute node scores, then relationship scores, set-based, ``batch_size`` rows per transaction.

    First carries pending node scores on to their relationships (``confidence_pending_nodes``). ``stale_only``:
    only rows whose score was computed more than ``confidence_stale_hours`` ago (fixed when the run starts). Each
    batch commits with the run's checkpoint, so an interrupted run is resumed by the next call with the same
    ``stale_only``; one with the other scope abandons it. One run at a time (``RG-CONF-001`` otherwise).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RECALCULATION_LOCK])
        if not cursor.fetchone()[0]:
            raise GraphError("another recalculate_confidence is running; wait for it to finish",
                             code=RECALCULATION_RUNNING)
    try:
        return _recalculate(stale_only=stale_only, batch_size=batch_size, progress=progress)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RECALCULATION_LOCK])


def _recalculate(*, stale_only: bool, batch_size: int, progress: Progress | None) -> RecalculationReport:
    now = timezone.now()
    unfinished = ConfidenceRecalculation.objects.filter(finished_at__isnull=True).order_by("-id").first()
    resumed = unfinished is not None and unfinished.stale_only == stale_only
    if unfinished is not None and not resumed:
        unfinished.phase, unfinished.finished_at = ConfidenceRecalculation.Phase.ABANDONED, now
        unfinished.save(update_fields=["phase", "finished_at"])
    if resumed:
        run = unfinished
        run.batch_size = batch_size
        run.save(update_fields=["batch_size"])
    else:
        parameters = ConfidenceParameters.current()
        run = ConfidenceRecalculation.objects.create(
            started_at=now, stale_only=stale_only, batch_size=batch_size,
            stale_before=_stale_before(parameters, now) if stale_only else None)
    report = RecalculationReport(run=run, resumed=resumed)
    report.pending_nodes, report.pending_relationships_changed = confidence_pending_propagate(batch_size=batch_size)

    phases = (
        (ConfidenceRecalculation.Phase.NODES, "nodes", "node_id", _nodes_batch),
        (ConfidenceRecalculation.Phase.RELATIONSHIPS, "relationships", "relationship_id", _relationships_batch),
    )
    start = [phase for phase, *_ in phases].index(run.phase)
    for phase, table, key, work in phases[start:]:
        if run.phase != phase:
            run.phase, run.resume_after = phase, 0
            run.save(update_fields=["phase", "resume_after"])
        total = _count(table, key, run.resume_after, run.stale_before)
        bar = progress(table, total, 0) if progress else None
        with bar if bar is not None else _Nothing():
            while True:
                ids = _ids_after(table, key, run.resume_after, batch_size, run.stale_before)
                if not ids:
                    break
                with transaction.atomic():
                    work(run, ids)
                    run.resume_after = ids[-1]
                    run.save()
                if bar is not None:
                    bar.advance(len(ids))
    # Batches whose nodes had more than confidence_propagation_limit relationships left them noted rather than
    # carried on at commit (a full run has re-scored those relationships since, so this mostly reads them).
    nodes, changed = confidence_pending_propagate(batch_size=batch_size)
    report.pending_nodes += nodes
    report.pending_relationships_changed += changed
    run.phase, run.finished_at, run.resume_after = ConfidenceRecalculation.Phase.DONE, timezone.now(), 0
    run.save()
    return report


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


def _nodes_batch(run: ConfidenceRecalculation, ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nodes_recomputed, nodes_changed FROM nodes_confidence_refresh(%s::integer[])", [ids])
        recomputed, changed = cursor.fetchone()
    run.nodes_recomputed += recomputed
    run.nodes_changed += changed


def _relationships_batch(run: ConfidenceRecalculation, ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relationships_confidence_refresh(%s::integer[], true)", [ids])
        changed = cursor.fetchone()[0]
    run.relationships_recomputed += len(ids)
    run.relationships_changed += changed
