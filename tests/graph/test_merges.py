"""Merging a duplicate node and undoing it (graph/services/merges.py, docs/duplicates.md)."""

import json

import pytest
from django.db import connection

from graph.errors import MERGE_ALREADY_UNDONE, MERGE_CANNOT_UNDO, MERGE_NOT_ALLOWED
from graph.models import InferenceRejection, Node, NodeAttribute, NodeMerge, Relationship
from graph.services.duplicates import pair_mark_distinct
from graph.services.merges import node_merge, node_redirect, node_unmerge
from kgsite.errors import DomainError, PermissionRefused
from tests.factories import (
    NodeAttributeFactory,
    NodeFactory,
    NodeResourceLinkFactory,
    ReferenceFactory,
    RelationshipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

# Bookkeeping the database rewrites on any touch (timestamps of derived values); everything else must match.
IGNORED = {"updated_at", "confidence_last_updated"}
TABLES = {
    "nodes": "node_id", "node_attributes": "attribute_id", "relationships": "relationship_id",
    "node_resource_links": "link_id", "reference_tracking": "reference_id", "inference_rejections": "rejection_id",
    "inference_reasons": "reason_id", "distinct_node_pairs": "distinct_id", "duplicate_candidates": "candidate_id",
}


def snapshot() -> dict[str, list[dict]]:
    tables = {}
    with connection.cursor() as cursor:
        for table, pk in TABLES.items():
            cursor.execute(f"SELECT to_jsonb(t) FROM {table} t ORDER BY {pk}")
            tables[table] = [{k: v for k, v in json.loads(row[0]).items() if k not in IGNORED}
                             for row in cursor.fetchall()]
    return tables


@pytest.fixture
def graph():
    """A and B, duplicates, each with links everywhere: every rule of the merge has a row to act on."""
    root = NodeFactory(label="things")
    a = NodeFactory(parent=root, label="ada", name="Ada Lovelace", embedded=True)
    b = NodeFactory(parent=root, label="ada_l", name="Ada  Lovelace", embedded=True)
    x, y, z = (NodeFactory(name=name) for name in ("X", "Y", "Z"))
    NodeAttributeFactory(node=a, attribute_type="fact", attribute_key="born", attribute_value="1815")
    NodeAttributeFactory(node=b, attribute_type="fact", attribute_key="born", attribute_value="1815")  # same
    NodeAttributeFactory(node=b, attribute_type="fact", attribute_key="died", attribute_value="1852")
    RelationshipFactory(source_node=a, target_node=b, relationship_type="same_as")  # becomes a self-loop
    RelationshipFactory(source_node=a, target_node=x, relationship_type="knows", inferred=True)
    RelationshipFactory(source_node=b, target_node=x, relationship_type="knows")  # curated: beats A's inferred
    RelationshipFactory(source_node=a, target_node=y, relationship_type="knows")
    RelationshipFactory(source_node=b, target_node=y, relationship_type="knows", inferred=True)  # A's stays
    RelationshipFactory(source_node=z, target_node=b, relationship_type="cites")  # moves, B at the target
    link = NodeResourceLinkFactory(node=b)
    NodeResourceLinkFactory(node=a, resource=link.resource, link_type=link.link_type)  # duplicates B's
    NodeResourceLinkFactory(node=b)
    ReferenceFactory(source_node=b)
    ReferenceFactory(source_node=z, target_node=b)
    NodeFactory(parent=b, label="notes")
    NodeFactory(parent=a, label="papers")
    clash = NodeFactory(parent=b, label="papers")  # A has a child labelled papers already
    NodeFactory(parent=clash, label="first")  # a grandchild: its path follows
    low, high = sorted([b.pk, z.pk])
    InferenceRejection.objects.create(source_node_id=low, target_node_id=high, relationship_type="related_to",
                                      reason="no")
    pair_mark_distinct(first=b.pk, second=y.pk, reason="different people")
    return {"a": a, "b": b, "x": x, "y": y, "z": z, "clash": clash}


def test_merge_moves_everything_to_the_survivor_by_the_documented_rules(graph):
    a, b, x, y, clash = graph["a"], graph["b"], graph["x"], graph["y"], graph["clash"]
    report = node_merge(survivor_id=a.pk, merged_id=b.pk)

    assert not Node.objects.filter(pk=b.pk).exists()
    assert node_redirect(b.pk) == a.pk
    assert sorted(NodeAttribute.objects.filter(node=a).values_list("attribute_key", flat=True)) == ["born", "died"]
    links = {(r.source_node_id, r.target_node_id, r.relationship_type): r.auto_managed
             for r in Relationship.objects.filter(source_node=a) | Relationship.objects.filter(target_node=a)}
    assert (a.pk, a.pk, "same_as") not in links  # the self-loop went
    assert links[(a.pk, x.pk, "knows")] is False  # B's curated link beat A's inferred one
    assert links[(a.pk, y.pk, "knows")] is False  # A's own link stayed
    assert links[(graph["z"].pk, a.pk, "cites")] is False
    clash.refresh_from_db()
    assert str(clash.path) == f"things.ada.papers_{b.pk}" and clash.parent_node_id == a.pk
    assert Node.objects.filter(path=f"things.ada.papers_{b.pk}.first").exists()
    assert Node.objects.filter(path="things.ada.notes", parent_node=a).exists()
    rejection = InferenceRejection.objects.get()
    assert {rejection.source_node_id, rejection.target_node_id} == {a.pk, graph["z"].pk}
    assert report.removed["self-loops and clashing relationships"] == 3
    assert report.removed["duplicate attributes"] == 1 and report.removed["duplicate resource links"] == 1


def test_merge_then_unmerge_restores_every_table_exactly(graph):
    before = snapshot()
    report = node_merge(survivor_id=graph["a"].pk, merged_id=graph["b"].pk)
    assert snapshot() != before
    node_unmerge(merge_id=report.merge_id)
    after = snapshot()
    for table in TABLES:
        assert after[table] == before[table], table
    assert node_redirect(graph["b"].pk) is None


def test_unmerge_after_later_unrelated_edits_keeps_them(graph):
    a, b = graph["a"], graph["b"]
    died = NodeAttribute.objects.get(node=b, attribute_key="died")
    report = node_merge(survivor_id=a.pk, merged_id=b.pk)
    NodeAttribute.objects.filter(pk=died.pk).update(attribute_value="1852-11-27")  # edited while merged
    added = NodeAttributeFactory(node=a, attribute_key="nickname", attribute_value="Enchantress of Numbers")
    unrelated = NodeFactory(name="Charles Babbage")
    RelationshipFactory(source_node=a, target_node=unrelated, relationship_type="knows")

    node_unmerge(merge_id=report.merge_id)

    died.refresh_from_db()
    assert died.node_id == b.pk and died.attribute_value == "1852-11-27"
    added.refresh_from_db()
    assert added.node_id == a.pk
    assert Relationship.objects.filter(source_node=a, target_node=unrelated).exists()


def test_refusals_name_the_problem_and_change_nothing(graph):
    a, b, clash = graph["a"], graph["b"], graph["clash"]
    before = snapshot()
    with pytest.raises(DomainError) as refused:
        node_merge(survivor_id=a.pk, merged_id=a.pk)
    assert refused.value.code == MERGE_NOT_ALLOWED
    with pytest.raises(DomainError) as refused:
        node_merge(survivor_id=clash.pk, merged_id=b.pk)  # into its own subtree
    assert refused.value.code == MERGE_NOT_ALLOWED and "subtree" in str(refused.value)
    assert snapshot() == before

    report = node_merge(survivor_id=a.pk, merged_id=b.pk)
    node_unmerge(merge_id=report.merge_id)
    with pytest.raises(DomainError) as refused:
        node_unmerge(merge_id=report.merge_id)
    assert refused.value.code == MERGE_ALREADY_UNDONE

    again = node_merge(survivor_id=a.pk, merged_id=b.pk)
    NodeFactory(label="ada_l", parent=graph["a"].parent_node)  # someone takes B's old path
    with pytest.raises(DomainError) as refused:
        node_unmerge(merge_id=again.merge_id)
    assert refused.value.code == MERGE_CANNOT_UNDO and "path" in str(refused.value)
    assert NodeMerge.objects.get(pk=again.merge_id).unmerged_at is None


def test_merging_needs_the_permission(graph):
    curator = UserFactory(email="viewer@example.com", staff=True)
    with pytest.raises(PermissionRefused):
        node_merge(survivor_id=graph["a"].pk, merged_id=graph["b"].pk, user=curator)
    assert Node.objects.filter(pk=graph["b"].pk).exists()


def test_merges_of_merges_redirect_to_the_last_survivor(graph):
    a, b, x = graph["a"], graph["b"], graph["x"]
    node_merge(survivor_id=a.pk, merged_id=b.pk)
    node_merge(survivor_id=x.pk, merged_id=a.pk)
    assert node_redirect(b.pk) == x.pk
    assert node_redirect(a.pk) == x.pk


def _scores_off_the_formula(relationship_ids: list[int]) -> list:
    """Links among ``relationship_ids`` whose stored score is not the formula of relationships_confidence_guard."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT x.relationship_id, x.confidence_score
            FROM relationships x
            JOIN nodes s ON s.node_id = x.source_node_id JOIN nodes t ON t.node_id = x.target_node_id
            WHERE x.relationship_id = ANY(%s)
              AND x.confidence_score IS DISTINCT FROM relationship_confidence(
                  relationship_evidence(x.auto_managed, x.inference_confidence, x.stated_confidence),
                  x.source_reliability, s.confidence_score, t.confidence_score)
        """, [relationship_ids])
        return cursor.fetchall()


