"""Everything the dashboard (``/``) shows, read cheaply enough for every page view of a graph of a million nodes.

* Counts and node types: ``graph.selectors.overview`` (exact up to ``COUNT_CAP`` rows, estimated beyond; the node
  types from ``mv_graph_connectivity_stats``).
* Confidence distribution (ten bins of 0.1) and tiers (the spec's ``mv_node_confidence_cache``: ≥ 0.8 high,
  ≥ 0.5 medium, else low): while ``nodes`` holds at most ``COUNT_CAP`` rows, counted exactly from the live table
  in one ``GROUP BY``; beyond, estimated from PostgreSQL's statistics of ``nodes.confidence_score`` (``pg_stats``:
  the most common values with their frequencies, and the equal-count histogram of the rest, times
  ``pg_class.reltuples``), which ``ANALYZE`` (autovacuum) keeps. Reading them is one catalog row, whatever the size
  of the table; the page says when they were gathered.
* The inference queue: ``graph.selectors.inference.inference_queue_overview`` (capped counts, index probes).
* Materialized views: ``pg_matviews`` (populated?), ``materialized_view_refreshes`` (when, how long, rows: the row
  count recorded by the refresh, not a count of the view) and ``materialized_view_due`` (statistics of the base
  tables).
* Vector indexes: the catalog (``graph.services.vector_index.index_state``), the rows with an embedding (exact up
  to ``COUNT_CAP``, beyond it ``reltuples × (1 − null_frac)``), and the optimiser's last runs
  (``vector_index_builds``); the embedding queue's backlog (capped count).
* Configuration: ``config_admin.selectors.parameters_overview`` (a few dozen rows), keeping the parameters that
  differ from their defaults, await a PostgreSQL restart, or run with another value than the stored one.

About forty small queries in all, the same number for ten nodes or ten million.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from django.db import connection, models

from config_admin.selectors import ParameterLine, config_get, parameters_overview
from graph.choices import VectorTable
from graph.models import (
    EmbeddingQueueItem,
    EmbeddingSimilarityCache,
    GraphConnectivityStats,
    MaterializedViewRefresh,
    NodeConfidenceCache,
    PopularEntityRanking,
    RelationshipStrengthMatrix,
    VectorIndexBuild,
)
from graph.presentation.charts import HIGH_TIER_FROM, HISTOGRAM_BINS, MEDIUM_TIER_FROM
from graph.selectors import overview as overview_selectors
from graph.selectors.inference import QueueOverview, inference_queue_overview
from graph.selectors.review import ReviewFlow, review_flow
from graph.services.matviews import (
    MATERIALIZED_VIEWS,
    materialized_view_refreshes,
    materialized_views_due,
    materialized_views_populated,
)
from graph.services.vector_index import IndexState, index_state, parameters_text, rows_with_embedding
from kgsite.db import RowCount, row_count

TIERS = ("high", "medium", "low")
VIEW_MODELS: dict[str, type[models.Model]] = {
    model._meta.db_table: model
    for model in (NodeConfidenceCache, RelationshipStrengthMatrix, GraphConnectivityStats, PopularEntityRanking,
                  EmbeddingSimilarityCache)
}


# --- Confidence ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfidenceBin:
    lower: float
    upper: float
    count: int

    @property
    def label(self) -> str:
        return f"{self.lower:.1f}–{self.upper:.1f}"


@dataclass(frozen=True)
class ConfidenceDistribution:
    """Nodes by confidence: ten bins and the three tiers. ``estimated``: from the planner's statistics (then
    ``analyzed_at`` says when they were gathered and ``available`` False means there are none yet)."""

    bins: list[ConfidenceBin]
    tiers: dict[str, int]  # high, medium, low
    unscored: int  # nodes whose confidence_score is NULL (the view leaves them out)
    estimated: bool
    available: bool = True
    analyzed_at: datetime | None = None
    changed_since_analyze: int | None = None  # rows written to nodes since (pg_stat_user_tables)

    @property
    def counts(self) -> list[int]:
        return [item.count for item in self.bins]

    @property
    def scored(self) -> int:
        return sum(self.tiers.values())

    def tier_share(self, tier: str) -> float:
        return self.tiers[tier] / self.scored if self.scored else 0.0

    @property
    def tier_lines(self) -> list[tuple[str, int, float]]:
        return [(tier, self.tiers[tier], self.tier_share(tier)) for tier in TIERS]


def _bins(counts: list[float]) -> list[ConfidenceBin]:
    return [ConfidenceBin(index / HISTOGRAM_BINS, (index + 1) / HISTOGRAM_BINS, round(value))
            for index, value in enumerate(counts)]


# The bin of each score (width_bucket puts 1.0 in an eleventh bucket: it belongs to the last bin, as the view's
# "high" tier holds it) and its tier, with the very CASE of the spec's mv_node_confidence_cache.
_EXACT_SQL = f"""
SELECT least(width_bucket(confidence_score, 0, 1, {HISTOGRAM_BINS}), {HISTOGRAM_BINS}),
       CASE WHEN confidence_score IS NULL THEN NULL
            WHEN confidence_score >= {HIGH_TIER_FROM} THEN 'high'
            WHEN confidence_score >= {MEDIUM_TIER_FROM} THEN 'medium'
            ELSE 'low' END,
       count(*)
