"""A node's neighbourhood: a bounded breadth-first traversal in SQL (docs/exploration.md).

Level by level, one query per level: the relationships of the current frontier (an array parameter, through the
source and target indexes) that pass the filters, grouped by the node at their other end; the strongest new
neighbours (by their best ``confidence × strength``) fill the node cap, nearer levels first. So a hub with 50,000
relationships costs one indexed read of its edges, not a walk of its 50,000 neighbours' edges: only the nodes that
fit under the cap are expanded further.

Then three queries over the chosen nodes (an array of at most ``MAX_LIMIT`` ids): their rows, the relationships
among them that pass the filters (the strongest ``edge_cap`` of them), and each node's number of such
relationships in the traversal's direction, so the picture can mark the nodes that have edges it does not show.

``left_out`` counts the neighbours a level found that the cap had no room for; when the cap filled before the last
level, deeper levels were never read and ``left_out_capped`` says the true number is higher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from graph.errors import EXPLORE_BAD_PARAMETER, EXPLORE_UNKNOWN_NODE, GraphError, GraphNotFound
from graph.selectors.review import inferred_visible
from graph.selectors.subgraph import (
    Subgraph,
    SubgraphEdge,
    SubgraphNode,
    relationship_filters_check,
    relationship_filters_sql,
)

DIRECTIONS = ("both", "out", "in")
MAX_DEPTH = 3
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
EDGES_PER_NODE = 5  # the picture shows at most limit × this many relationships among its nodes


@dataclass(frozen=True)
class NeighbourhoodQuery:
    node_id: int
    depth: int = 1
    direction: str = "both"
    types: tuple[str, ...] = ()
    min_confidence: Decimal | None = None
    min_strength: Decimal | None = None
    limit: int = DEFAULT_LIMIT

    def checked(self) -> NeighbourhoodQuery:
        def refuse(message: str):
            raise GraphError(message, code=EXPLORE_BAD_PARAMETER)

        if not 1 <= self.depth <= MAX_DEPTH:
            refuse(f"the depth must be from 1 to {MAX_DEPTH}, not {self.depth}")
        if self.direction not in DIRECTIONS:
            refuse(f"the direction must be one of {', '.join(DIRECTIONS)}, not {self.direction[:40]!r}")
        if not 1 <= self.limit <= MAX_LIMIT:
            refuse(f"the node limit must be from 1 to {MAX_LIMIT}, not {self.limit}")
        relationship_filters_check(types=self.types, bounds={"minimum confidence": self.min_confidence,
                                                             "minimum strength": self.min_strength})
        return self

    @property
    def edge_cap(self) -> int:
        return self.limit * EDGES_PER_NODE

    def as_parameters(self) -> dict:
        return {"depth": self.depth, "direction": self.direction, "types": list(self.types),
                "min_confidence": float(self.min_confidence) if self.min_confidence is not None else None,
                "min_strength": float(self.min_strength) if self.min_strength is not None else None,
                "limit": self.limit}


@dataclass
class _Filters:
    sql: str
    params: list = field(default_factory=list)


def _filters(query: NeighbourhoodQuery) -> _Filters:
    sql, params = relationship_filters_sql(types=query.types, min_confidence=query.min_confidence,
                                           min_strength=query.min_strength, pending=inferred_visible())
    return _Filters(sql, params)


def _sides(query: NeighbourhoodQuery) -> list[tuple[str, str, str]]:
    """(the frontier's column, the other end's column, an extra condition) for each way an edge may be walked:
    ``out`` walks source → target (and bidirectional edges backwards too), ``in`` the reverse, ``both`` either."""
    forward = ("source_node_id", "target_node_id", "TRUE")
    backward = ("target_node_id", "source_node_id", "TRUE")
    if query.direction == "out":
        return [forward, ("target_node_id", "source_node_id", "r.bidirectional")]
    if query.direction == "in":
        return [backward, ("source_node_id", "target_node_id", "r.bidirectional")]
    return [forward, backward]


def _walk_sql(query: NeighbourhoodQuery, filters: _Filters, ids_param: str = "%s::int[]") -> tuple[str, list]:
    """A UNION ALL of the walkable edges of the nodes in an array: (node at this end, node at the other end,
    confidence × strength). One parameter (the array) per side, then the filters' parameters."""
    parts, params = [], []
    for here, there, extra in _sides(query):
        parts.append(
            f"SELECT r.{here} AS here, r.{there} AS other, (r.confidence_score * r.strength)::float8 AS weight "
            f"FROM relationships r WHERE r.{here} = ANY({ids_param}) AND {extra} AND {filters.sql}")
        params.append(None)  # the array, filled in by the caller
        params.extend(filters.params)
    return " UNION ALL ".join(parts), params


