"""Vector-index management (docs/vector-indexes.md): the recommended parameters, the state of each index, and the
optimiser that rebuilds an index when its table has changed enough and measures its recall.

The spec's flow, per table (``nodes``, ``external_resources``), under a PostgreSQL advisory lock per table
(``RG-VIDX-002`` when another run holds it):

1. **Detect growth**: rows with an embedding now (an exact count) against ``rows`` of the last ``rebuilt`` run in
   ``vector_index_builds`` (none yet: against nothing).
2. **Recommend** (``vector_index_recommend``): IVFFlat ``lists = max(10, rows / 1000)`` up to 1M rows and
   ``sqrt(rows)`` beyond, within the parameter's range 10..10,000; ``probes = round(sqrt(lists))`` to start with.
   HNSW ``m`` / ``ef_construction`` come from configuration.
3. **Decide** (``vector_index_plan``): rebuild when forced; when the index is missing or INVALID; when its type is
   not the configured one; when the recommended ``lists`` differ from the configured ones by more than
   ``vector_index_significant_change`` (relative); when the index was built with other parameters than the
   configuration says; or (IVFFlat only: its centroids are computed once, at build time) when the row count has
   changed by more than ``vector_index_rebuild_threshold`` since the last build.
4. **Configure** through ``config_set`` (audited, with the run's actor and the reason): ``ivfflat_lists_<table>``,
   ``ivfflat_probes_<table>``, ``vector_index_hnsw``.
5. **Rebuild** without blocking reads or writes, in autocommit (``CREATE INDEX CONCURRENTLY`` cannot run in a
   transaction): ``CREATE INDEX CONCURRENTLY <name>_new``, ``DROP INDEX CONCURRENTLY <name>``, ``ALTER INDEX
   <name>_new RENAME TO <name>``, then ``ANALYZE``. None of these takes a lock that blocks queries or writes; the
   table always has a usable index. A failure or an interrupted run leaves at most a ``<name>_new``: the next step
   (and every later run) resolves it: a valid one whose old index is gone or INVALID finishes the swap, any other is
   dropped (``DROP INDEX CONCURRENTLY``).
6. **Validate**: recall@10 of the approximate search against the exact search, both through
   ``graph.selectors.similarity.similarity_search`` (what users run), over ``SAMPLE_QUERIES`` stored vectors (the
   query row itself excluded), with the median and p95 latency of each. Below ``vector_index_target_recall`` the
   query-time setting (``ivfflat_probes_<table>`` / ``hnsw_ef_search``) is doubled, stored with ``config_set``
   and measured again, until the target is met or the setting reaches its bound (``lists`` / 1,000). After a
   rebuild it is then halved while the sample keeps ``LOWERING_MARGIN`` above the target (trials through
   ``SimilarityQuery.probes`` / ``ef_search``, stored only when kept).
7. **Log** the run in ``vector_index_builds`` (outcome ``rebuilt``, ``unchanged`` or ``failed``).

A dry run takes the lock, reads and plans, and writes nothing at all: no configuration, no row; it returns the
unsaved row (outcome ``dry_run``) with its ``plan``. A table without any embedding is left alone (nothing to
index or measure; pgvector builds IVFFlat's centroids from the rows present, so an index is built after loading).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from django.db import DatabaseError, connection
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from config_admin.selectors import config_cache_clear, config_get
from config_admin.services import config_set
from config_admin.values import ConfigError
from graph.choices import SearchMode, VectorIndexOutcome, VectorIndexType, VectorTable
from graph.errors import VECTOR_INDEX_BAD_OPTION, VECTOR_INDEX_BUSY, GraphError
from graph.models import ExternalResource, Node, VectorIndexBuild
from graph.selectors.similarity import SimilarityQuery, similarity_search
from kgsite.db import RowCount

LISTS_MIN, LISTS_MAX = 10, 10_000  # the range of ivfflat_lists_nodes / ivfflat_lists_external_resources
SQRT_BEYOND_ROWS = 1_000_000  # pgvector: lists ≈ rows / 1000 up to 1M rows, ≈ sqrt(rows) beyond
EF_SEARCH_MAX = 1_000  # pgvector's bound for hnsw.ef_search (and the parameter's)
EF_SEARCH_MIN = 10  # the search asks for at least its limit (10 here) anyway
LOWERING_MARGIN = 0.01  # a lower probes / ef_search is kept only if the sample's recall beats the target by this
IVFFLAT_DEFAULT_LISTS = 100  # pgvector's defaults when an index has no reloptions
HNSW_DEFAULT_M, HNSW_DEFAULT_EF_CONSTRUCTION = 16, 64
SAMPLE_QUERIES = 50
SAMPLE_SEED = 11  # the same rows are sampled while the table is unchanged: runs are comparable
RECALL_K = 10
TIE_TOLERANCE = 1e-6  # an approximate hit as near as the exact 10th counts as found (ties, duplicate vectors)
STATUS_COUNT_CAP = 100_000  # the health page counts exactly up to this many rows, estimates beyond
LOCK_PREFIX = "kgsite.vector_index."

_MODELS = {VectorTable.NODES: Node, VectorTable.EXTERNAL_RESOURCES: ExternalResource}
_SEARCH_TARGETS = {VectorTable.NODES: "nodes", VectorTable.EXTERNAL_RESOURCES: "resources"}


def index_name(table: str) -> str:
    """The spec's name of ``table``'s vector index (kept by every rebuild)."""
    return f"idx_{table}_embedding"


def _checked_table(table: str) -> str:
    if table not in VectorTable.values:
        raise GraphError(f"unknown table {table!r}: use {' or '.join(VectorTable.values)}",
                         code=VECTOR_INDEX_BAD_OPTION)
    return table


def _checked_type(index_type: str | None) -> str | None:
    if index_type is not None and index_type not in VectorIndexType.values:
        raise GraphError(f"unknown index type {index_type!r}: use {' or '.join(VectorIndexType.values)}",
                         code=VECTOR_INDEX_BAD_OPTION)
    return index_type


# --- 2. The recommendation -------------------------------------------------------------------------------------------

def recommended_lists(rows: int) -> int:
    lists = max(LISTS_MIN, rows // 1000) if rows <= SQRT_BEYOND_ROWS else round(math.sqrt(rows))
    return min(LISTS_MAX, max(LISTS_MIN, lists))


def vector_index_recommend(*, rows: int, index_type: str) -> dict:
    """The parameters pgvector's guidance gives for ``rows`` vectors.

    IVFFlat: ``{"index_type": "ivfflat", "lists": L, "probes": P}`` with ``L = max(10, rows // 1000)`` up to 1M rows
    and ``round(sqrt(rows))`` beyond, clamped to 10..10,000, and ``P = max(1, round(sqrt(L)))``, the starting point
    the optimiser tunes from. Pure arithmetic: no database access.
    HNSW: ``{"index_type": "hnsw", "m": ..., "ef_construction": ..., "ef_search": ...}`` from configuration (HNSW
    needs no sizing by row count).
    """
    _checked_type(index_type)
    if index_type is None:
        raise GraphError("say which index type to recommend for: ivfflat or hnsw", code=VECTOR_INDEX_BAD_OPTION)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise GraphError(f"rows must be a whole number of at least 0, not {rows!r}", code=VECTOR_INDEX_BAD_OPTION)
    if index_type == VectorIndexType.IVFFLAT:
        lists = recommended_lists(rows)
        return {"index_type": VectorIndexType.IVFFLAT.value, "lists": lists,
                "probes": max(1, round(math.sqrt(lists)))}
    return {"index_type": VectorIndexType.HNSW.value, "m": int(config_get("hnsw_m")),
            "ef_construction": int(config_get("hnsw_ef_construction")),
            "ef_search": int(config_get("hnsw_ef_search"))}


# --- 1. What exists now ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexState:
    """One index as the catalog has it (pg_class, pg_index, pg_am and its reloptions)."""

    name: str
    exists: bool
    index_type: str | None = None  # the access method: ivfflat, hnsw (or anything someone created)
    parameters: dict = field(default_factory=dict)  # {"lists": 100} / {"m": 16, "ef_construction": 64}
    valid: bool = False
    size_bytes: int | None = None
    definition: str = ""

    def describe(self) -> str:
        if not self.exists:
            return "missing"
        text = f"{self.index_type} {parameters_text(self.parameters)}".strip()
        return text if self.valid else f"{text}, INVALID"


def parameters_text(parameters: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in parameters.items())


def _reloptions(options: list[str] | None, index_type: str | None) -> dict:
    values = dict(option.split("=", 1) for option in options or ())
    if index_type == VectorIndexType.IVFFLAT:
        return {"lists": int(values.get("lists", IVFFLAT_DEFAULT_LISTS))}
    if index_type == VectorIndexType.HNSW:
        return {"m": int(values.get("m", HNSW_DEFAULT_M)),
                "ef_construction": int(values.get("ef_construction", HNSW_DEFAULT_EF_CONSTRUCTION))}
    return values


def index_state(table: str, name: str | None = None) -> IndexState:
    """The catalog's view of index ``name`` (default: the table's spec name) on ``table``."""
    name = name or index_name(table)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT am.amname, c.reloptions, i.indisvalid, pg_relation_size(c.oid), pg_get_indexdef(c.oid)
               FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_am am ON am.oid = c.relam
               WHERE c.relname = %s AND c.relkind = 'i' AND c.relnamespace = current_schema()::regnamespace
                 AND i.indrelid = to_regclass(%s)""",
            [name, table])
        row = cursor.fetchone()
    if row is None:
        return IndexState(name=name, exists=False)
    amname, options, valid, size, definition = row
    return IndexState(name=name, exists=True, index_type=amname, parameters=_reloptions(options, amname),
                      valid=bool(valid), size_bytes=int(size), definition=definition)


