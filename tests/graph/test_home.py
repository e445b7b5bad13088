"""The home page: what the graph holds, counted cheaply (exact up to a cap, estimated above it)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import NoReverseMatch, reverse

from config_admin.models import SystemConfig
from graph.selectors import overview as overview_module
from graph.selectors.overview import graph_overview
from tests.factories import (
    ExternalResourceFactory,
    InferenceQueueItemFactory,
    NodeAttributeFactory,
    NodeFactory,
    ReferenceFactory,
    RelationshipFactory,
)

# Session + user, the seven counts, the filtered estimate checks, the view's populated flag and its rows, and
# the staff user's permissions: well under this, whatever the table sizes.
MAX_QUERIES = 16


@pytest.fixture
def graph(user):
    """Three people and a topic: two attributes, three relationships (one inferred), a citation, five queue items
    (four pending: creating a node queues it, and the factory's pending rows are those; one completed)."""
    nodes = [NodeFactory(node_type="person", created_by=user) for _ in range(3)]
    nodes.append(NodeFactory(label="optics", name="Optics", node_type="topic", created_by=user))
    NodeAttributeFactory(node=nodes[0], attribute_key="born", attribute_value="1815")
    NodeAttributeFactory(node=nodes[1], attribute_key="born", attribute_value="1791")
    RelationshipFactory(source_node=nodes[0], target_node=nodes[1], relationship_type="knows")
    RelationshipFactory(source_node=nodes[1], target_node=nodes[2], relationship_type="similar_to", inferred=True)
    RelationshipFactory(source_node=nodes[2], target_node=nodes[3], relationship_type="studies")
    ReferenceFactory(source_node=nodes[3], target_resource=ExternalResourceFactory())
    InferenceQueueItemFactory(node=nodes[0])
    InferenceQueueItemFactory(node=nodes[1])
    InferenceQueueItemFactory(node=nodes[2], status="completed")
    return nodes


def _refresh_connectivity():
    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW mv_graph_connectivity_stats")


def _count_cell(content: str, key: str) -> str:
    row = content[content.index(f'id="count-{key}"'):]
    row = row[: row.index("</tr>")]
    cell = row[row.index('class="count'):]
    return cell[cell.index(">") + 1: cell.index("</span>")]


@pytest.mark.django_db
def test_overview_counts(graph):
    overview = graph_overview()
    assert (overview.nodes.value, overview.nodes.exact) == (4, True)
    assert overview.node_attributes.value == 2
    assert overview.relationships.value == 3
    assert overview.auto_managed_relationships.value == 1
    assert overview.external_resources.value == 1
    assert overview.references.value == 1
    assert overview.pending_inference.value == 4
    assert overview.config_parameters.value == SystemConfig.objects.count()
    assert not overview.any_estimated


@pytest.mark.django_db
def test_home_shows_counts(client, user, graph, django_assert_max_num_queries):
    client.force_login(user)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    content = response.content.decode()
    expected = {
        "nodes": "4", "node_attributes": "2", "relationships": "3", "external_resources": "1", "references": "1",
        "pending_inference": "4", "config_parameters": str(SystemConfig.objects.count()),
    }
    for key, value in expected.items():
        assert _count_cell(content, key) == value, key
    assert "1 auto-managed" in content
    assert "≈" not in content.split("Counts up to")[0]


@pytest.mark.django_db
def test_home_says_when_connectivity_view_is_empty(client, user, graph):
    client.force_login(user)
    content = client.get(reverse("home")).content.decode()
    assert "is empty" in content
    assert "after the" in content and "next refresh" in content


@pytest.mark.django_db
def test_home_says_when_connectivity_view_is_not_populated(client, user):
    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW mv_graph_connectivity_stats WITH NO DATA")
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert "have not been\n    populated yet" in response.content.decode()
    assert response.context["overview"].connectivity_populated is False


@pytest.mark.django_db
def test_home_lists_top_node_types(client, user, graph, monkeypatch, django_assert_max_num_queries):
    _refresh_connectivity()
    client.force_login(user)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("home"))
    top = response.context["overview"].top_node_types
    assert [(row.node_type, row.node_count) for row in top] == [("person", 3), ("topic", 1)]
    content = response.content.decode()
    assert "<th scope=\"row\">person</th>" in content
    assert content.index('<th scope="row">person</th>') < content.index('<th scope="row">topic</th>')

    monkeypatch.setattr(overview_module, "TOP_NODE_TYPES", 1)
    overview = graph_overview()
    assert [row.node_type for row in overview.top_node_types] == ["person"]
    assert overview.more_node_types


@pytest.mark.django_db
def test_home_marks_counts_above_the_cap_as_estimates(client, user, graph, monkeypatch,
                                                      django_assert_max_num_queries):
    monkeypatch.setattr(overview_module, "COUNT_CAP", 2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE nodes")
    client.force_login(user)
    with django_assert_max_num_queries(MAX_QUERIES + 4):
        response = client.get(reverse("home"))
    overview = response.context["overview"]
    assert not overview.nodes.exact and overview.nodes.value >= 3
    assert not overview.relationships.exact
    assert overview.references.exact and overview.auto_managed_relationships.exact
    content = response.content.decode()
    assert _count_cell(content, "nodes").startswith("≈")
    assert _count_cell(content, "relationships").startswith("≈")
    assert _count_cell(content, "references") == "1"
    assert "count--estimate" in content


@pytest.mark.django_db
def test_filtered_counts_above_the_cap_are_estimates(graph, monkeypatch):
    monkeypatch.setattr(overview_module, "COUNT_CAP", 1)
    overview = graph_overview()
    assert not overview.pending_inference.exact and overview.pending_inference.value >= 2
    assert str(overview.pending_inference).startswith("≈")
    assert overview.auto_managed_relationships.exact and overview.auto_managed_relationships.value == 1


@pytest.mark.django_db
def test_home_never_counts_a_whole_table(client, user, graph):
    from django.test.utils import CaptureQueriesContext

    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("home"))
    for query in queries.captured_queries:
        sql = query["sql"].upper()
        if "COUNT(" in sql:
            assert "LIMIT" in sql, sql


def _admin_url(name):
    try:
        return reverse(name)
    except NoReverseMatch:  # the model is not registered with the admin (yet)
        return None


@pytest.mark.django_db
def test_admin_links_only_for_staff(client, user, superuser, graph):
    client.force_login(user)
    content = client.get(reverse("home")).content.decode()
    assert "/admin/" not in content
    assert "Browse" not in content

    client.force_login(superuser)
    response = client.get(reverse("home"))
    content = response.content.decode()
    assert f'href="{reverse("admin:index")}"' in content
    for name in ["admin:graph_node_changelist", "admin:graph_relationship_changelist",
                 "admin:config_admin_systemconfig_changelist"]:
        url = _admin_url(name)
        if url is not None:
            assert f'href="{url}"' in content, name


@pytest.mark.django_db
def test_staff_without_permissions_gets_no_changelist_links(client, staff_user, graph):
    client.force_login(staff_user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert all(row.admin_url is None for row in response.context["rows"])
