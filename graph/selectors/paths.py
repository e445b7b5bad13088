"""The shortest paths between two nodes: a bounded, bidirectional breadth-first search in SQL.

The search grows two balls, one around each end, one level at a time, always the side whose frontier is smaller
(so a hub at one end is met from the other end if it can be). Each level is one query: the relationships of the
frontier (an array parameter, ``= ANY(%s)``, through the source and target indexes) that pass the filters, read up
to ``EDGES_PER_LEVEL`` rows. The balls stop as soon as they touch; every node where they touch lies on a shortest
path, and the paths are put together in Python from the predecessors each side recorded (all of them, so equal
shortest paths and parallel edges of different types all show).

Why the answers are honest:

* The balls stay disjoint until they meet, so when they first meet after ``a`` levels on one side and ``b`` on the
  other, no path shorter than ``a + b`` hops exists, and every node where they meet is ``a`` hops from one end and
  ``b`` from the other: the paths found are the shortest ones.
* A side whose frontier empties has reached everything it can (within the filters): then there is no path at any
  length (``exhausted``).
* A level with more than ``EDGES_PER_LEVEL`` relationships is read only in part and the search stops there
  (``truncated``): a path found then is a shortest one, but others of that length may be missing; no path found
  then means only "none within the part read", never "none".

Queries: one for the two ends, one per level (at most ``max_depth``), one for the nodes of the paths shown.

Directions: ``both`` follows every relationship either way; ``out`` follows source → target only, and a
``bidirectional`` relationship either way. The filters: relationship ``types`` (any of them) and
``min_confidence`` (on ``relationships.confidence_score``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
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

DIRECTIONS = ("both", "out")
MIN_DEPTH, MAX_DEPTH, DEFAULT_MAX_DEPTH = 1, 6, 4
EDGES_PER_LEVEL = 20_000  # relationships read per level at most; more and the search stops there (truncated)
PATHS_SHOWN = 10  # shortest paths returned, the strongest first
PATHS_CONSIDERED = 500  # shortest paths put together to choose the strongest PATHS_SHOWN from (all are counted)

_EDGE_COLUMNS = ("r.relationship_id, r.source_node_id, r.target_node_id, r.relationship_type, r.strength, "
                 "r.confidence_score, coalesce(r.auto_managed, false), coalesce(r.bidirectional, false)")


@dataclass(frozen=True)
class PathQuery:
    from_id: int
    to_id: int
    max_depth: int = DEFAULT_MAX_DEPTH
    direction: str = "both"
    types: tuple[str, ...] = ()
    min_confidence: Decimal | None = None
    # Whether inferred links not yet accepted may be walked (review_inferred_visible; paths_find fills it in).
    pending: bool | None = None

    def checked(self) -> PathQuery:
        def refuse(message: str):
            raise GraphError(message, code=EXPLORE_BAD_PARAMETER)

        if not MIN_DEPTH <= self.max_depth <= MAX_DEPTH:
            refuse(f"the maximum depth must be from {MIN_DEPTH} to {MAX_DEPTH}, not {self.max_depth}")
        if self.direction not in DIRECTIONS:
            refuse(f"the direction must be one of {', '.join(DIRECTIONS)}, not {self.direction[:40]!r}")
        relationship_filters_check(types=self.types, bounds={"minimum confidence": self.min_confidence})
        return self

    def as_parameters(self) -> dict:
        return {"from": self.from_id, "to": self.to_id, "max_depth": self.max_depth, "direction": self.direction,
                "types": list(self.types),
                "min_confidence": float(self.min_confidence) if self.min_confidence is not None else None}


@dataclass(frozen=True)
class PathHop:
    """One step along a path, from ``from_id`` to ``to_id``: every relationship between the two that the search
    may walk that way (parallel relationships of different types), the strongest first."""

    from_id: int
    to_id: int
    relationships: tuple[SubgraphEdge, ...]

    @property
    def best(self) -> SubgraphEdge:
        return self.relationships[0]


@dataclass(frozen=True)
class FoundPath:
    node_ids: tuple[int, ...]  # from the start to the end
    hops: tuple[PathHop, ...]

    @property
    def length(self) -> int:
        return len(self.hops)

    @property
    def strength(self) -> float:
        """The product of each hop's best confidence × strength: how the shown paths are ordered."""
        product = 1.0
        for hop in self.hops:
            product *= hop.best.weighted_strength
        return product


@dataclass(frozen=True)
class PathSearch:
    """What a search found. ``length`` is None when no path was found; then ``exhausted`` (no path at any length
    within the filters) or ``truncated`` (the search was cut: a path may exist) or neither (none within
    ``max_depth`` hops)."""

    query: PathQuery
    paths: list[FoundPath]
    nodes: dict[int, SubgraphNode]  # the two ends and every node of ``paths``
    length: int | None
    path_count: int  # every shortest path found (node sequences), of which ``paths`` are the strongest
    depth_searched: int  # hops around the two ends searched completely (both sides' levels added up)
    truncated: bool = False
    truncated_side: str | None = None  # "from" or "to": the side whose level was cut
    exhausted: bool = False
    edges_read: int = 0
    levels: int = 0  # level queries run
    level_cap: int = 0  # relationships a level may read (EDGES_PER_LEVEL when the search ran)
    subgraph: Subgraph = field(default_factory=lambda: Subgraph(centre_id=None))

    @property
    def found(self) -> bool:
        return self.length is not None