def rows_with_embedding(table: str, *, cap: int | None = None) -> RowCount:
    """Rows of ``table`` with an embedding: exact (or exact up to ``cap``; beyond it the planner's estimate,
    ``reltuples × (1 − null_frac)`` of the column)."""
    _checked_table(table)
    with connection.cursor() as cursor:
        if cap is None:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE embedding IS NOT NULL")
            return RowCount(int(cursor.fetchone()[0]), True)
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE embedding IS NOT NULL LIMIT %s) s",
                       [cap + 1])
        counted = int(cursor.fetchone()[0])
        if counted <= cap:
            return RowCount(counted, True)
        cursor.execute(
            """SELECT c.reltuples * (1 - coalesce(s.null_frac, 0)) FROM pg_class c
               LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname
                                   AND s.attname = 'embedding'
               WHERE c.oid = to_regclass(%s)""", [table])
        estimate = cursor.fetchone()[0] or 0
    return RowCount(max(int(estimate), cap + 1), False)


@dataclass(frozen=True)
class VectorIndexStatus:
    """A table's vector index: what exists, what configuration asks for, the rows, and the last runs."""

    table: str
    index: IndexState
    rows: RowCount
    configured_type: str  # vector_index_hnsw
    configured: dict  # the build parameters configuration asks for: {"lists": ...} or {"m": ..., ...}
    search_parameter: str  # the configuration parameter of the query-time setting
    search_value: int  # its value (ivfflat.probes / hnsw.ef_search)
    target_recall: float
    last_build: VectorIndexBuild | None  # the last rebuild (rows at build)
    last_run: VectorIndexBuild | None  # the last run of any outcome
    last_measured: VectorIndexBuild | None  # the last run that measured recall

    @property
    def rows_at_last_build(self) -> int | None:
        return self.last_build.rows if self.last_build else None

    @property
    def search_name(self) -> str:
        return "ef_search" if self.search_parameter == "hnsw_ef_search" else "probes"


