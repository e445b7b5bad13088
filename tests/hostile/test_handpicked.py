"""Hand-picked hostile values, one for each failure found by probing the admin and the commands as an attacker
(issue 14, item 3): each gives a clear refusal (a 4xx page or a form error naming the problem, an ``RG-`` line)
and changes no data."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from config_admin.models import ConfigAuditLog, SystemConfig
from graph.models import InferenceQueueItem, Node, NodeResourceLink, Relationship, RelationshipStrengthMatrix
from tests.graph.test_admin import empty_inlines
from tests.hostile.conftest import data_checksum, text_of

pytestmark = pytest.mark.django_db

CODE = re.compile(r"RG-[A-Z]+-\d{3}")


def changelists():
    """(label, url) of every registered model admin's change list."""
    return [(model._meta.label, reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
            for model in admin.site._registry]


CHANGELISTS = changelists()
DATED = [(label, url, field) for label, url in CHANGELISTS
         for model in [next(m for m in admin.site._registry if m._meta.label == label)]
         for field in [next((f.name for f in model._meta.concrete_fields
                             if f.get_internal_type() == "DateTimeField"), None)] if field]


def node_form(**overrides):
    """The node add form with its inlines empty (``empty_inlines`` of the admin's tests)."""
    return empty_inlines(**{"name": "Grace Hopper", "node_type": "person", "path": "grace_hopper", "parent_node": "",
                            "source": "manual", "metadata": "{}", "embedding": "", **overrides})


def relationship_form(**overrides):
    data = {"source_node": "", "target_node": "", "relationship_type": "related_to", "strength": "0.5",
            "stated_confidence": "0.5", "source_reliability": "0.5", "metadata": "{}"}
    data.update(overrides)
    return data


def assert_refused_list(response, *fragments):
    body = text_of(response)
    assert response.status_code == 400, (response.status_code, body[:500])
    assert "RG-INPUT-002" in body
    for fragment in fragments:
        assert fragment in body, body[:2000]


# --- ?q=² and NUL: every change list, the autocomplete ---------------------------------------------------------

def test_a_superscript_digit_searches_every_change_list_without_a_500(hostile_client, graph):
    before = data_checksum()
    answers = {label: hostile_client.get(url, {"q": "²"}).status_code for label, url in CHANGELISTS}
    assert {label: status for label, status in answers.items() if status != 200} == {}
    assert data_checksum() == before


@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "pk__exact=%00", "x%00y=1"])
def test_nul_in_any_change_list_parameter_is_a_400_naming_it(hostile_client, graph, query):
    before = data_checksum()
    for _label, url in CHANGELISTS:
        assert_refused_list(hostile_client.get(f"{url}?{query}"), "NUL character")
    assert data_checksum() == before


def test_nul_in_a_list_filter_and_in_generic_lookups(hostile_client, graph):
    for url in ("/admin/graph/node/?node_type=%00", "/admin/graph/nodeconfidencecache/?node_type=%00",
                "/admin/graph/relationship/?relationship_type__startswith=%00",
                "/admin/config_admin/configauditlog/?parameter_name=%00"):
        assert_refused_list(hostile_client.get(url), "NUL character")


def test_a_batch_id_of_a_megabyte_is_refused_in_search_and_on_the_form(hostile_client, graph):
    huge = "b" * 1_000_000
    assert_refused_list(hostile_client.get("/admin/graph/inferencequeueitem/", {"q": huge}), "1,000,000 characters")
    before = data_checksum()
    response = hostile_client.post("/admin/graph/inferencequeueitem/add/", {
        "node": graph.alpha.pk, "priority": "5", "batch_id": huge, "status": "pending", "retry_count": "0",
        "max_retries": "3"})
    assert response.status_code == 200 and "RG-INPUT-004" in text_of(response)
    assert data_checksum() == before


AUTOCOMPLETE_SOURCES = [("graph", "node", "parent_node"), ("graph", "nodeattribute", "node"),
                        ("graph", "noderesourcelink", "resource"), ("graph", "relationship", "source_node"),
                        ("graph", "reference", "target_resource")]


