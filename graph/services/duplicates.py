"""Finding duplicate nodes, and curators' "not the same" (docs/duplicates.md).

``duplicates_find`` scores candidate pairs set-based and bounded, never over all pairs: each node in scope is
compared only with its nearest neighbours, ``duplicate_neighbours`` (k) of them by name (pg_trgm's ``%`` on the
trigram index, most similar first) and k by embedding (pgvector's index, cosine), so a run does O(n·k) work. By
default a node's neighbours have its type; ``across_types`` lifts that. ``subtree`` keeps both nodes of a pair
inside a subtree.

Each pair found is scored from three pieces of evidence (docs/duplicates.md, "Scoring"):

* ``name_similarity``: pg_trgm's ``similarity`` of the names, 0 to 1;
* ``embedding_similarity``: 1 − cosine distance of the embeddings (clamped to 0..1), when both have one;
* ``attribute_overlap``: the attribute values (type, key, value) both hold, over the distinct values of the node
  that has fewer;

``score = (0.5·name + 0.3·embedding + 0.2·overlap) / (0.5 + 0.3 + 0.2)``, the embedding's weight left out of both
sides when a node has none. Pairs scoring at least ``duplicate_min_score`` are stored in ``duplicate_candidates``;
pairs marked "not the same" (``distinct_node_pairs``) are never stored. The scope's nodes are read in chunks of
``CHUNK`` ids, each chunk one statement and one transaction; at the end, candidates of the scope that the run did
not find again (another ``run_id``) are deleted.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.db import connection, transaction

from config_admin.selectors import config_get
from graph.errors import DUPLICATE_BAD_OPTION, DUPLICATE_BAD_PAIR, NODE_MISSING, GraphError
from graph.models import DistinctPair, DuplicateCandidate, Node
from kgsite.errors import require_permission

MERGE_PERMISSION = "graph.merge_node"
CHUNK = 2_000
NAME_THRESHOLD = 0.4  # pg_trgm.similarity_threshold for the name neighbours: below it names share little
WEIGHTS = {"name": 0.5, "embedding": 0.3, "attributes": 0.2}
REASON_MAX_LENGTH = 2_000
SEQSCAN_ROWS = 20_000  # as graph.selectors.similarity: above it the neighbour searches must use the indexes

_PATH_LABEL = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"


@dataclass
class FindReport:
    scanned: int = 0
    stored: int = 0
    removed: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"Compared {self.scanned:,} node{'s' * (self.scanned != 1)} with their nearest neighbours in "
                f"{self.seconds:.1f} s: {self.stored:,} candidate pair{'s' * (self.stored != 1)} stored, "
                f"{self.removed:,} no longer found removed.")


def _scope_sql(node_type: str | None, subtree: str | None, alias: str) -> tuple[str, list]:
    clauses, params = [], []
    if node_type is not None:
        clauses.append(f"{alias}.node_type = %s")
        params.append(node_type)
    if subtree is not None:
        clauses.append(f"{alias}.path <@ %s::ltree")
        params.append(subtree)
    return (" AND ".join(clauses) or "true"), params


def options_checked(*, node_type: str | None, subtree: str | None, min_score: float | None,
                    neighbours: int | None) -> tuple[str | None, str | None, float, int]:
    """The search options, checked (RG-DUP-001 names the bad one); None takes the configured default."""
    import re

    if node_type is not None:
        node_type = node_type.strip()
        if not node_type or len(node_type) > 50 or "\x00" in node_type:
            raise GraphError("the node type must be 1 to 50 characters", code=DUPLICATE_BAD_OPTION, field="type")
    if subtree is not None:
        subtree = subtree.strip()
        if not re.match(_PATH_LABEL, subtree) or len(subtree) > 2_000 or \
                any(len(label) > 255 for label in subtree.split(".")):
            raise GraphError(f"the subtree must be an ltree path such as science.physics, not {subtree[:60]!r}",
                             code=DUPLICATE_BAD_OPTION, field="subtree")
    if min_score is None:
        min_score = float(config_get("duplicate_min_score"))
    if not 0 <= min_score <= 1:
        raise GraphError("the lowest score must be between 0 and 1", code=DUPLICATE_BAD_OPTION, field="min_score")
    if neighbours is None:
        neighbours = int(config_get("duplicate_neighbours"))
    if not 1 <= neighbours <= 100:
        raise GraphError("the neighbours per node must be between 1 and 100", code=DUPLICATE_BAD_OPTION,
                         field="neighbours")
    return node_type, subtree, min_score, neighbours


# Symbols that make a different name, and the letters they are read as when names are compared (+ plus,
# # sharp, * star, & and, @ at, ! bang): pg_trgm ignores every character that is not a letter or a digit.
SYMBOLS_SPELT = ("+#*&@!", "psxnab")

_FIND_SQL = """
WITH scope AS (
    SELECT node_id, name, node_type, embedding FROM nodes WHERE node_id = ANY(%(ids)s)
),
by_name AS (
    SELECT s.node_id AS a, m.node_id AS b
    FROM scope s CROSS JOIN LATERAL (
        SELECT n.node_id FROM nodes n
        WHERE n.name %% s.name AND n.node_id <> s.node_id AND {type_match} AND {neighbour_scope}
        ORDER BY similarity(n.name, s.name) DESC, n.node_id
        LIMIT %(k)s
    ) m
),
by_embedding AS (
    SELECT s.node_id AS a, m.node_id AS b
    FROM scope s CROSS JOIN LATERAL (
        SELECT n.node_id FROM nodes n
        WHERE n.embedding IS NOT NULL AND n.node_id <> s.node_id AND {type_match} AND {neighbour_scope}
        ORDER BY n.embedding <=> s.embedding
        LIMIT %(k)s
    ) m
    WHERE s.embedding IS NOT NULL
),
pairs AS (
    SELECT DISTINCT least(a, b) AS lo, greatest(a, b) AS hi
    FROM (SELECT a, b FROM by_name UNION ALL SELECT a, b FROM by_embedding) found
),
evidence AS (
    -- pg_trgm sees only letters and digits ("C++" and "C#" both read "c"): the symbols that tell such names
    -- apart are spelt as letters first (SYMBOLS_SPELT), so they score 0.17 instead of 1.
    SELECT p.lo, p.hi, similarity(translate(x.name, '{symbols}', '{letters}'),
                                  translate(y.name, '{symbols}', '{letters}')) AS name_similarity,
           CASE WHEN x.embedding IS NOT NULL AND y.embedding IS NOT NULL
                THEN greatest(0.0, least(1.0, 1 - (x.embedding <=> y.embedding))) END AS embedding_similarity,
           shared.shared, shared.shared::float / greatest(1, least(shared.low_values, shared.high_values)) AS overlap
    FROM pairs p
    JOIN nodes x ON x.node_id = p.lo
    JOIN nodes y ON y.node_id = p.hi
    CROSS JOIN LATERAL (
        SELECT (SELECT count(*) FROM (SELECT value_key FROM node_attributes WHERE node_id = p.lo
                                      INTERSECT
                                      SELECT value_key FROM node_attributes WHERE node_id = p.hi) i) AS shared,
               (SELECT count(DISTINCT value_key) FROM node_attributes WHERE node_id = p.lo) AS low_values,
               (SELECT count(DISTINCT value_key) FROM node_attributes WHERE node_id = p.hi) AS high_values
    ) shared
    WHERE NOT EXISTS (SELECT 1 FROM distinct_node_pairs d WHERE d.node_low_id = p.lo AND d.node_high_id = p.hi)
),
scored AS (
    SELECT *, (%(w_name)s * name_similarity + %(w_embedding)s * coalesce(embedding_similarity, 0)
               + %(w_attributes)s * overlap)
              / (%(w_name)s + %(w_attributes)s
                 + CASE WHEN embedding_similarity IS NULL THEN 0 ELSE %(w_embedding)s END) AS score
    FROM evidence
)
INSERT INTO duplicate_candidates (node_low_id, node_high_id, score, name_similarity, embedding_similarity,
                                  shared_attributes, attribute_overlap, found_at, run_id)
