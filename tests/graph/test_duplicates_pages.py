"""The duplicates, merge and history pages (graph/views_duplicates.py, graph/views_history.py)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.db import connection
from django.urls import reverse

from graph.models import DistinctPair, DuplicateCandidate, Node, NodeAttribute, NodeMerge
from graph.models.history import NodeEvent
from graph.services.duplicates import duplicates_find
from tests.factories import NodeAttributeFactory, NodeFactory, UserFactory
from tests.graph.test_admin import node_form

pytestmark = pytest.mark.django_db
MERGER = ["graph.merge_node", "graph.view_node"]  # staff to reach the admin (the login fixture)
REVERTER = ["graph.revert_history"]


def login(client, *permissions, email="someone@example.com"):
    user = UserFactory(email=email, permissions=list(permissions), staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def pair():
    a = NodeFactory(name="Grace Hopper", node_type="person")
    b = NodeFactory(name="Grace  Hopper", node_type="person")
    for node in (a, b):
        NodeAttributeFactory(node=node, attribute_type="fact", attribute_key="born", attribute_value="1906")
    NodeAttributeFactory(node=b, attribute_key="rank", attribute_value="rear admiral")
    duplicates_find()
    return a, b


def test_the_candidates_page_shows_both_nodes_and_the_evidence(client, pair):
    login(client, *MERGER)
    response = client.get(reverse("duplicates"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Grace Hopper" in html and "Grace  Hopper" in html and "fact.born" in html and "1906" in html
    assert "Merge right into left" in html and "Not the same" in html


def test_a_viewer_sees_the_candidates_without_the_actions_and_cannot_merge(client, pair):
    login(client, "graph.view_node")
    html = client.get(reverse("duplicates")).content.decode()
    assert "Grace Hopper" in html and "Merge right into left" not in html
    a, b = pair
    response = client.post(reverse("merge"), {"survivor": a.pk, "merged": b.pk})
    assert response.status_code == 403 and "graph.merge_node" in response.content.decode()
    assert Node.objects.filter(pk=b.pk).exists()


def test_merge_confirm_merge_redirect_and_unmerge(client, pair):
    a, b = pair
    login(client, *MERGER)
    confirm = client.get(reverse("merge"), {"survivor": a.pk, "merged": b.pk})
    assert confirm.status_code == 200 and "Yes, merge" in confirm.content.decode()
    assert Node.objects.filter(pk=b.pk).exists()  # the confirmation changes nothing

    merged = client.post(reverse("merge"), {"survivor": a.pk, "merged": b.pk}, follow=True)
    assert merged.redirect_chain[-1][0] == reverse("node_detail", args=[a.pk])
    assert "Undo merge" in merged.content.decode()
    assert not Node.objects.filter(pk=b.pk).exists()

    admin_address = client.get(reverse("admin:graph_node_change", args=[b.pk]))
    assert admin_address["Location"] == reverse("admin:graph_node_change", args=[a.pk])
    old_address = client.get(reverse("node_detail", args=[b.pk]))
    assert old_address.status_code == 302 and old_address["Location"] == reverse("node_detail", args=[a.pk])
    picture = client.get(reverse("node_neighbourhood", args=[b.pk]), {"depth": "2"})
    assert picture.status_code == 302 and picture["Location"].startswith(reverse("node_neighbourhood", args=[a.pk]))

    merge = NodeMerge.objects.get()
    undone = client.post(reverse("unmerge", args=[merge.pk]), follow=True)
    assert undone.redirect_chain[-1][0] == reverse("node_detail", args=[b.pk])
    assert NodeAttribute.objects.filter(node_id=b.pk, attribute_key="rank").exists()
    again = client.post(reverse("unmerge", args=[merge.pk]))
    assert again.status_code == 400 and "RG-MERGE-003" in again.content.decode()


@pytest.mark.parametrize("params", [
    {"survivor": "abc", "merged": "1"}, {"survivor": "²", "merged": "1"}, {"survivor": "1\x00", "merged": "2"},
    {"survivor": "99999999999999999999", "merged": "1"}, {}, {"survivor": "1", "merged": "1"},
])
def test_bad_merge_parameters_are_refused_and_change_nothing(client, pair, params):
    login(client, *MERGER)
    before = Node.objects.count()
    for response in (client.get(reverse("merge"), params), client.post(reverse("merge"), params)):
        assert response.status_code in (400, 404)
        assert "RG-" in response.content.decode()
    assert Node.objects.count() == before


def test_not_the_same_from_the_page(client, pair):
    a, b = pair
    login(client, *MERGER)
    response = client.post(reverse("distinct"), {"first": a.pk, "second": b.pk, "reason": "mother and daughter",
                                                 "back": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("duplicates")  # no open redirect
    assert DistinctPair.objects.get().reason == "mother and daughter"
    assert not DuplicateCandidate.objects.exists()
    refused = client.post(reverse("distinct"), {"first": a.pk, "second": "x"})
    assert refused.status_code == 400


@pytest.mark.parametrize("query", ["page=%C2%B2", "page=0", "page=401", "min_score=2", "min_score=abc",
                                   "type=%00"])
def test_bad_filters_on_the_candidates_page_are_a_400(client, pair, query):
    login(client, *MERGER)
    response = client.get(f"{reverse('duplicates')}?{query}")
    assert response.status_code == 400


def test_a_node_page_links_its_history_with_diffs(client):
    node = NodeFactory(name="Old")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE nodes SET name = 'New' WHERE node_id = %s", [node.pk])
    login(client, *REVERTER)
    node_page = client.get(reverse("node_detail", args=[node.pk])).content.decode()
    assert reverse("node_history", args=[node.pk]) in node_page
    response = client.get(reverse("node_history", args=[node.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and "Old" in html and "New" in html and "database role" in html
    event = NodeEvent.objects.get(pgh_obj_id=node.pk, pgh_label="update")
    confirm = client.get(reverse("history_event_revert", args=["node", event.pk]))
    assert confirm.status_code == 200 and "Yes, revert" in confirm.content.decode()
    done = client.post(reverse("history_event_revert", args=["node", event.pk]))
    assert done.status_code == 302
    node.refresh_from_db()
    assert node.name == "Old"


def test_an_edit_through_the_admin_is_recorded_with_the_curator(client):
    curator = UserFactory(email="curator@example.com", staff=True, superuser=True)
    client.force_login(curator)
    node = NodeFactory(name="Before")
    response = client.post(reverse("admin:graph_node_change", args=[node.pk]),
                           node_form(name="After", node_type=node.node_type, path=str(node.path)))
    assert response.status_code == 302
    event = NodeEvent.objects.filter(pgh_obj_id=node.pk, pgh_label="update").first()
    assert event.name == "Before" and event.pgh_context.metadata["user"] == curator.pk
    html = client.get(reverse("node_history", args=[node.pk])).content.decode()
    assert "curator@example.com" in html


def test_a_deleted_node_offers_its_history_and_restore(client):
    node = NodeFactory(name="Gone")
    NodeAttributeFactory(node=node)
    node_id = node.pk
    node.delete()
    login(client, *REVERTER)
    page = client.get(reverse("node_detail", args=[node_id]))
    assert page.status_code == 404 and "Restore it" in page.content.decode()
    restored = client.post(reverse("node_restore", args=[node_id]))
    assert restored.status_code == 302 and Node.objects.filter(pk=node_id).exists()
    assert NodeAttribute.objects.filter(node_id=node_id).count() == 1


def test_reverting_needs_the_permission(client):
    node = NodeFactory()
    event = NodeEvent.objects.get(pgh_obj_id=node.pk)
    login(client, "graph.view_node")
    assert "Revert" not in client.get(reverse("node_history", args=[node.pk])).content.decode()
    response = client.post(reverse("history_event_revert", args=["node", event.pk]))
    assert response.status_code == 403
    assert Node.objects.filter(pk=node.pk).exists()


def test_history_list_and_entry(client):
    node = NodeFactory(name="Listed")
    login(client, *REVERTER)
    response = client.get(reverse("history"))
    assert response.status_code == 200
    entry = response.context["entries"][0].entry
    detail = client.get(reverse("history_entry", args=[entry]))
    assert detail.status_code == 200 and "Listed" in detail.content.decode()
    reverted = client.post(reverse("history_entry_revert", args=[entry]))
    assert reverted.status_code == 302 and not Node.objects.filter(pk=node.pk).exists()


@pytest.mark.parametrize("url", ["/history/nonsense/", "/history/c123/", "/history/x%00/", "/history/x1/",
                                 "/history/bogus/1/revert/", "/history/node/999999/revert/",
                                 "/nodes/999999/history/", "/nodes/999999/restore/", "/nodes/1/history/?page=²"])
def test_bad_history_addresses_are_refused_without_a_500(client, url):
    login(client, *REVERTER)
    response = client.get(url)
    assert response.status_code in (400, 404)


# --- Hostile input on the new forms: a clear refusal, no 500, nothing written -----------------------------------

def _graph_rows() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM node_attributes), "
                       "(SELECT count(*) FROM distinct_node_pairs), (SELECT count(*) FROM duplicate_candidates), "
                       "(SELECT count(*) FROM node_merges), (SELECT count(*) FROM history_nodes)")
        return cursor.fetchone()


# Values as a browser sends them (bytes; b"\xed\xa0\x80" is a lone surrogate, invalid UTF-8).
HOSTILE_TEXT = [b"x" * 2001, b"x" * 1_000_000, b"a\x00b", b"\xed\xa0\x80", b"[" * 5000 + b"]" * 5000,
                "²".encode(), b"-1", b"1e309"]


REFUSED_REASONS = HOSTILE_TEXT[:3]  # too long (2,001 characters, 1 MB), a NUL


def _form(data: dict) -> str:
    return "&".join(f"{name}={quote(value if isinstance(value, bytes) else str(value))}"
                    for name, value in data.items())


def _post(client, url, data: dict):
    return client.post(url, _form(data), content_type="application/x-www-form-urlencoded")


def _get(client, url, data: dict):
    return client.get(f"{url}?{_form(data)}")


@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_hostile_values_in_not_the_same_are_refused_and_change_nothing(client, pair, value):
    a, b = pair
    login(client, *MERGER)
    before = _graph_rows()
    attempts = [{"first": value, "second": b.pk}, {"first": a.pk, "second": value}]
    if value in REFUSED_REASONS:  # the others are reasons a curator may give ("-1", "²", ...)
        attempts.append({"first": a.pk, "second": b.pk, "reason": value})
    for data in attempts:
        response = _post(client, reverse("distinct"), data)
        assert response.status_code == 400, (str(data)[:80], response.status_code)
        assert "RG-" in response.content.decode()
    assert _graph_rows() == before


@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_hostile_values_in_the_candidate_filters_and_merge_are_refused(client, pair, value):
    a, b = pair
    login(client, *MERGER)
    before = _graph_rows()
    for name in ("type", "min_score", "page"):
        response = _get(client, reverse("duplicates"), {name: value})
        assert response.status_code in (200, 400), (name, response.status_code)  # a long type is just no match
    for data in ({"survivor": value, "merged": b.pk}, {"survivor": a.pk, "merged": value}):
        assert _post(client, reverse("merge"), data).status_code in (400, 404)
    # A hostile "back" neither breaks the merge page nor leads off the site.
    response = _get(client, reverse("merge"), {"survivor": a.pk, "merged": b.pk, "back": value})
    assert response.status_code == 200
    back = re.search(r'<a href="([^"]*)">No, go back</a>', response.content.decode()).group(1)
    assert back.startswith("/") and not back.startswith("//") and len(back) < 3000
    assert _graph_rows() == before


@pytest.mark.parametrize("url", ["/history/c" + "0" * 100_000 + "/", "/history/x" + "9" * 5000 + "/",
                                 "/merges/99999999999999999999/unmerge/", "/merges/0/unmerge/",
                                 "/history/node/99999999999999999999/revert/", "/nodes/1/history/?page=" + "9" * 5000])
def test_hostile_history_and_unmerge_addresses_are_refused(client, url):
    login(client, *REVERTER, *MERGER)
    before = _graph_rows()
    for response in (client.get(url), client.post(url)):
        assert response.status_code in (400, 404, 405), (url[:60], response.status_code)
    assert _graph_rows() == before
