"""The shortest paths between two nodes: the selector (graph/selectors/paths.py) and the page ``/paths/``.

* One shortest path; two equal ones, both returned; parallel relationships of different types on one hop; from a
  node to itself (0 hops); a cycle; no path within N hops (an answer, 200) and no path at all (exhausted).
* ``direction=out`` refuses a reverse edge but walks a bidirectional one backwards; the type and confidence
  filters change the answer; an unknown type is no path, not an error.
* The bounds: a level with more relationships than the cap is cut and the answer says so (never "no path");
  queries are bounded by the depth, not the graph.
* The page: login required; an empty form is a 200; bad parameters are 400 with the RG code beside the field;
  an unknown node is a 404; an ambiguous name lists its nodes.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from graph.errors import EXPLORE_BAD_PARAMETER, EXPLORE_UNKNOWN_NODE, GraphError, GraphNotFound
from graph.models import Relationship
from graph.selectors import paths as paths_module
from graph.selectors.paths import PathQuery, paths_find
from tests.factories import NodeFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

PATHS = "/paths/"


def link(source, target, kind="related_to", **fields):
    return RelationshipFactory(source_node=source, target_node=target, relationship_type=kind, **fields)


@pytest.fixture
def graph():
    """ada → designed → basic → influenced → dart; ada → mentored → carl → knows → dart (two 2-hop paths ada–dart);
    dart → knows → eve → knows → ada (a cycle); carl ↔ friend ↔ fay (bidirectional); gil → knows → hal (apart);
    ada → influenced → basic too (a parallel edge); x0 → x1 → ... → x6 (a chain)."""
    names = ["ada", "basic", "carl", "dart", "eve", "fay", "gil", "hal"]
    nodes = {name: NodeFactory(label=name, name=name.capitalize()) for name in names}
    n = nodes
    link(n["ada"], n["basic"], "designed", stated_confidence=Decimal("0.95"))
    link(n["ada"], n["basic"], "influenced", stated_confidence=Decimal("0.6"))
    link(n["basic"], n["dart"], "influenced", stated_confidence=Decimal("0.95"))
    link(n["ada"], n["carl"], "mentored", stated_confidence=Decimal("0.1"))
    link(n["carl"], n["dart"], "knows", stated_confidence=Decimal("0.1"))
    link(n["dart"], n["eve"], "knows")
    link(n["eve"], n["ada"], "knows")
    link(n["carl"], n["fay"], "friend", bidirectional=True)
    link(n["gil"], n["hal"], "knows")
    chain = [NodeFactory(label=f"x{i}", name=f"X{i}") for i in range(7)]
    for left, right in zip(chain, chain[1:]):
        link(left, right, "next")
    nodes.update({f"x{i}": node for i, node in enumerate(chain)})
    return nodes


def find(graph, start, end, **options):
    return paths_find(query=PathQuery(from_id=graph[start].node_id, to_id=graph[end].node_id, **options))


def names(graph, result) -> list[list[str]]:
    by_id = {node.node_id: name for name, node in graph.items()}
    return [[by_id[node_id] for node_id in path.node_ids] for path in result.paths]


def confidence(source, target, kind) -> Decimal:
    return Relationship.objects.get(source_node=source, target_node=target, relationship_type=kind).confidence_score


# --- The selector ------------------------------------------------------------------------------------------------

def test_a_single_shortest_path(graph):
    result = find(graph, "basic", "eve", direction="out")  # either way, basic ← ada ← eve is a second one
    assert result.found and result.length == 2 and result.path_count == 1
    assert names(graph, result) == [["basic", "dart", "eve"]]
    hop = result.paths[0].hops[0]
    assert (hop.from_id, hop.to_id) == (graph["basic"].node_id, graph["dart"].node_id)
    assert [edge.relationship_type for edge in hop.relationships] == ["influenced"]


def test_two_equal_shortest_paths_are_both_returned_strongest_first(graph):
    result = find(graph, "ada", "dart")
    assert result.length == 2 and result.path_count == 3  # via basic, via carl, and via eve (dart → eve → ada)
    found = names(graph, result)
    assert sorted(found) == [["ada", "basic", "dart"], ["ada", "carl", "dart"], ["ada", "eve", "dart"]]
    assert found[0] == ["ada", "basic", "dart"]  # the strongest (high stated confidence) first
    assert result.paths[0].strength >= result.paths[1].strength >= result.paths[2].strength
    assert sorted(names(graph, find(graph, "ada", "dart", direction="out"))) == [
        ["ada", "basic", "dart"], ["ada", "carl", "dart"]]


def test_parallel_relationships_of_different_types_share_a_hop(graph):
    result = find(graph, "ada", "basic")
    assert result.length == 1 and result.path_count == 1
    kinds = [edge.relationship_type for edge in result.paths[0].hops[0].relationships]
    assert kinds == ["designed", "influenced"]  # the stronger first
    assert {edge.relationship_type for edge in result.subgraph.edges} == {"designed", "influenced"}


def test_subgraph_holds_the_paths(graph):
    result = find(graph, "ada", "dart")
    assert result.subgraph.centre_id == graph["ada"].node_id
    shown = {node.node_id: node.depth for node in result.subgraph.nodes}
    assert shown[graph["ada"].node_id] == 0 and shown[graph["dart"].node_id] == 2
    assert shown[graph["basic"].node_id] == 1
    assert result.subgraph.parameters["max_depth"] == 4


def test_from_a_node_to_itself_is_a_zero_hop_path(graph, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        result = find(graph, "ada", "ada")
    assert result.found and result.length == 0 and names(graph, result) == [["ada"]]
    assert result.paths[0].hops == ()


def test_a_cycle_does_not_loop(graph):
    # ada → basic → dart → eve → ada: from basic, ada is 1 hop back the stored way, 3 hops along the cycle.
    assert names(graph, find(graph, "basic", "ada")) == [["basic", "ada"]]
    assert names(graph, find(graph, "basic", "ada", direction="out")) == [["basic", "dart", "eve", "ada"]]


def test_direction_out_refuses_a_reverse_edge(graph):
    assert find(graph, "dart", "basic").length == 1
    result = find(graph, "dart", "basic", direction="out")  # dart → eve → ada → basic
    assert names(graph, result) == [["dart", "eve", "ada", "basic"]]
    assert not find(graph, "hal", "gil", direction="out").found
    assert find(graph, "hal", "gil").found


def test_direction_out_walks_a_bidirectional_edge_backwards(graph):
    result = find(graph, "fay", "carl", direction="out")
    assert names(graph, result) == [["fay", "carl"]]
    edge = result.paths[0].hops[0].relationships[0]
    assert edge.bidirectional and edge.source_id == graph["carl"].node_id


def test_type_filter_changes_the_answer(graph):
    assert find(graph, "ada", "dart", types=("designed", "influenced")).path_count == 1
    assert sorted(names(graph, find(graph, "ada", "dart", types=("mentored", "knows")))) == [
        ["ada", "carl", "dart"], ["ada", "eve", "dart"]]
    assert not find(graph, "ada", "dart", types=("no_such_type",)).found  # unknown type: no path, no error


def test_confidence_filter_changes_the_answer(graph):
    low = confidence(graph["ada"], graph["carl"], "mentored")
    high = confidence(graph["basic"], graph["dart"], "influenced")
    assert low < high
    threshold = (low + high) / 2
    result = find(graph, "ada", "dart", min_confidence=threshold)
    assert ["ada", "carl", "dart"] not in names(graph, result)
    assert all(edge.confidence >= threshold for path in result.paths for hop in path.hops
               for edge in hop.relationships)
    assert not find(graph, "ada", "dart", min_confidence=Decimal("1")).found


def test_no_path_within_the_depth_is_an_answer(graph):
    result = find(graph, "x0", "x6", max_depth=4)
    assert not result.found and not result.truncated and not result.exhausted
    assert result.depth_searched == 4
    assert find(graph, "x0", "x6", max_depth=6).length == 6


def test_no_path_at_all_is_exhausted(graph):
    result = find(graph, "ada", "gil")
    assert not result.found and result.exhausted and not result.truncated


def test_a_level_over_the_cap_is_reported_as_truncated(graph, monkeypatch):
    hub = NodeFactory(label="hub", name="Hub")
    for index in range(5):
        link(hub, NodeFactory(label=f"spoke{index}"), "spoke")
    far = NodeFactory(label="far", name="Far")
    link(far, NodeFactory(label="near_far"), "knows")
    link(NodeFactory(label="other_far"), far, "knows")
    monkeypatch.setattr(paths_module, "EDGES_PER_LEVEL", 3)
    result = paths_find(query=PathQuery(from_id=hub.node_id, to_id=far.node_id))
    # "far" (2 edges) grows first, then "hub": its 5 spokes are more than 3 relationships per level.
    assert result.truncated and result.truncated_side == "from" and not result.found and not result.exhausted
    assert result.level_cap == 3 and result.edges_read <= 2 + 3
    # Without the cap: a definite answer.
    monkeypatch.setattr(paths_module, "EDGES_PER_LEVEL", 20_000)
    result = paths_find(query=PathQuery(from_id=hub.node_id, to_id=far.node_id))
    assert not result.truncated and result.exhausted


def test_a_path_found_in_a_cut_level_is_still_shortest(graph, monkeypatch):
    monkeypatch.setattr(paths_module, "EDGES_PER_LEVEL", 1)
    result = find(graph, "gil", "hal")
    assert result.found and result.length == 1 and not result.truncated  # one edge: exactly the cap
    result = find(graph, "ada", "basic")  # ada has 4 relationships: the first level is cut
    assert result.truncated
    if result.found:
        assert result.length == 1


def test_queries_are_bounded_by_the_depth(graph, django_assert_max_num_queries):
    # + 1 in each: review_inferred_visible's configuration check, which tests make on every read (in production
    # at most once a second per process).
    for depth in (1, 4, 6):
        with django_assert_max_num_queries(depth + 3):
            find(graph, "x0", "x6", max_depth=depth)
    with django_assert_max_num_queries(7):
        find(graph, "ada", "dart")


def test_the_level_query_uses_parameters_and_the_indexes(graph):
    with connection.cursor() as cursor:
        side = paths_module._Side("from", graph["ada"].node_id, forward=True)
        sql, params = paths_module._level_sql(PathQuery(from_id=1, to_id=2, types=("x'); DROP",)), side)
        assert "DROP" not in sql and ("x'); DROP",) not in params
        cursor.execute(sql, params)
        assert cursor.fetchall() == []


@pytest.mark.parametrize(("options", "message"), [
    ({"max_depth": 0}, "maximum depth"), ({"max_depth": 7}, "maximum depth"),
    ({"direction": "sideways"}, "direction"), ({"min_confidence": Decimal("1.5")}, "minimum confidence"),
    ({"types": tuple(f"t{i}" for i in range(21))}, "at most 20"),
])
def test_the_selector_refuses_a_query_out_of_range(graph, options, message):
    with pytest.raises(GraphError) as excinfo:
        find(graph, "ada", "dart", **options)
    assert excinfo.value.code == EXPLORE_BAD_PARAMETER and message in excinfo.value.message


def test_an_unknown_end_is_not_found(graph):
    with pytest.raises(GraphNotFound) as excinfo:
        paths_find(query=PathQuery(from_id=graph["ada"].node_id, to_id=999_999_999))
    assert excinfo.value.code == EXPLORE_UNKNOWN_NODE and excinfo.value.http_status == 404


# --- The page ------------------------------------------------------------------------------------------------------

@pytest.fixture
def curator(client, user):
    client.force_login(user)
    return client


def test_login_required(client):
    response = client.get(PATHS, {"from": "Ada", "to": "Dart"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_empty_form_is_a_page(curator, graph):
    response = curator.get(PATHS)
    content = response.content.decode()
    assert response.status_code == 200 and reverse("paths") == PATHS
    assert 'id="paths-form"' in content and "paths-heading" not in content and "errorlist" not in content
    assert f'<a href="{PATHS}" aria-current="page">Paths</a>' in content
    assert 'value="designed"' in content  # the known types are offered


def test_a_link_with_one_end_is_a_page_without_refusal(curator, graph):
    response = curator.get(PATHS, {"from": graph["ada"].node_id})
    assert response.status_code == 200 and "errorlist" not in response.content.decode()


def test_the_page_shows_the_paths(curator, graph):
    response = curator.get(PATHS, {"from": "ada", "to": str(graph["dart"].node_id)})
    content = response.content.decode()
    assert response.status_code == 200
    assert "3 shortest paths of 2 hops" in content
    assert reverse("node_detail", kwargs={"node_id": graph["basic"].node_id}) in content
    assert "Ada designed Basic" in content and "Carl knows Dart" in content
    assert "Eve knows Ada" in content and "reverse" in content  # ada ← eve, walked against its direction
    assert response.context["result"].subgraph.nodes


def test_the_page_with_filters(curator, graph):
    response = curator.get(PATHS, {"from": "Ada", "to": "Dart", "type": ["designed", "influenced"],
                                   "direction": "out", "max_depth": "3", "min_confidence": "0"})
    content = response.content.decode()
    assert response.status_code == 200 and "1 shortest path of 2 hops" in content
    assert response.context["result"].query.types == ("designed", "influenced")


def test_no_path_is_a_200_answer(curator, graph):
    response = curator.get(PATHS, {"from": "X0", "to": "X6", "max_depth": "4"})
    content = response.content.decode()
    assert response.status_code == 200 and "No path within 4 hops" in content
    assert "Search up to 5 hops" in content and "max_depth=5" in content


def test_no_path_at_all_is_said_so(curator, graph):
    response = curator.get(PATHS, {"from": "Ada", "to": "Gil"})
    assert response.status_code == 200 and "No path at any length" in response.content.decode()


def test_a_cut_search_says_so(curator, graph, monkeypatch):
    monkeypatch.setattr(paths_module, "EDGES_PER_LEVEL", 1)
    response = curator.get(PATHS, {"from": "X0", "to": "Ada", "max_depth": "6"})
    content = response.content.decode()
    assert response.status_code == 200
    assert "The search stopped at 2 hops" in content and "a path may exist beyond it" in content
    assert "No path within" not in content and "No path at any length" not in content


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"max_depth": "99"}, "max_depth",
     "RG-EXPLORE-001: the maximum depth must be a whole number from 1 to 6, not “99”"),
    ({"max_depth": "-1"}, "max_depth", "not “-1”"),
    ({"max_depth": "abc"}, "max_depth", "not “abc”"),
    ({"max_depth": "0"}, "max_depth", "not “0”"),
    ({"min_confidence": "1.5"}, "min_confidence",
     "RG-EXPLORE-001: the minimum confidence must be a number from 0 to 1, not “1.5”"),
    ({"min_confidence": "high"}, "min_confidence", "not “high”"),
    ({"direction": "up"}, "direction", "RG-EXPLORE-001: the direction must be both or out"),
    ({"to": ""}, "to", "RG-EXPLORE-001: give the node to reach"),
])
def test_bad_parameters_are_400_beside_the_field(curator, graph, params, field, message):
    response = curator.get(PATHS, {"from": "Ada", "to": "Dart", **params})
    assert response.status_code == 400
    form = response.context["form"]
    assert any(message in error for error in form.errors[field])
    assert message in response.content.decode()
    assert response.context["result"] is None


def test_too_many_types_is_400(curator, graph):
    response = curator.get(PATHS, {"from": "Ada", "to": "Dart", "type": [f"t{i}" for i in range(21)]})
    assert response.status_code == 400 and "at most 20 relationship types" in str(response.context["form"].errors)


def test_an_unknown_type_is_no_path(curator, graph):
    response = curator.get(PATHS, {"from": "Ada", "to": "Dart", "type": "nonexistent"})
    assert response.status_code == 200 and "No path" in response.content.decode()


def test_an_unknown_node_is_404(curator, graph):
    response = curator.get(PATHS, {"from": "Ad", "to": "999999999"})
    content = response.content.decode()
    assert response.status_code == 404
    assert "RG-EXPLORE-002: no node has the id or name “Ad”" in content
    assert "Nodes with a name like that" in content and f"from={graph['ada'].node_id}" in content
    assert response.context["form"].errors["to"]


def test_an_ambiguous_name_lists_its_nodes(curator, graph):
    twin = NodeFactory(label="ada_two", name="Ada")
    response = curator.get(PATHS, {"from": "ada", "to": "Dart"})
    content = response.content.decode()
    assert response.status_code == 200 and response.context["result"] is None
    assert "2 nodes are named “ada”" in content
    assert f"from={twin.node_id}" in content and f"from={graph['ada'].node_id}" in content


def test_a_node_without_an_embedding_is_fine(curator, graph):
    assert graph["ada"].embedding is None
    assert curator.get(PATHS, {"from": "Ada", "to": "Basic"}).status_code == 200


def test_the_page_draws_the_paths_as_a_picture(curator, graph):
    import xml.etree.ElementTree as ET

    response = curator.get(PATHS, {"from": "ada", "to": "dart"})
    subgraph = response.context["result"].subgraph
    svg = ET.fromstring(str(response.context["svg"]))
    links = {a.get("href") for a in svg.iter("{http://www.w3.org/2000/svg}a")}
    assert len(subgraph.nodes) == 5  # ada, dart and the three middles: basic, carl, eve
    assert links == {reverse("node_detail", args=[node.node_id]) for node in subgraph.nodes}
    one_hop = curator.get(PATHS, {"from": "gil", "to": "hal"})
    assert one_hop.context["result"].found and "svg" not in one_hop.context  # two nodes: the chain says it all
