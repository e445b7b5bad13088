"""Finding duplicate nodes, and curators' "not the same" (docs/duplicates.md).

``duplicates_find`` scores candidate pairs set-based and bounded, never over all pairs. Nodes are paired by
*blocking keys* (their normalised name, that name with any one character left out, and their words of four
letters or more: two names one slip apart share a key), within blocks of at most ``BLOCK_MAX`` nodes; a scope of
at most ``NEIGHBOUR_SCOPE_MAX`` nodes also pairs each node with its ``duplicate_neighbours`` (k) nearest
neighbours by name (pg_trgm's ``%``) and by embedding (pgvector's index). By default both nodes of a pair have the
same type; ``across_types`` lifts that. ``subtree`` keeps both nodes of a pair inside a subtree.

Each pair found is scored from three pieces of evidence (docs/duplicates.md, "Scoring"):

* ``name_similarity``: pg_trgm's ``similarity`` of the names, 0 to 1;
* ``embedding_similarity``: 1 − cosine distance of the embeddings (clamped to 0..1), when both have one;
* ``attribute_overlap``: the attribute values (type, key, value) both hold, over the distinct values of the node
  that has fewer;

``score = (0.5·name + 0.3·embedding + 0.2·overlap) / (0.5 + 0.3 + 0.2)``, the embedding's weight left out of both
sides when a node has none. Pairs scoring at least ``duplicate_min_score`` are stored in ``duplicate_candidates``;
pairs marked "not the same" (``distinct_node_pairs``) are never stored. Scoring runs in passes that drop the pairs
whose best possible score is already too low. The run is one transaction (temporary tables); at its end,
candidates of the scope that it did not find again (another ``run_id``) are deleted.
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
BLOCK_MAX = 50  # a blocking key shared by more nodes than this says nothing about any two of them
DELETION_MIN, DELETION_MAX = 4, 40  # names (normalised) whose one-letter deletions are keys; words this long are
NEIGHBOUR_SCOPE_MAX = 2_000  # a scope this small also compares each node with its k nearest neighbours
SEQSCAN_ROWS = 20_000  # as graph.selectors.similarity: above it the neighbour searches must use the indexes
_TEMPORARY = "dup_names, dup_keys, dup_pairs, dup_scored"
NAME_THRESHOLD = 0.4  # pg_trgm.similarity_threshold for the name neighbours: below it names share little
WEIGHTS = {"name": 0.5, "embedding": 0.3, "attributes": 0.2}
REASON_MAX_LENGTH = 2_000

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


def _scope_named(node_type: str | None, subtree: str | None, alias: str) -> str:
    """As ``_scope_sql``, with the named parameters ``%(node_type)s`` and ``%(subtree)s``."""
    clauses = ([f"{alias}.node_type = %(node_type)s"] if node_type is not None else []) + (
        [f"{alias}.path <@ %(subtree)s::ltree"] if subtree is not None else [])
    return " AND ".join(clauses) or "true"


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

# The name every blocking key is made from: symbols spelt, lower case, spaces and punctuation gone.
_NORMALISED = "regexp_replace(lower(translate({name}, '{symbols}', '{letters}')), '[[:space:][:punct:]]+', '', 'g')"
_SPELT = "lower(translate({name}, '{symbols}', '{letters}'))"


def _find_steps(*, across_types: bool, neighbours_too: bool) -> list[tuple[str, str]]:
    """The statements of a run, in order, as (what, SQL): temporary tables dropped at commit."""
    symbols, letters = SYMBOLS_SPELT
    normalised = _NORMALISED.format(name="n.name", symbols=symbols, letters=letters)
    spelt = _SPELT.format(name="n.name", symbols=symbols, letters=letters)
    block = "key" if across_types else "key, node_type"
    type_match = "true" if across_types else "n.node_type = s.node_type"
    steps = [
        ("names", f"""
            CREATE TEMPORARY TABLE dup_names ON COMMIT DROP AS
            SELECT n.node_id, n.node_type, {{in_scope}} AS in_scope, {normalised} AS normalised, {spelt} AS spelt
            FROM nodes n WHERE {{universe}}
        """),
        # Blocking keys (docs/duplicates.md, "Finding candidates"): the normalised name, the normalised name with
        # any one character left out (so that one slip, a missing, extra, changed or swapped letter, still
        # shares a key: symmetric deletion), and each word of four letters or more.
        ("keys", f"""
            CREATE TEMPORARY TABLE dup_keys ON COMMIT DROP AS
            SELECT node_id, node_type, in_scope, normalised AS key FROM dup_names WHERE normalised <> ''
            UNION
            SELECT node_id, node_type, in_scope, overlay(normalised PLACING '' FROM i FOR 1)
            FROM dup_names, generate_series(1, length(normalised)) AS i
            WHERE length(normalised) BETWEEN {DELETION_MIN} AND {DELETION_MAX}
            UNION
            SELECT node_id, node_type, in_scope, '#' || word
            FROM dup_names, regexp_split_to_table(spelt, '[[:space:][:punct:]]+') AS word
            WHERE length(word) >= {DELETION_MIN}
        """),
        # Pairs sharing a key, within blocks small enough to tell duplicates apart (a word such as "city" that
        # hundreds of names share says nothing), at least one node of each pair in scope.
        ("pairs", f"""
            CREATE TEMPORARY TABLE dup_pairs ON COMMIT DROP AS
            WITH blocks AS (
                SELECT {block} FROM dup_keys GROUP BY {block}
                HAVING count(*) BETWEEN 2 AND {BLOCK_MAX} AND bool_or(in_scope)
            )
            SELECT DISTINCT a.node_id AS lo, b.node_id AS hi
            FROM blocks k JOIN dup_keys a USING ({block}) JOIN dup_keys b USING ({block})
            WHERE a.node_id < b.node_id AND (a.in_scope OR b.in_scope)
        """),
    ]
    if neighbours_too:
        # A small scope also takes each node's k nearest neighbours by name (pg_trgm) and by embedding (pgvector):
        # names that share no key (two slips, another word order) and duplicates with other names.
        steps.append(("neighbours", f"""
            INSERT INTO dup_pairs (lo, hi)
            SELECT least(s.node_id, m.node_id), greatest(s.node_id, m.node_id)
            FROM nodes s CROSS JOIN LATERAL (
                SELECT n.node_id FROM nodes n
                WHERE n.name %% s.name AND n.node_id <> s.node_id AND {type_match} AND {{neighbour_scope}}
                ORDER BY similarity(n.name, s.name) DESC, n.node_id
                LIMIT %(k)s
            ) m
            WHERE s.node_id IN (SELECT node_id FROM dup_names WHERE in_scope)
            UNION
            SELECT least(s.node_id, m.node_id), greatest(s.node_id, m.node_id)
            FROM nodes s CROSS JOIN LATERAL (
                SELECT n.node_id FROM nodes n
                WHERE n.embedding IS NOT NULL AND n.node_id <> s.node_id AND {type_match} AND {{neighbour_scope}}
                ORDER BY n.embedding <=> s.embedding
                LIMIT %(k)s
            ) m
            WHERE s.node_id IN (SELECT node_id FROM dup_names WHERE in_scope) AND s.embedding IS NOT NULL
            EXCEPT
            SELECT lo, hi FROM dup_pairs
        """))
    steps += [
        # Scoring in three passes, each pruning the pairs that cannot reach the lowest score whatever the evidence
        # still to come says (a bound, so nothing that would qualify is lost): names, then embeddings, then the
        # attributes, which cost the most.
        ("names scored", """
            CREATE TEMPORARY TABLE dup_scored ON COMMIT DROP AS
            SELECT p.lo, p.hi, similarity(x.spelt, y.spelt) AS name_similarity,
                   NULL::float AS embedding_similarity, 0 AS shared, 0.0::float AS overlap
            FROM (SELECT DISTINCT lo, hi FROM dup_pairs) p
            JOIN dup_names x ON x.node_id = p.lo JOIN dup_names y ON y.node_id = p.hi
            WHERE NOT EXISTS (SELECT 1 FROM distinct_node_pairs d WHERE d.node_low_id = p.lo AND d.node_high_id = p.hi)
              AND (%(w_name)s * similarity(x.spelt, y.spelt) + %(w_embedding)s + %(w_attributes)s)
                  / (%(w_name)s + %(w_embedding)s + %(w_attributes)s) >= %(min_score)s
        """),
        ("embeddings scored", """
            UPDATE dup_scored p
            SET embedding_similarity = greatest(0.0, least(1.0, 1 - (x.embedding <=> y.embedding)))
            FROM nodes x, nodes y
            WHERE x.node_id = p.lo AND y.node_id = p.hi AND x.embedding IS NOT NULL AND y.embedding IS NOT NULL
        """),
        ("bounded", f"""
            DELETE FROM dup_scored WHERE {_SCORE.format(overlap="1.0")} < %(min_score)s
        """),
        ("attributes scored", """
            WITH overlap AS (
                SELECT p.lo, p.hi,
                       (SELECT count(*) FROM (SELECT value_key FROM node_attributes WHERE node_id = p.lo
                                              INTERSECT
                                              SELECT value_key FROM node_attributes WHERE node_id = p.hi) i) AS shared,
                       (SELECT count(DISTINCT value_key) FROM node_attributes WHERE node_id = p.lo) AS low_values,
                       (SELECT count(DISTINCT value_key) FROM node_attributes WHERE node_id = p.hi) AS high_values
                FROM dup_scored p
            )
            UPDATE dup_scored p
            SET shared = o.shared, overlap = o.shared::float / greatest(1, least(o.low_values, o.high_values))
            FROM overlap o WHERE o.lo = p.lo AND o.hi = p.hi
        """),
        ("stored", f"""
            INSERT INTO duplicate_candidates (node_low_id, node_high_id, score, name_similarity,
                                              embedding_similarity, shared_attributes, attribute_overlap, found_at,
                                              run_id)
            SELECT lo, hi, score, name_similarity, embedding_similarity, shared, overlap, now(), %(run)s
            FROM (SELECT *, {_SCORE.format(overlap="overlap")} AS score FROM dup_scored) scored
            WHERE score >= %(min_score)s
            ON CONFLICT (node_low_id, node_high_id) DO UPDATE
            SET score = EXCLUDED.score, name_similarity = EXCLUDED.name_similarity,
                embedding_similarity = EXCLUDED.embedding_similarity, shared_attributes = EXCLUDED.shared_attributes,
                attribute_overlap = EXCLUDED.attribute_overlap, found_at = EXCLUDED.found_at, run_id = EXCLUDED.run_id
        """),
    ]
    return steps


# score = (w_name·name + w_embedding·embedding + w_attributes·overlap) / the weights of the evidence there is.
_SCORE = """((%(w_name)s * name_similarity + %(w_embedding)s * coalesce(embedding_similarity, 0)
              + %(w_attributes)s * {overlap})
             / (%(w_name)s + %(w_attributes)s
                + CASE WHEN embedding_similarity IS NULL THEN 0 ELSE %(w_embedding)s END))"""


def duplicates_find(*, node_type: str | None = None, subtree: str | None = None, across_types: bool = False,
                    min_score: float | None = None, neighbours: int | None = None, progress=None) -> FindReport:
    """Find and store candidate pairs among the nodes in scope; see the module docstring. One transaction."""
    node_type, subtree, min_score, neighbours = options_checked(
        node_type=node_type, subtree=subtree, min_score=min_score, neighbours=neighbours)
    report = FindReport()
    started_clock, run = time.perf_counter(), uuid.uuid4()
    scope_where, scope_params = _scope_sql(node_type, subtree, "n")
    # The nodes a pair may hold (the universe): the subtree's, of the type asked for unless across_types. The
    # scope: those of the type (a pair needs one node in scope; its other node has the same type unless
    # across_types).
    named = {"{in_scope}": _scope_named(node_type, subtree, "n"),
             "{universe}": _scope_named(None if across_types else node_type, subtree, "n"),
             "{neighbour_scope}": _scope_named(None, subtree, "n")}
    params = {"k": neighbours, "node_type": node_type, "subtree": subtree, "min_score": min_score,
              "w_name": WEIGHTS["name"], "w_embedding": WEIGHTS["embedding"], "w_attributes": WEIGHTS["attributes"],
              "run": run}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM nodes n WHERE {scope_where} LIMIT %s) s",
                       [*scope_params, NEIGHBOUR_SCOPE_MAX + 1])
        neighbours_too = cursor.fetchone()[0] <= NEIGHBOUR_SCOPE_MAX
        cursor.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', %s, true), "
            "set_config('ivfflat.probes', %s, true), set_config('hnsw.ef_search', %s, true), "
            "set_config('ivfflat.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('enable_seqscan', CASE WHEN (SELECT reltuples FROM pg_class WHERE oid = 'nodes'::regclass)"
            " > %s THEN 'off' ELSE 'on' END, true)",
            [str(NAME_THRESHOLD), str(int(config_get("ivfflat_probes_nodes"))),
             str(max(int(config_get("hnsw_ef_search")), neighbours)), SEQSCAN_ROWS])
        cursor.execute(f"DROP TABLE IF EXISTS {_TEMPORARY}")  # left by an earlier run in this transaction
        for what, sql in _find_steps(across_types=across_types, neighbours_too=neighbours_too):
            for placeholder, clause in named.items():
                sql = sql.replace(placeholder, clause)
            cursor.execute(sql, params)
            if what == "names":
                cursor.execute("SELECT count(*) FILTER (WHERE in_scope) FROM dup_names")
                report.scanned = cursor.fetchone()[0]
            elif what == "stored":
                report.stored = cursor.rowcount
            if progress:
                progress(report, what)
        low_where, low_params = _scope_sql(node_type, subtree, "x")
        cursor.execute(f"""
            DELETE FROM duplicate_candidates c USING nodes x
            WHERE x.node_id = c.node_low_id AND {low_where} AND c.run_id <> %s
        """, [*low_params, run])
        report.removed = cursor.rowcount
        cursor.execute(f"DROP TABLE {_TEMPORARY}")
        cursor.execute("SELECT set_config('enable_seqscan', 'on', true)")
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
