"""Confidence scores: the formulas' properties, the worked example of docs/confidence.md, the SQL against the
Python, the triggers on every write path (single, bulk, COPY, plain SQL, deletes), propagation to relationships,
and recalculation (stale, resumed, one at a time)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from config_admin.services import config_set
from graph.errors import RECALCULATION_RUNNING, GraphError
from graph.models import ConfidenceRecalculation, Node, NodeAttribute, Relationship
from graph.services.confidence import (
    RECALCULATION_LOCK,
    attribute_effective_confidence,
    confidence_recalculate,
    node_confidence,
    node_confidence_explained,
    relationship_confidence,
)
from kgsite.bulk import copy_rows
from tests.factories import NodeAttributeFactory, NodeFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, tzinfo=UTC)
UNITS = [Decimal(x) for x in ("0", "0.1", "0.5", "0.9", "1")]
AGES = [0, 30, 365, 3650]


def effective(confidence, reliability, age_days, half_life=365.0):
    return attribute_effective_confidence(confidence=confidence, source_reliability=reliability,
                                          verified_at=NOW - timedelta(days=age_days), as_of=NOW,
                                          half_life_days=half_life)


def node_score(attributes, prior_weight=1.0):
    """attributes: (confidence, reliability, weight, age_days)."""
    weighted = sum(w * effective(c, r, age) for c, r, w, age in attributes)
    return node_confidence(weighted_sum=weighted, weight_sum=sum(w for _, _, w, _ in attributes),
                           prior_weight=prior_weight)


def sql_value(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def stored(node):
    node.refresh_from_db()
    return node.confidence_score


def at_commit():
    """Run what PostgreSQL runs at commit (deferred constraint triggers), as the tests' transactions never commit."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


# --- The formulas ---------------------------------------------------------------------------------------------

def test_worked_example_of_the_docs():
    grace = [(Decimal("0.9"), Decimal("1.0"), 1.0, 0), (Decimal("0.8"), Decimal("0.9"), 0.5, 365),
             (Decimal("1.0"), Decimal("0.5"), 0.0, 0)]
    assert effective(Decimal("0.8"), Decimal("0.9"), 365) == pytest.approx(0.36)
    assert node_score(grace) == Decimal("0.6320")
    assert relationship_confidence(evidence=Decimal("0.95"), source_reliability=Decimal("0.8"),
                                   source_node_confidence=Decimal("0.6320"),
                                   target_node_confidence=Decimal("0.5")) == Decimal("0.5936")
    text = open("docs/confidence.md", encoding="utf-8").read()
    assert "= 1.58 / 2.5 = 0.6320" in text and "= 0.76 × 0.78107 = 0.5936" in text


@pytest.mark.parametrize(("confidence", "age"), itertools.product(UNITS, AGES))
def test_a_more_reliable_source_never_lowers_a_score(confidence, age):
    for low, high in itertools.pairwise(UNITS):
        assert effective(confidence, low, age) <= effective(confidence, high, age)
        other = (Decimal("0.7"), Decimal("0.9"), 0.5, 10)
        assert node_score([(confidence, low, 1.0, age), other]) <= node_score([(confidence, high, 1.0, age), other])
        for node_a, node_b in itertools.product(UNITS, repeat=2):
            assert relationship_confidence(evidence=confidence, source_reliability=low,
                                           source_node_confidence=node_a, target_node_confidence=node_b) <= \
                relationship_confidence(evidence=confidence, source_reliability=high,
                                        source_node_confidence=node_a, target_node_confidence=node_b)


@pytest.mark.parametrize(("confidence", "reliability"), itertools.product(UNITS, UNITS))
def test_an_older_verification_never_raises_a_score(confidence, reliability):
    for younger, older in itertools.pairwise(AGES):
        assert effective(confidence, reliability, older) <= effective(confidence, reliability, younger)
        other = (Decimal("0.6"), Decimal("1"), 1.0, 0)
        assert node_score([(confidence, reliability, 0.8, older), other]) <= \
            node_score([(confidence, reliability, 0.8, younger), other])


