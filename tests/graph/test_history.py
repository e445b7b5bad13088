"""The history of graph edits (graph/models/history.py, graph/services/history.py, docs/history.md)."""

import pghistory
import pytest
from django.core.management import call_command
from django.db import connection

from graph.errors import HISTORY_BAD_PARAMETER, HISTORY_CANNOT_REVERT
from graph.models import Node, NodeAttribute, Relationship
from graph.models.history import NodeAttributeEvent, NodeEvent, RelationshipEvent
from graph.services.history import (
    history_entry_revert,
    history_event_revert,
    history_prune,
    node_restore,
)
from kgsite.errors import DomainError, PermissionRefused
from tests.factories import NodeAttributeFactory, NodeFactory, RelationshipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_a_plain_sql_update_is_recorded_with_the_database_role_and_the_old_values():
    node = NodeFactory(name="Before")
    _sql("UPDATE nodes SET name = 'After' WHERE node_id = %s", [node.pk])
    event = NodeEvent.objects.filter(pgh_obj_id=node.pk, pgh_label="update").get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        role = cursor.fetchone()[0]
    assert event.name == "Before" and event.pgh_db_role == role and event.pgh_context_id is None


def test_derived_columns_write_no_history():
    node = NodeFactory()
    NodeAttributeFactory(node=node)  # rewrites the node's confidence score (a trigger)
    _sql("UPDATE nodes SET embedding = NULL, updated_at = now() WHERE node_id = %s", [node.pk])
    assert not NodeEvent.objects.filter(pgh_obj_id=node.pk, pgh_label="update").exists()


def test_a_context_records_who_and_groups_the_statements():
    user = UserFactory(email="c@example.com")
    with pghistory.context(user=user.pk, url="/admin/graph/node/add/"):
        node = NodeFactory()
        NodeAttributeFactory(node=node)
    events = [NodeEvent.objects.get(pgh_obj_id=node.pk), NodeAttributeEvent.objects.get(node_id=node.pk)]
    assert events[0].pgh_context_id == events[1].pgh_context_id is not None
    assert events[0].pgh_context.metadata["user"] == user.pk


def test_commands_are_recorded_as_their_command():
    before = NodeEvent.objects.order_by("-pgh_id").values_list("pgh_id", flat=True).first() or 0
    call_command("generate_graph", "--nodes", "20", "--seed", "3", verbosity=0)
    events = NodeEvent.objects.filter(pgh_label="insert", pgh_id__gt=before).select_related("pgh_context")
    assert events.count() == 20
    assert {event.pgh_context.metadata["command"] for event in events} == {"generate_graph"}


def test_revert_one_update_puts_back_only_the_fields_it_changed():
    node = NodeFactory(name="Old name", node_type="concept")
    _sql("UPDATE nodes SET name = 'New name' WHERE node_id = %s", [node.pk])
    _sql("UPDATE nodes SET node_type = 'person' WHERE node_id = %s", [node.pk])  # a later, unrelated edit
    rename = NodeEvent.objects.filter(pgh_obj_id=node.pk, pgh_label="update").order_by("pgh_id").first()

    report = history_event_revert(key="node", event_id=rename.pgh_id)

    node.refresh_from_db()
    assert (node.name, node.node_type) == ("Old name", "person")
    assert report.updated["node"] == 1
    # The revert is history too, and can itself be reverted.
    revert_event = NodeEvent.objects.filter(pgh_obj_id=node.pk).order_by("-pgh_id").first()
    assert revert_event.name == "New name" and revert_event.pgh_context.metadata["operation"] == "revert"


def test_revert_an_insert_deletes_and_a_delete_restores():
    attribute = NodeAttributeFactory(attribute_value="typo")
    inserted = NodeAttributeEvent.objects.get(pgh_obj_id=attribute.pk, pgh_label="insert")
    history_event_revert(key="attribute", event_id=inserted.pgh_id)
    assert not NodeAttribute.objects.filter(pk=attribute.pk).exists()
    deleted = NodeAttributeEvent.objects.get(pgh_obj_id=attribute.pk, pgh_label="delete")
    history_event_revert(key="attribute", event_id=deleted.pgh_id)
    assert NodeAttribute.objects.get(pk=attribute.pk).attribute_value == "typo"


def test_restore_a_deleted_node_with_its_attributes_and_edges():
    node = NodeFactory(name="Deleted by mistake")
    other = NodeFactory()
    attributes = {NodeAttributeFactory(node=node).pk for _ in range(3)}
    edges = {RelationshipFactory(source_node=node, target_node=other).pk,
             RelationshipFactory(source_node=other, target_node=node, relationship_type="cites").pk}
    node_id = node.pk
    node.delete()
    assert not NodeAttribute.objects.filter(pk__in=attributes).exists()

    report = node_restore(node_id=node_id)

    assert Node.objects.get(pk=node_id).name == "Deleted by mistake"
    assert set(NodeAttribute.objects.filter(node_id=node_id).values_list("pk", flat=True)) == attributes
    assert set(Relationship.objects.filter(pk__in=edges).values_list("pk", flat=True)) == edges
    assert report.restored == {"node": 1, "attribute": 3, "relationship": 2}


