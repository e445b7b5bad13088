"""Relationship inference (docs/inference.md): what queues a node, the rule on a hand-built graph, manual links,
cleanup, the explanation, the commands. The worker's reliability with real processes is in
test_inference_worker_processes.py."""

from __future__ import annotations

import math
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from config_admin.services import config_set
from graph.errors import BAD_INFERENCE_SETTING, NOTHING_TO_QUEUE, GraphError
from graph.models import InferenceQueueItem, Node, NodeAttribute, Relationship
from graph.services.demo import demo_graph_load
from graph.services.inference import (
    InferenceParameters,
    inference_queue,
    pair_score,
    relationship_inference_explained,
    relationships_cleanup,
    relationships_infer,
    shared_value_contribution,
    value_rarity,
)
from graph.services.inference_worker import Mode, inference_worker_run
from kgsite.bulk import copy_rows
from tests.factories import NodeAttributeFactory, NodeFactory, RelationshipFactory

pytestmark = pytest.mark.django_db
TYPE = "shares_attributes"
ONE = Decimal("1")


def sql_value(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def attribute(node, key, value, confidence=ONE, weight=ONE, reliability=ONE, kind="property"):
    return NodeAttributeFactory(node=node, attribute_type=kind, attribute_key=key, attribute_value=value,
                                confidence=confidence, weight=weight, source_reliability=reliability)


def pending(node) -> list[InferenceQueueItem]:
    return list(InferenceQueueItem.objects.filter(node=node, status="pending"))


def inferred(a, b):
    source, target = sorted((a.pk, b.pk))
    return Relationship.objects.filter(source_node_id=source, target_node_id=target, relationship_type=TYPE,
                                       auto_managed=True).first()


@pytest.fixture
def graph():
    """Five nodes. color=red on A, B, C; shape=round on A, B, D; status=active on all five (too common once the
    cap is 3); size differs. Only A and B share two usable values."""
    config_set(name="inference_max_value_nodes", value="3")
    nodes = {name: NodeFactory(label=name.lower(), name=name) for name in "ABCDE"}
    for name in "ABC":
        attribute(nodes[name], "color", "red")
    for name in "ABD":
        attribute(nodes[name], "shape", "round")
    for name in "ABCDE":
        attribute(nodes[name], "status", "active", kind="classification")
    attribute(nodes["A"], "size", "big")
    attribute(nodes["C"], "size", "small")
    return nodes


def infer_all():
    return relationships_infer(node_ids=list(Node.objects.values_list("pk", flat=True)))


# --- What queues a node ---------------------------------------------------------------------------------------------

def test_a_new_node_is_queued_once_and_its_attributes_do_not_add_rows():
    node = NodeFactory()
    assert [item.priority for item in pending(node)] == [5]
    attribute(node, "color", "red")
    attribute(node, "shape", "round")
    assert [item.priority for item in pending(node)] == [5]  # same transaction: no second row, no raise


def test_a_change_while_pending_raises_the_priority_instead_of_adding_a_row():
    node = NodeFactory()
    InferenceQueueItem.objects.filter(node=node).update(queued_at=sql_value("SELECT now() - interval '1 hour'"))
    attribute(node, "color", "red")
    assert [item.priority for item in pending(node)] == [6]
    InferenceQueueItem.objects.filter(node=node).update(priority=10)
    attribute(node, "shape", "round")
    assert [item.priority for item in pending(node)] == [10]  # capped at 10


def test_updates_queue_only_for_what_inference_reads_and_deletes_queue_too():
    node, other = NodeFactory(), NodeFactory()
    color = attribute(node, "color", "red")
    InferenceQueueItem.objects.all().delete()
    NodeAttribute.objects.filter(pk=color.pk).update(last_verified=sql_value("SELECT now() - interval '1 day'"))
    assert not InferenceQueueItem.objects.exists()  # a new verification date changes no shared value
    NodeAttribute.objects.filter(pk=color.pk).update(attribute_value="blue")
    assert len(pending(node)) == 1 and not pending(other)
    InferenceQueueItem.objects.all().delete()
    NodeAttribute.objects.filter(pk=color.pk).update(node=other)  # a move queues both nodes
    assert len(pending(node)) == 1 and len(pending(other)) == 1
    InferenceQueueItem.objects.all().delete()
    NodeAttribute.objects.filter(pk=color.pk).delete()
    assert len(pending(other)) == 1


def test_a_node_being_processed_gets_a_new_pending_row_and_deleting_the_node_removes_its_rows():
    node = NodeFactory()
    InferenceQueueItem.objects.filter(node=node).update(status="processing")
    attribute(node, "color", "red")
    assert InferenceQueueItem.objects.filter(node=node).count() == 2 and len(pending(node)) == 1
    node.delete()
    assert not InferenceQueueItem.objects.filter(node_id=node.pk).exists()


def test_at_most_one_pending_row_per_node_is_a_database_rule():
    node = NodeFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        InferenceQueueItem.objects.create(node=node)


def test_a_binary_copy_queues_each_node_once_in_one_statement():
    nodes = NodeFactory.create_batch(30)
    InferenceQueueItem.objects.all().delete()
    columns = ("node_id", "attribute_type", "attribute_key", "attribute_value", "weight", "confidence",
               "source_reliability")
    rows = [(node.pk, "fact", f"k{i}", "v", ONE, ONE, ONE) for node in nodes for i in range(10)]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")
        calls = sql_value("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                          "WHERE funcname = 'inference_enqueue'")
        copy_rows(cursor.connection.cursor(), "node_attributes", columns, [rows])
    assert sql_value("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                     "WHERE funcname = 'inference_enqueue'") == calls + 1
    assert sorted(InferenceQueueItem.objects.values_list("node_id", flat=True)) == sorted(n.pk for n in nodes)


def test_a_node_has_each_value_once_on_every_write_path():
    node = NodeFactory()
    attribute(node, "color", "red")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value) "
                       "VALUES (%s, 'property', 'color', 'red')", [node.pk])


# --- The rule ---------------------------------------------------------------------------------------------------------

def test_only_the_pair_sharing_enough_usable_values_is_linked_with_the_documented_score(graph):
    result = infer_all()
    link = inferred(graph["A"], graph["B"])
    assert link is not None
    assert Relationship.objects.filter(relationship_type=TYPE).count() == 1
    rarity = math.log(5 / 3) / math.log(5 / 2)  # N = 5 nodes, each value on 3 of them
    assert value_rarity(carriers=3, nodes=5) == pytest.approx(rarity)
    expected = 1 - (1 - rarity) ** 2
    assert float(link.inference_confidence) == pytest.approx(expected, abs=1e-4)
    assert (link.source_node_id, link.target_node_id) == tuple(sorted((graph["A"].pk, graph["B"].pk)))
    assert link.bidirectional and link.auto_managed and link.source == "inference"
    assert link.shared_attributes_count == 2 and link.last_inference_update is not None
    assert result.created == 1 and result.pairs_kept == 1 and result.values_too_common == 1


def test_sql_and_python_give_the_same_score_with_uneven_evidence(graph):
    NodeAttribute.objects.filter(node=graph["B"], attribute_key="color").update(
        confidence=Decimal("0.64"), weight=Decimal("0.5"), source_reliability=Decimal("0.9"))
    infer_all()
    link = inferred(graph["A"], graph["B"])
    color = shared_value_contribution(source_evidence=1.0, target_evidence=0.64 * 0.5 * 0.9, carriers=3, nodes=5,
                                      rarity_weight=1.0)
    shape = shared_value_contribution(source_evidence=1.0, target_evidence=1.0, carriers=3, nodes=5,
                                      rarity_weight=1.0)
    assert float(link.inference_confidence) == pytest.approx(pair_score([color, shape]), abs=1e-4)
    explanation = relationship_inference_explained(link)
    assert {(v.attribute_key, v.value): v.contribution for v in explanation.shared} == pytest.approx(
        {("shape", "round"): shape, ("color", "red"): color})
    assert [v.attribute_key for v in explanation.shared] == ["shape", "color"]  # the larger contribution first


def test_the_explanation_names_the_shared_and_the_too_common_values(graph):
    infer_all()
    explanation = relationship_inference_explained(inferred(graph["A"], graph["B"]))
    assert {(v.attribute_type, v.attribute_key, v.value, v.carriers) for v in explanation.shared} == {
        ("property", "color", "red", 3), ("property", "shape", "round", 3)}
    assert explanation.too_common == [("classification", "status", "active")]
    assert explanation.nodes == 5 and explanation.max_value_nodes == 3 and explanation.rule == 1
    a_color = NodeAttribute.objects.get(node=graph["A"], attribute_key="color").pk
    b_color = NodeAttribute.objects.get(node=graph["B"], attribute_key="color").pk
    color = next(v for v in explanation.shared if v.attribute_key == "color")
    assert {color.source_attribute, color.target_attribute} == {a_color, b_color}
    assert explanation.score == pytest.approx(float(inferred(graph["A"], graph["B"]).inference_confidence))


def test_rarity_weight_zero_ignores_how_common_a_value_is(graph):
    config_set(name="inference_rarity_weight", value="0")
    infer_all()
    assert float(inferred(graph["A"], graph["B"]).inference_confidence) == pytest.approx(0.999999, abs=1e-4)


def test_a_value_carried_by_half_the_graph_says_almost_nothing():
    assert value_rarity(carriers=2, nodes=1000) == 1.0
    assert value_rarity(carriers=500, nodes=1000) < 0.12
    assert value_rarity(carriers=1000, nodes=1000) == 0.0
    assert pair_score([]) == 0.0
    assert pair_score([0.5, 0.5]) == pytest.approx(0.75)


def test_threshold_and_minimum_shared_values_are_parameters(graph):
    config_set(name="inference_min_shared_attributes", value="3")
    assert infer_all().pairs_kept == 0
    config_set(name="inference_min_shared_attributes", value="1")
    config_set(name="inference_confidence_threshold", value="0.5")
    infer_all()
    # One shared value scores 0.5575 ≥ 0.5: every pair sharing red or round is linked.
    assert Relationship.objects.filter(relationship_type=TYPE).count() == 5


def test_manual_relationships_are_never_changed_or_deleted(graph):
    a, b = graph["A"], graph["B"]
    manual = RelationshipFactory(source_node=b, target_node=a, relationship_type=TYPE,
                                 stated_confidence=Decimal("0.2"))
    other = RelationshipFactory(source_node=graph["C"], target_node=graph["E"], relationship_type=TYPE)
    infer_all()
    assert inferred(a, b) is None  # a curated link of the type already says it, in either direction
    manual.refresh_from_db()
    other.refresh_from_db()
    assert manual.stated_confidence == Decimal("0.2") and not manual.auto_managed
    assert not other.auto_managed and Relationship.objects.filter(pk=other.pk).exists()
    config_set(name="inference_confidence_threshold", value="1.0")
    relationships_cleanup()
    assert Relationship.objects.filter(pk__in=[manual.pk, other.pk]).count() == 2


def test_an_attribute_change_removes_the_link_when_its_node_is_inferred_again(graph):
    infer_all()
    assert inferred(graph["A"], graph["B"]) is not None
    NodeAttribute.objects.filter(node=graph["B"], attribute_key="shape").delete()
    assert len(pending(graph["B"])) == 1
    report = inference_worker_run(mode=Mode.DRAIN)
    assert inferred(graph["A"], graph["B"]) is None
    assert report.result.removed == 1
    assert not InferenceQueueItem.objects.filter(status__in=["pending", "processing"]).exists()


def test_a_second_pass_updates_instead_of_duplicating(graph):
    infer_all()
    first = inferred(graph["A"], graph["B"])
    result = infer_all()
    assert result.created == 0 and result.updated == 1 and result.removed == 0
    assert inferred(graph["A"], graph["B"]).pk == first.pk
    assert Relationship.objects.filter(relationship_type=TYPE).count() == 1


def test_a_too_long_relationship_type_parameter_is_refused_with_its_code(graph):
    config_set(name="inference_relationship_type", value="x" * 101)
    with pytest.raises(GraphError) as refused:
        InferenceParameters.current()
    assert refused.value.code == BAD_INFERENCE_SETTING


# --- Cleanup ----------------------------------------------------------------------------------------------------------

def test_cleanup_removes_links_that_no_longer_hold_and_reports_counts(graph):
    infer_all()
    stray = RelationshipFactory(source_node=graph["D"], target_node=graph["E"], relationship_type="related_to",
                                inferred=True, inference_confidence=Decimal("0.9"))
    dry = relationships_cleanup(dry_run=True)
    assert (dry.examined, dry.no_longer_hold) == (2, 1)  # D and E share no usable value
    assert Relationship.objects.filter(pk=stray.pk).exists()
    report = relationships_cleanup()
    assert report.no_longer_hold == 1 and not Relationship.objects.filter(pk=stray.pk).exists()
    assert inferred(graph["A"], graph["B"]) is not None
    config_set(name="inference_confidence_threshold", value="0.9")
    assert relationships_cleanup().no_longer_hold == 1 and inferred(graph["A"], graph["B"]) is None


def test_cleanup_requeues_old_inference_and_forgets_old_queue_rows(graph):
    infer_all()
    InferenceQueueItem.objects.all().update(status="completed",
                                            completed_at=sql_value("SELECT now() - interval '30 days'"))
    Relationship.objects.filter(relationship_type=TYPE).update(
        last_inference_update=sql_value("SELECT now() - interval '31 days'"))
    report = relationships_cleanup()
    assert report.nodes_requeued == 2 and report.queue_rows_deleted == 5
    assert sorted(InferenceQueueItem.objects.filter(status="pending").values_list("node_id", "priority")) == \
        sorted([(graph["A"].pk, 1), (graph["B"].pk, 1)])


# --- Queueing by hand and the commands --------------------------------------------------------------------------------

def test_queueing_by_ids_type_or_all(graph):
    InferenceQueueItem.objects.all().delete()
    assert inference_queue(node_ids=[graph["A"].pk], priority=9) == 1
    assert pending(graph["A"])[0].priority == 9
    Node.objects.filter(pk=graph["E"].pk).update(node_type="person")
    assert inference_queue(node_type="person") == 1
    assert inference_queue(all_nodes=True) == 3  # A and E were waiting (same transaction: no raise)
    with pytest.raises(GraphError) as refused:
        inference_queue(node_ids=[graph["A"].pk, 999_999])
    assert refused.value.code == NOTHING_TO_QUEUE and "999999" in str(refused.value)
    with pytest.raises(GraphError):
        inference_queue(node_type="nothing-has-this")
    with pytest.raises(GraphError):
        inference_queue()


@pytest.mark.parametrize("args", [
    [], ["--all", "--node", "1"], ["--node", "x"], ["--node", "٣"], ["--all", "--priority", "0"],
    ["--all", "--priority", "11"],
])
def test_queue_inference_rejects_bad_arguments(args):
    with pytest.raises(CommandError):
        call_command("queue_inference", *args, stdout=StringIO(), stderr=StringIO())
    assert not InferenceQueueItem.objects.filter(priority__in=[0, 11]).exists()


def test_queue_inference_command_queues_and_refuses_missing_nodes(graph):
    out = StringIO()
    call_command("queue_inference", "--all", "--priority", "7", stdout=out)
    assert "Queued" in out.getvalue()
    with pytest.raises(CommandError, match="RG-INFER-002"):
        call_command("queue_inference", "--node", "999999", stdout=StringIO())


def test_run_inference_and_cleanup_commands(graph):
    out = StringIO()
    call_command("run_inference", "--batch-size", "2", "-v", "2", stdout=out)
    assert "5 nodes in 3 batches" in out.getvalue() and out.getvalue().count("batch ") >= 3
    assert inferred(graph["A"], graph["B"]) is not None
    out = StringIO()
    call_command("cleanup_relationships", "--dry-run", stdout=out)
    assert "Examined 1 auto-managed relationships: would remove 0" in out.getvalue()
    for bad in (["--batch-size", "0"], ["--once", "--loop"], ["--batch-size", "1e3"]):
        with pytest.raises(CommandError):
            call_command("run_inference", *bad, stdout=StringIO(), stderr=StringIO())


# --- The demo ---------------------------------------------------------------------------------------------------------

def test_the_demo_links_languages_that_share_paradigms_and_typing(superuser):
    demo_graph_load(user=superuser)
    inference_worker_run(mode=Mode.DRAIN)
    by_name = {node.name: node for node in Node.objects.filter(name__in=["Kotlin", "Swift", "Haskell", "Python"])}
    link = inferred(by_name["Kotlin"], by_name["Swift"])
    assert link is not None
    keys = {v.attribute_key for v in relationship_inference_explained(link).shared}
    assert {"paradigm", "typing"} <= keys
    assert Relationship.objects.filter(source="inference").count() < 400  # a readable graph, not a hairball
    for link in Relationship.objects.filter(relationship_type=TYPE)[:50]:
        explanation = relationship_inference_explained(link)
        assert explanation is not None and len(explanation.shared) >= 2