def test_weight_zero_contributes_nothing_and_no_attributes_gives_the_prior():
    base = [(Decimal("0.9"), Decimal("0.8"), 1.0, 100), (Decimal("0.3"), Decimal("1"), 0.4, 0)]
    for confidence, reliability in itertools.product(UNITS, UNITS):
        assert node_score(base + [(confidence, reliability, 0.0, 0)]) == node_score(base)
    assert node_score([]) == Decimal("0.5")
    assert node_score([], prior_weight=0.0) == Decimal("0.5")
    assert node_score([(Decimal("1"), Decimal("1"), 0.0, 0)], prior_weight=0.0) == Decimal("0.5")
    assert node_score([(Decimal("1"), Decimal("1"), 1.0, 0)], prior_weight=0.0) == Decimal("1.0000")


def test_every_score_stays_within_the_unit_interval():
    for c, r, age in itertools.product(UNITS, UNITS, AGES + [-30]):  # a verification in the future counts as today
        assert 0 <= effective(c, r, age) <= 1
        assert Decimal(0) <= node_score([(c, r, 1.0, age)] * 3) <= Decimal(1)
    assert effective(Decimal("0.5"), Decimal("1"), -30) == effective(Decimal("0.5"), Decimal("1"), 0)
    for values in itertools.product(UNITS, repeat=4):
        assert Decimal(0) <= relationship_confidence(
            evidence=values[0], source_reliability=values[1], source_node_confidence=values[2],
            target_node_confidence=values[3]) <= Decimal(1)


def test_sql_and_python_give_the_same_numbers():
    for c, r, age in itertools.product(UNITS, UNITS, AGES):
        verified = NOW - timedelta(days=age)
        assert sql_value("SELECT attribute_effective_confidence(%s, %s, %s, %s, 365)", [c, r, verified, NOW]) == \
            pytest.approx(effective(c, r, age))
    for weighted, weights, prior in [(0.0, 0.0, 1.0), (1.58 - 0.5, 1.5, 1.0), (2.7, 3.0, 0.0), (0.0, 0.0, 0.0)]:
        assert sql_value("SELECT node_confidence(%s, %s, %s)", [weighted, weights, prior]) == node_confidence(
            weighted_sum=weighted, weight_sum=weights, prior_weight=prior)
    for values in itertools.product(UNITS, repeat=4):
        assert sql_value("SELECT relationship_confidence(%s, %s, %s, %s)", list(values)) == relationship_confidence(
            evidence=values[0], source_reliability=values[1], source_node_confidence=values[2],
            target_node_confidence=values[3])


# --- Kept current by the database -------------------------------------------------------------------------------

def test_attribute_writes_update_the_node_in_the_same_transaction():
    node = NodeFactory()
    assert stored(node) == Decimal("0.5000")
    before = node.confidence_last_updated
    attribute = NodeAttributeFactory(node=node, confidence=Decimal("0.9"), source_reliability=Decimal("1"),
                                     weight=Decimal("1"))
    assert stored(node) == Decimal("0.7000")  # (0.5 + 0.9) / 2
    assert node.confidence_last_updated >= before
    attribute.source_reliability = Decimal("0.5")
    attribute.save()
    assert stored(node) == Decimal("0.4750")  # (0.5 + 0.45) / 2
    attribute.attribute_value = "a new value"  # not read by the formula
    stamped = node.confidence_last_updated
    attribute.save()
    node.refresh_from_db()
    assert node.confidence_last_updated == stamped
    attribute.delete()
    assert stored(node) == Decimal("0.5000")


def test_moving_an_attribute_to_another_node_rescores_both():
    first, second = NodeFactory(), NodeFactory()
    attribute = NodeAttributeFactory(node=first, confidence=Decimal("1"), source_reliability=Decimal("1"))
    assert (stored(first), stored(second)) == (Decimal("0.7500"), Decimal("0.5000"))
    NodeAttribute.objects.filter(pk=attribute.pk).update(node=second)
    assert (stored(first), stored(second)) == (Decimal("0.5000"), Decimal("0.7500"))


