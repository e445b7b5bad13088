"""Deletes that scale: PostgreSQL cascades, the admin confirms with counts per table (kgsite.deletion)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from graph.models import ExternalResource, Node, NodeAttribute, NodeResourceLink, Reference, Relationship
from kgsite.deletion import DeletionBlocked, deletion_impact, queryset_delete
from tests.factories import (
    ExternalResourceFactory,
    InferenceQueueItemFactory,
    NodeAttributeFactory,
    NodeFactory,
    NodeResourceLinkFactory,
    ReferenceFactory,
    RelationshipFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub():
    """A node with 40 relationships (30 out, 10 in), 3 attributes, a link, two references and a queue item."""
    hub = NodeFactory(label="hub", name="Hub")
    others = Node.objects.bulk_create(NodeFactory.build_batch(30))
    Relationship.objects.bulk_create(
        [RelationshipFactory.build(source_node=hub, target_node=other) for other in others]
        + [RelationshipFactory.build(source_node=other, target_node=hub) for other in others[:10]]
    )
    NodeAttributeFactory.create_batch(3, node=hub)
    NodeResourceLinkFactory(node=hub)
    ReferenceFactory(source_node=hub)
    ReferenceFactory(source_resource=ExternalResourceFactory(), target_node=hub)
    InferenceQueueItemFactory(node=hub)
    RelationshipFactory()  # unrelated: must survive
    return hub


def _counts(impact):
    return {count.table: count.rows for count in impact.counts()}


def test_impact_counts_every_cascaded_table(hub):
    impact = deletion_impact(Node.objects.filter(pk=hub.pk))
    assert _counts(impact) == {
        "nodes": 1, "relationships": 40, "node_attributes": 3, "node_resource_links": 1,
        "reference_tracking": 2, "relationship_inference_queue": 1,
        "embedding_queue": 1,  # the hub was made without a vector: it waits for one
    }
    assert not impact.blocked


def test_an_edge_between_two_deleted_nodes_is_counted_once(hub):
    other = Relationship.objects.filter(source_node=hub).first().target_node
    RelationshipFactory(source_node=other, target_node=hub, relationship_type="mirror")
    impact = deletion_impact(Node.objects.filter(pk__in=[hub.pk, other.pk]))
    # 41 edges touch the hub; the other node's two edges to the hub are among them.
    assert _counts(impact)["relationships"] == 41


def test_children_block_the_delete_and_are_named(hub):
    NodeFactory(parent=hub, label="lisp", name="Lisp")
    impact = deletion_impact(Node.objects.filter(pk=hub.pk))
    assert impact.blocked
    [blocker] = impact.blockers
    assert (blocker.table, blocker.column, blocker.rows) == ("nodes", "parent_node_id", 1)
    assert blocker.examples == ["Lisp (concept)"]
    with pytest.raises(DeletionBlocked, match="RG-DEL-001"):
        queryset_delete(Node.objects.filter(pk=hub.pk))
    assert Node.objects.filter(pk=hub.pk).exists()
    assert Relationship.objects.filter(source_node=hub).count() == 30


def test_a_parent_and_its_child_deleted_together_do_not_block(hub):
    child = NodeFactory(parent=hub, label="child")
    selected = Node.objects.filter(pk__in=[hub.pk, child.pk])
    assert not deletion_impact(selected).blocked
    assert queryset_delete(selected) == 2


def test_delete_cascades_in_the_database_and_keeps_the_rest(hub):
    resource_count = ExternalResource.objects.count()
    assert queryset_delete(Node.objects.filter(pk=hub.pk)) == 1
    assert not Relationship.objects.filter(source_node_id=hub.pk).exists()
    assert not Relationship.objects.filter(target_node_id=hub.pk).exists()
    assert not NodeAttribute.objects.filter(node_id=hub.pk).exists()
    assert Relationship.objects.count() == 1
    assert ExternalResource.objects.count() == resource_count  # resources are not the node's to delete


def test_deleting_a_resource_cascades_to_its_links_and_references():
    link = NodeResourceLinkFactory()
    reference = ReferenceFactory(target_resource=link.resource)
    impact = deletion_impact(ExternalResource.objects.filter(pk=link.resource_id))
    assert _counts(impact) == {"external_resources": 1, "node_resource_links": 1, "reference_tracking": 1,
                               "embedding_queue": 1}  # made without a vector, so waiting for one
    queryset_delete(ExternalResource.objects.filter(pk=link.resource_id))
    assert not NodeResourceLink.objects.filter(pk=link.pk).exists()
    assert not Reference.objects.filter(pk=reference.pk).exists()


def test_orm_delete_no_longer_loads_cascaded_rows(hub):
    with CaptureQueriesContext(connection) as captured:
        Node.objects.get(pk=hub.pk).delete()
    statements = [query["sql"] for query in captured]
    assert not any("FROM \"relationships\"" in sql for sql in statements), statements
    assert not Relationship.objects.filter(source_node_id=hub.pk).exists()


class TestAdminDelete:
    def test_confirmation_shows_counts_per_table_not_every_row(self, admin_client_for, hub):
        url = reverse("admin:graph_node_delete", args=[hub.pk])
        admin_client_for.get("/")  # the session's idle expiry is moved on the first request (once a minute)
        with CaptureQueriesContext(connection) as captured:
            response = admin_client_for.get(url)
        assert response.status_code == 200
        text = response.content.decode()
        assert "Relationships: 40" in text and "Node attributes: 3" in text
        assert "Hub (concept)" in text
        assert text.count("Relationship:") == 0  # no line per cascaded row
        # One count per foreign key pointing at the tables cascaded to, however many rows: twice the
        # relationships and attributes cost not one query more.
        others = Node.objects.bulk_create(NodeFactory.build_batch(40))
        Relationship.objects.bulk_create([RelationshipFactory.build(source_node=hub, target_node=other)
                                          for other in others])
        NodeAttributeFactory.create_batch(3, node=hub)
        with CaptureQueriesContext(connection) as again:
            response = admin_client_for.get(url)
        assert "Relationships: 80" in response.content.decode()
        assert len(again) == len(captured)

    def test_confirming_deletes_and_cascades(self, admin_client_for, hub):
        url = reverse("admin:graph_node_delete", args=[hub.pk])
        response = admin_client_for.post(url, {"post": "yes"})
        assert response.status_code == 302
        assert not Node.objects.filter(pk=hub.pk).exists()
        assert not Relationship.objects.filter(target_node_id=hub.pk).exists()

    def test_a_node_with_children_cannot_be_deleted(self, admin_client_for, hub):
        NodeFactory(parent=hub, label="lisp", name="Lisp")
        url = reverse("admin:graph_node_delete", args=[hub.pk])
        response = admin_client_for.get(url)
        text = response.content.decode()
        assert "Cannot delete" in text
        assert "cannot be deleted while other rows refer to it" in text
        assert "1 node refers to it as its parent node, e.g. Lisp (concept): move or delete those first" in text
        response = admin_client_for.post(url, {"post": "yes"})  # Django answers with the same refusal
        assert response.status_code == 200 and "Cannot delete" in response.content.decode()
        assert Node.objects.filter(pk=hub.pk).exists()

    def test_bulk_delete_action_confirms_with_counts_and_deletes(self, admin_client_for, hub):
        second = NodeFactory(label="second", name="Second")
        RelationshipFactory(source_node=second, target_node=hub)
        data = {"action": "delete_selected", "_selected_action": [hub.pk, second.pk]}
        url = reverse("admin:graph_node_changelist")
        response = admin_client_for.post(url, data)
        text = response.content.decode()
        assert response.status_code == 200
        assert "Nodes: 2" in text and "Relationships: 41" in text
        response = admin_client_for.post(url, {**data, "post": "yes"})
        assert response.status_code == 302
        assert not Node.objects.filter(pk__in=[hub.pk, second.pk]).exists()

    def test_a_curator_without_delete_permission_on_relationships_is_told(self, client, hub):
        from tests.factories import UserFactory

        curator = UserFactory(staff=True, permissions=["graph.view_node", "graph.delete_node"])
        client.force_login(curator)
        response = client.get(reverse("admin:graph_node_delete", args=[hub.pk]))
        text = response.content.decode()
        assert "Cannot delete" in text and "relationship" in text
        assert client.post(reverse("admin:graph_node_delete", args=[hub.pk]), {"post": "yes"}).status_code == 403
        assert Node.objects.filter(pk=hub.pk).exists()