def _search_setting(table: str, index_type: str | None) -> tuple[str, int]:
    parameter = "hnsw_ef_search" if index_type == VectorIndexType.HNSW else f"ivfflat_probes_{table}"
    return parameter, int(config_get(parameter))


def _configured(table: str, index_type: str) -> dict:
    if index_type == VectorIndexType.HNSW:
        return {"m": int(config_get("hnsw_m")), "ef_construction": int(config_get("hnsw_ef_construction"))}
    return {"lists": int(config_get(f"ivfflat_lists_{table}"))}


def vector_index_status(*, table: str, exact_rows: bool = False) -> VectorIndexStatus:
    """What exists for ``table`` now. Rows are counted exactly up to ``STATUS_COUNT_CAP`` (pages) or always
    (``exact_rows``: the optimiser's growth rule)."""
    _checked_table(table)
    configured_type = VectorIndexType.HNSW if config_get("vector_index_hnsw") else VectorIndexType.IVFFLAT
    index = index_state(table)
    runs = VectorIndexBuild.objects.filter(table_name=table).order_by("-started_at", "-id")
    search_parameter, search_value = _search_setting(
        table, index.index_type if index.index_type in VectorIndexType.values else configured_type)
    return VectorIndexStatus(
        table=table, index=index,
        rows=rows_with_embedding(table, cap=None if exact_rows else STATUS_COUNT_CAP),
        configured_type=configured_type.value, configured=_configured(table, configured_type),
        search_parameter=search_parameter, search_value=search_value,
        target_recall=float(config_get("vector_index_target_recall")),
        last_build=runs.filter(outcome=VectorIndexOutcome.REBUILT).first(), last_run=runs.first(),
        last_measured=runs.filter(recall_at_10__isnull=False).first(),
    )


