"""Similarity search over node and resource embeddings (docs/search.md): approximate (the vector index), exact, and
hybrid (full text and vector, fused by reciprocal rank fusion).

``similarity_search(query=SimilarityQuery(...))`` runs one transaction:

* Query-time index settings come from configuration (``ivfflat_probes_nodes`` / ``..._external_resources``,
  ``hnsw_ef_search``) and are set with ``set_config(..., true)`` (transaction-local). pgvector 0.8's **iterative
  index scans** are on (``relaxed_order``), so a filtered approximate search keeps scanning the index until
  ``limit`` rows pass the filters instead of silently returning fewer; the rows are re-sorted by exact distance
  afterwards (a materialized CTE, as pgvector's documentation advises). If the scan still ends short (it stops
  after ``ivfflat.max_probes`` lists / ``hnsw.max_scan_tuples`` tuples), the search falls back to an exact search
  with the same filters, which the filters' own indexes keep fast when they are that selective.
* **Exact** orders by ``(embedding <=> q) + 0``: an expression no vector index can serve, so PostgreSQL computes
  every distance (the ground truth the optimiser measures recall against).
* **Hybrid**: the ``HYBRID_CANDIDATES`` nearest rows by vector and the best ``HYBRID_CANDIDATES`` full-text
  matches (``ts_rank_cd`` over ``to_tsvector('simple', name)``, served by ``idx_nodes_name_fts``; words joined by
  OR), each ranked 1, 2, ...; score = Σ 1 / (``RRF_K`` + rank) over the lists a row appears in (Cormack et al.
  2009, k = 60). At most ``TEXT_MATCH_CAP`` full-text matches are ranked, so a very common word stays bounded.
* The **threshold** (default ``vector_similarity_threshold``) drops nearest rows whose cosine similarity is
  below it; in hybrid mode it applies to the vector list only (a text match stays, labelled by its rank).

Similarity is ``1 - cosine distance`` (in [-1, 1]; 1 = same direction).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from decimal import Decimal

import numpy as np
from django.db import connection, transaction

from config_admin.selectors import config_get
from graph.choices import SearchMode
from graph.errors import SEARCH_BAD_FILTER, SEARCH_BAD_QUERY, GraphError
from graph.selectors.search import term_path
from graph.services.embeddings import text_words, vector_literal

MAX_LIMIT = 200
DEFAULT_LIMIT = 20
RRF_K = 60
HYBRID_CANDIDATES = 100  # rows taken from each side before fusion (at least the limit)
TEXT_MATCH_CAP = 5_000
TARGETS = ("nodes", "resources")
SEQSCAN_ROWS = 10_000  # above this many rows (the planner's estimate) approximate search never plans a seq scan


@dataclass(frozen=True)
class SimilarityQuery:
    """What to search for and how. ``vector`` is the query vector (unit length or not); ``text`` feeds the
    full-text side of hybrid mode; ``exclude_id`` leaves the query node itself out."""

    vector: np.ndarray
    target: str = "nodes"
    mode: str = SearchMode.APPROXIMATE
    text: str = ""
    exclude_id: int | None = None
    node_type: str = ""
    min_confidence: Decimal | None = None
    subtree: str = ""
    threshold: float | None = None
    limit: int = DEFAULT_LIMIT
    # Query-time index settings instead of the configured ones (the vector-index optimiser's trials).
    probes: int | None = None
    ef_search: int | None = None

    def checked(self) -> SimilarityQuery:
        if self.target not in TARGETS:
            raise GraphError(f"unknown search target {self.target!r}: use nodes or resources", code=SEARCH_BAD_QUERY)
        if self.mode not in SearchMode.values:
            raise GraphError(f"unknown search mode {self.mode!r}: use {', '.join(SearchMode.values)}",
                             code=SEARCH_BAD_QUERY)
        if self.mode == SearchMode.HYBRID and not text_words(self.text):
            raise GraphError("hybrid search needs words for its full-text side: search by text or by a node",
                             code=SEARCH_BAD_QUERY)
        if not 1 <= self.limit <= MAX_LIMIT:
            raise GraphError(f"limit must be between 1 and {MAX_LIMIT}, not {self.limit}", code=SEARCH_BAD_FILTER)
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise GraphError(f"the similarity threshold must be between -1 and 1, not {self.threshold}",
                             code=SEARCH_BAD_FILTER)
        if self.min_confidence is not None and not Decimal(0) <= self.min_confidence <= Decimal(1):
            raise GraphError(f"the minimum confidence must be between 0 and 1, not {self.min_confidence}",
                             code=SEARCH_BAD_FILTER)
        if self.subtree and term_path(self.subtree) is None:
            raise GraphError(f"{self.subtree[:100]!r} is not a hierarchy path: labels of letters, digits, _ and -, "
                             "separated by dots (science.physics)", code=SEARCH_BAD_FILTER)
        if self.target == "resources" and (self.subtree or self.min_confidence is not None):
            raise GraphError("external resources have no path or confidence: the subtree and minimum-confidence "
                             "filters apply to nodes", code=SEARCH_BAD_FILTER)
        return self


@dataclass(frozen=True)
class SimilarityHit:
    id: int
    name: str
    kind: str  # node type or resource type
    path: str | None
    confidence: Decimal | None
    url: str | None
    similarity: float | None  # None: a hybrid hit found by full text only
    vector_rank: int | None = None
    text_rank: int | None = None
    score: float | None = None  # hybrid: the fused score


@dataclass
class SimilarityResult:
    query: SimilarityQuery
    hits: list[SimilarityHit] = field(default_factory=list)
    threshold: float = 0.0
    dropped_below_threshold: int = 0
    fell_back_to_exact: bool = False
    milliseconds: float = 0.0


@dataclass(frozen=True)
class _Table:
    name: str
    key: str
    columns: str  # id, name, kind, path, confidence, url
    text_vector: str
    type_column: str


_NODES = _Table("nodes", "node_id", "node_id, name, node_type, path::text, confidence_score, NULL::text",
                "to_tsvector('simple', name)", "node_type")
_RESOURCES = _Table(
    "external_resources", "resource_id",
    "resource_id, coalesce(title, url), resource_type, NULL::text, NULL::numeric, url",
    "to_tsvector('simple', coalesce(title, '') || ' ' || left(coalesce(description, ''), 4000))", "resource_type")


def _filters(query: SimilarityQuery, table: _Table, *, embedded: bool = True) -> tuple[str, list]:
    """The WHERE clause of the query's filters; ``embedded``: only rows with a vector (the full-text side of hybrid
    search also finds rows still waiting for one)."""
    clauses, params = ["embedding IS NOT NULL" if embedded else "true"], []
    if query.exclude_id is not None:
        clauses.append(f"{table.key} <> %s")
        params.append(query.exclude_id)
    if query.node_type:
        clauses.append(f"{table.type_column} = %s")
        params.append(query.node_type)
    if query.min_confidence is not None:
        clauses.append("confidence_score >= %s")
        params.append(query.min_confidence)
    if query.subtree:
        clauses.append("path <@ %s::ltree")
        params.append(query.subtree)
    return " AND ".join(clauses), params


def _session_settings(cursor, query: SimilarityQuery, table: _Table) -> None:
    probes = query.probes or int(config_get("ivfflat_probes_nodes" if query.target == "nodes" else
                                            "ivfflat_probes_external_resources"))
    ef_search = max(query.ef_search or int(config_get("hnsw_ef_search")), query.limit)
    # The planner must not answer an approximate search with a sequential scan of a big table: it costs one on the
    # heap pages only (the vectors live in TOAST), so at 100k rows it chose an exact 2 s scan over a 34 ms IVFFlat
    # probe of 10 lists (docs/benchmarks.md). Below SEQSCAN_ROWS (the planner's estimate) an exact scan takes a few
    # milliseconds and is exact: the planner stays free. Indexes that serve the filters (a type's btree, a
    # subtree's GiST) stay open to it either way.
    seqscan = "on" if query.mode == SearchMode.EXACT else None
    cursor.execute(
        "SELECT set_config('ivfflat.probes', %s, true), set_config('hnsw.ef_search', %s, true), "
        "set_config('ivfflat.iterative_scan', 'relaxed_order', true), "
        "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
        "set_config('enable_seqscan', coalesce(%s, CASE WHEN (SELECT reltuples FROM pg_class "
        "WHERE oid = %s::regclass) > %s THEN 'off' ELSE 'on' END), true)",
        [str(probes), str(min(ef_search, 1000)), seqscan, table.name, SEQSCAN_ROWS])


def _nearest(cursor, query: SimilarityQuery, table: _Table, vector: str, limit: int, *, exact: bool) -> list[tuple]:
    where, params = _filters(query, table)
    # Exact: "+ 0" keeps every vector index out, and the distance is computed once per row.
    distance = "(embedding <=> %s::vector) + 0" if exact else "embedding <=> %s::vector"
    cursor.execute(
        f"""WITH nearest AS MATERIALIZED (
                SELECT {table.columns}, {distance} AS distance FROM {table.name}
                WHERE {where} ORDER BY distance LIMIT %s)
            SELECT * FROM nearest ORDER BY distance, 1""",
        [vector, *params, limit])
    return cursor.fetchall()


def _text_matches(cursor, query: SimilarityQuery, table: _Table, limit: int) -> list[tuple]:
    where, params = _filters(query, table, embedded=False)
    words = " | ".join(dict.fromkeys(text_words(query.text)))
    cursor.execute(
        f"""WITH q AS (SELECT to_tsquery('simple', %s) AS q),
                 matches AS MATERIALIZED (
                    SELECT {table.columns}, {table.text_vector} AS document FROM {table.name}
                    WHERE {table.text_vector} @@ (SELECT q FROM q) AND {where} LIMIT %s)
            SELECT m.*, ts_rank_cd(m.document, (SELECT q FROM q)) AS rank FROM matches m
            ORDER BY rank DESC, 1 LIMIT %s""",
        [words, *params, TEXT_MATCH_CAP, limit])
    return cursor.fetchall()


def _hit(row, similarity: float | None, **extra) -> SimilarityHit:
    return SimilarityHit(id=row[0], name=row[1], kind=row[2] or "", path=row[3], confidence=row[4], url=row[5],
                         similarity=similarity, **extra)


def similarity_search(*, query: SimilarityQuery) -> SimilarityResult:
    query = query.checked()
    table = _NODES if query.target == "nodes" else _RESOURCES
    threshold = query.threshold if query.threshold is not None else float(config_get("vector_similarity_threshold"))
    result = SimilarityResult(query=query, threshold=threshold)
    vector = vector_literal(query.vector)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        _session_settings(cursor, query, table)
        if query.mode == SearchMode.HYBRID:
            result.hits, result.dropped_below_threshold = _hybrid(cursor, query, table, vector, threshold)
        else:
            exact = query.mode == SearchMode.EXACT
            rows = _nearest(cursor, query, table, vector, query.limit, exact=exact)
            if not exact and len(rows) < query.limit:
                # The index scan stopped early (or the filter is rarer than the scan limits): ask exactly.
                cursor.execute("SELECT set_config('enable_seqscan', 'on', true)")
                exact_rows = _nearest(cursor, query, table, vector, query.limit, exact=True)
                if len(exact_rows) > len(rows):
                    rows, result.fell_back_to_exact = exact_rows, True
            for rank, row in enumerate(rows, 1):
                similarity = 1.0 - float(row[6])
                if similarity >= threshold:
                    result.hits.append(_hit(row, similarity, vector_rank=rank))
                else:
                    result.dropped_below_threshold += 1
    result.milliseconds = (time.perf_counter() - started) * 1000
    return result


def _hybrid(cursor, query: SimilarityQuery, table: _Table, vector: str,
            threshold: float) -> tuple[list[SimilarityHit], int]:
    candidates = max(HYBRID_CANDIDATES, query.limit)
    nearest = _nearest(cursor, query, table, vector, candidates, exact=False)
    texts = _text_matches(cursor, query, table, candidates)
    rows, vector_rank, text_rank, similarity = {}, {}, {}, {}
    dropped = 0
    for row in nearest:
        value = 1.0 - float(row[6])
        if value < threshold:
            dropped += 1
            continue
        rows[row[0]] = row
        vector_rank[row[0]] = len(vector_rank) + 1
        similarity[row[0]] = value
    for rank, row in enumerate(texts, 1):
        rows.setdefault(row[0], row)
        text_rank[row[0]] = rank
    scores = {
        key: sum(1.0 / (RRF_K + ranks[key]) for ranks in (vector_rank, text_rank) if key in ranks) for key in rows}
    order = sorted(scores, key=lambda key: (-scores[key], key))[:query.limit]
    hits = [_hit(rows[key], similarity.get(key), vector_rank=vector_rank.get(key), text_rank=text_rank.get(key),
                 score=scores[key]) for key in order]
    # A text-only hit has no similarity yet: compute it for display (one statement for the page's rows).
    missing = [hit.id for hit in hits if hit.similarity is None]
    if missing:
        cursor.execute(f"SELECT {table.key}, 1 - (embedding <=> %s::vector) FROM {table.name} "
                       f"WHERE {table.key} = ANY(%s) AND embedding IS NOT NULL", [vector, missing])
        known = dict(cursor.fetchall())
        hits = [hit if hit.similarity is not None or hit.id not in known else
                replace(hit, similarity=float(known[hit.id])) for hit in hits]
    return hits, dropped