@pytest.mark.parametrize("term", ["²", "\x00", "a\x00b", "9" * 40, "١٢", "%", "\\"])
def test_autocomplete_terms(hostile_client, graph, term):
    for app, model, field in AUTOCOMPLETE_SOURCES:
        query = {"app_label": app, "model_name": model, "field_name": field}
        response = hostile_client.get("/admin/autocomplete/", {"term": term, **query})
        assert response.status_code == 200, text_of(response)[:300]
        assert response.json()["results"] == [] or not term.replace("\x00", "")  # NULs dropped: no term, all
        assert hostile_client.get("/admin/autocomplete/", {"term": "a", "page": term, **query}).status_code in (
            200, 404)


@pytest.mark.parametrize("bad", ["\x00", "a\x00", "node\x00"])
def test_autocomplete_with_nul_in_what_it_names_is_refused(hostile_client, graph, bad):
    response = hostile_client.get("/admin/autocomplete/", {"term": "a", "app_label": "graph", "model_name": bad,
                                                           "field_name": bad})
    assert 400 <= response.status_code < 500


# --- Autocomplete foreign keys redrawn with a value that is no id ----------------------------------------------

@pytest.mark.parametrize("bad", ["abc", "²", "\x00", "1\x00", "9" * 30, "-"])
def test_a_node_form_redrawn_with_a_parent_that_is_no_id(hostile_client, graph, bad):
    before = data_checksum()
    response = hostile_client.post("/admin/graph/node/add/", node_form(parent_node=bad, path="", name="zz"))
    assert response.status_code == 200
    assert "Select a valid choice" in text_of(response) or "Null characters are not allowed" in text_of(response)
    assert data_checksum() == before


@pytest.mark.parametrize("bad", ["abc", "²", "\x00"])
def test_a_relationship_form_redrawn_with_nodes_that_are_no_ids(hostile_client, graph, bad):
    before = data_checksum()
    response = hostile_client.post("/admin/graph/relationship/add/",
                                   relationship_form(source_node=bad, target_node=str(graph.beta.pk)))
    assert response.status_code == 200 and "errornote" in text_of(response)
    assert data_checksum() == before


@pytest.mark.parametrize("bad", ["abc", "²", "\x00"])
def test_inline_autocompletes_redrawn_with_values_that_are_no_ids(hostile_client, graph, bad):
    before = data_checksum()
    response = hostile_client.post("/admin/graph/node/add/", node_form(**{
        "name": "zz", "path": "zz",
        "resource_links-TOTAL_FORMS": "1", "resource_links-0-resource": bad, "resource_links-0-link_type": "x",
        "resource_links-0-confidence": "0.5",
        "references_made-TOTAL_FORMS": "1", "references_made-0-reference_type": "cites",
        "references_made-0-target_node": bad}))
    assert response.status_code == 200 and "errornote" in text_of(response)
    assert data_checksum() == before


# --- JSON fields ------------------------------------------------------------------------------------------------

HOSTILE_JSON = {
    "nested 5,000 deep": "[" * 5000 + "]" * 5000,
    "nested 100,000 deep": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "NUL alone": '"\\u0000"',
    "NUL in a value": '{"a": "x\\u0000"}',
    "NUL in a key": '{"\\u0000": 1}',
    "NaN": "NaN",
    "Infinity": '{"a": Infinity}',
    "-Infinity": "[-Infinity]",
    "a float too large": "1e400",
    "lone surrogate": '"\\ud800"',
    "lone surrogate in a key": '{"\\udfff": 1}',
    "4,301 digits": "1" * 4301,
    "5,001 digits in an object": '{"a": ' + "9" * 5001 + "}",
    "over a megabyte": '"' + "x" * 1_000_001 + '"',
    "not JSON": "{'a': 1}",
}


@pytest.mark.parametrize("text", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_hostile_json_in_a_node_is_a_form_error(hostile_client, graph, text):
    before = data_checksum()
    response = hostile_client.post("/admin/graph/node/add/", node_form(metadata=text, name="zz", path="zz"))
    assert response.status_code == 200
    assert "RG-INPUT-001" in text_of(response)
    assert data_checksum() == before


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, '{"a": NaN}', '"\\ud800"', "7" * 4400, '["\\u0000"]'])
def test_hostile_json_in_relationships_and_reference_contexts(hostile_client, graph, text):
    before = data_checksum()
    response = hostile_client.post("/admin/graph/relationship/add/", relationship_form(
        source_node=graph.alpha.pk, target_node=graph.gamma.pk, relationship_type="new_kind", metadata=text))
    assert response.status_code == 200 and "RG-INPUT-001" in text_of(response)
    response = hostile_client.post("/admin/graph/reference/add/", {
        "reference_type": "cites", "source_node": graph.alpha.pk, "target_node": graph.beta.pk, "context": text})
    assert response.status_code == 200 and "RG-INPUT-001" in text_of(response)
    assert data_checksum() == before