# --- 3. The decision -------------------------------------------------------------------------------------------------

@dataclass
class VectorIndexPlan:
    """What the optimiser found and decided for one table, before it changes anything."""

    status: VectorIndexStatus
    index_type: str  # the type the index has after the run
    recommended: dict  # vector_index_recommend(...)
    parameters: dict  # the build parameters a rebuild uses
    rebuild: bool
    reasons: list[str]  # the rules that call for a rebuild (empty: no rebuild)
    checks: list[str]  # the rules that do not
    config_changes: dict[str, tuple] = field(default_factory=dict)  # parameter → (current, new), set before
    search_start: int = 0  # the query-time setting the validation starts from

    @property
    def search_parameter(self) -> str:
        return _search_setting(self.status.table, self.index_type)[0]

    @property
    def search_name(self) -> str:
        return "ef_search" if self.index_type == VectorIndexType.HNSW else "probes"

    def decision(self) -> str:
        return f"rebuild: {'; '.join(self.reasons)}" if self.rebuild else f"no rebuild: {'; '.join(self.checks)}"


def vector_index_plan(*, table: str, index_type: str | None = None, force: bool = False) -> VectorIndexPlan:
    """The decision for ``table`` (read-only). ``index_type`` overrides ``vector_index_hnsw`` (and a run stores it
    there, so the worker's next run does not switch back)."""
    _checked_table(table)
    _checked_type(index_type)
    status = vector_index_status(table=table, exact_rows=True)
    target_type = index_type or status.configured_type
    rows = status.rows.value
    recommended = vector_index_recommend(rows=rows, index_type=target_type)
    index = status.index
    reasons: list[str] = []
    quiet: list[str] = []  # the rules that did not fire
    changes: dict[str, tuple] = {}
    if index_type and index_type != status.configured_type:  # said explicitly: stored, so the worker keeps it
        changes["vector_index_hnsw"] = ("true" if status.configured_type == VectorIndexType.HNSW else "false",
                                        "true" if index_type == VectorIndexType.HNSW else "false")

    if rows == 0:
        state = "missing" if not index.exists else index.describe()
        return VectorIndexPlan(
            status=status, index_type=target_type, recommended=recommended, parameters={}, rebuild=False,
            reasons=[], checks=[f"no rows with an embedding: nothing to index or measure (the index is {state}; "
                                "pgvector builds it from the rows present, so it is rebuilt once there are rows)"],
            config_changes=changes)
    if force:
        reasons.append("forced")
    if not index.exists:
        reasons.append("the index does not exist")
    elif not index.valid:
        reasons.append("the index is INVALID (an interrupted concurrent build)")
    if index.exists and index.index_type != target_type:
        reasons.append(f"type change: the index is {index.index_type}, {target_type} is asked for")

    if target_type == VectorIndexType.IVFFLAT:
        configured_lists = int(config_get(f"ivfflat_lists_{table}"))
        lists = recommended["lists"]
        change = abs(lists - configured_lists) / configured_lists
        significant = float(config_get("vector_index_significant_change"))
        words = (f"recommended lists {lists:,} for {rows:,} rows vs configured {configured_lists:,}: a change of "
                 f"{change:.0%}")
        if change > significant:
            reasons.append(f"{words}, more than vector_index_significant_change ({significant:.0%})")
        else:
            quiet.append(f"{words}, within vector_index_significant_change ({significant:.0%})")
        built_lists = index.parameters.get("lists") if index.index_type == VectorIndexType.IVFFLAT else None
        if built_lists is not None and built_lists != configured_lists:
            reasons.append(f"the index was built with lists={built_lists:,} but the configuration says "
                           f"{configured_lists:,}")
        threshold = int(config_get("vector_index_rebuild_threshold"))
        before = status.rows_at_last_build
        grown = rows - (before or 0)
        since = (f"since the last build ({before:,} → {rows:,} rows)" if before is not None else
                 f"with no build recorded ({rows:,} rows vs nothing)")
        if abs(grown) > threshold:
            reasons.append(f"rows changed by {grown:+,} {since}, more than vector_index_rebuild_threshold "
                           f"({threshold:,}): IVFFlat's centroids no longer fit the data")
        else:
            quiet.append(f"rows changed by {grown:+,} {since}, within vector_index_rebuild_threshold "
                         f"({threshold:,})")
        parameters = {"lists": lists}
        rebuild = bool(reasons)
        if rebuild:
            if lists != configured_lists:
                changes[f"ivfflat_lists_{table}"] = (configured_lists, lists)
            current_probes = int(config_get(f"ivfflat_probes_{table}"))
            search_start = recommended["probes"]
            if search_start != current_probes:
                changes[f"ivfflat_probes_{table}"] = (current_probes, search_start)
        else:
            search_start = int(config_get(f"ivfflat_probes_{table}"))
    else:
        parameters = {"m": recommended["m"], "ef_construction": recommended["ef_construction"]}
        if parameters["ef_construction"] < 2 * parameters["m"]:
            raise GraphError(
                f"hnsw_ef_construction ({parameters['ef_construction']}) must be at least twice hnsw_m "
                f"({parameters['m']}) for pgvector to build an HNSW index: raise it or lower hnsw_m",
                code=VECTOR_INDEX_BAD_OPTION)
        if index.index_type == VectorIndexType.HNSW and index.parameters != parameters:
            reasons.append(f"the index was built with {parameters_text(index.parameters)} but the configuration "
                           f"says {parameters_text(parameters)}")
        quiet.append(f"HNSW index with {parameters_text(index.parameters)} for {rows:,} rows: HNSW indexes take "
                     "new rows as they come, growth needs no rebuild")
        rebuild = bool(reasons)
        search_start = recommended["ef_search"]  # shared by both tables: only ever raised
    return VectorIndexPlan(status=status, index_type=target_type, recommended=recommended, parameters=parameters,
                           rebuild=rebuild, reasons=reasons, checks=quiet, config_changes=changes,
                           search_start=search_start)