def test_recency_and_configuration_are_read_by_the_trigger():
    config_set(name="confidence_half_life_days", value="10")
    node = NodeFactory()
    NodeAttributeFactory(node=node, confidence=Decimal("1"), source_reliability=Decimal("1"),
                         last_verified=timezone.now() - timedelta(days=10))
    assert stored(node) == Decimal("0.5000")  # (0.5 + 0.5) / 2: one half-life old
    config_set(name="confidence_prior_weight", value="0.0")
    NodeAttributeFactory(node=node, confidence=Decimal("0.8"), source_reliability=Decimal("1"))
    assert stored(node) == Decimal("0.6500")  # (0.5 + 0.8) / 2 without the prior


def trigger_calls():
    """How often nodes_confidence_refresh has run in this transaction (track_functions, set by the test); compare
    before and after, as an enclosing transaction may hold earlier calls."""
    return sql_value("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                     "WHERE funcname = 'nodes_confidence_refresh'")


def test_a_bulk_write_recomputes_each_node_once_per_statement():
    nodes = NodeFactory.create_batch(40)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")
    calls = trigger_calls()
    NodeAttribute.objects.bulk_create([
        NodeAttributeFactory.build(node=node, confidence=Decimal("0.9"), source_reliability=Decimal("1"),
                                   weight=Decimal("1"))
        for node in nodes for _ in range(25)
    ])
    assert trigger_calls() == calls + 1  # one statement of 1,000 rows: one set-based recomputation
    expected = node_score([(Decimal("0.9"), Decimal("1"), 1.0, 0)] * 25)
    assert set(Node.objects.filter(pk__in=[n.pk for n in nodes]).values_list("confidence_score", flat=True)) == \
        {expected}
    NodeAttribute.objects.filter(node__in=nodes[:20]).update(confidence=Decimal("0.1"))
    NodeAttribute.objects.filter(node__in=nodes[20:]).delete()
    assert trigger_calls() == calls + 3
    assert set(Node.objects.filter(pk__in=[n.pk for n in nodes[:20]]).values_list("confidence_score", flat=True)) \
        == {node_score([(Decimal("0.1"), Decimal("1"), 1.0, 0)] * 25)}
    assert set(Node.objects.filter(pk__in=[n.pk for n in nodes[20:]]).values_list("confidence_score", flat=True)) \
        == {Decimal("0.5000")}


def test_a_binary_copy_is_one_statement():
    nodes = NodeFactory.create_batch(30)
    columns = ("node_id", "attribute_type", "attribute_key", "attribute_value", "weight", "confidence",
               "source_reliability")
    rows = [(node.pk, "fact", f"k{i}", "v", Decimal("1"), Decimal("0.8"), Decimal("0.5"))
            for node in nodes for i in range(10)]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")
        calls = trigger_calls()
        copy_rows(cursor.connection.cursor(), "node_attributes", columns, [rows])
    assert trigger_calls() == calls + 1
    assert set(Node.objects.filter(pk__in=[n.pk for n in nodes]).values_list("confidence_score", flat=True)) == \
        {node_score([(Decimal("0.8"), Decimal("0.5"), 1.0, 0)] * 10)}


def test_deleting_a_node_cascades_without_error():
    node = NodeFactory()
    NodeAttributeFactory.create_batch(3, node=node)
    RelationshipFactory(source_node=node)
    node.delete()
    assert not NodeAttribute.objects.filter(node_id=node.pk).exists()


def test_direct_writes_of_derived_scores_are_replaced():
    node = NodeFactory()
    NodeAttributeFactory(node=node, confidence=Decimal("1"), source_reliability=Decimal("1"))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE nodes SET confidence_score = 0.1 WHERE node_id = %s", [node.pk])
        cursor.execute("INSERT INTO nodes (name, node_type, confidence_score) VALUES ('x', 't', 0.99) "
                       "RETURNING confidence_score")
        assert cursor.fetchone()[0] == Decimal("0.5000")
    assert stored(node) == Decimal("0.7500")
    relationship = RelationshipFactory(source_node=node, stated_confidence=Decimal("0.8"))
    Relationship.objects.filter(pk=relationship.pk).update(confidence_score=Decimal("0.01"))
    relationship.refresh_from_db()
    assert relationship.confidence_score == relationship_confidence(
        evidence=Decimal("0.8"), source_reliability=Decimal("1"), source_node_confidence=Decimal("0.75"),
        target_node_confidence=Decimal("0.5"))


def test_the_spec_sql_states_a_relationships_evidence_in_confidence_score():
    a, b = NodeFactory(), NodeFactory()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO relationships (source_node_id, target_node_id, relationship_type, "
                       "confidence_score) VALUES (%s, %s, 'cites', 0.8) RETURNING relationship_id", [a.pk, b.pk])
        relationship = Relationship.objects.get(pk=cursor.fetchone()[0])
    assert relationship.stated_confidence == Decimal("0.8000")
    assert relationship.confidence_score == Decimal("0.6000")  # 0.8 × 1 × 0.75


def test_inferred_relationships_score_from_their_inference_confidence():
    relationship = RelationshipFactory(inferred=True, inference_confidence=Decimal("0.4"),
                                       stated_confidence=Decimal("0.9"), source_reliability=Decimal("0.5"))
    relationship.refresh_from_db()
    assert relationship.confidence_score == Decimal("0.1500")  # 0.4 × 0.5 × 0.75


def test_node_changes_reach_their_relationships():
    hub = NodeFactory()
    relationships = [RelationshipFactory(source_node=hub, stated_confidence=Decimal("1")) for _ in range(3)]
    relationships.append(RelationshipFactory(target_node=hub, stated_confidence=Decimal("1")))
    NodeAttributeFactory(node=hub, confidence=Decimal("1"), source_reliability=Decimal("1"))  # hub: 0.75
    assert sql_value("SELECT array_agg(node_id) FROM confidence_pending_nodes") == [hub.pk]
    at_commit()
    assert not sql_value("SELECT count(*) FROM confidence_pending_nodes")
    expected = relationship_confidence(evidence=1, source_reliability=1, source_node_confidence=Decimal("0.75"),
                                       target_node_confidence=Decimal("0.5"))
    for relationship in relationships:
        relationship.refresh_from_db()
        assert relationship.confidence_score == expected


def test_many_statements_in_one_transaction_carry_their_nodes_over_once_at_commit():
    nodes = NodeFactory.create_batch(4)
    relationships = [RelationshipFactory(source_node=a, target_node=b, stated_confidence=Decimal("1"))
                     for a, b in itertools.pairwise(nodes)]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")
        calls = sql_value("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                          "WHERE funcname = 'relationships_confidence_refresh'")
    for node in nodes:  # four statements, as a loop of saves makes
        NodeAttributeFactory(node=node, confidence=Decimal("1"), source_reliability=Decimal("1"))
    assert {r.confidence_score for r in Relationship.objects.filter(pk__in=[r.pk for r in relationships])} == \
        {Decimal("0.7500")}  # not yet: at commit
    at_commit()
    assert sql_value("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                     "WHERE funcname = 'relationships_confidence_refresh'") == calls + 1
    assert {r.confidence_score for r in Relationship.objects.filter(pk__in=[r.pk for r in relationships])} == \
        {Decimal("0.8750")}  # 1 × 1 × (0.5 + 0.5 × 0.75)


@pytest.mark.django_db(transaction=True)
def test_a_committed_attribute_write_reaches_the_relationships():
    relationship = RelationshipFactory(stated_confidence=Decimal("1"))
    NodeAttributeFactory(node=relationship.source_node, confidence=Decimal("1"), source_reliability=Decimal("1"))
    relationship.refresh_from_db()
    assert relationship.confidence_score == relationship_confidence(
        evidence=1, source_reliability=1, source_node_confidence=Decimal("0.75"),
        target_node_confidence=Decimal("0.5"))
    assert not sql_value("SELECT count(*) FROM confidence_pending_nodes")


def test_past_the_propagation_limit_relationships_are_rescored_later():
    config_set(name="confidence_propagation_limit", value="2")
    hub = NodeFactory()
    relationships = [RelationshipFactory(source_node=hub, stated_confidence=Decimal("1")) for _ in range(3)]
    NodeAttributeFactory(node=hub, confidence=Decimal("1"), source_reliability=Decimal("1"))
    at_commit()
    assert sql_value("SELECT array_agg(node_id) FROM confidence_pending_nodes") == [hub.pk]  # left for later
    assert {r.confidence_score for r in Relationship.objects.filter(source_node=hub)} == {Decimal("0.7500")}
    report = confidence_recalculate(stale_only=True)
    assert report.pending_nodes == 1 and report.pending_relationships_changed == 3
    assert not sql_value("SELECT count(*) FROM confidence_pending_nodes")
    assert {r.confidence_score for r in Relationship.objects.filter(source_node=hub)} == {Decimal("0.8062")}
    assert len(relationships) == 3


# --- Recalculation ----------------------------------------------------------------------------------------------

def make_stale(node_ids, score=Decimal("0.1"), hours=48):
    """Give nodes an out-of-date stored score, as time passing (recency decay) would."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('kgsite.confidence_writer', 'on', true)")
        cursor.execute("UPDATE nodes SET confidence_score = %s, confidence_last_updated = now() - %s * interval '1h' "
                       "WHERE node_id = ANY(%s)", [score, hours, list(node_ids)])
        cursor.execute("SELECT set_config('kgsite.confidence_writer', '', true)")


def test_recalculation_of_stale_scores_only():
    stale, fresh = NodeFactory.create_batch(3), NodeFactory.create_batch(2)
    make_stale([n.pk for n in stale])
    make_stale([n.pk for n in fresh], hours=1)
    report = confidence_recalculate(stale_only=True, batch_size=100)
    assert report.run.nodes_recomputed == 3 and report.run.nodes_changed == 3
    assert [stored(n) for n in stale] == [Decimal("0.5000")] * 3
    assert [stored(n) for n in fresh] == [Decimal("0.1000")] * 2  # not stale yet
    assert report.run.phase == "done" and report.run.finished_at is not None
    report = confidence_recalculate(stale_only=False, batch_size=100)
    assert [stored(n) for n in fresh] == [Decimal("0.5000")] * 2
    assert report.run.nodes_recomputed == Node.objects.count()


def test_recency_decays_without_any_write():
    node = NodeFactory()
    NodeAttributeFactory(node=node, confidence=Decimal("1"), source_reliability=Decimal("1"),
                         last_verified=timezone.now())
    assert stored(node) == Decimal("0.7500")
    with connection.cursor() as cursor:  # a year passes: the verification is now a half-life old
        cursor.execute("SELECT set_config('kgsite.confidence_writer', 'on', true)")
        cursor.execute("ALTER TABLE node_attributes DISABLE TRIGGER node_attributes_confidence_update")
        cursor.execute("UPDATE node_attributes SET last_verified = last_verified - interval '365 days' "
                       "WHERE node_id = %s", [node.pk])
        cursor.execute("ALTER TABLE node_attributes ENABLE TRIGGER node_attributes_confidence_update")
    assert stored(node) == Decimal("0.7500")
    confidence_recalculate()
    assert stored(node) == Decimal("0.5000")


def test_an_interrupted_run_is_resumed_from_its_checkpoint():
    nodes = NodeFactory.create_batch(6)
    ids = sorted(n.pk for n in nodes)
    make_stale(ids)
    run = ConfidenceRecalculation.objects.create(started_at=timezone.now(), stale_only=True, batch_size=100,
                                                 stale_before=timezone.now() - timedelta(hours=24),
                                                 resume_after=ids[2], nodes_recomputed=3)
    report = confidence_recalculate(stale_only=True, batch_size=100)
    assert report.resumed and report.run.pk == run.pk
    assert report.run.nodes_recomputed == 6  # 3 before the interruption + the 3 after the checkpoint
    assert [stored(n) for n in sorted(nodes, key=lambda n: n.pk)] == [Decimal("0.1000")] * 3 + [Decimal("0.5")] * 3
    other = ConfidenceRecalculation.objects.create(started_at=timezone.now(), stale_only=False, batch_size=100)
    report = confidence_recalculate(stale_only=True)
    other.refresh_from_db()
    assert other.phase == "abandoned" and not report.resumed


@pytest.mark.django_db(transaction=True)
def test_one_recalculation_at_a_time():
    with _connect() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [RECALCULATION_LOCK])
        with pytest.raises(GraphError) as excinfo:
            confidence_recalculate()
        assert excinfo.value.code == RECALCULATION_RUNNING
        assert not ConfidenceRecalculation.objects.exists()


def test_the_command_reports_what_changed():
    nodes = NodeFactory.create_batch(3)
    make_stale([n.pk for n in nodes])
    out, err = StringIO(), StringIO()
    call_command("recalculate_confidence", "--stale-only", "--batch-size", "100", stdout=out, stderr=err)
    assert "Nodes: 3 recomputed, 3 changed" in out.getvalue()
    assert "nodes: " in err.getvalue() and "3/3" in err.getvalue()


# --- In the admin -------------------------------------------------------------------------------------------------

def test_node_page_explains_the_score_and_does_not_edit_it(admin_client_for):
    node = NodeFactory()
    attribute = NodeAttributeFactory(node=node, confidence=Decimal("0.9"), source_reliability=Decimal("1"))
    html = admin_client_for.get(reverse("admin:graph_node_change", args=[node.pk])).content.decode()
    assert 'name="confidence_score"' not in html
    assert "How it is worked out" in html and "0.7000" in html
    assert "Worked out now: <strong>0.7000</strong>." in html and "(50.0% of the score)" in html
    assert f">{attribute}</a></td><td>0.9000</td><td>1.0000</td><td>1</td><td>0 days ago</td><td>0.900</td>" \
        "<td>50.0%</td>" in html
    explained = node_confidence_explained(node=node)
    assert explained.score == stored(node) and explained.contributions[0].effective == pytest.approx(0.9)


def test_relationship_page_edits_the_stated_confidence(admin_client_for):
    from tests.html_forms import form_data

    relationship = RelationshipFactory(stated_confidence=Decimal("0.6"))
    url = reverse("admin:graph_relationship_change", args=[relationship.pk])
    html = admin_client_for.get(url).content.decode()
    assert 'name="confidence_score"' not in html and 'name="stated_confidence"' in html
    assert "stated confidence 0.6000 × source reliability" in html
    data = form_data(html, "relationship_form")
    data.update(stated_confidence="1.5")
    response = admin_client_for.post(url, data)
    assert response.status_code == 200 and "Must be between 0 and 1." in response.content.decode()
    data.update(stated_confidence="0.4")
    assert admin_client_for.post(url, data).status_code == 302
    relationship.refresh_from_db()
    assert relationship.confidence_score == Decimal("0.3000")  # 0.4 × 1 × 0.75


def test_a_generated_graph_is_scored_consistently_by_its_copies():
    """The generator writes with binary COPY (nodes, then attributes, then relationships): the triggers leave every
    score as a recalculation at the same moment would make it, and nothing pending."""
    from graph.services.generator import graph_generate

    graph_generate(nodes=300, seed=3)
    assert not sql_value("SELECT count(*) FROM confidence_pending_nodes")
    assert sql_value("SELECT count(DISTINCT confidence_score) FROM nodes") > 10
    report = confidence_recalculate()
    assert report.run.nodes_recomputed == Node.objects.count() and report.run.nodes_changed == 0
    assert report.run.relationships_recomputed == Relationship.objects.count() > 0
    assert report.run.relationships_changed == 0


def _connect():
    settings = connection.settings_dict
    return psycopg.connect(dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"],
                           port=settings["PORT"] or None, password=settings["PASSWORD"] or None)


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_take_the_same_pending_node():
    config_set(name="confidence_propagation_limit", value="0")  # always leave the carrying to the workers
    hubs = NodeFactory.create_batch(2)
    for hub in hubs:
        RelationshipFactory(source_node=hub, stated_confidence=Decimal("1"))
        NodeAttributeFactory(node=hub, confidence=Decimal("1"), source_reliability=Decimal("1"))
    assert sorted(sql_value("SELECT array_agg(node_id) FROM confidence_pending_nodes")) == sorted(h.pk for h in hubs)
    with _connect() as first, _connect() as second:
        taken_first = first.execute("SELECT nodes_taken FROM confidence_pending_propagate(1)").fetchone()[0]
        taken_second = second.execute("SELECT nodes_taken FROM confidence_pending_propagate(2)").fetchone()[0]
        assert (taken_first, taken_second) == (1, 1)  # the second skipped the node the first holds
        first.commit()
        second.commit()
    assert not sql_value("SELECT count(*) FROM confidence_pending_nodes")
    assert set(Relationship.objects.values_list("confidence_score", flat=True)) == {Decimal("0.8062")}
