"""What the graph holds, for the dashboard: row counts that stay cheap on tables of millions of rows.

Every count reads at most ``COUNT_CAP + 1`` rows (``kgsite.db.row_count``/``capped_count``); above the cap it is
PostgreSQL's estimate, shown with "≈". Unfiltered tables use ``pg_class.reltuples``; the two filtered counts
(manual and inferred relationships) use the planner's row estimate for their query (EXPLAIN, which plans but does
not run it). Nothing here runs a full ``COUNT(*)``. The biggest node types come from the materialized view
``mv_graph_connectivity_stats`` (as of its last refresh).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections, models
from django.db.models import Q

from graph.models import (
    ExternalResource,
    GraphConnectivityStats,
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
# An inferred relationship is one inference made and manages (``auto_managed``); every other one is manual.
INFERRED = Q(auto_managed=True)


@dataclass(frozen=True)
class CountLine:
    """One count of the dashboard: what is counted, how many, and the model (for links to its admin pages).
    ``admin_query``: the changelist's filter for this count ("auto_managed__exact=1"), if it is a part."""

    key: str
    label: str
    count: RowCount
    model: type[models.Model]
    admin_query: str = ""


@dataclass(frozen=True)
class GraphOverview:
    nodes: RowCount
    node_attributes: RowCount
    relationships: RowCount
    manual_relationships: RowCount
    inferred_relationships: RowCount
    external_resources: RowCount
    references: RowCount
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
            CountLine("node_attributes", "Attributes", self.node_attributes, NodeAttribute),
            CountLine("relationships", "Relationships", self.relationships, Relationship),
            CountLine("external_resources", "External resources", self.external_resources, ExternalResource),
            CountLine("references", "References", self.references, Reference),
        ]

    @property
    def relationship_parts(self) -> list[CountLine]:
        """The relationships split by who made them: people (manual) and inference (inferred)."""
        return [
            CountLine("manual_relationships", "manual", self.manual_relationships, Relationship,
                      admin_query="auto_managed__exact=0"),
            CountLine("inferred_relationships", "inferred", self.inferred_relationships, Relationship,
                      admin_query="auto_managed__exact=1"),
        ]

    @property
    def any_estimated(self) -> bool:
        return any(not line.count.exact for line in [*self.lines, *self.relationship_parts])


def _matview_populated(model: type[models.Model]) -> bool:
    with connections[model.objects.db].cursor() as cursor:
        cursor.execute(
            "SELECT ispopulated FROM pg_matviews WHERE schemaname = current_schema() AND matviewname = %s",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


_UNREAD = object()


def graph_overview(*, connectivity_populated: bool | None = None,
                   connectivity_refresh: MaterializedViewRefresh | None | object = _UNREAD) -> GraphOverview:
    """Counts of everything in the graph and its biggest node types; about ten small queries in all. The caller
    may pass what it already knows of ``mv_graph_connectivity_stats`` (populated? its last refresh) to save the
    queries that read it."""
    cap = COUNT_CAP
    populated = (_matview_populated(GraphConnectivityStats) if connectivity_populated is None
                 else connectivity_populated)
    if connectivity_refresh is _UNREAD:
        connectivity_refresh = MaterializedViewRefresh.objects.filter(
            view_name=GraphConnectivityStats._meta.db_table).first()
    top: list[GraphConnectivityStats] = []
    if populated:
        top = list(GraphConnectivityStats.objects.order_by("-node_count", "node_type")[: TOP_NODE_TYPES + 1])
    return GraphOverview(
        nodes=row_count(Node, cap),
        node_attributes=row_count(NodeAttribute, cap),
        relationships=row_count(Relationship, cap),
        manual_relationships=filtered_row_count(Relationship.objects.exclude(INFERRED), cap),
        inferred_relationships=filtered_row_count(Relationship.objects.filter(INFERRED), cap),
        external_resources=row_count(ExternalResource, cap),
        references=row_count(Reference, cap),
        top_node_types=top[:TOP_NODE_TYPES],
        more_node_types=len(top) > TOP_NODE_TYPES,
        connectivity_populated=populated,
        connectivity_refresh=connectivity_refresh,
        cap=cap,
    )
