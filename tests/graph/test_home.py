"""The dashboard's counts and node types (``/``): what the graph holds, counted cheaply (exact up to a cap,
estimated above it). The dashboard's other sections: tests/graph/test_dashboard.py."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import NoReverseMatch, reverse

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

# Session + user, the seven counts, the confidence distribution, the queue (six), the views (four), the vector
# indexes (eight), the embedding queue (two), the configuration (four), and a staff user's permissions: about
# forty, whatever the table sizes (tests/graph/test_dashboard.py checks that it does not grow with the graph).
MAX_QUERIES = 45


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
    tile = content[content.index(f'id="count-{key}"'):]
    cell = tile[tile.index('class="count'):]
    return cell[cell.index(">") + 1: cell.index("</span>")]


@pytest.mark.django_db
def test_overview_counts(graph):
    overview = graph_overview()
    assert (overview.nodes.value, overview.nodes.exact) == (4, True)
    assert overview.node_attributes.value == 2
    assert overview.relationships.value == 3
    assert (overview.manual_relationships.value, overview.inferred_relationships.value) == (2, 1)
    assert overview.external_resources.value == 1
    assert overview.references.value == 1
    assert not overview.any_estimated


@pytest.mark.django_db
def test_home_shows_counts(client, user, graph, django_assert_max_num_queries):
    client.force_login(user)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    content = response.content.decode()
    expected = {
        "nodes": "4", "node_attributes": "2", "relationships": "3", "manual_relationships": "2",
        "inferred_relationships": "1", "external_resources": "1", "references": "1",
    }
    for key, value in expected.items():
        assert _count_cell(content, key) == value, key
    assert "≈" not in content.split("Live counts, exact up to")[0]


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
    assert overview.references.exact and overview.inferred_relationships.exact
    content = response.content.decode()
    assert _count_cell(content, "nodes").startswith("≈")
    assert _count_cell(content, "relationships").startswith("≈")
    assert _count_cell(content, "references") == "1"
    assert _count_cell(content, "inferred_relationships") == "1"
    assert "count--estimate" in content
    assert "PostgreSQL's estimate: more than 2 rows" in content


@pytest.mark.django_db
def test_filtered_counts_above_the_cap_are_estimates(graph, monkeypatch):
    monkeypatch.setattr(overview_module, "COUNT_CAP", 1)
    overview = graph_overview()
    assert not overview.manual_relationships.exact and overview.manual_relationships.value >= 2
    assert str(overview.manual_relationships).startswith("≈")
    assert overview.inferred_relationships.exact and overview.inferred_relationships.value == 1


@pytest.mark.django_db
def test_home_never_counts_a_whole_graph_table(client, user, graph, monkeypatch):
    """Above the cap, every count of a graph table reads at most cap + 1 rows (the queue's per-worker count of
    items in processing is bounded by the workers' batches, not by the graph)."""
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(overview_module, "COUNT_CAP", 2)
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("home"))
    for query in queries.captured_queries:
        sql = query["sql"].upper()
        if "COUNT(" in sql and "WHERE STATUS = 'PROCESSING'" not in sql:
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

    client.force_login(superuser)
    response = client.get(reverse("home"))
    content = response.content.decode()
    assert f'href="{reverse("admin:index")}"' in content
    for name in ["admin:graph_node_changelist", "admin:graph_relationship_changelist",
                 "admin:config_admin_systemconfig_changelist"]:
        url = _admin_url(name)
        if url is not None:
            assert f'href="{url}"' in content, name
    relationships = reverse("admin:graph_relationship_changelist")
    assert f'href="{relationships}?auto_managed__exact=1"' in content
    assert f'href="{relationships}?auto_managed__exact=0"' in content


@pytest.mark.django_db
def test_staff_without_permissions_gets_no_changelist_links(client, staff_user, graph):
    client.force_login(staff_user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert all(row.admin_url is None for row in response.context["counts"])
    assert all(row.admin_url is None for row in response.context["relationship_parts"])
    content = response.content.decode()
    main = content[content.index('<main'):content.index('</main>')]
    assert "/admin/" not in main


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_node_types_link_to_the_filtered_node_list_for_staff(client, superuser, graph):
    _refresh_connectivity()
    client.force_login(superuser)
    content = client.get(reverse("home")).content.decode()
    assert f'<a href="{reverse("admin:graph_node_changelist")}?node_type=person">person</a>' in content
    assert 'aria-labelledby="node-types-title node-types-desc"' in content  # the chart of the types
