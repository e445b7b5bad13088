"""Curation of inferred links (docs/curation.md): the reasons a link keeps and their staleness on every write path,
rejections that stick (inference, re-queueing, imports, the admin), accepting, skipping, withdrawing, the audit,
set-based bulk decisions and permissions. The worker with real processes: test_curation_processes.py."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from graph.errors import REVIEW_BAD_DECISION, GraphError
from graph.models import InferenceReason, InferenceRejection, Node, NodeAttribute, Relationship, ReviewDecision
from graph.services.curation import (
    BULK_LIMIT,
    rejection_of,
    rejections_withdraw,
    review_accept,
    review_reject,
    review_skip,
)
from graph.services.import_staging import import_sources
from graph.services.imports import graph_import
from graph.services.inference import (
    inference_queue,
    relationship_inference_explained,
    relationships_cleanup,
    relationships_infer,
)
from graph.services.inference_worker import Mode, inference_worker_run
from kgsite.errors import PermissionRefused
from tests.factories import NodeAttributeFactory, NodeFactory, UserFactory

pytestmark = pytest.mark.django_db
TYPE = "shares_attributes"
ONE = Decimal("1")


def attribute(node, key, value, kind="property"):
    return NodeAttributeFactory(node=node, attribute_type=kind, attribute_key=key, attribute_value=value,
                                confidence=ONE, weight=ONE, source_reliability=ONE)


def infer_all():
    return relationships_infer(node_ids=list(Node.objects.values_list("pk", flat=True)))


def link(a, b) -> Relationship | None:
    source, target = sorted((a.pk, b.pk))
    return Relationship.objects.filter(source_node_id=source, target_node_id=target, relationship_type=TYPE).first()


@pytest.fixture
def graph():
    """A and B share colour and shape; C and D share colour and size; E shares nothing. Two inferred links."""
    nodes = {name: NodeFactory(label=name.lower(), name=name) for name in "ABCDE"}
    a, b, c, d = (nodes[name] for name in "ABCD")
    attrs = {
        "a_colour": attribute(a, "colour", "teal"), "b_colour": attribute(b, "colour", "teal"),
        "a_shape": attribute(a, "shape", "hexagon"), "b_shape": attribute(b, "shape", "hexagon"),
        "c_colour": attribute(c, "colour", "ochre"), "d_colour": attribute(d, "colour", "ochre"),
        "c_size": attribute(c, "size", "vast"), "d_size": attribute(d, "size", "vast"),
        "e_size": attribute(nodes["E"], "size", "tiny"),
    }
    infer_all()
    return nodes | attrs


@pytest.fixture
def curator():
    user = UserFactory(email="reviewer@example.com")
    user.user_permissions.add(Permission.objects.get(codename="review_relationship"))
    return type(user).objects.get(pk=user.pk)  # permissions are cached per instance


# --- Reasons ---------------------------------------------------------------------------------------------------------

def test_an_inferred_link_keeps_which_attribute_on_each_side_supports_it(graph):
    ab = link(graph["A"], graph["B"])
    reasons = {(r.attribute_key, r.source_attribute_id, r.target_attribute_id): r
               for r in InferenceReason.objects.filter(relationship=ab)}
    assert ab.source_node == graph["A"]  # the lower id first
    assert set(reasons) == {("colour", graph["a_colour"].pk, graph["b_colour"].pk),
                            ("shape", graph["a_shape"].pk, graph["b_shape"].pk)}
    assert all(r.rule_version == 1 and 0 < r.contribution <= 1 and r.gone_at is None for r in reasons.values())
    # The explanation reads them; the metadata keeps the score and what was left out, not a second copy.
    explained = relationship_inference_explained(ab)
    assert {v.attribute_key for v in explained.shared} == {"colour", "shape"}
    assert "shared" not in ab.metadata["inference"]
    assert ab.review_impact == pytest.approx(float(ab.inference_confidence), abs=1e-3)  # × (1 + 0 + 0)


def test_editing_an_attribute_marks_exactly_the_links_it_supported(graph):
    ab, cd = link(graph["A"], graph["B"]), link(graph["C"], graph["D"])
    NodeAttribute.objects.filter(pk=graph["a_colour"].pk).update(attribute_value="crimson")
    ab.refresh_from_db()
    cd.refresh_from_db()
    assert ab.stale_since is not None and cd.stale_since is None
    gone = InferenceReason.objects.filter(relationship=ab, gone_at__isnull=False)
    assert [(r.attribute_key, r.gone_why) for r in gone] == [("colour", "changed")]
    assert InferenceReason.objects.filter(relationship=cd, gone_at__isnull=False).count() == 0
    # last_verified alone is not something the rule reads: nothing marked.
    NodeAttribute.objects.filter(pk=graph["c_size"].pk).update(last_verified="2020-01-01T00:00:00Z")
    cd.refresh_from_db()
    assert cd.stale_since is None


def test_a_delete_in_plain_sql_marks_the_reason_deleted_and_the_next_pass_settles_the_link(graph):
    ab = link(graph["A"], graph["B"])
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM node_attributes WHERE attribute_id = %s", [graph["b_shape"].pk])
    ab.refresh_from_db()
    assert ab.stale_since is not None
    explained = relationship_inference_explained(ab)
    assert [(v.attribute_key, v.gone_why) for v in explained.gone] == [("shape", "deleted")]
    assert [v.attribute_key for v in explained.holding] == ["colour"]
    # One shared value is below the minimum of two: the pass removes the link (and its reasons cascade).
    inference_worker_run(mode=Mode.DRAIN)
    assert link(graph["A"], graph["B"]) is None
    assert not InferenceReason.objects.filter(relationship_id=ab.pk).exists()


def test_a_re_scored_link_is_no_longer_stale_and_its_reasons_are_new(graph):
    attribute(graph["A"], "texture", "rough")
    attribute(graph["B"], "texture", "rough")
    NodeAttribute.objects.filter(pk=graph["a_shape"].pk).update(weight=Decimal("0.5"))
    assert link(graph["A"], graph["B"]).stale_since is not None
    inference_worker_run(mode=Mode.DRAIN)
    ab = link(graph["A"], graph["B"])
    assert ab.stale_since is None
    reasons = InferenceReason.objects.filter(relationship=ab)
    assert sorted(r.attribute_key for r in reasons) == ["colour", "shape", "texture"]
    assert not reasons.filter(gone_at__isnull=False).exists()


# --- Rejections stick ----------------------------------------------------------------------------------------------

def test_a_rejected_link_never_returns_after_requeueing_a_full_pass_or_a_worker_run(graph, curator):
    ab = link(graph["A"], graph["B"])
    result = review_reject([ab.pk], user=curator, reason="same colour and shape is chance")
    assert (result.decided, result.selected) == (1, 1)
    assert link(graph["A"], graph["B"]) is None
    rejection = rejection_of(graph["B"].pk, graph["A"].pk, TYPE)
    assert rejection.reason == "same colour and shape is chance" and rejection.rejected_by == curator
    assert rejection.source_node_id < rejection.target_node_id
    inference_queue(node_ids=[graph["A"].pk, graph["B"].pk], priority=10)
    inference_worker_run(mode=Mode.DRAIN)
    infer_all()
    inference_queue(all_nodes=True)
    inference_worker_run(mode=Mode.DRAIN)
    assert link(graph["A"], graph["B"]) is None
    assert link(graph["C"], graph["D"]) is not None  # the other link is untouched


def test_an_inferred_link_inserted_for_a_rejected_pair_in_plain_sql_is_removed(graph, curator):
    ab = link(graph["A"], graph["B"])
    review_reject([ab.pk], user=curator, reason="no")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO relationships (source_node_id, target_node_id, relationship_type, auto_managed, "
                       "source) VALUES (%s, %s, %s, true, 'inference')", [ab.target_node_id, ab.source_node_id, TYPE])
    assert not Relationship.objects.filter(relationship_type=TYPE, source_node_id__in=[ab.source_node_id,
                                                                                       ab.target_node_id],
                                           target_node_id__in=[ab.source_node_id, ab.target_node_id]).exists()


def test_a_rejection_that_appears_while_a_pass_writes_removes_the_link_and_its_reasons(graph, curator):
    """A pass that read the rejections before one was committed: the trigger removes what it wrote. Simulated by
    a test trigger that records the rejection while the pass inserts the link (after its NOT EXISTS ran)."""
    ab = link(graph["A"], graph["B"])
    review_reject([ab.pk], user=curator, reason="no")
    rejection = InferenceRejection.objects.get()
    InferenceRejection.objects.all().delete()  # the pass will not see it ...
    with connection.cursor() as cursor:  # ... until it inserts the link
        cursor.execute(f"""
            CREATE FUNCTION test_reject_meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO inference_rejections (source_node_id, target_node_id, relationship_type, reason,
                                                  rejected_at)
                VALUES ({rejection.source_node_id}, {rejection.target_node_id}, '{TYPE}', 'meanwhile', now())
                ON CONFLICT DO NOTHING;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_reject_meanwhile BEFORE INSERT ON relationships
                FOR EACH ROW WHEN (NEW.source_node_id = {ab.source_node_id}) EXECUTE FUNCTION test_reject_meanwhile();
        """)
    result = infer_all()
    assert result.created >= 1  # the pass wrote it ...
    assert link(graph["A"], graph["B"]) is None  # ... and it is gone, with its reasons
    assert not InferenceReason.objects.filter(relationship__source_node=graph["A"],
                                              relationship__target_node=graph["B"]).exists()
    assert link(graph["C"], graph["D"]) is not None


def test_an_import_of_the_rejected_link_leaves_it_out_and_says_so(graph, curator, tmp_path):
    ab = link(graph["A"], graph["B"])
    review_reject([ab.pk], user=curator, reason="no")
    for node in (graph["A"], graph["B"], graph["C"]):
        Node.objects.filter(pk=node.pk).update(external_key=node.name.lower())
    records = [{"kind": "relationship", "source": "a", "target": "b", "type": TYPE},
               {"kind": "relationship", "source": "b", "target": "a", "type": TYPE},
               {"kind": "relationship", "source": "a", "target": "c", "type": TYPE}]
    path = tmp_path / "links.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    report = graph_import(sources=import_sources(paths=[path]))
    assert report.ok
    assert (report.counts["relationship"].created, report.counts["relationship"].rejected) == (1, 2)
    assert "2 left out as rejected by a curator" in "\n".join(report.lines())
    assert link(graph["A"], graph["B"]) is None and link(graph["A"], graph["C"]) is not None


def test_a_withdrawn_rejection_lets_inference_make_the_link_again_and_the_audit_shows_both(graph, curator):
    ab = link(graph["A"], graph["B"])
    review_reject([ab.pk], user=curator, reason="doubtful")
    rejection = InferenceRejection.objects.get()
    result = rejections_withdraw([rejection.pk], user=curator, reason="it was right after all")
    assert result.decided == 1 and not InferenceRejection.objects.exists()
    inference_worker_run(mode=Mode.DRAIN)  # the withdrawal queued both nodes
    assert link(graph["A"], graph["B"]) is not None
    decisions = list(ReviewDecision.objects.order_by("decision_id").values_list(
        "action", "decided_by__email", "reason", "source_node_id", "target_node_id"))
    low, high = sorted((graph["A"].pk, graph["B"].pk))
    assert decisions == [("reject", "reviewer@example.com", "doubtful", ab.source_node_id, ab.target_node_id),
                         ("withdraw", "reviewer@example.com", "it was right after all", low, high)]


# --- Accept and skip -----------------------------------------------------------------------------------------------

def test_an_accepted_link_is_curated_keeps_its_evidence_and_survives_cleanup_and_inference(graph, curator):
    ab = link(graph["A"], graph["B"])
    assert review_accept([ab.pk], user=curator).decided == 1
    ab.refresh_from_db()
    assert ab.auto_managed is False and ab.source == "inference"
    assert InferenceReason.objects.filter(relationship=ab).count() == 2
    # The evidence goes away: cleanup and inference would remove an inferred link; a curated one stays.
    NodeAttribute.objects.filter(pk__in=[graph["a_colour"].pk, graph["a_shape"].pk]).delete()
    relationships_cleanup()
    inference_worker_run(mode=Mode.DRAIN)
    ab.refresh_from_db()
    assert ab.auto_managed is False
    assert len(relationship_inference_explained(ab).gone) == 2  # the page says its reasons are gone
    assert review_accept([ab.pk], user=curator).decided == 0  # no longer pending: left alone, counted


def test_skipping_keeps_the_link_pending_and_records_it(graph, curator):
    ab = link(graph["A"], graph["B"])
    assert review_skip([ab.pk], user=curator).decided == 1
    ab.refresh_from_db()
    assert ab.auto_managed and ab.review_skipped_at is not None
    assert ReviewDecision.objects.get().action == "skip"


# --- Bulk, audit, permissions, bad input ------------------------------------------------------------------------------

def _many_inferred_links(count: int) -> list[int]:
    """``count`` inferred links between generated nodes, inserted in SQL (their pairs: 2k+1 → 2k+2)."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO nodes (name, node_type) SELECT 'bulk ' || g, 'concept' FROM "
                       "generate_series(1, %s) AS g RETURNING node_id", [2 * count])
        ids = sorted(row[0] for row in cursor.fetchall())
        cursor.execute(
            "INSERT INTO relationships (source_node_id, target_node_id, relationship_type, auto_managed, source, "
            "inference_confidence, review_impact) "
            "SELECT a, b, %s, true, 'inference', 0.7, 1.4 FROM unnest(%s::int[], %s::int[]) AS p(a, b) "
            "RETURNING relationship_id", [TYPE, ids[0::2], ids[1::2]])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("decide", ["accept", "reject"])