def test_moved_links_are_scored_by_their_new_ends_and_the_flags_are_off_after(graph):
    a, b = graph["a"], graph["b"]
    NodeAttributeFactory(node=a, attribute_key="field", attribute_value="mathematics", confidence=0.99)
    report = node_merge(survivor_id=a.pk, merged_id=b.pk)
    assert Relationship.objects.filter(target_node=a, relationship_type="cites").exists()
    moves = NodeMerge.objects.get(pk=report.merge_id).moves
    moved = moves["relationships_source"] + moves["relationships_target"]
    assert moved and _scores_off_the_formula(moved) == []  # (A's own links follow at commit: docs/confidence.md)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('kgsite.hierarchy_rewrite', true), "
                       "current_setting('kgsite.confidence_writer', true)")
        assert all(value in (None, "", "off") for value in cursor.fetchone())
    # The hierarchy triggers are back: moving a node by its parent rewrites its subtree as before.
    clash = graph["clash"]
    clash.refresh_from_db()
    Node.objects.filter(pk=clash.pk).update(parent_node=graph["x"].parent_node or a.parent_node)
    clash.refresh_from_db()
    assert str(clash.path) == f"things.papers_{b.pk}"
    assert Node.objects.filter(path=f"things.papers_{b.pk}.first").exists()

    node_unmerge(merge_id=report.merge_id)
    assert _scores_off_the_formula(moved) == []
    assert Relationship.objects.filter(pk__in=moves["relationships_target"], target_node=b).exists()


def test_unmerge_takes_back_the_children_still_under_the_survivor_with_their_subtrees_as_they_are_now(graph):
    a, b, clash = graph["a"], graph["b"], graph["clash"]
    report = node_merge(survivor_id=a.pk, merged_id=b.pk)
    clash.refresh_from_db()
    NodeFactory(parent=clash, label="second")  # added to a moved child's subtree while merged
    notes = Node.objects.get(path="things.ada.notes")
    Node.objects.filter(pk=notes.pk).update(parent_node=graph["a"].parent_node)  # moved away while merged

    summary = node_unmerge(merge_id=report.merge_id).summary()

    clash.refresh_from_db()
    assert str(clash.path) == "things.ada_l.papers" and clash.parent_node_id == b.pk
    assert sorted(str(path) for path in Node.objects.filter(parent_node=clash).values_list("path", flat=True)) == [
        "things.ada_l.papers.first", "things.ada_l.papers.second"]
    notes.refresh_from_db()
    assert str(notes.path) == "things.notes"  # where the curator put it
    assert "1 children" in summary
