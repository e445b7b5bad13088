"""Issue 8's defects, each seen by a curator on a screen, each pinned here (the layout ones in tests/browser/)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from graph.models import (
    GraphConnectivityStats,
    MaterializedViewRefresh,
    Node,
    NodeAttribute,
    Relationship,
)
from graph.services.matviews import MATERIALIZED_VIEWS, materialized_views_refresh
from kgsite.models import User
from tests.factories import (
    ExternalResourceFactory,
    InferenceQueueItemFactory,
    NodeAttributeFactory,
    NodeFactory,
    NodeResourceLinkFactory,
    ReferenceFactory,
    RelationshipFactory,
    UserFactory,
)
from tests.html_forms import form_data

pytestmark = pytest.mark.django_db

RAW_PYTHON = re.compile(r"&lt;[\w.]+ object at 0x|<[\w.]+ object at 0x|DatabaseDefault")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def languages(superuser):
    """Rust influenced Go; Python has an attribute and cites a resource; Go links to one."""
    computing = NodeFactory(label="computing", name="Computing", node_type="category")
    rust = NodeFactory(label="rust", name="Rust", node_type="language", parent=computing)
    go = NodeFactory(label="go", name="Go", node_type="language", parent=computing)
    python = NodeFactory(label="python", name="Python", node_type="language", parent=computing)
    NodeAttributeFactory(node=python, attribute_type="fact", attribute_key="designer",
                         attribute_value="Guido van Rossum")
    RelationshipFactory(source_node=rust, target_node=go, relationship_type="influenced")
    ReferenceFactory(source_node=python, target_resource=ExternalResourceFactory(title="The Python Tutorial"))
    NodeResourceLinkFactory(node=go, resource=ExternalResourceFactory(title="Go spec"), link_type="official_site")
    return {"computing": computing, "rust": rust, "go": go, "python": python}


# --- 1. Raw Python on add forms ---------------------------------------------------------------------------------

def _registered_add_urls():
    for model in admin.site._registry:
        opts = model._meta
        yield pytest.param(f"admin:{opts.app_label}_{opts.model_name}_add", id=opts.model_name)


@pytest.mark.parametrize("name", list(_registered_add_urls()))
def test_add_forms_show_no_raw_python(admin_client_for, languages, name):
    response = admin_client_for.get(reverse(name))
    if response.status_code == 403:  # read-only models (views, audit log) have no add form
        return
    assert response.status_code == 200
    assert not RAW_PYTHON.search(response.content.decode())


@pytest.mark.parametrize("model", ["node", "relationship"])
def test_add_form_that_comes_back_with_errors_shows_no_raw_python(admin_client_for, model):
    url = reverse(f"admin:graph_{model}_add")
    data = form_data(admin_client_for.get(url).content.decode(), f"{model}_form")
    data.update({"stated_confidence": "1.5", "source_reliability": "1.5", "name": "x", "node_type": "t",
                 "embedding": "[1, 2]"})
    response = admin_client_for.post(url, data)
    assert response.status_code == 200 and response.context["adminform"].form.errors
    html = response.content.decode()
    assert not RAW_PYTHON.search(html)
    assert "Updated at" not in html  # nothing to show before the first save


# --- 3. False history -------------------------------------------------------------------------------------------

def _round_trip(client, obj):
    """Open the change page, submit it untouched, return the change message recorded."""
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    data = form_data(client.get(url).content.decode(), f"{opts.model_name}_form")
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    return LogEntry.objects.filter(object_id=str(obj.pk), content_type__model=opts.model_name).latest(
        "action_time").get_change_message()


def test_saving_unchanged_rows_records_no_change(admin_client_for, languages, superuser):
    python = languages["python"]
    python.metadata = {"paradigms": ["object-oriented", "functional"]}
    python.embedding = [0.5] * 768
    python.save()
    NodeAttribute.objects.filter(node=python).update(last_verified=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    objects = [
        python, languages["rust"], Relationship.objects.get(), NodeAttribute.objects.get(),
        ExternalResourceFactory(), InferenceQueueItemFactory(node=languages["go"]),
        python.references_made.get(), languages["go"].resource_links.get(),
        UserFactory(email="someone@example.com"),
    ]
    for obj in objects:
        assert _round_trip(admin_client_for, obj) == "No fields changed.", obj


# --- 5. Names where ids were ------------------------------------------------------------------------------------

def test_relationship_titles_messages_and_delete_page_name_the_nodes(admin_client_for, languages):
    relationship = Relationship.objects.get()
    assert str(relationship) == "Rust → influenced → Go"
    change_url = reverse("admin:graph_relationship_change", args=[relationship.pk])
    page = admin_client_for.get(change_url).content.decode()
    assert "Rust → influenced → Go" in page
    data = form_data(page, "relationship_form")
    data["strength"] = "0.7"
    followed = admin_client_for.post(change_url, data, follow=True)
    assert any("Rust → influenced → Go" in str(message) for message in followed.context["messages"])
    delete_page = admin_client_for.get(reverse("admin:graph_relationship_delete", args=[relationship.pk]))
    assert "Rust → influenced → Go" in delete_page.content.decode()


def test_references_links_and_queue_items_read_as_names(languages):
    python, go = languages["python"], languages["go"]
    assert str(python.references_made.get()) == "Python cites “The Python Tutorial”"
    assert str(go.resource_links.get()) == "Go → “Go spec” (official_site)"
    node_cites_node = ReferenceFactory(source_node=python, target_node=go, reference_type="see_also")
    assert str(node_cites_node) == "Python see also Go"
    assert str(InferenceQueueItemFactory(node=go)) == "Go (Pending)"


def test_relationship_strength_view_names_nodes_with_links_search_and_filter(admin_client_for, languages):
    materialized_views_refresh()
    url = reverse("admin:graph_relationshipstrengthmatrix_changelist")
    html = admin_client_for.get(url).content.decode()
    rust_url = reverse("admin:graph_node_change", args=[languages["rust"].pk])
    assert f'<a href="{rust_url}">Rust</a>' in html
    assert 'name="q"' in html and "relationship type" in html  # a search box and a filter
    assert [row.relationship_type for row in admin_client_for.get(url + "?q=rust").context["cl"].result_list] == [
        "influenced"]
    assert list(admin_client_for.get(url + "?q=python").context["cl"].result_list) == []
    filtered = admin_client_for.get(url + "?relationship_type=influenced")
    assert filtered.status_code == 200 and f'<a href="{rust_url}">Rust</a>' in filtered.content.decode()


# --- 7. Materialized views --------------------------------------------------------------------------------------

def test_view_numbers_are_rounded_and_titles_read_well(admin_client_for, languages):
    materialized_views_refresh()
    html = admin_client_for.get(reverse("admin:graph_graphconnectivitystats_changelist")).content.decode()
    assert not re.search(r"\d\.\d{5,}", text_of(html)), "a number with more than four decimals"
    assert "0.5000" in text_of(html)
    row = GraphConnectivityStats.objects.get(node_type="language")
    detail = admin_client_for.get(reverse("admin:graph_graphconnectivitystats_change", args=[row.pk]))
    assert "Nodes of type language" in detail.content.decode()
    assert "object (" not in detail.content.decode()


def test_read_only_rows_have_no_history_button(admin_client_for, languages):
    materialized_views_refresh()
    row = GraphConnectivityStats.objects.get(node_type="language")
    detail = admin_client_for.get(reverse("admin:graph_graphconnectivitystats_change", args=[row.pk]))
    assert detail.status_code == 200 and "historylink" not in detail.content.decode()
    history = admin_client_for.get(reverse("admin:graph_graphconnectivitystats_history", args=[row.pk]))
    assert history.status_code == 404


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_refresh_button_refreshes_and_records_when(admin_client_for, languages, superuser, view):
    model = next(m for m in admin.site._registry if m._meta.db_table == view)
    changelist = reverse(f"admin:graph_{model._meta.model_name}_changelist")
    before = admin_client_for.get(changelist).content.decode()
    assert "No refresh recorded" in before and "Refresh now" in before

    response = admin_client_for.post(reverse(f"admin:graph_{model._meta.model_name}_refresh"), follow=True)
    assert response.status_code == 200
    refresh = MaterializedViewRefresh.objects.get(view_name=view)
    assert refresh.refreshed_by == superuser
    html = response.content.decode()
    assert f"Refreshed {refresh.refreshed_at:%Y-%m-%d %H:%M} UTC by {superuser.email}" in html
    assert admin_client_for.get(reverse(f"admin:graph_{model._meta.model_name}_refresh")).status_code == 405


def test_refresh_needs_the_permission(client, languages):
    viewer = UserFactory(email="viewer@example.com", staff=True, permissions=["graph.view_graphconnectivitystats"])
    client.force_login(viewer)
    changelist = client.get(reverse("admin:graph_graphconnectivitystats_changelist")).content.decode()
    assert "Refresh now" not in changelist
    assert client.post(reverse("admin:graph_graphconnectivitystats_refresh")).status_code == 403
    assert not MaterializedViewRefresh.objects.exists()
    refresher = UserFactory(email="refresher@example.com", staff=True, permissions=[
        "graph.view_graphconnectivitystats", "graph.refresh_materialized_views"])
    client.force_login(refresher)
    assert client.post(reverse("admin:graph_graphconnectivitystats_refresh")).status_code == 302
    assert MaterializedViewRefresh.objects.get().refreshed_by == refresher


def test_home_page_says_when_the_type_table_was_refreshed(admin_client_for, languages):
    materialized_views_refresh()
    NodeFactory(label="zig", name="Zig", node_type="language", parent=languages["computing"])
    home = admin_client_for.get(reverse("home")).content.decode()
    refreshed = MaterializedViewRefresh.objects.get(view_name="mv_graph_connectivity_stats").refreshed_at
    assert f"refreshed {refreshed:%Y-%m-%d %H:%M} UTC" in home
    assert reverse("admin:graph_graphconnectivitystats_changelist") in home  # where to refresh it


# --- 9. Duplicates and invented verification ---------------------------------------------------------------------

def test_a_second_identical_attribute_is_refused(admin_client_for, languages):
    python = languages["python"]
    url = reverse("admin:graph_nodeattribute_add")
    data = form_data(admin_client_for.get(url).content.decode(), "nodeattribute_form")
    data.update({"node": python.pk, "attribute_type": "fact", "attribute_key": "designer",
                 "attribute_value": "Guido van Rossum"})
    response = admin_client_for.post(url, data)
    assert response.status_code == 200
    assert "Python already has this attribute" in response.content.decode()
    assert NodeAttribute.objects.filter(node=python).count() == 1
    data["attribute_value"] = "Guido"  # a different value is fine
    assert admin_client_for.post(url, data).status_code == 302


def test_duplicate_attributes_in_the_node_form_are_refused(admin_client_for, languages):
    python = languages["python"]
    url = reverse("admin:graph_node_change", args=[python.pk])
    data = form_data(admin_client_for.get(url).content.decode(), "node_form")
    data.update({"attributes-TOTAL_FORMS": "3", "attributes-1-attribute_type": "fact",
                 "attributes-1-attribute_key": "year", "attributes-1-attribute_value": "1991",
                 "attributes-2-attribute_type": "fact", "attributes-2-attribute_key": "year",
                 "attributes-2-attribute_value": "1991"})
    for index in (1, 2):
        data.update({f"attributes-{index}-weight": "1.0", f"attributes-{index}-confidence": "0.5",
                     f"attributes-{index}-source_reliability": "1.0"})
    response = admin_client_for.post(url, data)
    assert response.status_code == 200
    assert "Rows 2 and 3 are the same attribute" in response.content.decode()
    # One new row repeating the saved attribute is refused too.
    data.update({"attributes-TOTAL_FORMS": "2", "attributes-1-attribute_key": "designer",
                 "attributes-1-attribute_value": "Guido van Rossum"})
    response = admin_client_for.post(url, data)
    assert response.status_code == 200 and "Python already has this attribute" in response.content.decode()
    assert NodeAttribute.objects.filter(node=python).count() == 1


def test_new_attributes_are_not_marked_verified(admin_client_for, languages):
    python = languages["python"]
    url = reverse("admin:graph_node_change", args=[python.pk])
    page = admin_client_for.get(url).content.decode()
    data = form_data(page, "node_form")
    assert data["attributes-__prefix__-last_verified"] == ""
    assert form_data(admin_client_for.get(reverse("admin:graph_nodeattribute_add")).content.decode(),
                     "nodeattribute_form").get("last_verified", "") == ""
    data.update({"attributes-TOTAL_FORMS": "2", "attributes-1-attribute_type": "fact",
                 "attributes-1-attribute_key": "first_appeared", "attributes-1-attribute_value": "1991",
                 "attributes-1-weight": "1.0", "attributes-1-confidence": "0.5",
                 "attributes-1-source_reliability": "1.0", "attributes-1-last_verified": ""})
    assert admin_client_for.post(url, data).status_code == 302
    assert NodeAttribute.objects.get(attribute_key="first_appeared").last_verified is None
    # A time typed into the one-box widget is kept.
    data = form_data(admin_client_for.get(url).content.decode(), "node_form")
    row = next(k for k, v in data.items() if v == "first_appeared").rsplit("-", 1)[0]
    data[f"{row}-last_verified"] = "2026-11-20 09:30"
    assert admin_client_for.post(url, data).status_code == 302
    assert NodeAttribute.objects.get(attribute_key="first_appeared").last_verified == datetime(
        2026, 11, 20, 9, 30, tzinfo=UTC)


# --- 12. Checkboxes for plain booleans -----------------------------------------------------------------------------

def test_plain_booleans_are_checkboxes(admin_client_for, languages, superuser):
    user_page = admin_client_for.get(reverse("admin:kgsite_user_change", args=[superuser.pk])).content.decode()
    assert re.search(r'<input type="checkbox" name="is_active"[^>]*checked', user_page)
    assert "Unselect this" not in user_page and "Unknown" not in user_page
    relationship_page = admin_client_for.get(reverse("admin:graph_relationship_add")).content.decode()
    for field in ("bidirectional", "auto_managed"):
        assert re.search(rf'<input type="checkbox" name="{field}"', relationship_page), field
    assert "Unknown" not in relationship_page
    listing = admin_client_for.get(reverse("admin:graph_relationship_changelist")).content.decode()
    assert "auto_managed__isnull" not in listing and "bidirectional__isnull" not in listing


def test_unticking_a_checkbox_saves_false(admin_client_for, languages):
    relationship = Relationship.objects.get()
    Relationship.objects.filter(pk=relationship.pk).update(bidirectional=True)
    url = reverse("admin:graph_relationship_change", args=[relationship.pk])
    data = form_data(admin_client_for.get(url).content.decode(), "relationship_form")
    assert data["bidirectional"] == "on"
    del data["bidirectional"]
    assert admin_client_for.post(url, data).status_code == 302
    relationship.refresh_from_db()
    assert relationship.bidirectional is False


def test_user_list_filter_has_no_unknown(admin_client_for):
    html = admin_client_for.get(reverse("admin:kgsite_user_changelist")).content.decode()
    assert "is_active__isnull" not in html
    inactive = UserFactory(email="gone@example.com", is_active=False)
    User.objects.filter(pk=inactive.pk).update(is_active=None)  # NULL from an adopted database counts as No
    listing = admin_client_for.get(reverse("admin:kgsite_user_changelist") + "?is_active__exact=0")
    assert "gone@example.com" in listing.content.decode()


# --- 13. Relationships on the node page -----------------------------------------------------------------------------

def test_node_page_lists_relationships_both_ways_and_references_to_it(admin_client_for, languages):
    rust, go = languages["rust"], languages["go"]
    ReferenceFactory(source_node=languages["python"], target_node=go, reference_type="see_also")
    go_page = text_of(admin_client_for.get(reverse("admin:graph_node_change", args=[go.pk])).content.decode())
    assert "Incoming (other → this node)" in go_page and "1 relationship" in go_page
    assert "influenced Rust" in go_page
    assert "References to this node" in go_page and "Python see also Go" in go_page
    rust_page = admin_client_for.get(reverse("admin:graph_node_change", args=[rust.pk])).content.decode()
    relationship = Relationship.objects.get()
    assert reverse("admin:graph_relationship_change", args=[relationship.pk]) in rust_page
    assert reverse("admin:graph_node_change", args=[go.pk]) in rust_page
    assert reverse("admin:graph_relationship_changelist") + f"?source_node__exact={rust.pk}" in rust_page


def test_hub_node_page_caps_the_list_and_counts_all(admin_client_for, languages, django_assert_max_num_queries):
    hub = languages["computing"]
    others = NodeFactory.create_batch(30, parent=hub)
    Relationship.objects.bulk_create(
        [Relationship(source_node=hub, target_node=other, relationship_type="contains") for other in others])
    url = reverse("admin:graph_node_change", args=[hub.pk])
    with django_assert_max_num_queries(40):
        page = admin_client_for.get(url).content.decode()
    assert "30 relationships" in text_of(page) and "list them all" in page
    table = page.split("Outgoing (this node", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 20  # header and the first 20
    listing = admin_client_for.get(reverse("admin:graph_relationship_changelist") + f"?source_node__exact={hub.pk}")
    assert listing.status_code == 200 and "30 relationships" in listing.content.decode()


def test_add_node_page_has_no_relationship_section_rows(admin_client_for):
    html = admin_client_for.get(reverse("admin:graph_node_add")).content.decode()
    assert "Incoming (other → this node)" not in html


def test_node_delete_keeps_working_with_names(admin_client_for, languages):
    go = languages["go"]
    page = admin_client_for.get(reverse("admin:graph_node_delete", args=[go.pk])).content.decode()
    assert "Go (language)" in page
    assert Node.objects.filter(pk=go.pk).exists()