@dataclass
class _Side:
    """One end's ball: each visited node's predecessors toward that end, grouped by predecessor."""

    name: str
    root: int
    forward: bool  # walks relationships the way they point (the start's side, for direction "out")
    visited: dict[int, dict[int, list[SubgraphEdge]]] = field(default_factory=dict)
    frontier: list[int] = field(default_factory=list)
    depth: int = 0

    def __post_init__(self):
        self.visited[self.root] = {}
        self.frontier = [self.root]


def _filters(query: PathQuery) -> tuple[str, list]:
    return relationship_filters_sql(types=query.types, min_confidence=query.min_confidence,
                                    pending=query.pending is not False)


def _level_sql(query: PathQuery, side: _Side) -> tuple[str, list]:
    """The frontier's walkable relationships, at most ``EDGES_PER_LEVEL`` + 1 rows: (edge columns, here, other).

    A side walks from the frontier to the other end of each relationship. With ``direction="out"`` the start's
    side walks source → target and the end's side target → source (it walks the path backwards); bidirectional
    relationships both ways. Each branch has its own LIMIT, so no branch reads more than the cap either."""
    filters, filter_params = _filters(query)
    if query.direction == "both":
        branches = [("source_node_id", "target_node_id", "TRUE"), ("target_node_id", "source_node_id", "TRUE")]
    else:
        ahead = ("source_node_id", "target_node_id") if side.forward else ("target_node_id", "source_node_id")
        branches = [(*ahead, "TRUE"), (ahead[1], ahead[0], "r.bidirectional IS TRUE")]
    cap = EDGES_PER_LEVEL + 1
    parts, params = [], []
    for here, other, extra in branches:
        parts.append(f"(SELECT {_EDGE_COLUMNS}, r.{here}, r.{other} FROM relationships r "
                     f"WHERE r.{here} = ANY(%s::int[]) AND {extra} AND {filters} LIMIT %s)")
        params.extend([side.frontier, *filter_params, cap])
    return " UNION ALL ".join(parts) + " LIMIT %s", [*params, cap]


def _edge(row) -> SubgraphEdge:
    return SubgraphEdge(relationship_id=row[0], source_id=row[1], target_id=row[2], relationship_type=row[3],
                        strength=row[4], confidence=row[5], auto_managed=row[6], bidirectional=row[7])


def _expand(cursor, query: PathQuery, side: _Side) -> tuple[int, bool]:
    """Read the side's next level; returns (relationships read, whether the cap cut the level)."""
    sql, params = _level_sql(query, side)
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    cut = len(rows) > EDGES_PER_LEVEL
    rows = rows[:EDGES_PER_LEVEL]
    reached: dict[int, dict[int, list[SubgraphEdge]]] = {}
    for row in rows:
        here, other = row[8], row[9]
        if other in side.visited:
            continue
        reached.setdefault(other, {}).setdefault(here, []).append(_edge(row))
    side.visited.update(reached)
    side.frontier = sorted(reached)
    side.depth += 1
    return len(rows), cut


def _best_first(edges: list[SubgraphEdge]) -> tuple[SubgraphEdge, ...]:
    return tuple(sorted(edges, key=lambda edge: (-edge.weighted_strength, edge.relationship_type,
                                                 edge.relationship_id)))


def _half_paths(side: _Side, node_id: int):
    """Every shortest way from ``node_id`` back to the side's root: lists of (node, edges to the next node toward
    the root), strongest predecessors first."""
    predecessors = side.visited[node_id]
    if not predecessors:
        yield []
        return
    ordered = sorted(predecessors.items(), key=lambda item: (-max(e.weighted_strength for e in item[1]), item[0]))
    for previous, edges in ordered:
        for rest in _half_paths(side, previous):
            yield [(previous, edges), *rest]


def _count_ways(side: _Side, node_id: int, memo: dict[int, int]) -> int:
    if node_id not in memo:
        predecessors = side.visited[node_id]
        memo[node_id] = sum(_count_ways(side, p, memo) for p in predecessors) if predecessors else 1
    return memo[node_id]


def _paths_through(start: _Side, end: _Side, meeting: list[int]):
    """Every shortest path through the meeting nodes, as ``FoundPath``s from the start's root to the end's."""
    for middle in meeting:
        for back in _half_paths(start, middle):
            for ahead in _half_paths(end, middle):
                node_ids = [*(node for node, _ in reversed(back)), middle, *(node for node, _ in ahead)]
                hops = []
                for position, (node, edges) in enumerate(reversed(back)):
                    hops.append(PathHop(node, node_ids[position + 1], _best_first(edges)))
                offset = len(back)
                for position, (node, edges) in enumerate(ahead):
                    hops.append(PathHop(node_ids[offset + position], node, _best_first(edges)))
                yield FoundPath(tuple(node_ids), tuple(hops))


