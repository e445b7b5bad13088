"""The neighbourhood traversal (graph.selectors.neighbourhood): the cap, the levels, the direction, the filters,
what it says it left out, and a bounded number of queries."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from graph.errors import EXPLORE_BAD_PARAMETER, EXPLORE_UNKNOWN_NODE, GraphError, GraphNotFound
from graph.selectors.neighbourhood import NeighbourhoodQuery, neighbourhood_fetch
from graph.services.generator import graph_generate
from tests.factories import NodeFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

D = Decimal


def fetch(node, **options):
    return neighbourhood_fetch(query=NeighbourhoodQuery(node_id=node.pk, **options))


def ids(subgraph) -> set[int]:
    return {node.node_id for node in subgraph.nodes}


def link(source, target, kind="related_to", *, strength="1.0", confidence="0.5", **extra):
    return RelationshipFactory(source_node=source, target_node=target, relationship_type=kind,
                               strength=D(strength), stated_confidence=D(confidence), **extra)


@pytest.fixture
def star():
    """A centre with ten neighbours whose links get stronger: n0 weakest, n9 strongest."""
    centre = NodeFactory(label="centre", name="Centre")
    spokes = [NodeFactory(label=f"spoke_{i}") for i in range(10)]
    for i, spoke in enumerate(spokes):
        link(centre, spoke, strength=str(D("0.05") + D(i) / 10))
    return centre, spokes


def test_the_cap_keeps_the_strongest_neighbours_and_says_how_many_it_left_out(star):
    centre, spokes = star
    subgraph = fetch(centre, depth=1, limit=5)
    assert ids(subgraph) == {centre.pk, *(spoke.pk for spoke in spokes[6:])}
    assert subgraph.left_out == 6 and not subgraph.left_out_capped
    shown_centre = subgraph.node(centre.pk)
    assert shown_centre.depth == 0 and shown_centre.hidden_edges == 6
    assert len(subgraph.edges) == 4 and all(edge.source_id == centre.pk for edge in subgraph.edges)
    assert all(not subgraph.node(spoke.pk).unexpanded for spoke in spokes[6:])


def test_without_the_cap_every_neighbour_is_shown(star):
    centre, spokes = star
    subgraph = fetch(centre, depth=1)
    assert ids(subgraph) == {centre.pk, *(spoke.pk for spoke in spokes)}
    assert subgraph.left_out == 0 and subgraph.node(centre.pk).hidden_edges == 0


@pytest.fixture
def chain():
    """a - b - c - d, and a cycle back from d to b."""
    a, b, c, d = (NodeFactory(label=name) for name in "abcd")
    link(a, b)
    link(b, c)
    link(c, d)
    link(d, b, "loops_to")
    return a, b, c, d


def test_levels_follow_the_depth_and_mark_the_nodes_at_the_edge(chain):
    a, b, c, d = chain
    one = fetch(a, depth=1)
    assert ids(one) == {a.pk, b.pk}
    assert one.node(b.pk).depth == 1 and one.node(b.pk).hidden_edges == 2  # b - c and d - b are not drawn
    two = fetch(a, depth=2)
    assert {node.node_id: node.depth for node in two.nodes} == {a.pk: 0, b.pk: 1, c.pk: 2, d.pk: 2}
    assert {(edge.source_id, edge.target_id) for edge in two.edges} == {
        (a.pk, b.pk), (b.pk, c.pk), (c.pk, d.pk), (d.pk, b.pk)}
    assert all(node.hidden_edges == 0 for node in two.nodes)  # the cycle closes inside the picture


def test_direction_out_and_in_with_bidirectional_edges():
    a, b, c, d = (NodeFactory(label=f"dir_{name}") for name in "abcd")
    link(a, b, "points_to")
    link(c, a, "points_to")
    link(d, a, "twin_of", bidirectional=True)
    assert ids(fetch(a, direction="out")) == {a.pk, b.pk, d.pk}
    assert ids(fetch(a, direction="in")) == {a.pk, c.pk, d.pk}
    assert ids(fetch(a, direction="both")) == {a.pk, b.pk, c.pk, d.pk}


def test_filters_on_type_confidence_and_strength():
    centre = NodeFactory(label="filtered")
    strong = NodeFactory(label="strong")
    weak = NodeFactory(label="weak")
    other_kind = NodeFactory(label="other_kind")
    link(centre, strong, "cites", strength="0.9", confidence="0.9")
    link(centre, weak, "cites", strength="0.2", confidence="0.9")
    link(centre, other_kind, "mentions", strength="0.9", confidence="0.9")
    assert ids(fetch(centre, types=("cites",))) == {centre.pk, strong.pk, weak.pk}
    assert ids(fetch(centre, min_strength=D("0.5"))) == {centre.pk, strong.pk, other_kind.pk}
    unsure = NodeFactory(label="unsure")
    link(centre, unsure, "cites", strength="0.9", confidence="0.05")
    confident = fetch(centre, min_confidence=D("0.3"))
    assert unsure.pk not in ids(confident) and strong.pk in ids(confident)
    assert all(edge.confidence >= D("0.3") for edge in confident.edges)
    # Edges outside the filters do not count as hidden either.
    assert fetch(centre, types=("cites",), min_strength=D("0.5"), min_confidence=D("0.3")).node(
        centre.pk).hidden_edges == 0


def test_a_full_cap_before_the_last_level_says_at_least(star):
    centre, spokes = star
    for i, spoke in enumerate(spokes):
        link(spoke, NodeFactory(label=f"leaf_{i}"))
    subgraph = fetch(centre, depth=2, limit=4)
    assert len(subgraph.nodes) == 4
    assert subgraph.left_out == 7 and subgraph.left_out_capped
    assert all(node.depth <= 1 for node in subgraph.nodes)
    assert all(node.unexpanded for node in subgraph.nodes if node.depth == 1)


def test_unknown_node_and_bad_parameters():
    with pytest.raises(GraphNotFound) as missing:
        neighbourhood_fetch(query=NeighbourhoodQuery(node_id=987654321))
    assert missing.value.code == EXPLORE_UNKNOWN_NODE and missing.value.http_status == 404
    node = NodeFactory()
    for bad in ({"depth": 4}, {"depth": 0}, {"limit": 0}, {"limit": 501}, {"direction": "sideways"},
                {"min_confidence": D("1.5")}, {"min_strength": D("-0.1")}, {"min_strength": D("NaN")},
                {"types": ("x" * 101,)}, {"types": tuple(f"t{i}" for i in range(21))}):
        with pytest.raises(GraphError) as refused:
            fetch(node, **bad)
        assert refused.value.code == EXPLORE_BAD_PARAMETER, bad


def test_query_count_does_not_grow_with_the_graph(star):
    centre, spokes = star
    with CaptureQueriesContext(connection) as small:
        fetch(centre, depth=3, limit=500)
    for i, spoke in enumerate(spokes):
        for j in range(5):
            leaf = NodeFactory(label=f"more_{i}_{j}")
            link(spoke, leaf)
            link(leaf, NodeFactory(label=f"deeper_{i}_{j}"))
    with CaptureQueriesContext(connection) as big:
        subgraph = fetch(centre, depth=3, limit=500)
    assert len(subgraph.nodes) == 111
    # The configuration check of review_inferred_visible (tests check on every read; in production at most once a
    # second per process), the existence check, one query per level read (the small graph runs out after two), the
    # nodes, the relationships among them and their degrees.
    assert len(small.captured_queries) <= len(big.captured_queries) == 1 + 1 + 3 + 3


def _distances(cursor, start: int, depth: int) -> dict[int, int]:
    cursor.execute("SELECT source_node_id, target_node_id FROM relationships")
    adjacent: dict[int, set[int]] = {}
    for source, target in cursor.fetchall():
        adjacent.setdefault(source, set()).add(target)
        adjacent.setdefault(target, set()).add(source)
    seen, todo = {start: 0}, deque([start])
    while todo:
        here = todo.popleft()
        if seen[here] == depth:
            continue
        for other in adjacent.get(here, ()):
            if other not in seen:
                seen[other] = seen[here] + 1
                todo.append(other)
    return seen


def test_on_a_generated_graph_the_picture_is_a_true_breadth_first_neighbourhood():
    graph_generate(nodes=400, seed=7)
    with connection.cursor() as cursor:
        cursor.execute("SELECT source_node_id FROM relationships GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        hub = cursor.fetchone()[0]
        truth = _distances(cursor, hub, 2)
        cursor.execute("SELECT relationship_id FROM relationships WHERE source_node_id = ANY(%s) "
                       "AND target_node_id = ANY(%s)", [list(truth), list(truth)])
        inside = {row[0] for row in cursor.fetchall()}
    capped = neighbourhood_fetch(query=NeighbourhoodQuery(node_id=hub, depth=2, limit=30))
    assert len(capped.nodes) == 30
    for node in capped.nodes:  # every shown node is where breadth-first search puts it
        assert truth[node.node_id] == node.depth
    assert capped.left_out + len(capped.nodes) <= len(truth)
    whole = neighbourhood_fetch(query=NeighbourhoodQuery(node_id=hub, depth=2, limit=500))
    if len(truth) <= 500:
        assert {node.node_id: node.depth for node in whole.nodes} == truth
        assert {edge.relationship_id for edge in whole.edges} == inside
        assert whole.left_out == 0
        # Only nodes at the depth limit can have edges the picture does not show.
        assert all(node.depth == 2 for node in whole.nodes if node.unexpanded)
    strong = neighbourhood_fetch(query=NeighbourhoodQuery(node_id=hub, depth=2, min_strength=D("0.7"),
                                                          min_confidence=D("0.4")))
    assert all(edge.strength >= D("0.7") and edge.confidence >= D("0.4") for edge in strong.edges)
    assert ids(strong) <= set(truth)