FROM nodes
GROUP BY 1, 2
"""


def confidence_exact() -> ConfidenceDistribution:
    """Counted from ``nodes`` (one scan: call it only when the table is small)."""
    counts = [0] * HISTOGRAM_BINS
    tiers = dict.fromkeys(TIERS, 0)
    unscored = 0
    with connection.cursor() as cursor:
        cursor.execute(_EXACT_SQL)
        for bucket, tier, count in cursor.fetchall():
            if tier is None:  # a NULL score (least() would have put its NULL bucket in the last bin)
                unscored += count
                continue
            counts[max(bucket, 1) - 1] += count
            tiers[tier] += count
    return ConfidenceDistribution(bins=_bins(counts), tiers=tiers, unscored=unscored, estimated=False)


_STATISTICS_SQL = """
SELECT c.reltuples, s.null_frac, s.most_common_vals::text::float8[], s.most_common_freqs,
       s.histogram_bounds::text::float8[], greatest(t.last_analyze, t.last_autoanalyze), t.n_mod_since_analyze
FROM pg_class c
LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname
                    AND s.attname = 'confidence_score'
LEFT JOIN pg_stat_user_tables t ON t.relid = c.oid
WHERE c.oid = to_regclass('nodes')
"""

_BIN_EDGES = [index / HISTOGRAM_BINS for index in range(HISTOGRAM_BINS + 1)]
_TIER_EDGES = [0.0, MEDIUM_TIER_FROM, HIGH_TIER_FROM, 1.0]  # low, medium, high


def _interval_of(value: float, edges: list[float]) -> int:
    """The index of the half-open interval of ``edges`` holding ``value`` (the last one is closed)."""
    for index in range(len(edges) - 1):
        if value < edges[index + 1]:
            return index
    return len(edges) - 2


def _spread(low: float, high: float, weight: float, edges: list[float], into: list[float]) -> None:
    """Add ``weight`` spread evenly over [low, high] to the intervals of ``edges`` (a point if low == high)."""
    if high <= low:
        into[_interval_of(low, edges)] += weight
        return
    for index, (start, end) in enumerate(pairwise(edges)):
        overlap = min(high, end) - max(low, start)
        if overlap > 0:
            into[index] += weight * overlap / (high - low)


def confidence_from_statistics(*, reltuples: float, null_frac: float | None, common_values: list[float] | None,
                               common_freqs: list[float] | None, histogram_bounds: list[float] | None,
                               analyzed_at: datetime | None = None,
                               changed_since_analyze: int | None = None) -> ConfidenceDistribution:
    """What PostgreSQL's statistics say of ``nodes.confidence_score`` (pure arithmetic).

    PostgreSQL keeps the most common values with their share of the rows, and for the other non-null rows a
    histogram whose buckets hold equal shares; within a bucket the values are taken as evenly spread (as the
    planner does).
    """
    rows = max(reltuples, 0.0)
    counts = [0.0] * HISTOGRAM_BINS
    tiers = [0.0] * 3
    common_values, common_freqs = common_values or [], common_freqs or []
    for value, frequency in zip(common_values, common_freqs, strict=False):
        counts[_interval_of(value, _BIN_EDGES)] += frequency * rows
        tiers[_interval_of(value, _TIER_EDGES)] += frequency * rows
    null_frac = null_frac or 0.0
    bounds = histogram_bounds or []
    if len(bounds) >= 2:
        rest = max(0.0, 1.0 - null_frac - sum(common_freqs))
        per_bucket = rest * rows / (len(bounds) - 1)
        for low, high in pairwise(bounds):
            _spread(low, high, per_bucket, _BIN_EDGES, counts)
            _spread(low, high, per_bucket, _TIER_EDGES, tiers)
    low, medium, high = (round(value) for value in tiers)
    return ConfidenceDistribution(
        bins=_bins(counts), tiers={"high": high, "medium": medium, "low": low}, unscored=round(null_frac * rows),
        estimated=True, analyzed_at=analyzed_at, changed_since_analyze=changed_since_analyze)


def confidence_estimated() -> ConfidenceDistribution:
    """From the statistics ``ANALYZE`` gathered (one catalog read); ``available`` False when there are none."""
    with connection.cursor() as cursor:
        cursor.execute(_STATISTICS_SQL)
        row = cursor.fetchone()
    if row is None:
        return ConfidenceDistribution(bins=_bins([0] * HISTOGRAM_BINS), tiers=dict.fromkeys(TIERS, 0), unscored=0,
                                      estimated=True, available=False)
    reltuples, null_frac, values, freqs, bounds, analyzed_at, changed = row
    if null_frac is None:  # never analysed: no statistics for the column
        return ConfidenceDistribution(bins=_bins([0] * HISTOGRAM_BINS), tiers=dict.fromkeys(TIERS, 0), unscored=0,
                                      estimated=True, available=False, analyzed_at=analyzed_at,
                                      changed_since_analyze=changed)
    return confidence_from_statistics(
        reltuples=float(reltuples or 0), null_frac=float(null_frac), common_values=values,
        common_freqs=[float(value) for value in freqs or []], histogram_bounds=bounds, analyzed_at=analyzed_at,
        changed_since_analyze=changed)


# --- Materialized views ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ViewFreshness:
    name: str
    model: type[models.Model]
    populated: bool
    refresh: MaterializedViewRefresh | None  # None: never refreshed through kgsite
    due_reason: str | None  # why it is due now (materialized_view_due), None when it is not

    @property
    def label(self) -> str:
        return str(self.model._meta.verbose_name_plural).removesuffix(" (view)")

    @property
    def due(self) -> bool:
        return self.due_reason is not None


def materialized_views_freshness(refreshes: dict[str, MaterializedViewRefresh], populated: dict[str, bool]
                                 ) -> list[ViewFreshness]:
    due = materialized_views_due()
    return [ViewFreshness(name=name, model=VIEW_MODELS[name], populated=bool(populated.get(name)),
                          refresh=refreshes.get(name), due_reason=due.get(name))
            for name in MATERIALIZED_VIEWS]


# --- Vector indexes and embeddings -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VectorIndexHealth:
    """One vector index as the dashboard summarises it (the admin's Index health page has the whole story)."""

    table: str
    label: str
    index: IndexState
    rows: RowCount  # rows with an embedding
    table_rows: RowCount  # all rows of the table (the dashboard's count)
    last_run: VectorIndexBuild | None
    last_measured: VectorIndexBuild | None  # the last run that measured recall@10
    last_rebuild: VectorIndexBuild | None
    target_recall: float

    @property
    def parameters_text(self) -> str:
        return parameters_text(self.index.parameters)

    @property
    def below_target(self) -> bool:
        measured = self.last_measured
        return bool(measured and measured.recall_at_10 is not None and measured.recall_at_10 < self.target_recall)

    @property
    def problems(self) -> list[str]:
        found = []
        if not self.index.exists:
            found.append("the index is missing: searches scan the table")
        elif not self.index.valid:
            found.append("the index is INVALID (an interrupted build): searches do not use it")
        if self.below_target:
            found.append(f"recall@10 {self.last_measured.recall_at_10:.3f} is below the target "
                         f"{self.target_recall:.2f}")
        return found

    @property
    def status(self) -> str:
        """warning (missing, INVALID, below the target recall), idle (no embeddings yet) or ok."""
        if self.problems:
            return "warning"
        return "ok" if self.rows.value else "idle"

    @property
    def coverage(self) -> float | None:
        """The share of the table's rows with an embedding (None when either count is an estimate or no rows)."""
        if not (self.rows.exact and self.table_rows.exact) or not self.table_rows.value:
            return None
        return self.rows.value / self.table_rows.value

    @property
    def coverage_percent(self) -> int | None:
        coverage = self.coverage
        return None if coverage is None else round(coverage * 100)


def _latest_by_table(runs: models.QuerySet) -> dict[str, VectorIndexBuild]:
    return {run.table_name: run for run in runs.order_by("table_name", "-started_at", "-id").distinct("table_name")}


def vector_indexes_health(table_rows: dict[str, RowCount], cap: int) -> list[VectorIndexHealth]:
    last_runs = _latest_by_table(VectorIndexBuild.objects.all())
    measured = _latest_by_table(VectorIndexBuild.objects.filter(recall_at_10__isnull=False))
    rebuilt = _latest_by_table(VectorIndexBuild.objects.filter(outcome="rebuilt"))
    target = float(config_get("vector_index_target_recall"))
    return [
        VectorIndexHealth(
            table=table.value, label=str(table.label), index=index_state(table.value),
            rows=rows_with_embedding(table.value, cap=cap), table_rows=table_rows[table.value],
            last_run=last_runs.get(table.value), last_measured=measured.get(table.value),
            last_rebuild=rebuilt.get(table.value), target_recall=target)
        for table in VectorTable
    ]


@dataclass(frozen=True)
class EmbeddingBacklog:
    items: RowCount
    oldest_queued_at: datetime | None


def embedding_backlog(cap: int) -> EmbeddingBacklog:
    oldest = EmbeddingQueueItem.objects.order_by("id").values_list("queued_at", flat=True).first()
    return EmbeddingBacklog(items=row_count(EmbeddingQueueItem, cap), oldest_queued_at=oldest)


# --- Configuration ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigAttention:
    """The parameters worth a look: changed from their defaults, waiting for a restart, or not yet applied."""

    lines: list[ParameterLine]
    total: int

    @property
    def restart_pending(self) -> list[ParameterLine]:
        return [line for line in self.lines if line.restart_pending or (line.running and line.running.pending_restart)]

    @property
    def changed(self) -> int:
        return sum(line.differs_from_default for line in self.lines)


def config_attention() -> ConfigAttention:
    lines = [line for group in parameters_overview() for line in group.lines]
    wanted = [line for line in lines
              if line.differs_from_default or line.restart_pending or line.running_differs
              or (line.running and line.running.pending_restart)]
    wanted.sort(key=lambda line: (not (line.restart_pending or (line.running and line.running.pending_restart)),
                                  line.row.category, line.row.parameter_name))
    return ConfigAttention(lines=wanted, total=len(lines))


# --- The page --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dashboard:
    overview: overview_selectors.GraphOverview
    confidence: ConfidenceDistribution
    queue: QueueOverview
    views: list[ViewFreshness]
    vector_indexes: list[VectorIndexHealth]
    embedding_backlog: EmbeddingBacklog
    config: ConfigAttention
    cap: int
    review: ReviewFlow | None = None

    @property
    def views_due(self) -> list[ViewFreshness]:
        return [view for view in self.views if view.due]

    @property
    def any_estimated(self) -> bool:
        review = self.review
        return (self.overview.any_estimated or self.confidence.estimated or self.queue.any_estimated
                or (review is not None and not (review.pending.exact and review.accepted.exact
                                                and review.rejected.exact))
                or any(not health.rows.exact for health in self.vector_indexes)
                or not self.embedding_backlog.items.exact)


def graph_dashboard() -> Dashboard:
    """Everything on the dashboard, at a cost that does not grow with the graph (see the module docstring)."""
    cap = overview_selectors.COUNT_CAP
    populated = materialized_views_populated()
    refreshes = materialized_view_refreshes()
    connectivity = GraphConnectivityStats._meta.db_table
    overview = overview_selectors.graph_overview(connectivity_populated=bool(populated.get(connectivity)),
                                                 connectivity_refresh=refreshes.get(connectivity))
    confidence = confidence_exact() if overview.nodes.exact else confidence_estimated()
    return Dashboard(
        overview=overview,
        confidence=confidence,
        queue=inference_queue_overview(),
        views=materialized_views_freshness(refreshes, populated),
        vector_indexes=vector_indexes_health(
            {VectorTable.NODES.value: overview.nodes,
             VectorTable.EXTERNAL_RESOURCES.value: overview.external_resources}, cap),
        embedding_backlog=embedding_backlog(cap),
        config=config_attention(),
        cap=cap,
        review=review_flow(),
    )