# --- 5. The rebuild --------------------------------------------------------------------------------------------------

def _index_ddl(*, table: str, name: str, index_type: str, parameters: dict) -> str:
    """The statement that builds index ``name`` (names and numbers come from fixed lists and ints, never input)."""
    options = ", ".join(f"{key} = {int(value)}" for key, value in parameters.items())
    return (f"CREATE INDEX CONCURRENTLY {name} ON {table} USING {index_type} (embedding vector_cosine_ops) "
            f"WITH ({options})")


def _require_autocommit() -> None:
    if connection.in_atomic_block:
        raise TransactionManagementError(
            "a vector-index rebuild uses CREATE/DROP INDEX CONCURRENTLY, which cannot run inside a transaction: "
            "call vector_index_optimize outside transaction.atomic")


def _leftovers_resolve(table: str) -> str:
    """Finish or undo what an interrupted or failed rebuild left (``<name>_new``); '' when nothing was left."""
    name = index_name(table)
    new = index_state(table, f"{name}_new")
    if not new.exists:
        return ""
    _require_autocommit()
    old = index_state(table, name)
    with connection.cursor() as cursor:
        if new.valid and not (old.exists and old.valid):
            if old.exists:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(f"ALTER INDEX {name}_new RENAME TO {name}")
            return f"finished an interrupted swap ({name}_new renamed to {name})"
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}_new")
    return f"dropped {name}_new{'' if new.valid else ' (INVALID)'}, left by an interrupted or failed build"


