"""The neighbourhood page /nodes/<id>/neighbourhood/: the picture, the table, the exports, the refusals."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import networkx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import NodeFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


def url(node, query: str = "") -> str:
    return reverse("node_neighbourhood", args=[node.pk]) + (f"?{query}" if query else "")


@pytest.fixture
def graph():
    """Ada at the centre: two manual links and an inferred one; Babbage links on to the engine (depth 2)."""
    ada = NodeFactory(label="ada", name="Ada <Lovelace>", node_type="person")
    babbage = NodeFactory(label="babbage", name="Charles Babbage", node_type="person")
    engine = NodeFactory(label="engine", name="Analytical Engine", node_type="machine")
    notes = NodeFactory(label="notes", name="Notes & sketches", node_type="work")
    somerville = NodeFactory(label="somerville", name="Mary Somerville", node_type="person")
    RelationshipFactory(source_node=ada, target_node=babbage, relationship_type="worked_with",
                        strength=Decimal("0.9"), stated_confidence=Decimal("0.9"))
    RelationshipFactory(source_node=ada, target_node=notes, relationship_type="wrote")
    RelationshipFactory(source_node=somerville, target_node=ada, relationship_type="shares_attributes",
                        inferred=True, inference_confidence=Decimal("0.6"))
    RelationshipFactory(source_node=babbage, target_node=engine, relationship_type="designed")
    return {"ada": ada, "babbage": babbage, "engine": engine, "notes": notes, "somerville": somerville}


def test_anonymous_visitors_are_sent_to_log_in(client, graph):
    response = client.get(url(graph["ada"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_picture_and_the_table_show_the_same_subgraph(client, user, graph):
    client.force_login(user)
    response = client.get(url(graph["ada"], "depth=2"))
    assert response.status_code == 200
    subgraph = response.context["subgraph"]
    assert {node.node_id for node in subgraph.nodes} == {node.pk for node in graph.values()}
    html = response.content.decode()
    svg = ET.fromstring(str(response.context["svg"]))
    links = {a.get("href") for a in svg.iter(f"{SVG}a")}
    # Each node in the picture is a link that re-centres the neighbourhood on it, keeping the options.
    for node in graph.values():
        assert f"{url(node)}?depth=2" in links
        assert f'<tr data-node-id="{node.pk}">' in html
    assert "Ada &lt;Lovelace&gt;" in html and "<Lovelace>" not in html
    assert "Notes &amp; sketches" in html
    assert html.count("badge--inferred") == 1  # the inferred edge in the table
    assert [entry.node_type for entry in response.context["legend"]][0] == "person"


def test_shallow_depth_marks_nodes_with_unshown_edges(client, user, graph):
    client.force_login(user)
    response = client.get(url(graph["ada"], "depth=1"))
    subgraph = response.context["subgraph"]
    assert graph["engine"].pk not in {node.node_id for node in subgraph.nodes}
    assert subgraph.node(graph["babbage"].pk).hidden_edges == 1
    assert "1 more" in response.content.decode()


def test_the_cap_is_reported(client, user, graph):
    client.force_login(user)
    response = client.get(url(graph["ada"], "depth=2&limit=2"))
    assert response.status_code == 200
    assert len(response.context["subgraph"].nodes) == 2
    text = response.content.decode()
    assert "2 more nodes left out" in text and "by the limit of 2" in text


def test_filters_are_applied_and_kept_in_the_links(client, user, graph):
    client.force_login(user)
    response = client.get(url(graph["ada"], "depth=2&types=worked_with,designed&min_strength=0.5"))
    subgraph = response.context["subgraph"]
    assert {edge.relationship_type for edge in subgraph.edges} <= {"worked_with", "designed"}
    assert graph["notes"].pk not in {node.node_id for node in subgraph.nodes}
    repeated = client.get(url(graph["ada"], "depth=2&types=worked_with&types=designed&min_strength=0.5"))
    assert {node.node_id for node in repeated.context["subgraph"].nodes} == {
        node.node_id for node in subgraph.nodes}


def test_json_export_matches_the_table(client, user, graph):
    client.force_login(user)
    page = client.get(url(graph["ada"], "depth=2")).context["subgraph"]
    response = client.get(url(graph["ada"], "depth=2&format=json"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    data = json.loads(response.content)
    assert {node["id"] for node in data["nodes"]} == {node.node_id for node in page.nodes}
    assert {(edge["source"], edge["target"], edge["relationship_type"]) for edge in data["edges"]} == {
        (edge.source_id, edge.target_id, edge.relationship_type) for edge in page.edges}
    assert data["centre"] == graph["ada"].pk


def test_graphml_export_parses_and_matches_the_table(client, user, graph):
    client.force_login(user)
    page = client.get(url(graph["ada"], "depth=2")).context["subgraph"]
    response = client.get(url(graph["ada"], "depth=2&format=graphml"))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"] and ".graphml" in response["Content-Disposition"]
    parsed = networkx.read_graphml(io.BytesIO(response.content))
    assert parsed.is_directed()
    assert len(parsed.nodes) == len(page.nodes) and len(parsed.edges) == len(page.edges)
    names = sorted(str(attributes.get("name") or attributes.get("label")) for _, attributes in parsed.nodes(data=True))
    assert names == sorted(node.name for node in page.nodes)
    types = {str(attributes.get("relationship_type")) for *_, attributes in parsed.edges(data=True)}
    assert types == {edge.relationship_type for edge in page.edges}


@pytest.mark.parametrize(("query", "needle"), [
    ("depth=99", "depth"), ("depth=0", "depth"), ("depth=abc", "depth"), ("limit=-1", "limit"),
    ("limit=501", "limit"), ("limit=1e3", "limit"), ("min_confidence=1.5", "minimum confidence"),
    ("min_strength=nan", "minimum strength"), ("direction=sideways", "direction"), ("format=pdf", "format"),
    ("types=" + "x" * 101, "relationship type"),
])
def test_bad_parameters_are_a_400_that_names_them(client, user, graph, query, needle):
    client.force_login(user)
    response = client.get(url(graph["ada"], query))
    assert response.status_code == 400
    text = response.content.decode()
    assert "RG-EXPLORE-001" in text and needle in text
    as_json = client.get(url(graph["ada"], query + "&format=json"))
    if "format=pdf" not in query:
        assert as_json.status_code == 400 and json.loads(as_json.content)["error"]["code"] == "RG-EXPLORE-001"


def test_unknown_node_is_a_404(client, user):
    client.force_login(user)
    response = client.get(reverse("node_neighbourhood", args=[987654321]))
    assert response.status_code == 404 and "RG-EXPLORE-002" in response.content.decode()
    as_json = client.get(reverse("node_neighbourhood", args=[987654321]) + "?format=json")
    assert as_json.status_code == 404 and json.loads(as_json.content)["error"]["code"] == "RG-EXPLORE-002"
    bad_and_missing = client.get(reverse("node_neighbourhood", args=[987654321]) + "?depth=99")
    assert bad_and_missing.status_code in (400, 404)


def test_query_count_does_not_grow_with_the_neighbourhood(client, user, graph):
    client.force_login(user)
    client.get(url(graph["ada"]))
    with CaptureQueriesContext(connection) as small:
        client.get(url(graph["ada"], "depth=3"))
    for i in range(40):
        leaf = NodeFactory(label=f"more_{i}", node_type=f"kind_{i % 7}")
        RelationshipFactory(source_node=graph["engine"], target_node=leaf, relationship_type=f"part_{i % 3}")
    with CaptureQueriesContext(connection) as big:
        response = client.get(url(graph["ada"], "depth=3"))
    assert len(response.context["subgraph"].nodes) == 45
    assert len(big.captured_queries) == len(small.captured_queries)