def test_ordinary_json_is_still_saved(hostile_client, graph):
    response = hostile_client.post("/admin/graph/node/add/", node_form(
        metadata='{"a": [1, 2.5, "ü", null, {"b": true}], "big": 12345678901234567890}', name="zz", path="zz"))
    assert response.status_code == 302, text_of(response)[:2000]
    assert Node.objects.get(name="zz").metadata["big"] == 12345678901234567890


# --- ltree paths -------------------------------------------------------------------------------------------------

HOSTILE_PATHS = {
    "a label of 1,001 characters": "a" * 1001,
    "70,000 labels": ".".join(["a"] * 70_000),
    "too large to index": ".".join(["abcdefghijklmnopqrst"] * 130),
    "an empty label": "a..b",
    "a NUL": "a\x00b",
    "a space": "a b",
}


@pytest.mark.parametrize("path", HOSTILE_PATHS.values(), ids=HOSTILE_PATHS.keys())
def test_hostile_paths_are_form_errors(hostile_client, graph, path):
    before = data_checksum()
    response = hostile_client.post("/admin/graph/node/add/", node_form(path=path, name="zz"))
    assert response.status_code == 200 and "errornote" in text_of(response)
    assert data_checksum() == before


def test_a_deep_ordinary_path_is_still_saved(hostile_client, graph):
    path = ".".join(f"level_{index}" for index in range(60))
    with connection.cursor() as cursor:  # the parents, straight in: the form only places a node under one
        for depth in range(1, 60):
            cursor.execute("INSERT INTO nodes (name, node_type, path) VALUES (%s, 'concept', %s)",
                           [f"level {depth}", ".".join(path.split(".")[:depth])])
    response = hostile_client.post("/admin/graph/node/add/", node_form(path=path, name="deep"))
    assert response.status_code == 302, text_of(response)[:3000]


# --- Dates, odd ids, the views without a unique key -----------------------------------------------------------

@pytest.mark.parametrize("year", ["-1", "0", "2147483647", "²"])
def test_a_year_out_of_range_is_a_400_naming_the_filter(hostile_client, graph, year):
    for label, url, field in DATED:
        response = hostile_client.get(url, {f"{field}__year": year})
        if label == "config_admin.SystemConfig":  # the overview reads ?category= only and ignores the rest
            assert response.status_code == 200
        else:
            assert_refused_list(response, f"{field}__year")


@pytest.mark.parametrize("query", ["confidence_score__gt=abc", "node_id__in=1,x", "path__descendants=a..b",
                                   "name__regex=(", "p=99999", "p=%C2%B2", "created_at__gte=tomorrow"])
def test_other_unusable_lookups_are_400s(hostile_client, graph, query):
    response = hostile_client.get(f"/admin/graph/node/?{query}")
    assert response.status_code in (200, 400), text_of(response)[:500]
    if response.status_code == 400:
        assert "RG-INPUT-002" in text_of(response) or "Bad Request" in text_of(response)


@pytest.mark.parametrize("url", ["/admin/config_admin/systemconfig/abc/history/",
                                 "/admin/config_admin/systemconfig/%C2%B2/history/",
                                 "/admin/config_admin/systemconfig/99999999999999999999/change/",
                                 "/admin/config_admin/systemconfig/abc/reset/",
                                 "/admin/graph/node/%00/change/", "/admin/graph/node/1%00/history/",
                                 "/admin/graph/node/%C2%B2/delete/", "/admin/graph/importjob/%C2%B2/change/",
                                 "/admin/graph/nodeconfidencecache/abc/change/"])
def test_object_ids_that_are_no_ids(hostile_client, graph, url):
    response = hostile_client.get(url)
    assert response.status_code in (302, 404), (response.status_code, text_of(response)[:300])


