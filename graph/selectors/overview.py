"""What the graph holds, for the home page: row counts that stay cheap on tables of millions of rows.

Every count reads at most ``COUNT_CAP + 1`` rows (``kgsite.db.row_count``/``capped_count``); above the cap it is
PostgreSQL's estimate, shown with "≈". Unfiltered tables use ``pg_class.reltuples``; the two filtered counts
(auto-managed relationships, pending queue items) use the planner's row estimate for their query (EXPLAIN, which
plans but does not run it). Nothing here runs a full ``COUNT(*)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections, models

from config_admin.models import SystemConfig
from graph.choices import QueueStatus
from graph.models import (
    ExternalResource,
    GraphConnectivityStats,
    InferenceQueueItem,
    MaterializedViewRefresh,
    Node,
    NodeAttribute,
    Reference,
    Relationship,
)
from kgsite.db import EXACT_COUNT_CAP, RowCount, filtered_row_count, row_count

# Read at call time so tests can lower it.
COUNT_CAP = EXACT_COUNT_CAP
TOP_NODE_TYPES = 10


@dataclass(frozen=True)
class CountLine:
    """One line of the overview: what is counted, how many, and the model (for links to its admin pages)."""

    key: str
    label: str
    count: RowCount
    model: type[models.Model]
    note: str = ""


@dataclass(frozen=True)
class GraphOverview:
    nodes: RowCount
    node_attributes: RowCount
    relationships: RowCount
    auto_managed_relationships: RowCount
    external_resources: RowCount
    references: RowCount
    pending_inference: RowCount
    config_parameters: RowCount
    # Rows of mv_graph_connectivity_stats, biggest node types first (at most TOP_NODE_TYPES).
    top_node_types: list[GraphConnectivityStats] = field(default_factory=list)
    # More node types exist in the view than top_node_types shows.
    more_node_types: bool = False
    # False when the view was created or refreshed WITH NO DATA (it cannot be read until refreshed).
    connectivity_populated: bool = True
    # When the view was last refreshed through kgsite (None: not recorded).
    connectivity_refresh: MaterializedViewRefresh | None = None
    cap: int = EXACT_COUNT_CAP

    @property
    def lines(self) -> list[CountLine]:
        return [
            CountLine("nodes", "Nodes", self.nodes, Node),
            CountLine("node_attributes", "Node attributes", self.node_attributes, NodeAttribute),
            CountLine(
                "relationships", "Relationships", self.relationships, Relationship,
                note=f"{self.auto_managed_relationships} auto-managed (made by inference)",
            ),
            CountLine("external_resources", "External resources", self.external_resources, ExternalResource),
            CountLine("references", "References", self.references, Reference),
            CountLine(
                "pending_inference", "Pending inference-queue items", self.pending_inference, InferenceQueueItem,
            ),
            CountLine("config_parameters", "Configuration parameters", self.config_parameters, SystemConfig),
        ]

    @property
    def any_estimated(self) -> bool:
        return any(not line.count.exact for line in self.lines) or not self.auto_managed_relationships.exact


def _matview_populated(model: type[models.Model]) -> bool:
    with connections[model.objects.db].cursor() as cursor:
        cursor.execute(
            "SELECT ispopulated FROM pg_matviews WHERE schemaname = current_schema() AND matviewname = %s",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def graph_overview() -> GraphOverview:
    """Counts of everything in the graph and its biggest node types; about ten small queries in all."""
    cap = COUNT_CAP
    populated = _matview_populated(GraphConnectivityStats)
    top: list[GraphConnectivityStats] = []
    if populated:
        top = list(GraphConnectivityStats.objects.order_by("-node_count", "node_type")[: TOP_NODE_TYPES + 1])
    return GraphOverview(
        nodes=row_count(Node, cap),
        node_attributes=row_count(NodeAttribute, cap),
        relationships=row_count(Relationship, cap),
        auto_managed_relationships=filtered_row_count(Relationship.objects.filter(auto_managed=True), cap),
        external_resources=row_count(ExternalResource, cap),
        references=row_count(Reference, cap),
        pending_inference=filtered_row_count(InferenceQueueItem.objects.filter(status=QueueStatus.PENDING), cap),
        config_parameters=row_count(SystemConfig, cap),
        top_node_types=top[:TOP_NODE_TYPES],
        more_node_types=len(top) > TOP_NODE_TYPES,
        connectivity_populated=populated,
        connectivity_refresh=MaterializedViewRefresh.objects.filter(
            view_name=GraphConnectivityStats._meta.db_table).first(),
        cap=cap,
    )