def test_restore_leaves_out_edges_to_nodes_gone_since():
    node, other = NodeFactory(), NodeFactory()
    RelationshipFactory(source_node=node, target_node=other)
    node_id = node.pk
    node.delete()
    other.delete()
    report = node_restore(node_id=node_id)
    assert Node.objects.filter(pk=node_id).exists()
    assert report.restored["relationship"] == 0 and report.left_out["relationship"] == 1


def test_a_whole_entry_reverts_as_one():
    keep = NodeFactory(name="Kept")
    with pghistory.context(operation="bulk") as entry:
        made = [NodeFactory() for _ in range(3)]
        _sql("UPDATE nodes SET name = 'Renamed' WHERE node_id = %s", [keep.pk])
    report = history_entry_revert(entry=f"c{entry.id}")
    assert not Node.objects.filter(pk__in=[n.pk for n in made]).exists()
    keep.refresh_from_db()
    assert keep.name == "Kept"
    assert report.deleted["node"] == 3 and report.updated["node"] == 1


def test_a_refused_revert_writes_nothing():
    node = NodeFactory(label="taken")
    NodeAttributeFactory(node=node)
    deleted_id = node.pk
    node.delete()
    NodeFactory(label="taken")  # the deleted node's path belongs to another node now
    with pytest.raises(DomainError) as refused:
        node_restore(node_id=deleted_id)
    assert refused.value.code == HISTORY_CANNOT_REVERT and "path" in str(refused.value)
    assert not Node.objects.filter(pk=deleted_id).exists()
    assert not NodeAttribute.objects.filter(node_id=deleted_id).exists()


def test_reverting_needs_the_permission():
    node = NodeFactory()
    event = NodeEvent.objects.get(pgh_obj_id=node.pk)
    with pytest.raises(PermissionRefused):
        history_event_revert(key="node", event_id=event.pgh_id, user=UserFactory(email="v@example.com"))
    assert Node.objects.filter(pk=node.pk).exists()


def test_prune_deletes_only_what_is_older_than_the_retention():
    old, new = NodeFactory(), NodeFactory()
    RelationshipFactory(source_node=old, target_node=new)
    NodeEvent.objects.filter(pgh_obj_id=old.pk).update(pgh_created_at="2020-01-01T00:00:00Z")
    assert history_prune(older_than_days=0).deleted == 0  # 0 keeps everything
    report = history_prune(older_than_days=30)
    assert report.deleted == 1
    assert not NodeEvent.objects.filter(pgh_obj_id=old.pk).exists()
    assert NodeEvent.objects.filter(pgh_obj_id=new.pk).exists() and RelationshipEvent.objects.exists()
    with pytest.raises(DomainError) as refused:
        history_prune(older_than_days=-1)
    assert refused.value.code == HISTORY_BAD_PARAMETER


def test_a_bulk_update_after_a_one_row_update_is_not_planned_as_a_one_row_join():
    """PL/pgSQL caches a trigger's plan for the session: the history and reason triggers plan their join of the
    old and new transition tables afresh per statement, so a bulk update on a connection whose first update
    changed one row is not joined row by row (a 4,861-row merge statement took 20 s that way)."""
    node = NodeFactory()
    for index in range(300):
        NodeAttributeFactory(node=node, attribute_key=f"k{index}", attribute_value=str(index))
    first = NodeAttribute.objects.filter(node=node).order_by("pk").values_list("pk", flat=True)[0]
    notices: list[str] = []
    connection.ensure_connection()
    raw = connection.connection

    def keep(diagnostic):
        notices.append(diagnostic.message_primary or "")

    raw.add_notice_handler(keep)
    try:
        with connection.cursor() as cursor:
            cursor.execute("LOAD 'auto_explain'")
            cursor.execute("SET auto_explain.log_min_duration = 0")
            cursor.execute("SET auto_explain.log_nested_statements = on")
            cursor.execute("SET auto_explain.log_level = notice")
            cursor.execute("UPDATE node_attributes SET attribute_value = attribute_value || 'x' "
                           "WHERE attribute_id = %s", [first])
            notices.clear()
            cursor.execute("UPDATE node_attributes SET attribute_value = attribute_value || 'y' WHERE node_id = %s",
                           [node.pk])
    finally:  # the connection outlives the test: stop the plans and the handler
        with connection.cursor() as cursor:
            cursor.execute("SET auto_explain.log_min_duration = -1")
        raw.remove_notice_handler(keep)
    # the node_attributes history trigger's and the reason trigger's joins of the 300 old and new rows
    joins = [plan for plan in notices if plan.count("Named Tuplestore Scan") >= 2
             and ("history_node_attributes" in plan or "old_attributes o JOIN new_attributes" in plan)]
    assert len(joins) >= 2, notices
    for plan in joins:  # planned for the 300 rows: a hash (or merge) join, not a loop over one estimated row
        assert "Hash Join" in plan or "Merge Join" in plan, plan
        assert "Named Tuplestore Scan  (cost=0.00..6.00 rows=300" in plan, plan
    assert NodeAttributeEvent.objects.filter(pgh_obj_id=first, pgh_label="update").count() == 2