def test_a_bulk_decision_on_ten_thousand_links_is_one_writing_statement_and_audited(decide, curator):
    ids = _many_inferred_links(BULK_LIMIT)
    with CaptureQueriesContext(connection) as queries:
        if decide == "accept":
            result = review_accept(Relationship.objects.filter(auto_managed=True), user=curator)
        else:
            result = review_reject(Relationship.objects.filter(auto_managed=True), user=curator, reason="noise")
    assert result.decided == BULK_LIMIT
    writes = [q["sql"] for q in queries.captured_queries
              if any(verb in q["sql"].upper() for verb in ("INSERT ", "UPDATE ", "DELETE "))]
    assert len(writes) == 1
    assert ReviewDecision.objects.filter(action=decide, batch_id=result.batch_id, batch_size=BULK_LIMIT).count() \
        == BULK_LIMIT
    if decide == "accept":
        assert Relationship.objects.filter(pk__in=ids, auto_managed=False).count() == BULK_LIMIT
    else:
        assert not Relationship.objects.filter(pk__in=ids).exists()
        assert InferenceRejection.objects.count() == BULK_LIMIT


def test_viewers_cannot_decide_and_nothing_changes(graph):
    viewer = UserFactory(email="viewer@example.com")
    ab = link(graph["A"], graph["B"])
    for decide in (lambda: review_accept([ab.pk], user=viewer), lambda: review_skip([ab.pk], user=viewer),
                   lambda: review_reject([ab.pk], user=viewer, reason="x"),
                   lambda: rejections_withdraw([], user=viewer)):
        with pytest.raises(PermissionRefused, match="graph.review_relationship"):
            decide()
    ab.refresh_from_db()
    assert ab.auto_managed and ab.review_skipped_at is None
    assert not ReviewDecision.objects.exists()


