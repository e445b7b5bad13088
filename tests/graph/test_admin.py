"""The graph admin: every page works, database rules become form errors, big tables are never fully counted."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from graph.models import EmbeddingQueueItem, Node, NodeAttribute, NodeConfidenceCache, Reference, Relationship
from tests.factories import (
    ExternalResourceFactory,
    NodeAttributeFactory,
    NodeFactory,
    ReferenceFactory,
    RelationshipFactory,
)

pytestmark = pytest.mark.django_db

INLINE_PREFIXES = ("attributes", "resource_links", "references_made")


def empty_inlines(**extra):
    data = {}
    for prefix in INLINE_PREFIXES:
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    data.update(extra)
    return data


def node_form(**overrides):
    data = {"name": "Grace Hopper", "node_type": "person", "path": "grace_hopper", "parent_node": "",
            "source": "manual", "confidence_score": "0.5", "metadata": "{}", "embedding": ""}
    data.update(overrides)
    return empty_inlines(**data)


@pytest.fixture
def nodes(superuser):
    """Three root nodes named "node 0" to "node 2"."""
    return [NodeFactory(name=f"node {index}", node_type="concept", created_by=superuser) for index in range(3)]


@pytest.fixture
def populated(nodes):
    """The three nodes; the first has an attribute, an edge to the second and a reference to a resource."""
    first, second, _third = nodes
    NodeAttributeFactory(node=first, attribute_key="colour", attribute_value="red")
    RelationshipFactory(source_node=first, target_node=second, relationship_type="related_to")
    ReferenceFactory(source_node=first, target_resource=ExternalResourceFactory(url="https://example.org/doc"))
    return nodes


def test_every_admin_changelist_and_add_page_renders(admin_client_for, populated):
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = admin_client_for.get(url)
        assert response.status_code == 200, url
        if model_admin.has_add_permission(response.wsgi_request):
            add_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
            assert admin_client_for.get(add_url).status_code == 200, add_url


def test_change_pages_render(admin_client_for, populated):
    node = populated[0]
    for url in (
        reverse("admin:graph_node_change", args=[node.pk]),
        reverse("admin:graph_relationship_change", args=[Relationship.objects.get().pk]),
        reverse("admin:graph_nodeattribute_change", args=[NodeAttribute.objects.get().pk]),
        reverse("admin:graph_reference_change", args=[Reference.objects.get().pk]),
    ):
        assert admin_client_for.get(url).status_code == 200, url


def test_changelist_filters_and_search(admin_client_for, populated):
    url = reverse("admin:graph_node_changelist")
    response = admin_client_for.get(url, {"node_type": "concept"})
    assert response.status_code == 200
    assert "node 0" in response.content.decode()
    response = admin_client_for.get(url, {"q": str(populated[1].pk)})
    assert list(response.context["cl"].result_list) == [populated[1]]
    response = admin_client_for.get(url, {"q": "no such name"})
    assert list(response.context["cl"].result_list) == []
    attributes = admin_client_for.get(reverse("admin:graph_nodeattribute_changelist"), {"q": "red"})
    assert [attribute.attribute_value for attribute in attributes.context["cl"].result_list] == ["red"]
    relationships = admin_client_for.get(
        reverse("admin:graph_relationship_changelist"), {"q": str(populated[1].pk)}
    )
    assert len(relationships.context["cl"].result_list) == 1


def test_node_type_filter_lists_distinct_types(admin_client_for):
    for node_type in ("person", "place", "person", "concept"):
        NodeFactory(name=node_type, node_type=node_type)
    response = admin_client_for.get(reverse("admin:graph_node_changelist"))
    changelist = response.context["cl"]
    choices = [choice["display"] for spec in changelist.filter_specs
               if spec.parameter_name == "node_type" for choice in spec.choices(changelist)]
    assert choices == ["All", "concept", "person", "place"]


def test_changelist_never_counts_a_whole_table(admin_client_for, populated):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client_for.get(reverse("admin:graph_node_changelist"))
    assert response.status_code == 200
    counts = [query["sql"] for query in queries.captured_queries if "COUNT(" in query["sql"].upper()]
    assert counts, "the paginator should count (capped)"
    for sql in counts:
        assert "LIMIT" in sql.upper(), f"uncapped count: {sql}"


def test_foreign_keys_to_big_tables_are_not_selects(admin_client_for, populated):
    html = admin_client_for.get(reverse("admin:graph_relationship_add")).content.decode()
    for name in ("source_node", "target_node"):
        select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
        assert select is not None
        assert "admin-autocomplete" in select.group(0)
        assert "node 2" not in select.group(1)  # no option per node


def test_add_node_sets_created_by_on_node_and_inline_attributes(admin_client_for, superuser):
    people = NodeFactory(name="People", label="people")
    data = node_form(path="people.grace_hopper", parent_node=str(people.pk))
    data.update({"attributes-TOTAL_FORMS": "1", "attributes-0-attribute_type": "fact",
                 "attributes-0-attribute_key": "born", "attributes-0-attribute_value": "1906",
                 "attributes-0-weight": "1.0", "attributes-0-confidence": "0.9",
                 "attributes-0-source_reliability": "1.0", "attributes-0-last_verified_0": "2026-01-01",
                 "attributes-0-last_verified_1": "00:00:00"})
    response = admin_client_for.post(reverse("admin:graph_node_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    node = Node.objects.get(name="Grace Hopper")
    assert node.created_by == superuser
    assert str(node.path) == "people.grace_hopper" and node.parent_node == people
    attribute = node.attributes.get()
    assert attribute.created_by == superuser and attribute.attribute_value == "1906"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("path", "science..physics", "A path is a sequence of labels"),
        ("path", "science physics", "A path is a sequence of labels"),
        ("embedding", "[1, 2, 3]", "The embedding has 3 dimensions; it must have exactly 768."),
        ("embedding", "1, 2, 3", "Enter a vector as a list of numbers"),
        ("embedding", "[" + ",".join(["nan"] * 768) + "]", "NaN or an infinite value"),
        ("embedding", "[" + ",".join(["0"] * 768) + "]", "The embedding is all zeros"),
    ],
)
def test_bad_node_values_are_form_errors(admin_client_for, field, value, message):
    """Each error is reported on its own field (marked, beside it), not above the form."""
    response = admin_client_for.post(reverse("admin:graph_node_add"), node_form(**{field: value}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field]) and "__all__" not in errors
    html = response.content.decode()
    assert re.search(rf'class="form-row[^"]*errors[^"]*field-{field}', html), "the field's row is not marked"
    assert not Node.objects.filter(name="Grace Hopper").exists()


def test_correct_length_vector_is_saved(admin_client_for):
    vector = "[" + ",".join(["0.5"] * 768) + "]"
    response = admin_client_for.post(reverse("admin:graph_node_add"), node_form(embedding=vector))
    assert response.status_code == 302
    node = Node.objects.get(name="Grace Hopper")
    assert len(node.embedding) == 768
    # A curator's vector is user-supplied: the embedder never replaces it, and nothing waits to embed the node.
    assert node.embedding_model is None and not EmbeddingQueueItem.objects.filter(node=node).exists()


def relationship_form(source, target, **overrides):
    data = {"source_node": source.pk, "target_node": target.pk, "relationship_type": "influenced",
            "strength": "1.0", "confidence_score": "0.5", "bidirectional": "", "metadata": "{}",
            "source": "manual", "auto_managed": "", "source_reliability": "1.0"}
    data.update(overrides)
    return data


def test_self_referencing_relationship_is_a_form_error(admin_client_for, nodes):
    response = admin_client_for.post(reverse("admin:graph_relationship_add"), relationship_form(nodes[0], nodes[0]))
    assert response.status_code == 200
    assert "A relationship cannot connect a node to itself." in response.content.decode()
    assert not Relationship.objects.exists()


def test_duplicate_relationship_is_a_form_error(admin_client_for, nodes):
    RelationshipFactory(source_node=nodes[0], target_node=nodes[1], relationship_type="influenced")
    response = admin_client_for.post(reverse("admin:graph_relationship_add"), relationship_form(nodes[0], nodes[1]))
    assert response.status_code == 200
    assert "A relationship of this type between these two nodes already exists." in response.content.decode()
    assert Relationship.objects.count() == 1


def test_relationship_strength_out_of_range_is_a_form_error(admin_client_for, nodes):
    response = admin_client_for.post(
        reverse("admin:graph_relationship_add"), relationship_form(nodes[0], nodes[1], strength="1.5")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["strength"] == ["Must be between 0 and 1."] and "__all__" not in errors
    assert not Relationship.objects.exists()


def test_inline_attribute_confidence_out_of_range_is_a_form_error(admin_client_for):
    data = node_form()
    data.update({"attributes-TOTAL_FORMS": "1", "attributes-0-attribute_type": "fact",
                 "attributes-0-attribute_key": "born", "attributes-0-attribute_value": "1906",
                 "attributes-0-weight": "1.0", "attributes-0-confidence": "1.5",
                 "attributes-0-source_reliability": "1.0"})
    response = admin_client_for.post(reverse("admin:graph_node_add"), data)
    assert response.status_code == 200
    (attribute_form,) = response.context["inline_admin_formsets"][0].formset.forms
    assert attribute_form.errors == {"confidence": ["Must be between 0 and 1."]}
    assert not Node.objects.exists()
    # On a phone the attributes' table scrolls sideways: a script brings the refused column into view.
    assert "kgsite/admin_inline_errors" in response.content.decode()


def test_node_change_page_links_to_the_node_page(admin_client_for, nodes):
    """"View on site" on a node's admin page leads to its page on the site."""
    node = nodes[0]
    assert node.get_absolute_url() == reverse("node_detail", args=[node.pk])
    html = admin_client_for.get(reverse("admin:graph_node_change", args=[node.pk])).content.decode()
    link = re.search(r'<a href="([^"]+)" class="viewsitelink">View on site</a>', html)
    assert link, "the node's admin page has no View on site link"
    response = admin_client_for.get(link.group(1))
    assert response.status_code == 302 and response["Location"].endswith(f"/nodes/{node.pk}/")


