"""A piece of the graph as the exploration pages show it: the nodes and edges of a neighbourhood or of paths.

The selectors (``graph.selectors.neighbourhood``, ``graph.selectors.paths``) build a ``Subgraph``; the picture
(``graph.presentation.graph_svg``), the table in the template and the exports (``graph.presentation.graph_export``:
JSON and GraphML) all read the same object, so what is drawn, listed and downloaded is the same data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from graph.errors import EXPLORE_BAD_PARAMETER, GraphError

MAX_TYPES = 20  # relationship types a traversal may be restricted to
TYPE_MAX_LENGTH = 100  # relationships.relationship_type is VARCHAR(100)


def relationship_filters_check(*, types: Iterable[str], bounds: dict[str, Decimal | None]) -> None:
    """The relationship filters the traversals share: at most ``MAX_TYPES`` types of 1 to ``TYPE_MAX_LENGTH``
    characters, and each bound (``{"minimum confidence": value}``) None or from 0 to 1; RG-EXPLORE-001 otherwise."""
    types = list(types)
    if len(types) > MAX_TYPES:
        raise GraphError(f"at most {MAX_TYPES} relationship types can be chosen, not {len(types)}",
                         code=EXPLORE_BAD_PARAMETER)
    for kind in types:
        if not kind or len(kind) > TYPE_MAX_LENGTH:
            raise GraphError(f"a relationship type has 1 to {TYPE_MAX_LENGTH} characters; {kind[:40]!r} has "
                             f"{len(kind)}", code=EXPLORE_BAD_PARAMETER)
    for name, value in bounds.items():
        if value is not None and not (value.is_finite() and Decimal(0) <= value <= Decimal(1)):
            raise GraphError(f"the {name} must be between 0 and 1, not {value}", code=EXPLORE_BAD_PARAMETER)


def relationship_filters_sql(*, types: Iterable[str], min_confidence: Decimal | None,
                             min_strength: Decimal | None = None, alias: str = "r",
                             pending: bool = True) -> tuple[str, list]:
    """The WHERE clause (``TRUE`` when there is none) and parameters of those filters on ``relationships``;
    ``pending=False`` leaves out the inferred links no curator has accepted (``review_inferred_visible``)."""
    clauses, params = [], []
    if not pending:
        clauses.append(f"{alias}.auto_managed IS NOT TRUE")
    types = list(types)
    if types:
        clauses.append(f"{alias}.relationship_type = ANY(%s::text[])")
        params.append(types)
    if min_confidence is not None:
        clauses.append(f"{alias}.confidence_score >= %s::numeric")
        params.append(min_confidence)
    if min_strength is not None:
        clauses.append(f"{alias}.strength >= %s::numeric")
        params.append(min_strength)
    return " AND ".join(clauses) or "TRUE", params


@dataclass(frozen=True)
class SubgraphNode:
    node_id: int
    name: str
    node_type: str
    path: str | None
    confidence: Decimal
    depth: int  # hops from the centre (0 for the centre itself; along the path for a path's nodes)
    # Edges of this node (within the query's filters) that the subgraph does not show: not followed because the
    # node is at the depth limit, or cut by the node cap. 0 means everything around the node is drawn.
    hidden_edges: int = 0

    @property
    def unexpanded(self) -> bool:
        return self.hidden_edges > 0


@dataclass(frozen=True)
class SubgraphEdge:
    relationship_id: int
    source_id: int
    target_id: int
    relationship_type: str
    strength: Decimal
    confidence: Decimal
    auto_managed: bool  # inferred (drawn dashed)
    bidirectional: bool

    @property
    def weighted_strength(self) -> float:
        """confidence × strength, as ``mv_relationship_strength_matrix`` defines it (edge width in the picture)."""
        return float(self.confidence) * float(self.strength)


@dataclass(frozen=True)
class Subgraph:
    centre_id: int | None
    nodes: list[SubgraphNode] = field(default_factory=list)
    edges: list[SubgraphEdge] = field(default_factory=list)
    # Nodes within the depth and filters that the node cap left out. ``left_out_capped``: the cap filled before
    # the last level, whose nodes were not read, so at least this many were left out.
    left_out: int = 0
    left_out_capped: bool = False
    # The query that made it, for captions and exports: {"depth": 2, "direction": "both", ...}.
    parameters: dict = field(default_factory=dict)

    def node(self, node_id: int) -> SubgraphNode | None:
        return next((node for node in self.nodes if node.node_id == node_id), None)

    @property
    def node_types(self) -> list[str]:
        """The node types shown, most frequent first (the legend's order and the colours' assignment)."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.node_type] = counts.get(node.node_type, 0) + 1
        return sorted(counts, key=lambda kind: (-counts[kind], kind))