@pytest.mark.parametrize(("reason", "message"), [
    ("", "say why"), ("   ", "say why"), ("x" * 2001, "at most 2,000"), ("bad\x00reason", "NUL"),
])
def test_a_rejection_needs_a_sound_reason(graph, curator, reason, message):
    ab = link(graph["A"], graph["B"])
    with pytest.raises(GraphError, match=message) as refused:
        review_reject([ab.pk], user=curator, reason=reason)
    assert refused.value.code == REVIEW_BAD_DECISION
    assert link(graph["A"], graph["B"]) is not None and not InferenceRejection.objects.exists()


def test_ids_that_are_not_whole_numbers_are_refused(curator):
    with pytest.raises(GraphError, match="whole numbers"):
        review_accept(["1"], user=curator)


def test_deleting_a_node_deletes_its_rejections_and_keeps_the_record(graph, curator, client):
    ab = link(graph["A"], graph["B"])
    review_reject([ab.pk], user=curator, reason="no")
    superuser = UserFactory(email="root@example.com", superuser=True)
    client.force_login(superuser)
    page = client.get(f"/admin/graph/node/{graph['A'].pk}/delete/")
    assert page.status_code == 200 and "Rejected inferred link: 1" in " ".join(page.content.decode().split())
    assert client.post(f"/admin/graph/node/{graph['A'].pk}/delete/", {"post": "yes"}).status_code == 302
    assert not InferenceRejection.objects.exists()
    assert ReviewDecision.objects.filter(action="reject", relationship_id=ab.pk).exists()