def _rebuild(*, table: str, index_type: str, parameters: dict) -> float:
    """Build the new index beside the old one, then swap: seconds taken. Never blocks reads or writes."""
    _require_autocommit()
    name = index_name(table)
    memory = _maintenance_work_mem()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        try:
            if memory:
                cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)", [memory])
            cursor.execute(_index_ddl(table=table, name=f"{name}_new", index_type=index_type,
                                      parameters=parameters))
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(f"ALTER INDEX {name}_new RENAME TO {name}")
        finally:
            if memory:
                cursor.execute("RESET maintenance_work_mem")
        seconds = time.perf_counter() - started
        try:  # fresh row estimates for the planner's choice of the new index; the swap is done either way
            cursor.execute(f"ANALYZE {table}")
        except DatabaseError:
            pass  # autovacuum analyses the table later
    return seconds


def _maintenance_work_mem() -> str | None:
    """The ``maintenance_work_mem`` parameter, set for the build's session only (IVFFlat's k-means and HNSW's graph
    are built in memory); None (the server's setting) when the parameter is absent."""
    try:
        return str(config_get("maintenance_work_mem")) or None
    except ConfigError:
        return None


# --- 6. Validation -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measurement:
    queries: int
    recall: float | None
    median_ms: float | None
    p95_ms: float | None


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _sample(table: str) -> list[tuple[int, np.ndarray]]:
    """Up to ``SAMPLE_QUERIES`` stored vectors, spread over the whole table (TABLESAMPLE picks ids; a seeded
    random choice among them, so the sample does not favour the first pages)."""
    model = _MODELS[table]
    key = model._meta.pk.column
    rows = rows_with_embedding(table, cap=STATUS_COUNT_CAP).value
    percent = min(100.0, 100.0 * 4 * SAMPLE_QUERIES / max(rows, 1))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key} FROM {table} TABLESAMPLE BERNOULLI (%s) REPEATABLE (%s) "
                       f"WHERE embedding IS NOT NULL ORDER BY {key}", [percent, SAMPLE_SEED])
        ids = [row[0] for row in cursor.fetchall()]
    chosen = sorted(random.Random(SAMPLE_SEED).sample(ids, min(SAMPLE_QUERIES, len(ids))))
    vectors = dict(model.objects.filter(pk__in=chosen).values_list("pk", "embedding"))
    return [(pk, np.asarray(vectors[pk], dtype=np.float32)) for pk in chosen if vectors.get(pk) is not None]


def _search(table: str, pk: int, vector: np.ndarray, mode: str, setting: tuple[str, int] | None = None):
    overrides = {setting[0]: setting[1]} if setting else {}
    return similarity_search(query=SimilarityQuery(vector=vector, target=_SEARCH_TARGETS[table], mode=mode,
                                                   exclude_id=pk, threshold=-1.0, limit=RECALL_K, **overrides))


class _Validation:
    """Exact answers computed once; the approximate search measured against them as often as tuning needs."""

    def __init__(self, table: str):
        self.table = table
        self.queries = _sample(table)
        self.exact: list[list[float]] = []
        times = []
        for pk, vector in self.queries:
            result = _search(table, pk, vector, SearchMode.EXACT)
            self.exact.append([hit.similarity for hit in result.hits])
            times.append(result.milliseconds)
        self.exact_times = times

    @property
    def exact_measurement(self) -> Measurement:
        return Measurement(len(self.queries), None, _percentile(self.exact_times, 50),
                           _percentile(self.exact_times, 95))

    def approximate(self, setting: tuple[str, int] | None = None) -> Measurement:
        recalls, times = [], []
        for (pk, vector), exact in zip(self.queries, self.exact):
            result = _search(self.table, pk, vector, SearchMode.APPROXIMATE, setting)
            times.append(result.milliseconds)
            if not exact:
                continue
            kth = min(exact)
            found = sum(1 for hit in result.hits if hit.similarity >= kth - TIE_TOLERANCE)
            recalls.append(min(found, len(exact)) / len(exact))
        recall = statistics.fmean(recalls) if recalls else None
        return Measurement(len(recalls), recall, _percentile(times, 50), _percentile(times, 95))


