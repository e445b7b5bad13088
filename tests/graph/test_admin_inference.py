"""The inference admin: the queue page's overview, the Retry and Cancel actions (graph.services.inference_queue),
the node action "Queue for inference" and a relationship's "why inference made this link"."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from graph.choices import QueueStatus
from graph.errors import QUEUE_ITEM_STATE, GraphError
from graph.models import InferenceQueueItem, MaintenanceRun, Relationship
from graph.selectors import inference as queue_selectors
from graph.selectors.inference import inference_queue_overview
from graph.services.inference import InferenceParameters, relationships_infer
from graph.services.inference_queue import queue_items_cancel, queue_items_retry
from kgsite.errors import PermissionRefused
from tests.factories import NodeAttributeFactory, NodeFactory, RelationshipFactory, UserFactory

pytestmark = pytest.mark.django_db

QUEUE_URL = reverse("admin:graph_inferencequeueitem_changelist")
NODE_LIST_URL = reverse("admin:graph_node_changelist")
CHANGE_QUEUE = "graph.change_inferencequeueitem"
VIEW_QUEUE = "graph.view_inferencequeueitem"


def text_of(response) -> str:
    """The page's text: tags dropped, entities decoded, white space collapsed."""
    page = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", html.unescape(page))


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def fresh_node(name):
    """A node without the queue row its insert trigger made."""
    node = NodeFactory(name=name)
    InferenceQueueItem.objects.filter(node=node).delete()
    return node


def queue_item(node, status, **fields) -> InferenceQueueItem:
    return InferenceQueueItem.objects.create(node=node, status=status, **fields)


@pytest.fixture
def queue(db):
    """A small queue made by hand (the nodes' own trigger-queued rows removed first)."""
    now = timezone.now()
    nodes = {name: NodeFactory(name=name) for name in
             ("Ada", "Basic", "Cobol", "Dart", "Eiffel", "Fortran", "Gleam")}
    InferenceQueueItem.objects.all().delete()
    items = {
        "old_pending": queue_item(nodes["Ada"], QueueStatus.PENDING, priority=5,
                                  queued_at=now - timedelta(hours=3)),
        "urgent_pending": queue_item(nodes["Basic"], QueueStatus.PENDING, priority=9,
                                     queued_at=now - timedelta(hours=1)),
        "processing": queue_item(nodes["Cobol"], QueueStatus.PROCESSING, started_at=now - timedelta(minutes=5),
                                 processing_node="worker-1:4242", batch_id="b1",
                                 estimated_completion=now + timedelta(minutes=5)),
        "completed_recently": queue_item(nodes["Dart"], QueueStatus.COMPLETED,
                                         completed_at=now - timedelta(minutes=10)),
        "completed_long_ago": queue_item(nodes["Eiffel"], QueueStatus.COMPLETED,
                                         completed_at=now - timedelta(hours=2)),
        "failed": queue_item(nodes["Fortran"], QueueStatus.FAILED, retry_count=3, max_retries=3,
                             completed_at=now - timedelta(minutes=20), started_at=now - timedelta(minutes=21),
                             processing_node="worker-1:4242", batch_id="b0",
                             run_after=now + timedelta(minutes=30),
                             error_message="OperationalError: <b>canceling statement</b> due to timeout"),
        "cancelled": queue_item(nodes["Gleam"], QueueStatus.CANCELLED, completed_at=now - timedelta(minutes=40)),
    }
    return {"nodes": nodes, "items": items}


def statuses() -> dict[int, str]:
    return dict(InferenceQueueItem.objects.values_list("queue_id", "status"))


def pending_per_node_at_most_one():
    with connection.cursor() as cursor:
        cursor.execute("SELECT node_id FROM relationship_inference_queue WHERE status = 'pending' "
                       "GROUP BY node_id HAVING count(*) > 1")
        assert cursor.fetchall() == []


# --- The overview ------------------------------------------------------------------------------------------------