def test_a_view_row_whose_key_is_not_unique_leads_to_its_rows(hostile_client, graph):
    assert RelationshipStrengthMatrix.objects.filter(source_node_id=graph.alpha.pk).count() == 2
    response = hostile_client.get(f"/admin/graph/relationshipstrengthmatrix/{graph.alpha.pk}/change/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"?source_node_id={graph.alpha.pk}")
    listed = hostile_client.get(response["Location"])
    assert listed.status_code == 200 and text_of(listed).count("influenced") >= 1
    assert hostile_client.get(f"/admin/graph/relationshipstrengthmatrix/{graph.alpha.pk}/delete/").status_code == 403
    assert hostile_client.get("/admin/graph/embeddingsimilaritycache/abc/change/").status_code == 302


# --- Configuration ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["٢٥٦MB", "１６MB", "2\u0665MB", "16\x00MB", "16 MB\x00"])
def test_non_ascii_digits_are_refused_at_the_door(hostile_client, graph, value):
    row = SystemConfig.objects.get(parameter_name="work_mem")
    before = data_checksum()
    response = hostile_client.post(f"/admin/config_admin/systemconfig/{row.pk}/change/",
                                   {"parameter_value": value, "reason": "x"})
    assert response.status_code == 200 and ("RG-CFG-005" in text_of(response) or "Null characters" in text_of(
        response))
    with pytest.raises(CommandError, match="RG-CFG-00[25]"):
        call_command("config", "set", "work_mem", value, stdout=io.StringIO())
    assert data_checksum() == before


def test_a_reset_reason_with_nul_is_refused_and_changes_nothing(hostile_client, graph):
    call_command("config", "set", "work_mem", "8MB", stdout=io.StringIO())
    row = SystemConfig.objects.get(parameter_name="work_mem")
    before = data_checksum()
    response = hostile_client.post(f"/admin/config_admin/systemconfig/{row.pk}/reset/", {"reason": "a\x00b"},
                                   follow=True)
    assert response.status_code == 200 and "RG-CFG-010" in text_of(response)
    assert data_checksum() == before
    with pytest.raises(CommandError, match="RG-CFG-010"):
        call_command("config", "reset", "work_mem", "--reason", "a\x00b", stdout=io.StringIO())
    with pytest.raises(CommandError, match="RG-CFG-010"):
        call_command("config", "set", "work_mem", "16MB", "--reason", "r" * 2001, stdout=io.StringIO())
    assert SystemConfig.objects.get(parameter_name="work_mem").parameter_value == "8MB"
    assert not ConfigAuditLog.objects.filter(reason__contains="r" * 2001).exists()


# --- Commands ----------------------------------------------------------------------------------------------------

def command_refusal(*args) -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    message = str(excinfo.value)
    assert CODE.search(message) and "Traceback" not in message, message
    return message


def test_config_import_of_dev_zero_reads_at_most_a_megabyte(graph):
    before = data_checksum()
    assert "larger than 1,000,000 bytes" in command_refusal("config", "import", "/dev/zero")
    assert data_checksum() == before


@pytest.mark.parametrize(("content", "says"), [
    ("[" * 100_000 + "]" * 100_000, "nested more than 100 levels"),
    ('{"format": "kgsite-config", "version": 1, "parameters": [{"name": "work_mem", "value": ' + "1" * 5001 + "}]}",
     "a number of 5,001 characters"),
    ('{"format": "kgsite-config", "version": 1, "parameters": [{"name": "work_mem", "value": NaN}]}', "NaN"),
    ('{"format": "kgsite-config", "version": 1, "parameters": [{"name": "work\\u0000mem", "value": "8MB"}]}',
     "NUL"),
    ("\xff\xfe not utf-8", "not UTF-8"),
])
def test_config_import_of_hostile_files(graph, tmp_path, content, says):
    path = tmp_path / "config.json"
    path.write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    before = data_checksum()
    message = command_refusal("config", "import", str(path))
    assert "RG-CFG-007" in message and says in message, message
    assert data_checksum() == before


def test_config_import_of_hostile_standard_input(graph, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"[" * 50_000)))
    assert "RG-CFG-007" in command_refusal("config", "import", "-")