def _config_write(name: str, value, *, actor: str, reason: str) -> None:
    config_set(name=name, value=value, actor=actor, reason=f"optimize_vector_index: {reason}")
    config_cache_clear()  # this process searches with the new value at once, even inside a transaction


def _validate_and_tune(plan: VectorIndexPlan, *, lists: int | None, actor: str,
                       lower_after_rebuild: bool = False) -> tuple[Measurement, Measurement, int, list[str]]:
    """Measure recall@10 and latency; raise the query-time setting (doubling) until the target is met. ``lists``:
    the IVFFlat index's, the bound of probes (all lists searched = exact)."""
    table = plan.status.table
    parameter, name = plan.search_parameter, plan.search_name
    value = int(config_get(parameter))  # the run's configuration changes have set the starting point
    bound = EF_SEARCH_MAX if plan.index_type == VectorIndexType.HNSW else min(lists or LISTS_MAX, LISTS_MAX)
    target = float(config_get("vector_index_target_recall"))
    validation = _Validation(table)
    measured = validation.approximate()
    notes: list[str] = []
    if measured.recall is None:
        notes.append("too few rows to measure recall")
        return measured, validation.exact_measurement, value, notes
    while measured.recall < target and value < bound:
        raised = min(bound, value * 2)
        _config_write(parameter, raised, actor=actor,
                      reason=f"recall@10 {measured.recall:.3f} with {name}={value} on {table} is below the target "
                             f"{target:.2f}")
        notes.append(f"{name} {value} → {raised} (recall@10 {measured.recall:.3f} < {target:.2f})")
        value = raised
        measured = validation.approximate()
    if measured.recall < target:
        notes.append(f"the target recall {target:.2f} is not reached even with {name}={value}, its bound")
    elif lower_after_rebuild:
        # A fresh index often needs less than the starting point (at 100k clustered rows 2 probes of 100 lists
        # reach 0.95: docs/benchmarks.md). Halve while the sample keeps a margin above the target: every probe
        # saved is latency saved on every query.
        floor = EF_SEARCH_MIN if plan.index_type == VectorIndexType.HNSW else 1
        while value > floor:
            lower = max(floor, value // 2)
            trial = _measure_with(parameter, lower, validation)
            if trial.recall is None or trial.recall < target + LOWERING_MARGIN:
                break
            _config_write(parameter, lower, actor=actor,
                          reason=f"recall@10 {trial.recall:.3f} with {name}={lower} on {table} still meets the "
                                 f"target {target:.2f} (+{LOWERING_MARGIN})")
            notes.append(f"{name} {value} → {lower} (recall@10 {trial.recall:.3f} ≥ {target:.2f} + "
                         f"{LOWERING_MARGIN})")
            value, measured = lower, trial
    return measured, validation.exact_measurement, value, notes


def _measure_with(parameter: str, value: int, validation: _Validation) -> Measurement:
    """The approximate measurement with ``parameter`` = ``value`` for these searches only (nothing stored)."""
    return validation.approximate(setting=("probes" if parameter.startswith("ivfflat") else "ef_search", value))


# --- The optimiser ---------------------------------------------------------------------------------------------------

@contextmanager
def _table_lock(table: str) -> Iterator[None]:
    key = LOCK_PREFIX + table
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
        if not cursor.fetchone()[0]:
            raise GraphError(f"another optimiser run is working on {table} (advisory lock {key!r}); try again when "
                             "it has finished", code=VECTOR_INDEX_BUSY, table=table)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


def vector_index_optimize(*, table: str, index_type: str | None = None, dry_run: bool = False, force: bool = False,
                          actor: str) -> VectorIndexBuild:
    """Run the flow of the module docstring for ``table`` and return its ``vector_index_builds`` row (unsaved for a
    dry run). The row also carries, as plain attributes for reports, the run's ``plan`` (a ``VectorIndexPlan``),
    ``tuning`` (the steps of the tuning loop) and ``exact_latency_ms_p95`` (the table keeps the exact median only).
    A rebuild must run outside ``transaction.atomic``."""
    _checked_table(table)
    _checked_type(index_type)
    with _table_lock(table):
        notes = []
        if not dry_run and not connection.in_atomic_block:
            notes.append(_leftovers_resolve(table))
        plan = vector_index_plan(table=table, index_type=index_type, force=force)
        status = plan.status
        index = status.index
        kept_type = index.index_type if index.index_type in VectorIndexType.values else plan.index_type
        build = VectorIndexBuild(
            table_name=table, index_name=index.name, rows=status.rows.value,
            rows_at_last_build=status.rows_at_last_build, triggered_by=actor, started_at=timezone.now(),
            index_type=plan.index_type if plan.rebuild else kept_type,
            parameters=plan.parameters if plan.rebuild else index.parameters)
        build.plan, build.tuning, build.exact_latency_ms_p95 = plan, [], None
        notes = [note for note in notes if note]
        if dry_run:
            build.outcome = VectorIndexOutcome.DRY_RUN
            build.reason = plan.decision()
            return build
        if plan.rebuild and status.rows.value:
            _require_autocommit()  # before anything is written
        for name, (_current, new) in plan.config_changes.items():
            _config_write(name, new, actor=actor, reason=f"{table}: {plan.decision()}"[:2000])
        if status.rows.value == 0:
            return _finish(build, VectorIndexOutcome.UNCHANGED, [*notes, plan.decision()])
        if plan.rebuild:
            try:
                build.build_seconds = _rebuild(table=table, index_type=plan.index_type, parameters=plan.parameters)
            except DatabaseError as exc:
                failure = [*notes, plan.decision(), f"the build failed: {str(exc).strip()}"]
                try:
                    cleaned = _leftovers_resolve(table)
                except DatabaseError as cleanup_exc:
                    cleaned = f"and so did the clean-up ({str(cleanup_exc).strip()}): the next run retries it"
                failure.append(cleaned or "nothing was left behind")
                if plan.config_changes:
                    failure.append("the configuration already has the new values: the next run rebuilds, as the "
                                   "index's parameters differ from them")
                return _finish(build, VectorIndexOutcome.FAILED, failure)
            build.parameters = index_state(table).parameters
            outcome = VectorIndexOutcome.REBUILT
        else:
            outcome = VectorIndexOutcome.UNCHANGED
        measured, exact, value, tuning = _validate_and_tune(plan, lists=build.parameters.get("lists"), actor=actor,
                                                            lower_after_rebuild=outcome == VectorIndexOutcome.REBUILT)
        build.search_parameters = {plan.search_name: value}
        build.tuning = tuning
        build.sample_queries = measured.queries
        build.recall_at_10 = measured.recall
        build.latency_ms_median, build.latency_ms_p95 = measured.median_ms, measured.p95_ms
        build.exact_latency_ms_median, build.exact_latency_ms_p95 = exact.median_ms, exact.p95_ms
        return _finish(build, outcome, [*notes, plan.decision(), *tuning])


def _finish(build: VectorIndexBuild, outcome: str, reasons: list[str]) -> VectorIndexBuild:
    build.outcome = outcome
    build.reason = "; ".join(reason for reason in reasons if reason)
    build.finished_at = timezone.now()
    build.save()
    return build


def vector_index_summary(build: VectorIndexBuild) -> str:
    """One line for logs and the worker: ``nodes: rebuilt (ivfflat lists=10), recall@10 0.982 with probes=3``."""
    index = f"{build.index_type} {parameters_text(build.parameters)}".strip()
    text = f"{build.table_name}: {build.get_outcome_display().lower()} ({index})"
    if build.recall_at_10 is not None:
        text += f", recall@10 {build.recall_at_10:.3f} with {parameters_text(build.search_parameters)}"
    if build.outcome == VectorIndexOutcome.FAILED:
        text += f": {build.reason}"
    return text