SELECT lo, hi, score, name_similarity, embedding_similarity, shared, overlap, now(), %(run)s
FROM scored WHERE score >= %(min_score)s
ON CONFLICT (node_low_id, node_high_id) DO UPDATE
SET score = EXCLUDED.score, name_similarity = EXCLUDED.name_similarity,
    embedding_similarity = EXCLUDED.embedding_similarity, shared_attributes = EXCLUDED.shared_attributes,
    attribute_overlap = EXCLUDED.attribute_overlap, found_at = EXCLUDED.found_at, run_id = EXCLUDED.run_id
"""


def duplicates_find(*, node_type: str | None = None, subtree: str | None = None, across_types: bool = False,
                    min_score: float | None = None, neighbours: int | None = None, progress=None) -> FindReport:
    """Find and store candidate pairs among the nodes in scope; see the module docstring."""
    node_type, subtree, min_score, neighbours = options_checked(
        node_type=node_type, subtree=subtree, min_score=min_score, neighbours=neighbours)
    report = FindReport()
    started_clock, run = time.perf_counter(), uuid.uuid4()
    scope_where, scope_params = _scope_sql(node_type, subtree, "n")
    neighbour_where, neighbour_params = _scope_sql(None, subtree, "n")
    sql = _FIND_SQL.format(symbols=SYMBOLS_SPELT[0], letters=SYMBOLS_SPELT[1],
                           type_match="true" if across_types else "n.node_type = s.node_type",
                           neighbour_scope=neighbour_where.replace("%s", "%(subtree)s"))
    last = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT node_id FROM nodes n WHERE n.node_id > %s AND {scope_where} "
                           "ORDER BY node_id LIMIT %s", [last, *scope_params, CHUNK])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            cursor.execute(
                "SELECT set_config('pg_trgm.similarity_threshold', %s, true), "
                "set_config('ivfflat.probes', %s, true), set_config('hnsw.ef_search', %s, true), "
                "set_config('ivfflat.iterative_scan', 'relaxed_order', true), "
                "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                "set_config('enable_seqscan', CASE WHEN (SELECT reltuples FROM pg_class WHERE oid = 'nodes'::regclass)"
                " > %s THEN 'off' ELSE 'on' END, true)",
                [str(NAME_THRESHOLD), str(int(config_get("ivfflat_probes_nodes"))),
                 str(max(int(config_get("hnsw_ef_search")), neighbours)), SEQSCAN_ROWS])
            cursor.execute(sql, {"ids": ids, "k": neighbours, "subtree": subtree, "min_score": min_score,
                                 "w_name": WEIGHTS["name"], "w_embedding": WEIGHTS["embedding"],
                                 "w_attributes": WEIGHTS["attributes"], "run": run})
            report.stored += cursor.rowcount
        report.scanned += len(ids)
        last = ids[-1]
        if progress:
            progress(report)
    with transaction.atomic(), connection.cursor() as cursor:
        low_where, low_params = _scope_sql(node_type, subtree, "x")
        cursor.execute(f"""
            DELETE FROM duplicate_candidates c USING nodes x
            WHERE x.node_id = c.node_low_id AND {low_where} AND c.run_id <> %s
        """, [*low_params, run])
        report.removed = cursor.rowcount
    report.seconds = time.perf_counter() - started_clock
    return report


def _pair(first: int, second: int) -> tuple[int, int]:
    for value in (first, second):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
            raise GraphError("node ids must be whole numbers", code=DUPLICATE_BAD_PAIR)
    if first == second:
        raise GraphError("a node is always the same as itself", code=DUPLICATE_BAD_PAIR, node_id=first)
    return min(first, second), max(first, second)


def pair_mark_distinct(*, first: int, second: int, reason: str = "", user=None) -> DistinctPair:
    """Record that two nodes are not the same: they are never offered as candidates again (one transaction)."""
    require_permission(user, MERGE_PERMISSION, "mark nodes as not the same")
    low, high = _pair(first, second)
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX_LENGTH or "\x00" in reason:
        raise GraphError(f"the reason must be at most {REASON_MAX_LENGTH:,} characters, without NUL characters",
                         code=DUPLICATE_BAD_PAIR, field="reason")
    with transaction.atomic():
        found = set(Node.objects.select_for_update().filter(pk__in=[low, high]).values_list("pk", flat=True))
        for node_id in (low, high):
            if node_id not in found:
                raise GraphError(f"there is no node with id {node_id}", code=NODE_MISSING, node_id=node_id)
        pair, _created = DistinctPair.objects.get_or_create(
            node_low_id=low, node_high_id=high,
            defaults={"reason": reason, "marked_by": user if getattr(user, "pk", None) else None})
        DuplicateCandidate.objects.filter(node_low_id=low, node_high_id=high).delete()
    return pair


def pair_unmark_distinct(*, distinct_id: int, user=None) -> int:
    """Withdraw a "not the same": the pair may be found again by the next search. Returns the rows removed."""
    require_permission(user, MERGE_PERMISSION, "withdraw a “not the same”")
    deleted, _ = DistinctPair.objects.filter(pk=distinct_id).delete()
    return deleted