def test_overview_counts_oldest_throughput_failures_workers(queue):
    MaintenanceRun.objects.create(job="refresh_views", last_started_at=timezone.now(),
                                  last_finished_at=timezone.now(), last_succeeded=True,
                                  last_result="no view was due (0.0 s)", last_worker="worker-1:4242", runs=4)
    overview = inference_queue_overview()
    assert {line.status: (line.count.value, line.count.exact) for line in overview.counts} == {
        "pending": (2, True), "processing": (1, True), "completed": (2, True), "failed": (1, True),
        "cancelled": (1, True)}
    # The oldest pending item, not the most urgent one.
    assert overview.oldest_pending.pk == queue["items"]["old_pending"].pk
    assert overview.oldest_pending.node.name == "Ada"
    assert timedelta(hours=2, minutes=59) < overview.oldest_pending_wait < timedelta(hours=3, minutes=1)
    assert (overview.completed_last_hour.value, overview.failed_last_hour.value) == (1, 1)
    assert str(overview.completed_last_hour) == "1"
    assert [item.pk for item in overview.recent_failures] == [queue["items"]["failed"].pk]
    assert overview.recent_failures[0].error_head.startswith("OperationalError: <b>")
    assert [(w.worker, w.items, w.lease_expired) for w in overview.workers] == [("worker-1:4242", 1, False)]
    assert [run.job for run in overview.maintenance] == ["refresh_views"]


def test_overview_of_an_empty_queue(db):
    InferenceQueueItem.objects.all().delete()
    overview = inference_queue_overview()
    assert all(line.count.value == 0 for line in overview.counts)
    assert overview.oldest_pending is None and overview.recent_failures == [] and overview.workers == []


def test_oldest_pending_without_priority_counts_too(queue):
    ancient = queue_item(fresh_node("Haskell"), QueueStatus.PENDING, priority=None,
                         queued_at=timezone.now() - timedelta(days=2))
    assert inference_queue_overview().oldest_pending.pk == ancient.pk


def test_counts_past_the_cap_are_estimates(queue, monkeypatch):
    monkeypatch.setattr(queue_selectors, "COUNT_CAP", 1)
    overview = inference_queue_overview()
    pending = overview.count_of(QueueStatus.PENDING)
    assert not pending.exact and pending.value >= 2 and str(pending).startswith("≈")
    assert overview.count_of(QueueStatus.FAILED).exact


def test_throughput_past_its_cap_says_more_than(queue, monkeypatch):
    monkeypatch.setattr(queue_selectors, "THROUGHPUT_CAP", 0)
    overview = inference_queue_overview()
    assert str(overview.completed_last_hour) == "more than 0" and overview.completed_per_minute is None


def test_queue_page_shows_the_overview(admin_client_for, queue):
    response = admin_client_for.get(QUEUE_URL)
    assert response.status_code == 200
    text = text_of(response)
    for expected in ("2 pending", "1 processing", "2 completed", "1 failed", "1 cancelled",
                     "Oldest pending Ada , waiting 2 hours", "1 completed", "1 failed for good",
                     "worker-1:4242 holds 1 item", "Failed items",
                     "OperationalError: <b>canceling statement</b> due to timeout",
                     "Maintenance jobs of run_worker : none has run yet"):
        assert expected in text, expected
    page = response.content.decode()
    assert "<b>canceling" not in page  # the error is user data: escaped
    assert f'href="{QUEUE_URL}?status__exact=failed"' in page
    # The list's columns: node by name and linked, retries of max, the error shortened.
    ada = queue["nodes"]["Ada"]
    assert f'href="{reverse("admin:graph_node_change", args=[ada.pk])}">Ada</a>' in page
    assert "3 / 3" in text


def test_queue_page_says_when_counts_are_estimates(admin_client_for, queue, monkeypatch):
    monkeypatch.setattr(queue_selectors, "COUNT_CAP", 1)
    text = text_of(admin_client_for.get(QUEUE_URL))
    assert "≈" in text and "PostgreSQL's estimate" in text


