"""The review queue page (/review/), its decisions, its admin views, and the pages that honour
review_inferred_visible (docs/curation.md)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from config_admin.services import config_set
from graph.models import InferenceRejection, PendingLink, Relationship, ReviewDecision
from graph.services.curation import review_reject, review_skip
from tests.factories import NodeAttributeFactory, NodeFactory, RelationshipFactory, UserFactory

pytestmark = pytest.mark.django_db
TYPE = "shares_attributes"
REVIEWER = ["graph.view_relationship", "graph.review_relationship"]


def inferred(a, b, score="0.7", impact=1.0, **extra):
    return RelationshipFactory(source_node=a, target_node=b, relationship_type=TYPE, inferred=True,
                               inference_confidence=score, review_impact=impact, **extra)


@pytest.fixture
def queue():
    """Three pending links of different impact (with reasons on the strongest), one curated link."""
    nodes = {name: NodeFactory(label=name.lower(), name=name) for name in ("Ada", "Babbage", "Turing", "Hopper")}
    ada, babbage, turing, hopper = nodes.values()
    NodeAttributeFactory(node=ada, attribute_type="fact", attribute_key="field", attribute_value="computing")
    strong = inferred(ada, babbage, score="0.9", impact=3.0)
    strong.inference_reasons.create(source_attribute_id=1, target_attribute_id=2, attribute_type="fact",
                                    attribute_key="field", attribute_value="computing", carriers=2,
                                    source_evidence=0.5, target_evidence=0.5, contribution=0.5, rule_version=1)
    Relationship.objects.filter(pk=strong.pk).update(metadata={"inference": {"score": 0.9, "rule": 1}})
    middle = inferred(turing, hopper, score="0.6", impact=2.0)
    weak = inferred(ada, turing, score="0.55", impact=1.0)
    manual = RelationshipFactory(source_node=babbage, target_node=hopper, relationship_type="met")
    return nodes | {"strong": strong, "middle": middle, "weak": weak, "manual": manual}


def login(client, *permissions, email="someone@example.com"):
    user = UserFactory(email=email, permissions=list(permissions))
    client.force_login(user)
    return user


def test_the_queue_lists_pending_links_by_impact_with_their_reasons(client, queue):
    login(client, *REVIEWER)
    response = client.get(reverse("review"))
    assert response.status_code == 200
    rows = [row.relationship.pk for row in response.context["page"].rows]
    assert rows == [queue["strong"].pk, queue["middle"].pk, queue["weak"].pk]  # the manual link is not pending
    html = response.content.decode()
    assert "Inferred because both have" in html and "fact.field" in html and "computing" in html
    assert f'value="reject:{queue["strong"].pk}"' in html


@pytest.mark.parametrize(("query", "expected"), [
    ("min_score=0.58", ["strong", "middle"]), ("max_score=0.58", ["weak"]), (f"type={TYPE}", ["strong", "middle",
                                                                                             "weak"]),
    ("type=other", []), ("node_type=concept", ["strong", "middle", "weak"]), ("node_type=person", []),
    ("newer_than=1", ["strong", "middle", "weak"]), ("older_than=1", []),
])
def test_the_filters_narrow_the_queue(client, queue, query, expected):
    login(client, *REVIEWER)
    response = client.get(f"{reverse('review')}?{query}")
    assert response.status_code == 200
    assert [row.relationship.pk for row in response.context["page"].rows] == [queue[name].pk for name in expected]


def test_the_subtree_filter_keeps_links_with_an_end_inside(client, queue):
    science = NodeFactory(label="science", name="Science")
    inside = NodeFactory(parent=science, label="lovelace", name="Lovelace")
    link = inferred(inside, queue["Hopper"], impact=0.5)
    login(client, *REVIEWER)
    response = client.get(f"{reverse('review')}?subtree=science")
    assert [row.relationship.pk for row in response.context["page"].rows] == [link.pk]


@pytest.mark.parametrize(("query", "field"), [
    ("min_score=2", "minimum score"), ("max_score=abc", "maximum score"), ("min_score=0.9&max_score=0.1", "range"),
    ("page=0", "page"), ("page=%C2%B2", "page"), ("page=99999999999999999999", "page"), ("older_than=-1", "days"),
    ("subtree=a..b", "subtree"), ("subtree=%00", "NUL"),
    ("node_type=" + "x" * 51, "at most"), ("type=%00", "NUL"), ("type=" + "x" * 101, "at most"),
    ("newer_than=NaN", "days"),
])
def test_bad_filters_are_a_400_naming_the_problem(client, queue, query, field):
    login(client, *REVIEWER)
    response = client.get(f"{reverse('review')}?{query}")
    assert response.status_code == 400
    assert "RG-REVIEW-004" in response.content.decode() and field in response.content.decode()


def test_a_row_decision_runs_at_once_and_comes_back_with_the_filters(client, queue):
    user = login(client, *REVIEWER)
    response = client.post(reverse("review_decide"), {"one": f"accept:{queue['strong'].pk}", "min_score": "0.5"})
    assert response.status_code == 302 and response["Location"] == f"{reverse('review')}?min_score=0.5"
    strong = Relationship.objects.get(pk=queue["strong"].pk)
    assert strong.auto_managed is False
    decision = ReviewDecision.objects.get()
    assert (decision.action, decision.decided_by, decision.relationship_id) == ("accept", user, strong.pk)
    page = client.get(response["Location"])
    assert "Accepted 1 inferred link." in page.content.decode()


def test_a_rejection_needs_its_rows_reason_and_is_refused_without_one(client, queue):
    login(client, *REVIEWER)
    pk = queue["middle"].pk
    refused = client.post(reverse("review_decide"), {"one": f"reject:{pk}", f"reason-{pk}": "  "})
    assert refused.status_code == 400 and "RG-REVIEW-001" in refused.content.decode()
    assert Relationship.objects.filter(pk=pk).exists() and not InferenceRejection.objects.exists()
    done = client.post(reverse("review_decide"), {"one": f"reject:{pk}", f"reason-{pk}": "different people"})
    assert done.status_code == 302
    assert not Relationship.objects.filter(pk=pk).exists()
    assert InferenceRejection.objects.get().reason == "different people"


def test_deciding_on_a_link_already_decided_says_so(client, queue):
    login(client, *REVIEWER)
    pk = queue["weak"].pk
    client.post(reverse("review_decide"), {"one": f"accept:{pk}"})
    again = client.post(reverse("review_decide"), {"one": f"skip:{pk}"})
    assert again.status_code == 400 and "RG-REVIEW-002" in again.content.decode()


def test_a_bulk_decision_is_confirmed_with_its_count_first(client, queue):
    login(client, *REVIEWER)
    ids = [queue["strong"].pk, queue["weak"].pk, queue["manual"].pk]
    confirm = client.post(reverse("review_decide"), {"action": "skip", "scope": "ids", "ids": ids})
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert "Skip 2 inferred links?" in text and "2 of the 3 checked links are still pending" in text
    assert not ReviewDecision.objects.exists()  # nothing decided yet
    done = client.post(reverse("review_decide"), {"action": "skip", "scope": "ids", "ids": ids, "confirmed": "yes"})
    assert done.status_code == 302
    assert set(ReviewDecision.objects.values_list("relationship_id", flat=True)) == set(ids[:2])
    assert Relationship.objects.filter(pk__in=ids[:2], review_skipped_at__isnull=False).count() == 2


def test_all_matching_the_filters_is_confirmed_then_decided_in_one_batch(client, queue):
    login(client, *REVIEWER)
    form = {"action": "reject", "scope": "filter", "min_score": "0.58", "reason": "too loose"}
    confirm = client.post(reverse("review_decide"), form)
    assert confirm.status_code == 200 and "2 pending links match the filters" in confirm.content.decode()
    done = client.post(reverse("review_decide"), {**form, "confirmed": "yes"})
    assert done.status_code == 302
    assert list(PendingLink.objects.filter(auto_managed=True).values_list("pk", flat=True)) == [queue["weak"].pk]
    assert ReviewDecision.objects.values("batch_id").distinct().count() == 1


@pytest.mark.parametrize("form", [
    {"one": "explode:1"}, {"one": "accept:abc"}, {"one": "accept:²"}, {"action": "accept", "ids": ["1x"]},
    {"action": "accept"}, {"action": "nope", "ids": ["1"]}, {"action": "accept", "scope": "everything", "ids": ["1"]},
    {"action": "reject", "ids": ["1", "2"], "reason": "a\x00b"}, {"action": "accept", "ids": ["1"] * 501},
    {"action": "accept", "scope": "filter", "min_score": "7", "confirmed": "yes"},
])
def test_hostile_decisions_are_refused_and_change_nothing(client, queue, form):
    login(client, *REVIEWER)
    before = list(Relationship.objects.order_by("pk").values_list("pk", "auto_managed", "review_skipped_at"))
    response = client.post(reverse("review_decide"), form)
    assert response.status_code == 400
    assert "RG-REVIEW-" in response.content.decode()
    assert list(Relationship.objects.order_by("pk").values_list("pk", "auto_managed", "review_skipped_at")) == before
    assert not ReviewDecision.objects.exists()


def test_viewers_see_the_queue_without_buttons_and_cannot_decide(client, queue):
    login(client, "graph.view_relationship")
    html = client.get(reverse("review")).content.decode()
    assert "reject:" not in html and "Decide on several" not in html
    refused = client.post(reverse("review_decide"), {"one": f"accept:{queue['strong'].pk}"})
    assert refused.status_code == 403 and "graph.review_relationship" in refused.content.decode()
    assert Relationship.objects.get(pk=queue["strong"].pk).auto_managed


def test_the_queue_needs_a_login_and_deciding_the_review_permission(client, queue):
    assert client.get(reverse("review")).status_code == 302
    assert client.post(reverse("review_decide"), {"one": "accept:1"}).status_code == 302
    login(client)  # no permission at all: reads, as the node pages
    assert client.get(reverse("review")).status_code == 200
    assert client.post(reverse("review_decide"), {"one": f"accept:{queue['weak'].pk}"}).status_code == 403


# --- What the other pages show -------------------------------------------------------------------------------------

def test_hidden_until_accepted_the_pages_leave_pending_links_out(client, queue):
    login(client, "graph.view_relationship")
    ada = queue["Ada"]
    page = client.get(reverse("node_detail", args=[ada.pk]))
    assert {row.relationship.pk for row in page.context["page"].outgoing.rows} == {queue["strong"].pk,
                                                                                   queue["weak"].pk}
    config_set(name="review_inferred_visible", value="false")
    page = client.get(reverse("node_detail", args=[ada.pk]))
    assert page.context["page"].outgoing.rows == [] and str(page.context["page"].outgoing.total) == "0"
    picture = client.get(reverse("node_neighbourhood", args=[ada.pk]) + "?format=json").json()
    assert picture["edges"] == []
    # Accepted, it shows again.
    Relationship.objects.filter(pk=queue["strong"].pk).update(auto_managed=False)
    picture = client.get(reverse("node_neighbourhood", args=[ada.pk]) + "?format=json").json()
    assert queue["strong"].pk in [edge["id"] for edge in picture["edges"]]
    assert not any(edge["inferred"] for edge in picture["edges"])
    paths = client.get(f"{reverse('paths')}?from={ada.pk}&to={queue['Turing'].pk}")
    assert paths.context["result"].paths == []  # the only link between them is pending


def test_the_dashboard_shows_the_review_flow(client, queue):
    user = login(client, *REVIEWER)
    review_reject([queue["weak"].pk], user=user, reason="no")
    html = client.get(reverse("home")).content.decode()
    flow = client.get(reverse("home")).context["dashboard"].review
    assert (flow.pending.value, flow.accepted.value, flow.rejected.value) == (2, 0, 1)
    assert flow.oldest_pending_at is not None and "Review of inferred links" in html


def test_the_node_page_says_why_and_which_reasons_are_gone(client, queue):
    login(client, "graph.view_relationship")
    queue["strong"].inference_reasons.update(gone_at="2026-12-01T00:00:00Z", gone_why="deleted")
    Relationship.objects.filter(pk=queue["strong"].pk).update(stale_since="2026-12-01T00:00:00Z")
    html = client.get(reverse("node_detail", args=[queue["Ada"].pk])).content.decode()
    assert "no longer" in html and "(deleted)" in html and "stale" in html


# --- The admin -------------------------------------------------------------------------------------------------------

def test_the_admin_review_list_rejects_after_a_confirmation_stating_the_count(client, queue):
    login(client, *REVIEWER, "graph.view_node", email="staff@example.com")
    client.get("/")  # a session
    user = UserFactory(email="admin-reviewer@example.com", staff=True, permissions=REVIEWER)
    client.force_login(user)
    url = reverse("admin:graph_pendinglink_changelist")
    listing = client.get(url)
    assert listing.status_code == 200 and "computing" in listing.content.decode()
    ids = [queue["middle"].pk, queue["weak"].pk]
    confirm = client.post(url, {"action": "reject_links", "_selected_action": ids, "index": 0})
    assert confirm.status_code == 200 and "Reject <strong>2</strong> inferred links" in confirm.content.decode()
    refused = client.post(url, {"action": "reject_links", "_selected_action": ids, "index": 0, "confirmed": "yes",
                                "reason": ""}, follow=True)
    assert "RG-REVIEW-001" in refused.content.decode() and Relationship.objects.filter(pk__in=ids).count() == 2
    client.post(url, {"action": "reject_links", "_selected_action": ids, "index": 0, "confirmed": "yes",
                      "reason": "noise"})
    assert InferenceRejection.objects.count() == 2 and not Relationship.objects.filter(pk__in=ids).exists()
    # The rejections, withdrawn from their list; the record of decisions lists all four.
    rejections = reverse("admin:graph_inferencerejection_changelist")
    assert client.get(rejections).status_code == 200
    client.post(rejections, {"action": "withdraw", "_selected_action": list(
        InferenceRejection.objects.values_list("pk", flat=True)), "index": 0})
    assert not InferenceRejection.objects.exists()
    decisions = client.get(reverse("admin:graph_reviewdecision_changelist"))
    assert decisions.status_code == 200 and decisions.content.decode().count("Rejection withdrawn") >= 2


def test_the_admin_refuses_to_make_a_rejected_link_by_hand(client, queue):
    user = UserFactory(email="editor@example.com", staff=True,
                       permissions=[*REVIEWER, "graph.add_relationship", "graph.change_relationship"])
    client.force_login(user)
    review_reject([queue["weak"].pk], user=user, reason="not related")
    response = client.post(reverse("admin:graph_relationship_add"), {
        "source_node": queue["Turing"].pk, "target_node": queue["Ada"].pk, "relationship_type": TYPE,
        "strength": "1.0", "stated_confidence": "0.5", "source_reliability": "1.0", "source": "manual",
        "metadata": "{}"})
    assert response.status_code == 200 and "RG-REVIEW-003" in response.content.decode()
    assert "not related" in response.content.decode()
    assert not Relationship.objects.filter(relationship_type=TYPE, source_node=queue["Turing"],
                                           target_node=queue["Ada"]).exists()


def test_checked_links_that_were_skipped_can_still_be_decided_in_bulk(client, queue):
    user = login(client, *REVIEWER)
    review_skip([queue["strong"].pk], user=user)
    ids = [queue["strong"].pk, queue["middle"].pk]
    confirm = client.post(reverse("review_decide"), {"action": "accept", "ids": ids, "skipped": "all"})
    assert "2 of the 2 checked links are still pending" in " ".join(confirm.content.decode().split())
    client.post(reverse("review_decide"), {"action": "accept", "ids": ids, "confirmed": "yes"})
    assert Relationship.objects.filter(pk__in=ids, auto_managed=False).count() == 2


def _change_form(link) -> dict:
    return {"source_node": link.source_node_id, "target_node": link.target_node_id,
            "relationship_type": link.relationship_type, "strength": "1.0", "stated_confidence": "0.5",
            "source_reliability": "1.0", "source": "inference", "metadata": "{}", "bidirectional": "on"}


def test_unticking_auto_managed_in_the_admin_is_an_audited_acceptance_needing_the_permission(client, queue):
    link = queue["middle"]
    url = reverse("admin:graph_relationship_change", args=[link.pk])
    editor = UserFactory(email="plain-editor@example.com", staff=True,
                         permissions=["graph.view_relationship", "graph.change_relationship"])
    client.force_login(editor)
    refused = client.post(url, _change_form(link))
    assert refused.status_code == 200 and "graph.review_relationship" in refused.content.decode()
    assert Relationship.objects.get(pk=link.pk).auto_managed and not ReviewDecision.objects.exists()
    curator = UserFactory(email="admin-curator@example.com", staff=True,
                          permissions=["graph.view_relationship", "graph.change_relationship", *REVIEWER])
    client.force_login(curator)
    assert client.post(url, _change_form(link)).status_code == 302
    assert Relationship.objects.get(pk=link.pk).auto_managed is False
    decision = ReviewDecision.objects.get()
    assert (decision.action, decision.decided_by, decision.relationship_id) == ("accept", curator, link.pk)
