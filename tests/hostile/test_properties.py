"""Property-based hostile input (Hypothesis): generated text with NUL characters, surrogates (URL-encoded, as a
browser cannot send them otherwise), huge numbers, other scripts' digits and deep JSON, sent to every registered
admin change list's parameters, the autocomplete, the add forms' JSON and ltree fields, and the commands'
arguments. Nothing answers 500 or raises anything but a coded refusal, and nothing refused changes data."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import data_checksum, text_of
from tests.hostile.test_handpicked import AUTOCOMPLETE_SOURCES, node_form, relationship_form

pytestmark = pytest.mark.django_db

CODE = re.compile(r"RG-[A-Z]+-\d{3}")
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

PIECES = ["\x00", "²", "١٢٣", "１６", "-1", "0", "2147483648", "9" * 25, "1e999", "NaN", "Infinity", "'", '"', "%",
          "_", "\\", "..", ".", "a.b", "(", "[", "a" * 1001, "\u202e", "\ufeff", " ", "\n", "true", "null"]
# URL-encoded pieces no str can hold: lone surrogates in UTF-8 (CESU) form, bytes that are no UTF-8.
RAW_ENCODED = ["%ED%A0%80", "%ED%BF%BF", "%FF", "%C0%80", "%00", "%F4%90%80%80", "%E2%82"]

hostile_text = st.one_of(
    st.sampled_from(PIECES),
    st.text(max_size=20),
    st.integers().map(str),
    st.integers(min_value=10**18, max_value=10**80).map(str),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), min_size=1, max_size=4).map("".join),
)
encoded_value = st.one_of(hostile_text.map(lambda text: quote(text, safe="")), st.sampled_from(RAW_ENCODED),
                          st.tuples(hostile_text, st.sampled_from(RAW_ENCODED)).map(
                              lambda pair: quote(pair[0], safe="") + pair[1]))

LOOKUPS = ["", "__exact", "__in", "__gte", "__lt", "__isnull", "__year", "__month", "__day", "__contains",
           "__startswith", "__regex", "__descendants", "__range"]


def parameter_names(model, model_admin) -> list[str]:
    names = ["q", "o", "p", "all", "_facets", "e", "_to_field", "_popup"]
    for field in model._meta.concrete_fields:
        names += [field.attname + lookup for lookup in LOOKUPS]
    for list_filter in model_admin.list_filter:
        parameter = getattr(list_filter, "parameter_name", None)
        names.append(parameter or (list_filter[0] if isinstance(list_filter, tuple) else str(list_filter)))
    return names


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


ADMINS = registered()


def in_savepoint(action):
    """Run ``action`` and undo whatever it wrote (an example that was accepted may add a row)."""
    savepoint = transaction.savepoint()
    try:
        return action()
    finally:
        transaction.savepoint_rollback(savepoint)


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=[model._meta.label for model, _ in ADMINS])
def test_change_list_parameters(hostile_client, graph, model, model_admin):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    names = parameter_names(model, model_admin)
    before = data_checksum()

    @SETTINGS
    @given(st.lists(st.tuples(st.sampled_from(names), encoded_value), min_size=1, max_size=3))
    def check(pairs):
        query = "&".join(f"{quote(name)}={value}" for name, value in pairs)
        response = hostile_client.get(f"{url}?{query}")
        assert response.status_code < 500, (query, text_of(response)[:300])
        if response.status_code == 400 and "RG-" in text_of(response):
            assert "RG-INPUT-002" in text_of(response)

    check()
    assert data_checksum() == before


def test_autocomplete(hostile_client, graph):
    before = data_checksum()

    @SETTINGS
    @given(st.sampled_from(AUTOCOMPLETE_SOURCES + [("graph", "x\x00", "node"), ("\x00", "node", "x")]),
           encoded_value, st.one_of(st.none(), encoded_value))
    def check(source, term, page):
        app, model, field = (quote(part, safe="") for part in source)
        query = f"app_label={app}&model_name={model}&field_name={field}&term={term}"
        if page is not None:
            query += f"&page={page}"
        response = hostile_client.get(f"/admin/autocomplete/?{query}")
        assert response.status_code < 500, (query, text_of(response)[:300])

    check()
    assert data_checksum() == before


json_text = st.one_of(
    st.integers(min_value=90, max_value=20_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=90, max_value=20_000).map(lambda depth: '{"a":' * depth + "0" + "}" * depth),
    st.integers(min_value=300, max_value=6000).map(lambda digits: "7" * digits),
    st.sampled_from(['"\\u0000"', '{"\\u0000": 1}', "NaN", "[Infinity]", "-Infinity", "1e400", '"\\ud800"',
                     '{"a": "\\udc00x"}', "{", "[1,]", "'a'", "", "null", "{}"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                 lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children,
                                                                                   max_size=3),
                 max_leaves=10).map(lambda value: __import__("json").dumps(value)),
)
path_text = st.one_of(
    hostile_text,
    st.integers(min_value=995, max_value=1010).map(lambda length: "a" * length),
    st.integers(min_value=100, max_value=80_000).map(lambda labels: ".".join(["ab"] * labels)),
    st.lists(st.from_regex(r"[a-z0-9_-]{1,30}", fullmatch=True), min_size=1, max_size=150).map(".".join),
)


def test_node_form_json_and_path(hostile_client, graph):
    @SETTINGS
    @given(json_text, path_text)
    def check(metadata, path):
        def post():
            before = data_checksum()
            response = hostile_client.post("/admin/graph/node/add/", node_form(metadata=metadata, path=path,
                                                                                name="generated"))
            assert response.status_code in (200, 302), (metadata[:80], path[:80], response.status_code)
            if response.status_code == 200:
                assert "errornote" in text_of(response)
                assert data_checksum() == before

        in_savepoint(post)

    check()


def test_relationship_and_reference_json(hostile_client, graph):
    @SETTINGS
    @given(json_text, st.sampled_from(["relationship", "reference"]))
    def check(text, form):
        def post():
            before = data_checksum()
            if form == "relationship":
                response = hostile_client.post("/admin/graph/relationship/add/", relationship_form(
                    source_node=graph.beta.pk, target_node=graph.gamma.pk, metadata=text))
            else:
                response = hostile_client.post("/admin/graph/reference/add/", {
                    "reference_type": "cites", "source_node": graph.beta.pk, "target_node": graph.gamma.pk,
                    "context": text})
            assert response.status_code in (200, 302), (text[:80], response.status_code)
            if response.status_code == 200:
                assert data_checksum() == before

        in_savepoint(post)

    check()


COMMANDS = [
    lambda value: ("config", "get", value),
    lambda value: ("config", "set", "work_mem", value),
    lambda value: ("config", "set", value, "8MB"),
    lambda value: ("config", "set", "random_page_cost", value),
    lambda value: ("config", "reset", "work_mem", "--reason", value),
    lambda value: ("config", "list", "--category", value),
    lambda value: ("generate_graph", "--nodes", value),
    lambda value: ("move_node", value, "--root"),
    lambda value: ("queue_inference", "--node", value),
    lambda value: ("queue_inference", "--type", value),
    lambda value: ("prune_history", "--older-than-days", value, "--dry-run"),
    lambda value: ("find_duplicates", "--subtree", value),
    lambda value: ("find_duplicates", "--type", value, "--min-score", value),
    lambda value: ("export_graph", "/nonexistent-dir/x.jsonl", "--subtree", value),
    lambda value: ("refresh_views", "--only", value),
    lambda value: ("recalculate_confidence", "--batch-size", value),
]


def test_command_arguments(graph):
    @SETTINGS
    @given(st.sampled_from(range(len(COMMANDS))), hostile_text)
    def check(which, value):
        args = COMMANDS[which](value)

        def run():
            before = data_checksum()
            try:
                call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
            except CommandError as exc:  # a refusal: one coded line, nothing written
                assert CODE.search(str(exc)) and "Traceback" not in str(exc), (args, str(exc))
                assert data_checksum() == before, args

        in_savepoint(run)

    check()


def test_config_import_files(graph, tmp_path):
    path = tmp_path / "config.json"

    @SETTINGS
    @given(json_text.map(lambda text: '{"format": "kgsite-config", "version": 1, "parameters": [{"name": '
                                      '"work_mem", "value": ' + (text or "0") + "}]}") | json_text)
    def check(content):
        path.write_text(content, encoding="utf-8", errors="surrogatepass")

        def run():
            before = data_checksum()
            with pytest.raises(CommandError) as excinfo:
                call_command("config", "import", str(path), stdout=io.StringIO())
            assert CODE.search(str(excinfo.value)), str(excinfo.value)
            assert data_checksum() == before

        in_savepoint(run)

    check()