def test_queue_page_queries_do_not_grow_with_rows(admin_client_for, queue, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as few:
        assert admin_client_for.get(QUEUE_URL).status_code == 200
    for index in range(60):
        queue_item(fresh_node(f"Extra {index}"), QueueStatus.FAILED, completed_at=timezone.now(),
                   error_message=f"error {index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client_for.get(QUEUE_URL)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 50
    counts = [query["sql"] for query in few.captured_queries if "COUNT(" in query["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


def test_queue_filters_by_status_and_priority(admin_client_for, queue):
    failed = admin_client_for.get(QUEUE_URL, {"status__exact": "failed"})
    assert [item.pk for item in failed.context["cl"].result_list] == [queue["items"]["failed"].pk]
    urgent = admin_client_for.get(QUEUE_URL, {"priority": "9"})
    assert [item.pk for item in urgent.context["cl"].result_list] == [queue["items"]["urgent_pending"].pk]
    for hostile in ("abc", "99999999999", "-1"):
        assert admin_client_for.get(QUEUE_URL, {"priority": hostile}).status_code in (200, 302)


# --- Retry -------------------------------------------------------------------------------------------------------

def test_retry_makes_failed_and_cancelled_items_pending_again(queue, superuser):
    items = queue["items"]
    before = statuses()
    result = queue_items_retry(queue_ids=[items["failed"].pk, items["cancelled"].pk], user=superuser)
    assert result.changed == sorted([items["failed"].pk, items["cancelled"].pk])
    assert not result.superseded and not result.left_alone
    after = statuses()
    assert after == {**before, items["failed"].pk: "pending", items["cancelled"].pk: "pending"}
    retried = InferenceQueueItem.objects.get(pk=items["failed"].pk)
    assert retried.retry_count == 0 and retried.max_retries == 3
    assert retried.run_after is None and retried.completed_at is None and retried.started_at is None
    assert retried.processing_node is None and retried.batch_id is None
    assert timezone.now() - retried.queued_at < timedelta(minutes=1)
    assert retried.error_message.startswith("OperationalError")  # why it was retried, until it completes
    assert "2 items retried" in result.summary()
    pending_per_node_at_most_one()


def test_retry_keeps_one_pending_item_per_node(queue, superuser):
    items, nodes = queue["items"], queue["nodes"]
    # Ada already waits (old_pending): her failed and cancelled items must not become pending beside it.
    failed_again = queue_item(nodes["Ada"], QueueStatus.FAILED, completed_at=timezone.now(), error_message="x")
    cancelled_again = queue_item(nodes["Ada"], QueueStatus.CANCELLED, completed_at=timezone.now())
    # Two retryable items of one node (Fortran's failed one and a cancelled one): only the newest is made pending.
    fortran_cancelled = queue_item(nodes["Fortran"], QueueStatus.CANCELLED, completed_at=timezone.now())
    result = queue_items_retry(
        queue_ids=[failed_again.pk, cancelled_again.pk, items["failed"].pk, fortran_cancelled.pk], user=superuser)
    pending_per_node_at_most_one()
    after = statuses()
    assert after[failed_again.pk] == "cancelled"  # the pending item carries the work: out of the failures
    assert after[cancelled_again.pk] == "cancelled"
    assert after[fortran_cancelled.pk] == "pending"
    assert after[items["failed"].pk] == "cancelled"
    assert result.changed == [fortran_cancelled.pk]
    assert result.superseded == sorted([failed_again.pk, cancelled_again.pk, items["failed"].pk])
    assert "already waiting in another pending item" in result.summary()


def test_retry_leaves_other_statuses_alone_and_says_so(queue, superuser):
    items = queue["items"]
    before = statuses()
    result = queue_items_retry(queue_ids=[items["failed"].pk, items["old_pending"].pk, items["processing"].pk],
                               user=superuser)
    assert result.changed == [items["failed"].pk]
    assert result.left_alone == {"pending": [items["old_pending"].pk], "processing": [items["processing"].pk]}
    assert statuses() == {**before, items["failed"].pk: "pending"}
    summary = result.summary()
    assert "1 item retried" in summary
    assert f"left alone, pending (already waiting): queue item {items['old_pending'].pk}" in summary
    assert "a worker holds it" in summary


def test_retry_of_nothing_retryable_is_refused_with_the_code(queue, superuser):
    items = queue["items"]
    before = statuses()
    with pytest.raises(GraphError) as refused:
        queue_items_retry(queue_ids=[items["old_pending"].pk, items["completed_recently"].pk, 99_999_999, 2**40],
                          user=superuser)
    assert refused.value.code == QUEUE_ITEM_STATE
    message = refused.value.message
    assert message.startswith("none of the selected queue items can be retried: only failed or cancelled")
    assert f"queue item {items['old_pending'].pk}" in message
    assert "no longer there (queue items 99999999, 1099511627776)" in message
    assert statuses() == before


def test_retry_and_cancel_need_the_change_permission(queue):
    viewer = UserFactory(staff=True, permissions=[VIEW_QUEUE])
    for service in (queue_items_retry, queue_items_cancel):
        with pytest.raises(PermissionRefused):
            service(queue_ids=[queue["items"]["failed"].pk], user=viewer)
    editor = UserFactory(staff=True, permissions=[CHANGE_QUEUE])
    assert queue_items_retry(queue_ids=[queue["items"]["failed"].pk], user=editor).changed


# --- Cancel ------------------------------------------------------------------------------------------------------

def test_cancel_takes_pending_items_out_and_leaves_processing_ones_to_their_worker(queue, superuser):
    items = queue["items"]
    before = statuses()
    result = queue_items_cancel(
        queue_ids=[items["old_pending"].pk, items["processing"].pk, items["completed_recently"].pk], user=superuser)
    assert result.changed == [items["old_pending"].pk]
    assert set(result.left_alone) == {"processing", "completed"}
    assert statuses() == {**before, items["old_pending"].pk: "cancelled"}
    cancelled = InferenceQueueItem.objects.get(pk=items["old_pending"].pk)
    assert timezone.now() - cancelled.completed_at < timedelta(minutes=1)
    assert "a worker holds it" in result.summary()


def test_cancel_of_only_processing_items_is_refused(queue, superuser):
    with pytest.raises(GraphError) as refused:
        queue_items_cancel(queue_ids=[queue["items"]["processing"].pk], user=superuser)
    assert refused.value.code == QUEUE_ITEM_STATE
    assert "only pending items can be" in refused.value.message
    assert "a worker holds it" in refused.value.message


def test_cancelled_then_retried_item_can_be_claimed_again(queue, superuser):
    item = queue["items"]["old_pending"]
    queue_items_cancel(queue_ids=[item.pk], user=superuser)
    queue_items_retry(queue_ids=[item.pk], user=superuser)
    assert InferenceQueueItem.objects.get(pk=item.pk).status == "pending"
    pending_per_node_at_most_one()


# --- The actions in the admin --------------------------------------------------------------------------------------

def act(client, url, action, ids):
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], "index": "0"},
                       follow=True)


def test_retry_action_changes_exactly_the_selected_rows(admin_client_for, queue):
    items = queue["items"]
    before = statuses()
    response = act(admin_client_for, QUEUE_URL, "retry_items", [items["failed"].pk])
    assert response.status_code == 200
    assert statuses() == {**before, items["failed"].pk: "pending"}
    assert messages_of(response) == ["1 item retried (pending again, with a fresh set of retries)."]


def test_cancel_action_reports_what_it_left_alone(admin_client_for, queue):
    items = queue["items"]
    response = act(admin_client_for, QUEUE_URL, "cancel_items", [items["urgent_pending"].pk, items["processing"].pk])
    assert response.status_code == 200
    (message,) = messages_of(response)
    assert message.startswith("1 item cancelled.") and "a worker holds it" in message
    assert statuses()[items["processing"].pk] == "processing"


def test_refused_action_is_a_clear_message_not_an_error_page(admin_client_for, queue):
    before = statuses()
    response = act(admin_client_for, QUEUE_URL, "retry_items", [queue["items"]["urgent_pending"].pk])
    assert response.status_code == 200
    (message,) = messages_of(response)
    assert message.startswith("Nothing was retried: none of the selected queue items can be retried")
    assert message.endswith(f"({QUEUE_ITEM_STATE}).")
    assert statuses() == before


def test_queue_page_permission_matrix(client, queue):
    assert client.get(QUEUE_URL).status_code == 302  # anonymous: to the login page
    nobody = UserFactory(staff=True)
    client.force_login(nobody)
    assert client.get(QUEUE_URL).status_code == 403
    viewer = UserFactory(staff=True, permissions=[VIEW_QUEUE])
    client.force_login(viewer)
    page = client.get(QUEUE_URL)
    assert page.status_code == 200 and "1 failed" in text_of(page)
    assert "retry_items" not in page.content.decode()  # no action without the change permission
    before = statuses()
    refused = act(client, QUEUE_URL, "retry_items", [queue["items"]["failed"].pk])
    assert refused.status_code in (200, 403) and statuses() == before
    editor = UserFactory(staff=True, permissions=[VIEW_QUEUE, CHANGE_QUEUE])
    client.force_login(editor)
    assert "retry_items" in client.get(QUEUE_URL).content.decode()
    act(client, QUEUE_URL, "retry_items", [queue["items"]["failed"].pk])
    assert statuses()[queue["items"]["failed"].pk] == "pending"


# --- Queueing nodes by hand ----------------------------------------------------------------------------------------

def test_node_action_queues_the_selected_nodes(admin_client_for):
    rust, go, python = (NodeFactory(name=name) for name in ("Rust", "Go", "Python"))
    InferenceQueueItem.objects.all().delete()
    response = act(admin_client_for, NODE_LIST_URL, "queue_for_inference", [rust.pk, go.pk])
    (message,) = messages_of(response)
    assert message.startswith("Queued 2 of the 2 selected nodes for inference at priority 8")
    queued = InferenceQueueItem.objects.filter(status="pending")
    assert sorted(queued.values_list("node__name", "priority")) == [("Go", 8), ("Rust", 8)]
    assert not InferenceQueueItem.objects.filter(node=python).exists()
    # Again: already waiting, so their priority rises instead of a second pending row.
    act(admin_client_for, NODE_LIST_URL, "queue_for_inference", [rust.pk])
    assert InferenceQueueItem.objects.filter(node=rust, status="pending").count() == 1
    pending_per_node_at_most_one()


def test_node_action_needs_the_node_change_permission(client):
    rust = NodeFactory(name="Rust")
    InferenceQueueItem.objects.all().delete()
    viewer = UserFactory(staff=True, permissions=["graph.view_node"])
    client.force_login(viewer)
    assert "queue_for_inference" not in client.get(NODE_LIST_URL).content.decode()
    act(client, NODE_LIST_URL, "queue_for_inference", [rust.pk])
    assert not InferenceQueueItem.objects.exists()
    editor = UserFactory(staff=True, permissions=["graph.view_node", "graph.change_node"])
    client.force_login(editor)
    act(client, NODE_LIST_URL, "queue_for_inference", [rust.pk])
    assert InferenceQueueItem.objects.filter(node=rust, status="pending").exists()


# --- Why inference made a link -------------------------------------------------------------------------------------

HOSTILE = '<script>alert("owned")</script>'


def sure(node, attribute_type, key, value, **fields):
    fields = {"weight": 1.0, "confidence": 1.0, "source_reliability": 1.0, **fields}
    return NodeAttributeFactory(node=node, attribute_type=attribute_type, attribute_key=key, attribute_value=value,
                                **fields)


@pytest.fixture
def inferred(db):
    """Rust and Go share three values (one hostile); Python shares one of them; Ruby none. Inferred with the
    default parameters."""
    rust, go, python, ruby = (NodeFactory(name=name, node_type="language")
                              for name in ("Rust", "Go", "Python", "Ruby"))
    for node, extra in ((rust, {}), (go, {"weight": 0.8, "confidence": 0.9})):
        sure(node, "classification", "paradigm", "concurrent", **extra)
        sure(node, "classification", "typing", "static", **extra)
        sure(node, "fact", "motto", HOSTILE, **extra)
    sure(python, "classification", "paradigm", "concurrent")
    sure(ruby, "classification", "typing", "dynamic")
    result = relationships_infer(node_ids=[rust.pk, go.pk, python.pk, ruby.pk])
    assert result.created == 1, result.summary()
    return Relationship.objects.get(auto_managed=True)


def test_inferred_relationship_page_explains_the_link(admin_client_for, inferred):
    response = admin_client_for.get(reverse("admin:graph_relationship_change", args=[inferred.pk]))
    assert response.status_code == 200
    text = text_of(response)
    assert "Why inference made this link" in text
    assert f"Score {inferred.inference_confidence:.4f} from 3 shared values, inferred" in text
    for value in ("classification.paradigm = concurrent", "classification.typing = static",
                  f"fact.motto = {HOSTILE}"):
        assert value in text, value
    # Evidence on each side (weight × confidence × reliability) and √(0.72 × 1) as the contribution.
    assert "evidence on Rust" in text and "evidence on Go" in text
    assert "0.72" in text and "0.8485" in text
    assert "1 − Π (1 − contribution)" in text and "N = 4 nodes in the graph" in text
    page = response.content.decode()
    assert HOSTILE not in page and html.escape(HOSTILE) in page


def test_values_too_common_are_listed_as_skipped(admin_client_for, db):
    nodes = [NodeFactory(name=name) for name in ("Alpha", "Beta", "Gamma")]
    for node in nodes:
        sure(node, "fact", "kind", "language")  # carried by 3 nodes: above max_value_nodes=2 below
    for node in nodes[:2]:
        sure(node, "fact", "era", "1970s")
        sure(node, "fact", "lab", "Bell Labs")
    parameters = InferenceParameters(min_shared=2, threshold=0.5, max_value_nodes=2, rarity_weight=1.0,
                                     relationship_type="shares_attributes")
    relationships_infer(node_ids=[node.pk for node in nodes], parameters=parameters)
    relationship = Relationship.objects.get(auto_managed=True)
    text = text_of(admin_client_for.get(reverse("admin:graph_relationship_change", args=[relationship.pk])))
    assert "skipped as too common (carried by more than 2 nodes" in text
    assert "fact.kind = language" in text
    assert "Score" in text and "from 2 shared values" in text


def test_manual_relationship_says_it_was_made_by_hand(admin_client_for, db):
    manual = RelationshipFactory(relationship_type="influenced")
    text = text_of(admin_client_for.get(reverse("admin:graph_relationship_change", args=[manual.pk])))
    assert "Made by hand: inference did not make this link" in text
    assert "Inference confidence" not in text  # the empty inference columns are not shown


def test_long_shared_values_are_shortened(admin_client_for, db):
    long_value = "x" * 150 + " end of a long shared value"
    a, b = NodeFactory(name="A"), NodeFactory(name="B")
    for node in (a, b):
        sure(node, "fact", "note", long_value)
        sure(node, "fact", "colour", "red")
    relationships_infer(node_ids=[a.pk, b.pk])
    relationship = Relationship.objects.get(auto_managed=True)
    page = admin_client_for.get(reverse("admin:graph_relationship_change", args=[relationship.pk])).content.decode()
    assert "x" * 79 + "…" in page  # shown shortened; the title attribute holds what inference kept


def test_relationship_list_shows_the_shared_count_of_inferred_links(admin_client_for, inferred):
    RelationshipFactory(relationship_type="influenced")
    response = admin_client_for.get(reverse("admin:graph_relationship_changelist"))
    rows = {rel.pk: rel for rel in response.context["cl"].result_list}
    assert inferred.pk in rows
    page = response.content.decode()
    assert re.search(r'<td class="field-shared">3</td>', page)
    assert re.search(r'<td class="field-shared">—</td>', page)


def test_relationship_taken_over_by_a_curator_keeps_its_last_explanation(admin_client_for, inferred):
    Relationship.objects.filter(pk=inferred.pk).update(auto_managed=False)
    text = text_of(admin_client_for.get(reverse("admin:graph_relationship_change", args=[inferred.pk])))
    assert "A curator has taken this link over" in text and "classification.typing = static" in text


def test_inferred_relationship_without_its_record_says_so(admin_client_for, db):
    relationship = RelationshipFactory(inferred=True, metadata={"inference": "edited by hand"})
    text = text_of(admin_client_for.get(reverse("admin:graph_relationship_change", args=[relationship.pk])))
    assert "its explanation is missing" in text


def test_hostile_node_names_and_errors_are_escaped_on_the_queue_page(admin_client_for, db):
    InferenceQueueItem.objects.all().delete()
    hostile = fresh_node('<img src=x onerror="alert(1)">')
    queue_item(hostile, QueueStatus.FAILED, completed_at=timezone.now(), error_message=HOSTILE,
               processing_node=HOSTILE)
    page = admin_client_for.get(QUEUE_URL).content.decode()
    assert "<img src=x" not in page and HOSTILE not in page
    assert html.escape(HOSTILE) in page


def test_actions_refuse_a_selection_too_big_for_one_statement(admin_client_for, queue, monkeypatch):
    from graph import admin_inference as graph_admin

    monkeypatch.setattr(graph_admin, "ACTION_LIMIT", 1)
    before = statuses()
    response = act(admin_client_for, QUEUE_URL, "cancel_items",
                   [queue["items"]["old_pending"].pk, queue["items"]["urgent_pending"].pk])
    (message,) = messages_of(response)
    assert message.startswith("Nothing was done: select at most 1 queue items at a time")
    assert statuses() == before