def _with_ids(params: list, ids: list[int]) -> list:
    return [ids if value is None else value for value in params]


def _walkable_from(edge: SubgraphEdge, direction: str) -> tuple[int, ...]:
    if direction == "both" or edge.bidirectional:
        return (edge.source_id, edge.target_id)
    return (edge.source_id,) if direction == "out" else (edge.target_id,)


def neighbourhood_fetch(*, query: NeighbourhoodQuery) -> Subgraph:
    """The subgraph around ``query.node_id`` (see the module docstring); ``GraphNotFound`` for an unknown node."""
    query = query.checked()
    filters = _filters(query)
    walk_sql, walk_params = _walk_sql(query, filters)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM nodes WHERE node_id = %s", [query.node_id])
        if cursor.fetchone() is None:
            raise GraphNotFound(f"there is no node with id {query.node_id}", code=EXPLORE_UNKNOWN_NODE,
                                node_id=query.node_id)
        depth_of = {query.node_id: 0}
        frontier = [query.node_id]
        left_out = 0
        cut_early = False
        for level in range(1, query.depth + 1):
            room = query.limit - len(depth_of)
            if room <= 0:
                cut_early = True
                break
            cursor.execute(
                f"SELECT other, max(weight) AS best, count(*) OVER () AS found FROM ({walk_sql}) AS e "
                "WHERE other <> ALL(%s::int[]) GROUP BY other ORDER BY best DESC, other LIMIT %s",
                [*_with_ids(walk_params, frontier), list(depth_of), room])
            rows = cursor.fetchall()
            if not rows:
                break
            found = rows[0][2]
            left_out += found - len(rows)
            frontier = [row[0] for row in rows]
            for node_id in frontier:
                depth_of[node_id] = level
            if found > len(rows) and level < query.depth:
                cut_early = True  # the cap is full: the next levels are not read
                break

        ids = list(depth_of)
        cursor.execute("SELECT node_id, name, node_type, path::text, confidence_score FROM nodes "
                       "WHERE node_id = ANY(%s::int[])", [ids])
        rows = {row[0]: row for row in cursor.fetchall()}

        cursor.execute(
            "SELECT r.relationship_id, r.source_node_id, r.target_node_id, r.relationship_type, r.strength, "
            "r.confidence_score, coalesce(r.auto_managed, false), coalesce(r.bidirectional, false) "
            f"FROM relationships r WHERE r.source_node_id = ANY(%s::int[]) AND r.target_node_id = ANY(%s::int[]) "
            f"AND {filters.sql} ORDER BY r.confidence_score * r.strength DESC, r.relationship_id LIMIT %s",
            [ids, ids, *filters.params, query.edge_cap])
        edges = [SubgraphEdge(relationship_id=row[0], source_id=row[1], target_id=row[2], relationship_type=row[3],
                              strength=row[4], confidence=row[5], auto_managed=row[6], bidirectional=row[7])
                 for row in cursor.fetchall()]

        cursor.execute(f"SELECT here, count(*) FROM ({walk_sql}) AS e GROUP BY here", _with_ids(walk_params, ids))
        degree = dict(cursor.fetchall())

    drawn = dict.fromkeys(ids, 0)
    for edge in edges:  # counted at each end it can be walked from, as the degrees are
        for end in _walkable_from(edge, query.direction):
            drawn[end] += 1
    nodes = []
    for node_id, depth in depth_of.items():
        row = rows.get(node_id)
        if row is None:  # deleted between the queries
            continue
        hidden = max(degree.get(node_id, 0) - drawn.get(node_id, 0), 0)
        nodes.append(SubgraphNode(node_id=node_id, name=row[1], node_type=row[2], path=row[3], confidence=row[4],
                                  depth=depth, hidden_edges=hidden))
    present = {node.node_id for node in nodes}
    edges = [edge for edge in edges if edge.source_id in present and edge.target_id in present]
    return Subgraph(centre_id=query.node_id, nodes=nodes, edges=edges, left_out=left_out,
                    left_out_capped=cut_early, parameters=query.as_parameters())
