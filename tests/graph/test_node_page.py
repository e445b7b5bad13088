"""The node page /nodes/<id>/: what a curator reads about one node, its links back to the admin, its limits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from graph.models import Relationship
from graph.selectors import node_page as node_page_module
from tests.factories import (
    ExternalResourceFactory,
    NodeAttributeFactory,
    NodeFactory,
    NodeResourceLinkFactory,
    ReferenceFactory,
    RelationshipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def url(node, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return reverse("node_detail", args=[node.pk]) + (f"?{query}" if query else "")


@pytest.fixture
def curated():
    """Ada, a person under science.people, with attributes, links both ways (one inferred with its reasons), a
    resource, references and an embedded look-alike."""
    science = NodeFactory(label="science", name="Science", node_type="field", embedded=True)
    people = NodeFactory(parent=science, label="people", name="People of science", node_type="group", embedded=True)
    ada = NodeFactory(parent=people, label="ada", name="Ada Lovelace", node_type="person", embedded=True,
                      metadata={"born": 1815, "note": "<b>not bold</b>"})
    child = NodeFactory(parent=ada, label="notes", name="Notes on the engine", node_type="work")
    NodeAttributeFactory(node=ada, attribute_type="fact", attribute_key="born", attribute_value="1815",
                         confidence=Decimal("0.9"), source_reliability=Decimal("0.8"))
    NodeAttributeFactory(node=ada, attribute_type="fact", attribute_key="field", attribute_value="mathematics")
    near = list(ada.embedding)
    near[0] += 0.05  # close to Ada's vector: similar above the configured threshold
    babbage = NodeFactory(label="babbage", name="Charles Babbage", node_type="person", embedding=near)
    RelationshipFactory(source_node=ada, target_node=babbage, relationship_type="worked_with")
    inferred = RelationshipFactory(
        source_node=babbage, target_node=ada, relationship_type="shares_attributes", inferred=True,
        shared_attributes_count=1, inference_confidence=Decimal("0.61"),
        metadata={"inference": {"score": 0.61, "rule": 1, "at": "2026-12-01T10:00:00+00:00", "nodes": 5,
                                "max_value_nodes": 3, "rarity_weight": 1.0, "too_common": []}})
    inferred.inference_reasons.create(source_attribute_id=1, target_attribute_id=2, attribute_type="fact",
                                      attribute_key="field", attribute_value="mathematics", carriers=2,
                                      source_evidence=0.5, target_evidence=0.5, contribution=0.61, rule_version=1)
    resource = ExternalResourceFactory(url="https://example.org/ada", title="Ada's biography")
    NodeResourceLinkFactory(node=ada, resource=resource, link_type="biography", context="the standard life")
    ReferenceFactory(source_node=babbage, target_node=ada, reference_type="mentions", page_number=42,
                     section="On the engine", quote="the enchantress of numbers")
    ReferenceFactory(source_node=ada, target_resource=resource, reference_type="cites")
    return {"science": science, "people": people, "ada": ada, "child": child, "babbage": babbage,
            "inferred": inferred}


def test_anonymous_visitors_are_sent_to_log_in(client, curated):
    response = client.get(url(curated["ada"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_page_shows_the_node_and_everything_around_it(client, user, curated):
    client.force_login(user)
    response = client.get(url(curated["ada"]))
    assert response.status_code == 200
    page = response.context["page"]
    html = response.content.decode()
    assert "<h1>Ada Lovelace</h1>" in html and "person" in html
    # The path as breadcrumbs of ancestors, each a link to its node page.
    assert [label for label, _ in response.context["breadcrumbs"]] == [
        "Dashboard", "Science", "People of science", "Ada Lovelace"]
    assert f'href="{reverse("node_detail", args=[curated["people"].pk])}"' in html
    assert [child.name for child in page.children] == ["Notes on the engine"]
    # Confidence explained: each attribute's effective confidence (0.9 × 0.8 = 0.72, fresh) and share.
    contributions = {item.attribute.attribute_key: item for item in page.confidence.contributions}
    assert contributions["born"].effective == pytest.approx(0.72, abs=1e-3)
    assert "0.720" in html and page.confidence.attribute_count == 2
    # Relationships both ways; the inferred one says which shared value it rests on.
    assert [row.other.name for row in page.outgoing.rows] == ["Charles Babbage"]
    assert [row.other.name for row in page.incoming.rows] == ["Charles Babbage"]
    assert "because both have" in html and "field = mathematics" in html
    # Resources and references, with page, section and quote.
    assert "Ada&#x27;s biography" in html and "the standard life" in html
    assert "p. 42" in html and "On the engine" in html and "the enchantress of numbers" in html
    # Metadata as JSON text (escaped), and similar nodes by embedding.
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert {hit.id for hit in page.similar} >= {curated["babbage"].pk}
    assert curated["ada"].pk not in {hit.id for hit in page.similar}


def test_admin_links_follow_the_permissions(client, curated):
    viewer = UserFactory(email="viewer@example.com", staff=True,
                         permissions=["graph.view_node", "graph.view_relationship"])
    client.force_login(viewer)
    html = client.get(url(curated["ada"])).content.decode()
    change = reverse("admin:graph_node_change", args=[curated["ada"].pk])
    assert f'href="{change}">Open in the admin<' in html and ">Edit<" not in html
    assert reverse("admin:graph_relationship_change", args=[curated["inferred"].pk]) in html
    assert "/admin/graph/reference/" not in html  # no permission on references: no link

    editor = UserFactory(email="editor@example.com", staff=True,
                         permissions=["graph.change_node", "graph.change_relationship", "graph.view_relationship"])
    client.force_login(editor)
    html = client.get(url(curated["ada"])).content.decode()
    assert f'href="{change}">Edit<' in html

    plain = UserFactory(email="reader@example.com")
    client.force_login(plain)
    html = client.get(url(curated["ada"])).content.decode()
    assert "/admin/" not in html


def test_unknown_node_is_a_404_naming_it(client, user):
    client.force_login(user)
    response = client.get(reverse("node_detail", args=[987654321]))
    assert response.status_code == 404
    assert "RG-EXPLORE-002" in response.content.decode() and "987654321" in response.content.decode()
    assert client.get("/nodes/abc/").status_code == 404


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1.5", "99999999", "\uff11", " "])
def test_a_bad_page_number_is_a_400_naming_it(client, user, curated, bad):
    client.force_login(user)
    response = client.get(url(curated["ada"], out_page=bad))
    assert response.status_code == 400
    text = response.content.decode()
    assert "RG-EXPLORE-001" in text and "out_page" in text


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setattr(node_page_module, "RELATIONSHIPS_PER_PAGE", 10)
    monkeypatch.setattr(node_page_module, "RELATIONSHIP_COUNT_CAP", 50)
    centre = NodeFactory(label="hub", name="Hub", embedded=True)
    spokes = [NodeFactory(label=f"hub_spoke_{i}") for i in range(60)]
    Relationship.objects.bulk_create(
        Relationship(source_node=centre, target_node=spoke, relationship_type="links",
                     strength=Decimal(i + 1) / 100, stated_confidence=Decimal("0.5"))
        for i, spoke in enumerate(spokes))
    return centre, spokes


def test_a_hub_is_paged_strongest_first_with_a_capped_count(client, user, hub):
    centre, spokes = hub
    client.force_login(user)
    first = client.get(url(centre)).context["page"].outgoing
    assert [row.other.pk for row in first.rows] == [spoke.pk for spoke in reversed(spokes[-10:])]
    assert str(first.total) == "50+" and first.has_next and not first.has_previous
    second = client.get(url(centre, out_page=2))
    page = second.context["page"].outgoing
    assert [row.other.pk for row in page.rows] == [spoke.pk for spoke in reversed(spokes[-20:-10])]
    assert "11–20 of 50+" in second.content.decode()
    last = client.get(url(centre, out_page=6)).context["page"].outgoing
    assert len(last.rows) == 10 and not last.has_next


def test_query_count_is_the_same_for_a_hub_and_a_leaf(client, user, hub, curated):
    centre, spokes = hub
    client.force_login(user)
    leaf_node = NodeFactory(label="embedded_leaf", embedded=True)
    client.get(url(leaf_node))  # warm the session and the configuration cache
    with CaptureQueriesContext(connection) as leaf:
        assert client.get(url(leaf_node)).status_code == 200
    with CaptureQueriesContext(connection) as big:
        assert client.get(url(centre)).status_code == 200
    with CaptureQueriesContext(connection) as rich:
        assert client.get(url(curated["ada"])).status_code == 200
    assert len(big.captured_queries) <= len(leaf.captured_queries) + 2
    # Tests check the configuration version on every read (KGSITE_CONFIG_CHECK_SECONDS = 0): not counted here.
    real = [query["sql"] for query in rich.captured_queries
            if "config_version" not in query["sql"] and "SAVEPOINT" not in query["sql"]]
    assert len(real) <= 24, "\n".join(sql[:150] for sql in real)