def test_reference_with_two_sources_is_a_form_error(admin_client_for, nodes):
    resource = ExternalResourceFactory()
    data = {"source_node": nodes[0].pk, "source_resource": resource.pk, "target_node": nodes[1].pk,
            "target_resource": "", "reference_type": "cites", "context": "{}"}
    response = admin_client_for.post(reverse("admin:graph_reference_add"), data)
    assert response.status_code == 200
    assert "exactly one source" in response.content.decode()
    assert not Reference.objects.exists()


def test_deleting_a_node_with_children_is_refused(admin_client_for, nodes):
    child = NodeFactory(name="child", parent=nodes[0])
    response = admin_client_for.post(reverse("admin:graph_node_delete", args=[nodes[0].pk]), {"post": "yes"})
    assert response.status_code == 200  # the "cannot delete: protected" page, not a database error
    assert Node.objects.filter(pk=nodes[0].pk).exists() and Node.objects.filter(pk=child.pk).exists()


def test_deleting_a_node_cascades_like_the_spec(admin_client_for, populated):
    node = populated[0]
    response = admin_client_for.post(reverse("admin:graph_node_delete", args=[node.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not NodeAttribute.objects.filter(node_id=node.pk).exists()
    assert not Relationship.objects.filter(source_node_id=node.pk).exists()
    assert not Reference.objects.exists()


def test_materialized_views_are_read_only(admin_client_for, populated):
    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW mv_node_confidence_cache")
    response = admin_client_for.get(reverse("admin:graph_nodeconfidencecache_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 3
    assert not admin.site._registry[NodeConfidenceCache].has_change_permission(response.wsgi_request)
    assert admin_client_for.get(reverse("admin:graph_nodeconfidencecache_add")).status_code == 403


def test_decimal_default_matches_spec():
    node = NodeFactory()
    node.refresh_from_db()
    assert node.confidence_score == Decimal("0.5000")


@pytest.mark.parametrize("url", [
    "/admin/graph/node/?p=abc",
    "/admin/graph/node/?p=999999",
    "/admin/graph/node/?o=99",
    "/admin/graph/node/?q=99999999999999999999",
    "/admin/graph/node/?q=%00",
    "/admin/graph/node/?node_type=%27%3B+DROP+TABLE+nodes%3B--",
    "/admin/graph/node/?confidence_score__gte=abc",
    "/admin/graph/node/abc/change/",
    "/admin/graph/node/99999999999/change/",
    "/admin/graph/nodeattribute/?q=" + "x" * 5000,
    "/admin/graph/relationship/?q=2147483648",
    "/admin/autocomplete/?app_label=graph&model_name=relationship&field_name=source_node&term=node",
    "/admin/autocomplete/?app_label=graph&model_name=relationship&field_name=source_node&term=123&page=abc",
    "/admin/autocomplete/?app_label=graph&model_name=nope&field_name=source_node",
])
def test_hostile_admin_urls_never_give_a_server_error(admin_client_for, populated, url):
    response = admin_client_for.get(url)
    assert response.status_code in (200, 302, 400, 403, 404), (url, response.status_code)
    assert Node.objects.count() == 3


def test_autocomplete_finds_nodes_by_name_and_id(admin_client_for, populated):
    url = "/admin/autocomplete/?app_label=graph&model_name=relationship&field_name=source_node&term="
    by_name = admin_client_for.get(url + "node 1").json()["results"]
    assert [result["text"] for result in by_name] == ["node 1 (concept)"]
    by_id = admin_client_for.get(url + str(populated[2].pk)).json()["results"]
    assert str(populated[2].pk) in [result["id"] for result in by_id]