def _nodes(cursor, ids: list[int], depth_of: dict[int, int]) -> dict[int, SubgraphNode]:
    cursor.execute("SELECT node_id, name, node_type, path::text, confidence_score FROM nodes "
                   "WHERE node_id = ANY(%s::int[])", [ids])
    return {row[0]: SubgraphNode(node_id=row[0], name=row[1], node_type=row[2], path=row[3], confidence=row[4],
                                 depth=depth_of.get(row[0], 0)) for row in cursor.fetchall()}


def paths_find(*, query: PathQuery) -> PathSearch:
    """The shortest paths from ``query.from_id`` to ``query.to_id`` (see the module docstring).

    Raises ``GraphNotFound`` (RG-EXPLORE-002) for an end that does not exist, ``GraphError`` (RG-EXPLORE-001) for
    a query out of range."""
    query = query.checked()
    with connection.cursor() as cursor:
        ends = _nodes(cursor, [query.from_id, query.to_id], {})
        for name, node_id in (("from", query.from_id), ("to", query.to_id)):
            if node_id not in ends:
                raise GraphNotFound(f"there is no node with id {node_id}", code=EXPLORE_UNKNOWN_NODE,
                                    node_id=node_id, field=name)
        if query.from_id == query.to_id:
            path = FoundPath((query.from_id,), ())
            return PathSearch(query=query, paths=[path], nodes=ends, length=0, path_count=1, depth_searched=0,
                              subgraph=_subgraph(query, [path], ends))

        if query.pending is None:  # read once for the whole search
            query = replace(query, pending=inferred_visible())
        start = _Side("from", query.from_id, forward=True)
        end = _Side("to", query.to_id, forward=False)
        edges_read = levels = 0
        truncated_side, exhausted, meeting = None, False, []
        while start.depth + end.depth < query.max_depth:
            side, other = (start, end) if len(start.frontier) <= len(end.frontier) else (end, start)
            read, cut = _expand(cursor, query, side)
            edges_read, levels = edges_read + read, levels + 1
            meeting = [node_id for node_id in side.frontier if node_id in other.visited]
            if cut:
                truncated_side = side.name
            if meeting or cut:
                break
            if not side.frontier:
                exhausted = True
                break

        if not meeting:
            searched = start.depth + end.depth - (1 if truncated_side else 0)
            return PathSearch(query=query, paths=[], nodes=ends, length=None, path_count=0, depth_searched=searched,
                              truncated=truncated_side is not None, truncated_side=truncated_side,
                              exhausted=exhausted, edges_read=edges_read, levels=levels,
                              level_cap=EDGES_PER_LEVEL, subgraph=_subgraph(query, [], ends))

        start_ways, end_ways = {}, {}
        path_count = sum(_count_ways(start, m, start_ways) * _count_ways(end, m, end_ways) for m in meeting)
        considered = list(itertools.islice(_paths_through(start, end, meeting), PATHS_CONSIDERED))
        paths = sorted(considered, key=lambda path: (-path.strength, path.node_ids))[:PATHS_SHOWN]
        depth_of = {node_id: position for path in paths for position, node_id in enumerate(path.node_ids)}
        inner = sorted(set(depth_of) - set(ends))
        nodes = {**ends, **(_nodes(cursor, inner, depth_of) if inner else {})}
        nodes = {node_id: _at_depth(node, depth_of.get(node_id, 0)) for node_id, node in nodes.items()}
        if any(node_id not in nodes for path in paths for node_id in path.node_ids):  # deleted meanwhile
            paths = [path for path in paths if all(node_id in nodes for node_id in path.node_ids)]
    length = start.depth + end.depth
    return PathSearch(query=query, paths=paths, nodes=nodes, length=length, path_count=path_count,
                      depth_searched=length - 1, truncated=truncated_side is not None,
                      truncated_side=truncated_side, edges_read=edges_read, levels=levels,
                      level_cap=EDGES_PER_LEVEL, subgraph=_subgraph(query, paths, nodes))


def _at_depth(node: SubgraphNode, depth: int) -> SubgraphNode:
    if node.depth == depth:
        return node
    return SubgraphNode(node_id=node.node_id, name=node.name, node_type=node.node_type, path=node.path,
                        confidence=node.confidence, depth=depth, hidden_edges=node.hidden_edges)


def _subgraph(query: PathQuery, paths: list[FoundPath], nodes: dict[int, SubgraphNode]) -> Subgraph:
    """The paths as a ``Subgraph`` (for the picture and the exports): their nodes, in path order, and every
    relationship on them; ``depth`` is a node's position along the paths."""
    order = [query.from_id, *(n for path in paths for n in path.node_ids), query.to_id]
    shown = [nodes[node_id] for node_id in dict.fromkeys(order) if node_id in nodes]
    edges = {edge.relationship_id: edge for path in paths for hop in path.hops for edge in hop.relationships}
    return Subgraph(centre_id=query.from_id, nodes=shown, edges=list(edges.values()),
                    parameters=query.as_parameters())
