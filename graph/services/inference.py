"""Relationship inference from shared attributes (docs/inference.md): the rule, one batch of nodes at a time in
SQL, the explanation a curator reads, queueing nodes by hand, and the cleanup of links that no longer hold.

Two nodes share an attribute when its type, key and value are equal (``node_attributes.value_key``, an md5 of the
three, indexed with the columns the score reads so that candidates come from index-only scans). For a node, every
node sharing at least ``inference_min_shared_attributes`` values that are carried by at most
``inference_max_value_nodes`` nodes is a candidate; the pair's score is

    contribution of a shared value  c = rarity' × √(e_a × e_b)
        e = weight × confidence × source_reliability of that attribute on each side
        rarity = ln(N / n) / ln(N / 2), clamped to [0, 1]   (n: nodes carrying the value, N: nodes in the graph)
        rarity' = (1 − α) + α × rarity                      (α: inference_rarity_weight)
    score  = 1 − Π (1 − c)                                  (each shared value is independent evidence)

and a pair whose score reaches ``inference_confidence_threshold`` gets one auto-managed, bidirectional relationship
(lower node id as source) of type ``inference_relationship_type``; the explanation is kept in its
``metadata['inference']``. Relationships with ``auto_managed = false`` are never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config_admin.selectors import config_get
from graph.errors import BAD_INFERENCE_SETTING, NOTHING_TO_QUEUE, GraphError
from graph.models import InferenceReason, Node, Relationship
from kgsite.db import row_count

RULE_VERSION = 1
INFERENCE_SOURCE = "inference"
INFERENCE_WORK_MEM = "64MB"
VALUE_SHOWN = 200  # characters of a shared value kept in an explanation
DEGREE_CAP = 1000  # relationships counted per node for the review queue's impact
_MAX_CONTRIBUTION = 0.999999  # keeps ln(1 - c) finite; a single value never makes a pair certain


@dataclass(frozen=True)
class InferenceParameters:
    min_shared: int
    threshold: float
    max_value_nodes: int
    rarity_weight: float
    relationship_type: str

    @classmethod
    def current(cls) -> InferenceParameters:
        relationship_type = str(config_get("inference_relationship_type")).strip()
        max_length = Relationship._meta.get_field("relationship_type").max_length
        if not relationship_type or len(relationship_type) > max_length or "\x00" in relationship_type:
            raise GraphError(
                f"inference_relationship_type must be 1 to {max_length} characters (it is "
                f"{len(relationship_type)}); set it with `python manage.py config set inference_relationship_type "
                "NAME`", code=BAD_INFERENCE_SETTING)
        return cls(min_shared=int(config_get("inference_min_shared_attributes")),
                   threshold=float(config_get("inference_confidence_threshold")),
                   max_value_nodes=int(config_get("inference_max_value_nodes")),
                   rarity_weight=float(config_get("inference_rarity_weight")),
                   relationship_type=relationship_type)


# --- The rule in Python (explanations, tests: the SQL below computes the same numbers) ---------------------------

def attribute_evidence(*, weight, confidence, source_reliability) -> float:
    """e = weight × confidence × source reliability (NULLs count as the columns' defaults 1, 0.5, 1)."""
    return ((1.0 if weight is None else float(weight)) * (0.5 if confidence is None else float(confidence))
            * (1.0 if source_reliability is None else float(source_reliability)))


def value_rarity(*, carriers: int, nodes: int) -> float:
    """ln(N / n) / ln(N / 2), clamped to [0, 1]: 1 for a value two nodes carry, 0 for one every node carries."""
    nodes = max(nodes, 3)
    return min(1.0, max(0.0, math.log(nodes / carriers) / math.log(nodes / 2)))


def shared_value_contribution(*, source_evidence: float, target_evidence: float, carriers: int, nodes: int,
                              rarity_weight: float) -> float:
    rarity = value_rarity(carriers=carriers, nodes=nodes)
    return ((1.0 - rarity_weight) + rarity_weight * rarity) * math.sqrt(source_evidence * target_evidence)


def pair_score(contributions: list[float]) -> float:
    """1 − Π (1 − c): at least the largest contribution, approaching 1 as independent evidence accumulates."""
    remaining = 1.0
    for contribution in contributions:
        remaining *= 1.0 - min(contribution, _MAX_CONTRIBUTION)
    return 1.0 - remaining


# --- One batch in SQL ---------------------------------------------------------------------------------------------

_EVIDENCE = ("coalesce({t}.weight, 1)::float8 * coalesce({t}.confidence, 0.5)::float8"
             " * coalesce({t}.source_reliability, 1)::float8")

# Django's PostgreSQL backend binds parameters on the client, as literals: 0.5 would be NUMERIC, whose arithmetic
# is many times slower than float8's, hence the casts.
# rarity' of a value carried by {carriers} nodes; a shared value's contribution is rarity' × √e_a × √e_b.
_RARITY = """((1 - %(alpha)s::float8) + %(alpha)s::float8 * least(1::float8, greatest(0::float8,
               ln(%(nodes)s::float8 / {carriers}) / ln(%(nodes)s::float8 / 2))))"""

# The nodes carrying each value of {values} (a CTE with a value_key column), counted up to the cap + 1 by an
# index-only scan that stops there, and the value's rarity'.
_COUNTED = f"""
    SELECT v.value_key, v.carriers, {_RARITY.format(carriers="greatest(v.carriers, 1)")} AS rarity
    FROM (SELECT v.value_key,
                 (SELECT count(*) FROM (SELECT 1 FROM node_attributes x WHERE x.value_key = v.value_key
                                        LIMIT %(cap)s + 1) AS s) AS carriers
          FROM (SELECT DISTINCT value_key FROM {{values}}) AS v
          OFFSET 0) AS v"""  # OFFSET 0: not flattened, or the count would run again inside the rarity
# 1 − Π (1 − c) as an aggregate over a pair's contributions.
_SCORE = f"1 - exp(sum(ln(1 - least({{contribution}}, {_MAX_CONTRIBUTION}::float8))))"

# One statement. The batch's attributes; how many nodes carry each of their values (counted up to the cap + 1,
# index-only); every partner of each usable value; the pairs sharing enough of them, scored; the explanation of the
# pairs that hold (their attributes read again, a few per pair); then the writes: upsert the pairs that hold (in
# one order, so that concurrent workers never deadlock on each other's inserts) and delete the batch's
# auto-managed links of the inference type that no longer hold. A node has each (type, key, value) once
# (unique_node_attribute_value), so no value counts twice for a pair.
INFER_SQL = f"""
WITH batch AS MATERIALIZED (
    SELECT DISTINCT node_id FROM unnest(%(node_ids)s::integer[]) AS b(node_id)
), mine AS MATERIALIZED (
    SELECT a.node_id, a.value_key, sqrt({_EVIDENCE.format(t="a")}) AS root_evidence
    FROM node_attributes a JOIN batch USING (node_id)
), counted AS MATERIALIZED ({_COUNTED.format(values="mine")}
), partners AS (
    SELECT x.value_key, c.rarity, x.node_id, sqrt({_EVIDENCE.format(t="x")}) AS root_evidence,
           other.node_id IS NOT NULL AS in_batch
    FROM counted c
    JOIN node_attributes x USING (value_key)
    LEFT JOIN batch other ON other.node_id = x.node_id
    WHERE c.carriers BETWEEN 2 AND %(cap)s
), pair_rows AS (
    SELECT m.node_id AS a, p.node_id AS b, p.rarity * m.root_evidence * p.root_evidence AS contribution
    FROM mine m JOIN partners p USING (value_key)
    WHERE p.node_id <> m.node_id AND (NOT p.in_batch OR m.node_id < p.node_id)
), scored AS MATERIALIZED (
    SELECT a, b, count(*) AS shared,
           {_SCORE.format(contribution="contribution")} AS score
    FROM pair_rows GROUP BY a, b HAVING count(*) >= %(min_shared)s
), kept AS MATERIALIZED (
    SELECT least(s.a, s.b) AS source_id, greatest(s.a, s.b) AS target_id, s.shared, s.score
    FROM scored s
    WHERE s.score >= %(threshold)s::float8
      AND NOT EXISTS (
          SELECT 1 FROM relationships r
          WHERE r.relationship_type = %(type)s AND r.auto_managed IS NOT TRUE
            AND ((r.source_node_id = s.a AND r.target_node_id = s.b)
                 OR (r.source_node_id = s.b AND r.target_node_id = s.a)))
      -- A pair a curator rejected never gets the link again (docs/curation.md).
      AND NOT EXISTS (
          SELECT 1 FROM inference_rejections j
          WHERE j.source_node_id = least(s.a, s.b) AND j.target_node_id = greatest(s.a, s.b)
            AND j.relationship_type = %(type)s)
), degrees AS MATERIALIZED (
    -- Each end's relationships as the pass finds them (counted up to the cap, index-only): the review queue
    -- ranks a link by score × (1 + the degree of one end + the degree of the other).
    SELECT e.node_id,
           (SELECT count(*) FROM (SELECT 1 FROM relationships x WHERE x.source_node_id = e.node_id
                                  LIMIT {DEGREE_CAP}) AS o)
           + (SELECT count(*) FROM (SELECT 1 FROM relationships x WHERE x.target_node_id = e.node_id
                                    LIMIT {DEGREE_CAP}) AS i) AS degree
    FROM (SELECT source_id FROM kept UNION SELECT target_id FROM kept) AS e(node_id)
), kept_attributes AS MATERIALIZED (
    -- Both ends' attributes, found by node id (a few per node), matched below by hashing: never through the
    -- value index, which a common value makes slow.
    SELECT k.source_id, k.target_id, true AS at_source, a.value_key, a.attribute_id, a.attribute_type, a.attribute_key,
           left(a.attribute_value, {VALUE_SHOWN}) AS attribute_value, {_EVIDENCE.format(t="a")} AS evidence
    FROM kept k JOIN node_attributes a ON a.node_id = k.source_id
    UNION ALL
    SELECT k.source_id, k.target_id, false, a.value_key, a.attribute_id, NULL, NULL, NULL, {_EVIDENCE.format(t="a")}
    FROM kept k JOIN node_attributes a ON a.node_id = k.target_id
), kept_values AS MATERIALIZED (
    -- The values both ends carry: a group of two per (pair, value). Grouping, not a self-join: the planner
    -- cannot estimate the CTE's size and would nest the loops.
    SELECT g.*, c.carriers, c.rarity * sqrt(g.source_evidence) * sqrt(g.target_evidence) AS contribution
    FROM (SELECT source_id, target_id, value_key,
                 max(attribute_type) AS attribute_type, max(attribute_key) AS attribute_key,
                 max(attribute_value) AS attribute_value,
                 max(attribute_id) FILTER (WHERE at_source) AS source_attribute,
                 max(attribute_id) FILTER (WHERE NOT at_source) AS target_attribute,
                 max(evidence) FILTER (WHERE at_source) AS source_evidence,
                 max(evidence) FILTER (WHERE NOT at_source) AS target_evidence
          FROM kept_attributes
          GROUP BY source_id, target_id, value_key
          HAVING count(*) = 2) AS g
    JOIN counted c USING (value_key)
), reasons AS (
    -- The values left out as too common; the supporting ones become inference_reasons rows below.
    SELECT source_id, target_id,
           coalesce(jsonb_agg(jsonb_build_object('type', attribute_type, 'key', attribute_key,
                                                 'value', attribute_value)
                              ORDER BY attribute_type, attribute_key)
                    FILTER (WHERE carriers > %(cap)s), '[]'::jsonb) AS too_common
    FROM kept_values GROUP BY source_id, target_id
), explained AS (
    SELECT k.source_id, k.target_id, k.shared, round(k.score::numeric, 4) AS score,
           k.score * (1 + ds.degree + dt.degree) AS impact,
           jsonb_build_object('inference', jsonb_build_object(
               'rule', {RULE_VERSION}, 'score', round(k.score::numeric, 4), 'at', now(),
               'nodes', %(nodes)s::float8, 'max_value_nodes', %(cap)s, 'rarity_weight', %(alpha)s::float8,
               'too_common', r.too_common)) AS metadata
    FROM kept k JOIN reasons r USING (source_id, target_id)
    JOIN degrees ds ON ds.node_id = k.source_id JOIN degrees dt ON dt.node_id = k.target_id
), written AS (
    INSERT INTO relationships AS r (
        source_node_id, target_node_id, relationship_type, strength, stated_confidence, bidirectional, metadata,
        source, auto_managed, shared_attributes_count, inference_confidence, last_inference_update,
        source_reliability, review_impact)
    SELECT source_id, target_id, %(type)s, score, score, true, metadata, '{INFERENCE_SOURCE}', true, shared, score,
           now(), 1.0, impact
    FROM explained
    ORDER BY source_id, target_id
    ON CONFLICT (source_node_id, target_node_id, relationship_type) DO UPDATE
    SET strength = excluded.strength, stated_confidence = excluded.stated_confidence, bidirectional = true,
        source = excluded.source,
        shared_attributes_count = excluded.shared_attributes_count,
        inference_confidence = excluded.inference_confidence, last_inference_update = excluded.last_inference_update,
        metadata = (coalesce(r.metadata, '{{}}'::jsonb) #- '{{inference,shared}}') || excluded.metadata,
        review_impact = excluded.review_impact, stale_since = NULL, updated_at = now()
    WHERE r.auto_managed
    RETURNING r.relationship_id, r.source_node_id, r.target_node_id, (r.xmax = 0) AS inserted
), reasons_cleared AS (
    -- The written links' earlier reasons. (Same snapshot: the rows inserted next are not among them.)
    DELETE FROM inference_reasons x
    WHERE x.relationship_id = ANY(ARRAY(SELECT relationship_id FROM written WHERE NOT inserted))
    RETURNING 1
), reasons_written AS (
    INSERT INTO inference_reasons (relationship_id, source_attribute_id, target_attribute_id, attribute_type,
                                   attribute_key, attribute_value, carriers, source_evidence, target_evidence,
                                   contribution, rule_version, gone_why)
    SELECT w.relationship_id, v.source_attribute, v.target_attribute, v.attribute_type, v.attribute_key,
           v.attribute_value, v.carriers, v.source_evidence, v.target_evidence, v.contribution, {RULE_VERSION}, ''
    FROM written w
    JOIN kept_values v ON v.source_id = w.source_node_id AND v.target_id = w.target_node_id
    WHERE v.carriers BETWEEN 2 AND %(cap)s
    RETURNING 1
), touching AS MATERIALIZED (
    SELECT r.relationship_id, r.source_node_id, r.target_node_id FROM relationships r
    WHERE r.source_node_id IN (SELECT node_id FROM batch) AND r.auto_managed AND r.relationship_type = %(type)s
    UNION
    SELECT r.relationship_id, r.source_node_id, r.target_node_id FROM relationships r
    WHERE r.target_node_id IN (SELECT node_id FROM batch) AND r.auto_managed AND r.relationship_type = %(type)s
), removed AS (
    -- By primary key (an array: the planner cannot mistake the few rows for many and hash every inferred link).
    DELETE FROM relationships r
    WHERE r.relationship_id = ANY(ARRAY(
        SELECT t.relationship_id FROM touching t
        WHERE NOT EXISTS (SELECT 1 FROM kept k WHERE k.source_id = t.source_node_id
                                                AND k.target_id = t.target_node_id)))
      AND r.auto_managed
    RETURNING 1
)
SELECT (SELECT count(*) FROM scored), (SELECT count(*) FROM kept),
       (SELECT count(*) FILTER (WHERE inserted) FROM written),
       (SELECT count(*) FILTER (WHERE NOT inserted) FROM written),
       (SELECT count(*) FROM removed), (SELECT count(*) FROM counted WHERE carriers > %(cap)s),
       (SELECT count(*) FROM reasons_cleared), (SELECT count(*) FROM reasons_written)
"""


@dataclass
class InferenceResult:
    nodes: int = 0
    candidate_pairs: int = 0  # pairs sharing at least the minimum of usable values
    pairs_kept: int = 0  # of those, the pairs whose score reaches the threshold
    created: int = 0
    updated: int = 0
    removed: int = 0
    values_too_common: int = 0

    def add(self, other: InferenceResult) -> None:
        for name in ("nodes", "candidate_pairs", "pairs_kept", "created", "updated", "removed",
                     "values_too_common"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def summary(self) -> str:
        return (f"{self.nodes:,} nodes: {self.candidate_pairs:,} candidate pairs, {self.pairs_kept:,} above the "
                f"threshold; relationships {self.created:,} created, {self.updated:,} updated, {self.removed:,} "
                f"removed; {self.values_too_common:,} values skipped as too common")


def graph_node_count() -> int:
    """N of the rarity: exact up to 10,000 nodes, the planner's estimate beyond (no full count per batch)."""
    return row_count(Node).value


def relationships_infer(*, node_ids: list[int], parameters: InferenceParameters | None = None,
                        nodes: int | None = None) -> InferenceResult:
    """Settle the inferred relationships of ``node_ids``: create or update those that hold, delete those that no
    longer do. Runs in the caller's transaction (one statement); the worker wraps it with the queue's update."""
    parameters = parameters or InferenceParameters.current()
    if not node_ids:
        return InferenceResult()
    params = {
        "node_ids": list(node_ids), "cap": parameters.max_value_nodes, "alpha": parameters.rarity_weight,
        "nodes": float(max(nodes if nodes is not None else graph_node_count(), 3)),
        "min_shared": parameters.min_shared, "threshold": parameters.threshold,
        "type": parameters.relationship_type,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # The pair aggregate hashes: with the default 4MB, and even with room, the planner sorts its ~100,000 rows
        # instead, several times slower (enable_sort off only penalises sorts: the insert's ORDER BY still sorts).
        cursor.execute("SELECT set_config('work_mem', %s, true), set_config('enable_sort', 'off', true)",
                       [INFERENCE_WORK_MEM])
        cursor.execute(INFER_SQL, params)
        candidates, kept, created, updated, removed, too_common, _, _ = cursor.fetchone()
    return InferenceResult(nodes=len(set(node_ids)), candidate_pairs=candidates, pairs_kept=kept, created=created,
                           updated=updated, removed=removed, values_too_common=too_common)


# --- Explaining an inferred relationship ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SharedValue:
    attribute_type: str
    attribute_key: str
    value: str
    carriers: int
    source_evidence: float
    target_evidence: float
    contribution: float
    source_attribute: int | None = None  # attribute ids on each side, as they were when inferred
    target_attribute: int | None = None
    gone_at: datetime | None = None  # an attribute behind it was changed or deleted since (docs/curation.md)
    gone_why: str = ""  # "changed" or "deleted"

    @property
    def gone(self) -> bool:
        return self.gone_at is not None


@dataclass(frozen=True)
class InferenceExplanation:
    score: float
    rule: int
    inferred_at: datetime | None
    nodes: int
    max_value_nodes: int
    rarity_weight: float
    shared: list[SharedValue] = field(default_factory=list)
    too_common: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def age(self) -> timedelta | None:
        return timezone.now() - self.inferred_at if self.inferred_at else None

    @property
    def gone(self) -> list[SharedValue]:
        """The reasons whose attributes changed or went away since the link was scored."""
        return [value for value in self.shared if value.gone]

    @property
    def holding(self) -> list[SharedValue]:
        """The reasons that still hold, strongest first."""
        return [value for value in self.shared if not value.gone]


def _shared_values(relationship_ids: list[int]) -> dict[int, list[SharedValue]]:
    found: dict[int, list[SharedValue]] = {rid: [] for rid in relationship_ids}
    if not relationship_ids:
        return found
    for reason in InferenceReason.objects.filter(relationship_id__in=relationship_ids).order_by(
            "relationship_id", "-contribution", "attribute_type", "attribute_key", "reason_id"):
        found[reason.relationship_id].append(SharedValue(
            attribute_type=reason.attribute_type, attribute_key=reason.attribute_key, value=reason.attribute_value,
            carriers=reason.carriers, source_evidence=reason.source_evidence,
            target_evidence=reason.target_evidence, contribution=reason.contribution,
            source_attribute=reason.source_attribute_id, target_attribute=reason.target_attribute_id,
            gone_at=reason.gone_at, gone_why=reason.gone_why))
    return found


def _explanation(relationship: Relationship, shared: list[SharedValue]) -> InferenceExplanation | None:
    record = (relationship.metadata or {}).get("inference") if isinstance(relationship.metadata, dict) else None
    if not isinstance(record, dict):
        return None
    try:
        too_common = [(str(item["type"]), str(item["key"]), str(item["value"]))
                      for item in record.get("too_common") or []]
        at = parse_datetime(str(record["at"])) if record.get("at") else None
        return InferenceExplanation(
            score=float(record["score"]), rule=int(record.get("rule", 0)), inferred_at=at,
            nodes=int(record.get("nodes", 0)), max_value_nodes=int(record.get("max_value_nodes", 0)),
            rarity_weight=float(record.get("rarity_weight", 1.0)), shared=shared, too_common=too_common)
    except (KeyError, TypeError, ValueError):
        return None  # a record edited by hand into something else: nothing to explain


def relationships_inference_explained(relationships: list[Relationship]) -> dict[int, InferenceExplanation | None]:
    """What inference recorded for each relationship (``metadata['inference']``: the score, when, the values left
    out as too common) with the reasons it rests on (``inference_reasons``, one query for all of them); None for a
    relationship inference did not make (or whose record was removed by hand)."""
    ids = [rel.pk for rel in relationships if isinstance(rel.metadata, dict) and "inference" in rel.metadata]
    shared = _shared_values(ids)
    return {rel.pk: _explanation(rel, shared[rel.pk]) if rel.pk in shared else None for rel in relationships}


def relationship_inference_explained(relationship: Relationship) -> InferenceExplanation | None:
    """``relationships_inference_explained`` for one relationship."""
    return relationships_inference_explained([relationship])[relationship.pk]


# --- Queueing by hand ------------------------------------------------------------------------------------------------

def inference_queue(*, node_ids: list[int] | None = None, all_nodes: bool = False, node_type: str | None = None,
                    priority: int = 5) -> int:
    """Queue nodes for inference (set-based, through the same ``inference_enqueue()`` the triggers call); returns
    how many queue rows were added or raised. Exactly one of ``node_ids``, ``all_nodes`` and ``node_type``."""
    if sum((node_ids is not None, all_nodes, node_type is not None)) != 1:
        raise GraphError("say which nodes to queue: node ids, all nodes, or a node type", code=NOTHING_TO_QUEUE)
    with transaction.atomic(), connection.cursor() as cursor:
        if node_ids is not None:
            cursor.execute("SELECT count(*) FROM nodes WHERE node_id = ANY(%s)", [list(node_ids)])
            found = cursor.fetchone()[0]
            missing = len(set(node_ids)) - found
            if missing:
                cursor.execute("SELECT array_agg(id ORDER BY id) FROM unnest(%s::integer[]) AS w(id) "
                               "WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE node_id = w.id)", [list(node_ids)])
                absent = cursor.fetchone()[0][:10]
                raise GraphError(f"no node with id {', '.join(map(str, absent))}; nothing was queued",
                                 code=NOTHING_TO_QUEUE)
            cursor.execute("SELECT inference_enqueue(%s::integer[], %s)", [list(node_ids), priority])
        elif all_nodes:
            cursor.execute("SELECT inference_enqueue(ARRAY(SELECT node_id FROM nodes), %s)", [priority])
        else:
            if "\x00" in node_type or len(node_type) > Node._meta.get_field("node_type").max_length \
                    or not Node.objects.filter(node_type=node_type).exists():
                raise GraphError(f"no node has the type {node_type[:60]!r}; nothing was queued", code=NOTHING_TO_QUEUE)
            cursor.execute("SELECT inference_enqueue(ARRAY(SELECT node_id FROM nodes WHERE node_type = %s), %s)",
                           [node_type, priority])
        return cursor.fetchone()[0]



# --- Cleanup -----------------------------------------------------------------------------------------------------

# The auto-managed relationships after ``after`` (id order, ``batch`` of them): the rule again, from both ends'
# current attributes, for those that no longer hold; plus those whose confidence score fell below the cleanup
# threshold. Matches on (node_id, value_key) go through unique_node_attribute_value.
_CLEANUP_SELECT = f"""
WITH rel AS MATERIALIZED (
    SELECT relationship_id, source_node_id, target_node_id, confidence_score FROM relationships
    WHERE auto_managed AND relationship_id > %(after)s ORDER BY relationship_id LIMIT %(batch)s
), sides AS MATERIALIZED (
    SELECT r.relationship_id, a.value_key, sqrt({_EVIDENCE.format(t="a")}) * sqrt({_EVIDENCE.format(t="b")}) AS root
    FROM rel r
    JOIN node_attributes a ON a.node_id = r.source_node_id
    JOIN node_attributes b ON b.node_id = r.target_node_id AND b.value_key = a.value_key
), counted AS MATERIALIZED ({_COUNTED.format(values="sides")}
), scored AS (
    SELECT s.relationship_id, count(*) AS shared,
           {_SCORE.format(contribution="c.rarity * s.root")} AS score
    FROM sides s JOIN counted c USING (value_key)
    WHERE c.carriers BETWEEN 2 AND %(cap)s
    GROUP BY s.relationship_id
)
SELECT r.relationship_id,
       coalesce(s.shared, 0) < %(min_shared)s OR coalesce(s.score, 0) < %(threshold)s::float8 AS no_longer_holds,
       r.confidence_score < %(cleanup_below)s AS low_confidence
FROM rel r LEFT JOIN scored s USING (relationship_id)
"""


@dataclass
class CleanupReport:
    dry_run: bool
    examined: int = 0
    no_longer_hold: int = 0
    low_confidence: int = 0
    nodes_requeued: int = 0
    queue_rows_deleted: int = 0

    @property
    def removed(self) -> int:
        return self.no_longer_hold + self.low_confidence

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        again = "would queue" if self.dry_run else "queued"
        deleted = "would delete" if self.dry_run else "deleted"
        return [
            f"Examined {self.examined:,} auto-managed relationships: {verb} {self.removed:,} "
            f"({self.no_longer_hold:,} whose shared attributes no longer meet the rule, {self.low_confidence:,} "
            "with a confidence score below confidence_threshold_cleanup).",
            f"{again.capitalize()} {self.nodes_requeued:,} nodes whose inferred links are older than "
            "max_inference_age_days.",
            f"Queue: {deleted} {self.queue_rows_deleted:,} completed or cancelled items older than "
            "inference_queue_retention_days.",
        ]


def relationships_cleanup(*, dry_run: bool = False, batch_size: int = 10_000) -> CleanupReport:
    """Remove auto-managed relationships that no longer hold or whose confidence fell below
    ``confidence_threshold_cleanup``; re-queue the nodes of inferred links older than ``max_inference_age_days``
    (priority 1: behind fresh changes); delete finished queue rows older than ``inference_queue_retention_days``.
    Manual relationships are never touched. Each batch is its own transaction; ``dry_run`` changes nothing."""
    parameters = InferenceParameters.current()
    report = CleanupReport(dry_run=dry_run)
    params = {"cap": parameters.max_value_nodes, "alpha": parameters.rarity_weight,
              "nodes": float(max(graph_node_count(), 3)), "min_shared": parameters.min_shared,
              "threshold": parameters.threshold, "cleanup_below": float(config_get("confidence_threshold_cleanup")),
              "batch": batch_size, "after": 0}
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [INFERENCE_WORK_MEM])
            cursor.execute(_CLEANUP_SELECT, params)
            rows = cursor.fetchall()
            if not rows:
                break
            params["after"] = max(row[0] for row in rows)
            report.examined += len(rows)
            doomed = [rid for rid, gone, low in rows if gone or low]
            report.no_longer_hold += sum(1 for _, gone, _ in rows if gone)
            report.low_confidence += sum(1 for _, gone, low in rows if low and not gone)
            if doomed and not dry_run:
                cursor.execute("DELETE FROM relationships WHERE relationship_id = ANY(%s) AND auto_managed",
                               [doomed])
        if len(rows) < batch_size:
            break
    age = int(config_get("max_inference_age_days"))
    retention = int(config_get("inference_queue_retention_days"))
    with transaction.atomic(), connection.cursor() as cursor:
        old_nodes = """
            SELECT source_node_id FROM relationships
            WHERE auto_managed AND last_inference_update < now() - make_interval(days => %(age)s)
            UNION
            SELECT target_node_id FROM relationships
            WHERE auto_managed AND last_inference_update < now() - make_interval(days => %(age)s)
        """
        if dry_run:
            cursor.execute(f"SELECT count(*) FROM ({old_nodes}) AS n", {"age": age})
            report.nodes_requeued = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM relationship_inference_queue WHERE status IN ('completed', "
                           "'cancelled') AND completed_at < now() - make_interval(days => %s)", [retention])
            report.queue_rows_deleted = cursor.fetchone()[0]
        else:
            cursor.execute(f"SELECT inference_enqueue(ARRAY({old_nodes}), 1)", {"age": age})
            report.nodes_requeued = cursor.fetchone()[0]
            cursor.execute("DELETE FROM relationship_inference_queue WHERE status IN ('completed', 'cancelled') "
                           "AND completed_at < now() - make_interval(days => %s)", [retention])
            report.queue_rows_deleted = cursor.rowcount
    return report