@pytest.mark.parametrize("args", [
    ("generate_graph", "--nodes", "99999999999999999999"),
    ("generate_graph", "--nodes", "9" * 5000),
    ("generate_graph", "--nodes", "²"),
    ("queue_inference", "--node", "١"),
    ("move_node", "\x00", "--root"),
    ("move_node", "9" * 5000, "--parent", "²"),
    ("prune_history", "--older-than-days", "-1"),
    ("config", "get", "work\x00mem"),
    ("config", "list", "--category", "\x00"),
    ("export_graph", "/tmp/x.jsonl", "--subtree", "a" * 1001),
    ("find_duplicates", "--subtree", "a\x00b"),
    ("refresh_views", "--only", "\x00"),
])
def test_commands_refuse_hostile_arguments_with_one_code(graph, args):
    before = data_checksum()
    command_refusal(*args)
    assert data_checksum() == before


@pytest.mark.django_db(transaction=True)
def test_apply_postgres_is_all_or_nothing(superuser):
    """A stored value the rules refuse stops the apply before anything is written; a value PostgreSQL refuses
    after others were written undoes those (postgresql.auto.conf as before, nothing reloaded)."""
    from config_admin.selectors import postgres_backed_parameters
    from config_admin.services import postgres_settings_apply
    from config_admin.values import ConfigError
    from tests.config_admin.test_admin import auto_conf_settings, restore_auto_conf

    names = [row.parameter_name for row in postgres_backed_parameters()]
    assert names[-1] == "work_mem" and len(names) >= 3  # the refusal comes after the others were written
    saved = auto_conf_settings(names)
    try:
        with connection.cursor() as cursor:  # as stored before the rules refused other scripts' digits
            cursor.execute("UPDATE system_config SET parameter_value = '٢٥٦MB' WHERE parameter_name = 'work_mem'")
        with pytest.raises(ConfigError, match="RG-CFG-005: nothing was applied"):
            postgres_settings_apply()
        assert auto_conf_settings(names) == saved
        with connection.cursor() as cursor:  # a value the (widened) rules accept but PostgreSQL refuses
            cursor.execute("UPDATE system_config SET parameter_value = '10TB', max_value = '100TB' "
                           "WHERE parameter_name = 'work_mem'")
        with pytest.raises(ConfigError, match="RG-CFG-009: PostgreSQL refused the settings, so none was applied"):
            postgres_settings_apply()
        assert auto_conf_settings(names) == saved
    finally:
        restore_auto_conf(names, saved)


# --- Every admin has the rules ------------------------------------------------------------------------------------

def test_every_registered_model_admin_and_inline_reads_hostile_input_safely(rf, superuser):
    from kgsite.admin import HostileInputMixin

    request = rf.get("/admin/")
    request.user = superuser
    missing = [f"{model._meta.label}: {type(model_admin).__name__}"
               for model, model_admin in admin.site._registry.items()
               if not isinstance(model_admin, HostileInputMixin)]
    missing += [f"{model._meta.label} inline {type(inline).__name__}"
                for model, model_admin in admin.site._registry.items()
                for inline in model_admin.get_inline_instances(request) if not isinstance(inline, HostileInputMixin)]
    assert not missing


def test_the_data_checksum_sees_a_change(graph):
    before = data_checksum()
    Relationship.objects.filter(source_node=graph.alpha).update(strength="0.9")
    NodeResourceLink.objects.all().delete()
    InferenceQueueItem.objects.all().delete()
    after = data_checksum()
    assert after["relationships"] != before["relationships"]
    assert after["node_resource_links"][0] == before["node_resource_links"][0] - 1


@pytest.mark.parametrize("bad", ["abc", "99999999999999999999", "-1", "٣", "1\x00"])
def test_view_on_site_with_an_id_that_is_no_node_is_a_404(hostile_client, graph, bad):
    """The admin's "View on site" (Node.get_absolute_url) for ids that are no node: a 404, nothing written."""
    from django.contrib.contenttypes.models import ContentType

    before = data_checksum()
    node_type = ContentType.objects.get_for_model(Node)
    response = hostile_client.get(f"/admin/r/{node_type.pk}/{quote(bad)}/")
    assert response.status_code == 404, response.status_code
    assert data_checksum() == before


def test_view_on_site_leads_to_the_node_page(hostile_client, graph):
    from django.contrib.contenttypes.models import ContentType

    node = Node.objects.get(name="alpha")
    response = hostile_client.get(f"/admin/r/{ContentType.objects.get_for_model(Node).pk}/{node.pk}/")
    assert response.status_code == 302 and response["Location"].endswith(f"/nodes/{node.pk}/"), response
