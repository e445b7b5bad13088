"""import_graph (docs/import-format.md): what it writes, what it refuses (with the line), and that it is repeatable."""

from __future__ import annotations

import gzip
import json
import zipfile
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from graph.choices import ImportStatus
from graph.models import (
    EmbeddingQueueItem,
    ExternalResource,
    ImportJob,
    InferenceQueueItem,
    Node,
    NodeAttribute,
    NodeResourceLink,
    Reference,
    Relationship,
)
from graph.services.import_staging import import_sources
from graph.services.imports import graph_import
from tests.factories import NodeAttributeFactory, NodeFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

MODELS = (Node, NodeAttribute, Relationship, ExternalResource, NodeResourceLink, Reference, ImportJob)

GRAPH = [
    {"kind": "node", "key": "lang", "name": "Languages", "node_type": "category", "path": "languages"},
    {"kind": "node", "key": "lang:python", "name": "Python", "node_type": "language", "path": "languages.python",
     "metadata": {"creator": "Guido van Rossum"}},
    {"kind": "node", "key": "lang:abc", "name": "ABC", "node_type": "language", "parent": "lang",
     "path": "languages.abc"},
    {"kind": "attribute", "node": "lang:python", "type": "paradigm", "key": "paradigm", "value": "object-oriented",
     "confidence": 0.9, "weight": "0.8"},
    {"kind": "attribute", "node": "lang:abc", "type": "paradigm", "key": "paradigm", "value": "object-oriented",
     "confidence": "0.7", "last_verified": "2026-06-01T12:00:00Z"},
    {"kind": "attribute", "node": "lang:abc", "type": "year", "key": "first_appeared", "value": 1987},
    {"kind": "relationship", "source": "lang:python", "target": "lang:abc", "type": "influenced_by",
     "strength": 0.8, "stated_confidence": 0.9, "bidirectional": False, "metadata": {"via": "history"}},
    {"kind": "resource", "url": "https://docs.python.org/3/", "title": "Python documentation",
     "resource_type": "documentation"},
    {"kind": "link", "node": "lang:python", "resource": "https://docs.python.org/3/", "link_type": "documentation",
     "confidence": 0.95, "context": "official"},
    {"kind": "reference", "source_node": "lang:python", "target_resource": "https://docs.python.org/3/",
     "reference_type": "cites", "page_number": 3, "section": "Intro", "quote": "Python is easy"},
]


def write_jsonl(path: Path, records, *, raw_lines=()) -> Path:
    lines = [json.dumps(record) for record in records] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def run(*paths, **options):
    return graph_import(sources=import_sources(paths=list(paths)), **options)


def problems(report) -> list[tuple[int | None, str | None, str]]:
    return [(p.line, p.field, p.message) for p in report.problems]


@pytest.fixture
def graph_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "graph.jsonl", GRAPH)


# --- What an import writes ---------------------------------------------------------------------------------------

def test_import_writes_every_kind_with_its_fields(graph_file):
    report = run(graph_file)
    assert report.ok, report.lines()
    assert {kind: c.created for kind, c in report.counts.items()} == {
        "node": 3, "attribute": 3, "relationship": 1, "resource": 1, "link": 1, "reference": 1}

    python = Node.objects.get(external_key="lang:python")
    root = Node.objects.get(external_key="lang")
    abc = Node.objects.get(external_key="lang:abc")
    assert (python.name, python.node_type, str(python.path), python.parent_node_id) == (
        "Python", "language", "languages.python", root.pk)
    assert abc.parent_node_id == root.pk and python.metadata == {"creator": "Guido van Rossum"}
    assert python.source == "import"

    attribute = NodeAttribute.objects.get(node=python)
    assert (attribute.weight, attribute.confidence, attribute.source_reliability) == (
        Decimal("0.8"), Decimal("0.9"), Decimal("1.0"))
    assert NodeAttribute.objects.get(node=abc, attribute_key="first_appeared").attribute_value == "1987"
    assert NodeAttribute.objects.get(node=abc, attribute_key="paradigm").last_verified.isoformat() \
        == "2026-06-01T12:00:00+00:00"

    edge = Relationship.objects.get()
    assert (edge.source_node_id, edge.target_node_id, edge.relationship_type, edge.strength,
            edge.stated_confidence, edge.metadata, edge.auto_managed) == (
        python.pk, abc.pk, "influenced_by", Decimal("0.8"), Decimal("0.9"), {"via": "history"}, False)
    resource = ExternalResource.objects.get()
    assert (resource.url, resource.title, resource.crawl_status) == (
        "https://docs.python.org/3/", "Python documentation", "pending")
    link = NodeResourceLink.objects.get()
    assert (link.node_id, link.resource_id, link.link_type, link.confidence, link.context) == (
        python.pk, resource.pk, "documentation", Decimal("0.95"), "official")
    reference = Reference.objects.get()
    assert (reference.source_node_id, reference.target_resource_id, reference.page_number, reference.section) == (
        python.pk, resource.pk, 3, "Intro")


def test_imported_rows_feed_confidence_inference_and_embeddings(graph_file):
    run(graph_file)
    python = Node.objects.get(external_key="lang:python")
    # One attribute of confidence 0.9: the score moves off the 0.5 prior (docs/confidence.md).
    assert python.confidence_score > Decimal("0.5")
    imported = set(Node.objects.filter(source="import").values_list("pk", flat=True))
    queued = set(InferenceQueueItem.objects.filter(status="pending").values_list("node_id", flat=True))
    assert imported <= queued
    assert imported <= set(EmbeddingQueueItem.objects.values_list("node_id", flat=True))
    assert Relationship.objects.get().confidence_score is not None


def test_an_import_is_recorded_as_a_completed_import_job(graph_file):
    run(graph_file)
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.COMPLETED and job.rows_total == len(GRAPH)
    assert job.result["counts"]["node"]["created"] == 3 and len(job.sha256) == 64


def test_importing_the_same_file_twice_changes_nothing(graph_file):
    run(graph_file)
    before = {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS[:-1]}
    InferenceQueueItem.objects.all().delete()
    EmbeddingQueueItem.objects.all().delete()

    report = run(graph_file)
    assert report.ok
    assert all(c.created == c.updated == 0 for c in report.counts.values()), report.lines()
    assert sum(c.unchanged for c in report.counts.values()) == len(GRAPH)
    after = {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS[:-1]}
    assert after == before  # not one column rewritten, updated_at included
    assert not InferenceQueueItem.objects.exists() and not EmbeddingQueueItem.objects.exists()


def test_a_changed_value_updates_and_fields_left_out_keep_their_value(tmp_path, graph_file):
    run(graph_file)
    changed = [dict(record) for record in GRAPH]
    changed[1] = {"kind": "node", "key": "lang:python", "name": "Python 3", "node_type": "language"}
    changed[3] = {**changed[3], "confidence": 0.6}
    changed[7] = {**changed[7], "title": "The Python docs"}
    report = run(write_jsonl(tmp_path / "changed.jsonl", changed))
    assert (report.counts["node"].updated, report.counts["attribute"].updated,
            report.counts["resource"].updated) == (1, 1, 1)
    python = Node.objects.get(external_key="lang:python")
    assert python.name == "Python 3" and str(python.path) == "languages.python"  # path left out: kept
    assert python.metadata == {"creator": "Guido van Rossum"}
    assert NodeAttribute.objects.get(node=python).confidence == Decimal("0.6")
    assert ExternalResource.objects.get().title == "The Python docs"


def test_on_conflict_skip_leaves_stored_rows_and_error_refuses_them(tmp_path, graph_file):
    run(graph_file)
    changed = [{**GRAPH[1], "name": "Renamed"}, {"kind": "node", "key": "new", "name": "New", "node_type": "x"}]
    path = write_jsonl(tmp_path / "changed.jsonl", changed)

    report = run(path, on_conflict="skip")
    assert (report.counts["node"].skipped, report.counts["node"].created) == (1, 1)
    assert Node.objects.get(external_key="lang:python").name == "Python"

    counts = table_counts()
    report = run(path, on_conflict="error")
    assert not report.ok and table_counts() == counts
    assert [(p.line, p.message.split(" (")[0]) for p in report.problems] == [
        (1, "this node is already in the database"), (2, "this node is already in the database")]


def test_dry_run_reports_the_changes_and_writes_nothing(graph_file):
    counts = table_counts()
    report = run(graph_file, dry_run=True)
    assert report.ok and report.dry_run
    assert report.counts["node"].created == 3 and report.counts["reference"].created == 1
    assert table_counts() == counts
    assert "dry run" in report.lines()[0]


def test_later_files_refer_to_nodes_of_earlier_imports_and_of_the_admin(tmp_path, graph_file):
    run(graph_file)
    admin_node = NodeFactory(name="Made in the admin", path=None)
    later = [
        {"kind": "node", "key": "lang:python3", "name": "Python 3", "node_type": "language",
         "path": "languages.python.python3"},
        {"kind": "relationship", "source": "lang:python3", "target": "lang:abc", "type": "influenced_by"},
        {"kind": "attribute", "node": f"node-{admin_node.pk}", "type": "note", "key": "k", "value": "v"},
    ]
    report = run(write_jsonl(tmp_path / "later.jsonl", later))
    assert report.ok, report.lines()
    python3 = Node.objects.get(external_key="lang:python3")
    assert python3.parent_node == Node.objects.get(external_key="lang:python")
    assert NodeAttribute.objects.get(attribute_type="note").node_id == admin_node.pk
    admin_node.refresh_from_db()
    assert admin_node.external_key is None


def test_a_relationship_inference_made_becomes_curated_when_a_file_states_it(tmp_path):
    source, target = NodeFactory(external_key="a"), NodeFactory(external_key="b")
    RelationshipFactory(source_node=source, target_node=target, relationship_type="shares_attributes",
                        auto_managed=True)
    report = run(write_jsonl(tmp_path / "r.jsonl", [
        {"kind": "relationship", "source": "a", "target": "b", "type": "shares_attributes", "strength": 0.5}]))
    assert report.counts["relationship"].updated == 1
    assert Relationship.objects.get().auto_managed is False


# --- CSV, archives, compression --------------------------------------------------------------------------------------

def write_csv(directory: Path) -> Path:
    directory.mkdir()
    (directory / "nodes.csv").write_text(
        "key,name,node_type,path,parent,metadata\n"
        "lang,Languages,category,languages,,\n"
        'lang:python,Python,language,languages.python,,"{""creator"": ""Guido van Rossum""}"\n'
        "lang:abc,ABC,language,languages.abc,lang,\n", encoding="utf-8")
    (directory / "attributes.csv").write_text(
        "node,type,key,value,weight,confidence,last_verified\n"
        "lang:python,paradigm,paradigm,object-oriented,0.8,0.9,\n"
        "lang:abc,paradigm,paradigm,object-oriented,,0.7,2026-06-01T12:00:00Z\n"
        "lang:abc,year,first_appeared,1987,,,\n", encoding="utf-8")
    (directory / "relationships.csv").write_text(
        "source,target,type,strength,stated_confidence,bidirectional,metadata\n"
        'lang:python,lang:abc,influenced_by,0.8,0.9,false,"{""via"": ""history""}"\n', encoding="utf-8")
    (directory / "resources.csv").write_text(
        "url,title,resource_type\nhttps://docs.python.org/3/,Python documentation,documentation\n",
        encoding="utf-8")
    (directory / "links.csv").write_text(
        "node,resource,link_type,confidence,context\n"
        "lang:python,https://docs.python.org/3/,documentation,0.95,official\n", encoding="utf-8")
    (directory / "references.csv").write_text(
        "source_node,target_resource,reference_type,page_number,section,quote\n"
        "lang:python,https://docs.python.org/3/,cites,3,Intro,Python is easy\n", encoding="utf-8")
    return directory


def graph_clear() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE nodes, external_resources CASCADE")


def graph_snapshot() -> dict:
    """The graph without ids: what a round trip or another format must give back."""
    keys = dict(Node.objects.values_list("pk", "external_key"))
    urls = dict(ExternalResource.objects.values_list("pk", "url"))
    return {
        "nodes": sorted((n.external_key, n.name, n.node_type, str(n.path), keys.get(n.parent_node_id),
                         json.dumps(n.metadata, sort_keys=True)) for n in Node.objects.all()),
        "attributes": sorted((keys[a.node_id], a.attribute_type, a.attribute_key, a.attribute_value, a.weight,
                              a.confidence, a.source_reliability) for a in NodeAttribute.objects.all()),
        "relationships": sorted((keys[r.source_node_id], keys[r.target_node_id], r.relationship_type, r.strength,
                                 r.stated_confidence, r.bidirectional, json.dumps(r.metadata))
                                for r in Relationship.objects.all()),
        "resources": sorted((r.url, r.title, r.resource_type) for r in ExternalResource.objects.all()),
        "links": sorted((keys[link.node_id], urls[link.resource_id], link.link_type, link.confidence, link.context)
                        for link in NodeResourceLink.objects.all()),
        "references": sorted((keys.get(r.source_node_id), urls.get(r.target_resource_id), r.reference_type,
                              r.page_number, r.section, r.quote) for r in Reference.objects.all()),
    }


def test_a_csv_directory_imports_the_same_graph_as_json_lines(tmp_path, graph_file):
    run(graph_file)
    from_jsonl = graph_snapshot()
    graph_clear()
    report = run(write_csv(tmp_path / "csv"))
    assert report.ok, report.lines()
    assert graph_snapshot() == from_jsonl


def test_zip_archives_and_gzip_files_are_read(tmp_path, graph_file):
    directory = write_csv(tmp_path / "csv")
    archive = tmp_path / "graph.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in directory.iterdir():
            zipped.write(file, file.name)
    assert run(archive).counts["node"].created == 3
    compressed = tmp_path / "graph.jsonl.gz"
    compressed.write_bytes(gzip.compress(graph_file.read_bytes()))
    report = run(compressed)
    assert report.ok and report.counts["node"].unchanged == 3


def test_csv_problems_name_their_line(tmp_path):
    directory = tmp_path / "csv"
    directory.mkdir()
    (directory / "nodes.csv").write_text("key,name,node_type,colour\na,A,t,red\n", encoding="utf-8")
    (directory / "attributes.csv").write_text("node,type,key,value,confidence\na,t,k,v,1.5\n", encoding="utf-8")
    report = run(directory)
    # nodes.csv is refused as a whole (its header), so its node is not a node of the file either.
    assert [(Path(p.file).name, p.line, p.field) for p in report.problems] == [
        ("attributes.csv", 2, "confidence"), ("attributes.csv", 2, "node"), ("nodes.csv", 1, "colour")]


# --- Bad input: every error with its line, nothing written -----------------------------------------------------------

BAD_CASES = [
    ("bad JSON", ['{"kind": "node", "key": "a"'], [(1, None, "not valid JSON")]),
    ("unknown kind", [{"kind": "vertex", "key": "a"}], [(1, "kind", "unknown kind 'vertex'")]),
    ("not an object", ["[1, 2]"], [(1, "kind", "expected a JSON object")]),
    ("missing key", [{"kind": "node", "name": "A", "node_type": "t"}], [(1, "key", "missing")]),
    ("unknown field", [{"kind": "node", "key": "a", "name": "A", "node_type": "t", "colour": "red"}],
     [(1, "colour", "unknown field(s) 'colour'")]),
    ("relationship to an unknown node",
     [{"kind": "node", "key": "a", "name": "A", "node_type": "t"},
      {"kind": "relationship", "source": "a", "target": "ghost", "type": "knows"}],
     [(2, "target", "'ghost' is not a node of the file or the database")]),
    ("confidence of 1.5", [{"kind": "node", "key": "a", "name": "A", "node_type": "t"},
                           {"kind": "attribute", "node": "a", "type": "t", "key": "k", "value": "v",
                            "confidence": 1.5}],
     [(2, "confidence", "must be a number between 0 and 1, got 1.5")]),
    ("malformed path", [{"kind": "node", "key": "a", "name": "A", "node_type": "t", "path": "Top..Level"}],
     [(1, "path", '"Top..Level" is not an ltree path')]),
    ("vector of the wrong length", [{"kind": "node", "key": "a", "name": "A", "node_type": "t",
                                     "embedding": [0.1] * 767}],
     [(1, "embedding", "must have 768 numbers, got 767")]),
    ("zero vector", [{"kind": "node", "key": "a", "name": "A", "node_type": "t", "embedding": [0] * 768}],
     [(1, "embedding", "is all zeros")]),
    ("duplicate key in the file", [{"kind": "node", "key": "a", "name": "A", "node_type": "t"},
                                   {"kind": "node", "key": "a", "name": "B", "node_type": "t"}],
     [(2, "key", "this node key is also on line 1")]),
    ("duplicate attribute", [{"kind": "node", "key": "a", "name": "A", "node_type": "t"},
                             {"kind": "attribute", "node": "a", "type": "t", "key": "k", "value": 1},
                             {"kind": "attribute", "node": "a", "type": "t", "key": "k", "value": "1"}],
     [(3, "value", "this attribute (node, type, key and value) is also on line 2")]),
    ("self-loop", [{"kind": "node", "key": "a", "name": "A", "node_type": "t"},
                   {"kind": "relationship", "source": "a", "target": "a", "type": "t"}],
     [(2, "target", "a relationship cannot connect a node to itself")]),
    ("path without its parent", [{"kind": "node", "key": "a", "name": "A", "node_type": "t", "path": "x.y"}],
     [(1, "path", "x.y needs a parent")]),
    ("path that disagrees with the parent",
     [{"kind": "node", "key": "p", "name": "P", "node_type": "t", "path": "p"},
      {"kind": "node", "key": "c", "name": "C", "node_type": "t", "path": "q.c", "parent": "p"}],
     [(2, "path", "q.c must be the parent's path p plus one label")]),
    ("parent cycle", [{"kind": "node", "key": "a", "name": "A", "node_type": "t", "path": "a", "parent": "b"},
                      {"kind": "node", "key": "b", "name": "B", "node_type": "t", "path": "b", "parent": "a"}],
     [(1, "parent", "parent cycle"), (2, "parent", "parent cycle")]),
    ("text too long", [{"kind": "node", "key": "a", "name": "A" * 256, "node_type": "t"}],
     [(1, "name", "is 256 characters long; at most 255 are allowed")]),
    ("wrong types", [{"kind": "relationship", "source": 1, "target": "present", "type": "t",
                      "bidirectional": "yes"}],
     [(1, "bidirectional", "must be true or false"), (1, "source", "must be a non-empty string")]),
    ("a URL that is not one", [{"kind": "resource", "url": "javascript:alert(1)"}],
     [(1, "url", "is not a valid URL")]),
    ("a reference with two sources",
     [{"kind": "reference", "source_node": "a", "source_resource": "https://x.org/", "target_resource":
       "https://x.org/", "reference_type": "cites"}],
     [(1, "source_node", "give exactly one of source_node and"),
      (1, "source_resource", "'https://x.org/' is not a resource"),
      (1, "target_resource", "'https://x.org/' is not a resource")]),
    ("a confidence score", [{"kind": "node", "key": "a", "name": "A", "node_type": "t", "confidence_score": 0.9}],
     [(1, "confidence_score", "is not imported")]),
]


@pytest.mark.parametrize(("records", "expected"), [case[1:] for case in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_reported_with_its_line_and_nothing_is_written(tmp_path, records, expected):
    NodeFactory(name="Present", external_key="present")
    counts = table_counts()
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    report = run(path)
    assert not report.ok
    found = sorted(problems(report), key=lambda p: (p[0] or 0, p[1] or ""))
    assert len(found) == len(expected), found
    for (line, field, message), (want_line, want_field, want_message) in zip(found, expected):
        assert (line, field) == (want_line, want_field), found
        assert want_message in message, found
    assert table_counts() == counts


def test_every_error_of_a_file_is_reported_at_once(tmp_path):
    records = [json.dumps({"kind": "node", "key": f"n{i}", "name": "N", "node_type": "t"}) for i in range(5)]
    records[1] = "{broken"
    records[3] = json.dumps({"kind": "attribute", "node": "n0", "type": "t", "key": "k", "value": "v",
                             "weight": 7})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n\n".join(records) + "\n", encoding="utf-8")  # blank lines count as lines
    report = run(path)
    assert [(p.line, p.field) for p in report.problems] == [(3, None), (7, "weight")]


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"kind": "node", "key": "a", "name": "A", "node_type": "t"}\n'
                     b'{"kind": "node", "key": "b", "name": "Caf\xe9", "node_type": "t"}\n')
    report = run(path)
    assert not report.ok and report.problems[0].line == 2
    assert "UTF8" in report.problems[0].message or "UTF-8" in report.problems[0].message
    assert not Node.objects.exists()


def test_a_write_the_database_refuses_rolls_everything_back(tmp_path):
    """The database's own hierarchy rule (checked after the file's): moving a node under its own child."""
    run(write_jsonl(tmp_path / "a.jsonl", [
        {"kind": "node", "key": "a", "name": "A", "node_type": "t", "path": "a"},
        {"kind": "node", "key": "b", "name": "B", "node_type": "t", "path": "a.b"}]))
    counts = table_counts()
    report = run(write_jsonl(tmp_path / "b.jsonl", [
        {"kind": "node", "key": "a", "name": "A", "node_type": "t", "path": "a.b.a"},
        {"kind": "node", "key": "new", "name": "New", "node_type": "t"}]))
    assert not report.ok and "refused" in report.problems[0].message
    assert table_counts() == counts


# --- The command ---------------------------------------------------------------------------------------------------

def test_command_prints_a_summary_per_kind(graph_file):
    out = StringIO()
    call_command("import_graph", str(graph_file), stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "Imported 10 records" in text
    assert "nodes: 3 created, 0 updated, 0 unchanged, 0 skipped" in text
    assert "references: 1 created" in text


def test_command_reports_errors_with_lines_and_fails(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"kind": "node", "key": "a", "name": "A", "node_type": "t"}],
                       raw_lines=["{oops"])
    err = StringIO()
    with pytest.raises(CommandError, match=r"RG-IMPORT-001: Refused: 1 error in 1 records; nothing was written"):
        call_command("import_graph", str(path), stdout=StringIO(), stderr=err)
    assert f"{path}, line 2: not valid JSON" in err.getvalue()
    assert not Node.objects.exists()


def test_command_writes_all_errors_to_a_file(tmp_path):
    records = [{"kind": "node", "key": "a", "name": "A", "node_type": "t", "weight": 1}] * 60
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    errors = tmp_path / "errors.txt"
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_graph", str(path), "--errors-file", str(errors), stdout=StringIO(), stderr=err)
    assert len(errors.read_text().splitlines()) == 60 + 59  # an unknown field each, and 59 duplicate keys
    assert "and 69 more; all of them are in" in err.getvalue()


@pytest.mark.parametrize(("arguments", "message"), [
    (["/nonexistent/graph.jsonl"], "no such file or directory"),
    (["{tmp}/graph.txt"], "cannot tell the format"),
    (["{tmp}/people.csv"], "a CSV file must be named after its kind"),
    (["{tmp}/graph.jsonl", "--on-conflict", "merge"], "invalid choice: 'merge'"),
    (["{tmp}/graph.jsonl", "--format", "xml"], "invalid choice: 'xml'"),
    (["{tmp}/graph.jsonl", "--errors-file", "/nonexistent/dir/errors.txt"], "does not exist"),
    (["{tmp}/broken.zip"], "not a readable ZIP archive"),
])
def test_command_refuses_bad_arguments_clearly(tmp_path, graph_file, arguments, message):
    (tmp_path / "graph.txt").write_text("x")
    (tmp_path / "people.csv").write_text("x")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    with pytest.raises(CommandError, match=message):
        call_command("import_graph", *arguments, stdout=StringIO(), stderr=StringIO())
    assert not Node.objects.exists()


def test_existing_attributes_are_matched_by_value(tmp_path):
    node = NodeFactory(external_key="n")
    NodeAttributeFactory(node=node, attribute_type="t", attribute_key="k", attribute_value="v")
    report = run(write_jsonl(tmp_path / "a.jsonl", [
        {"kind": "attribute", "node": "n", "type": "t", "key": "k", "value": "v"},
        {"kind": "attribute", "node": "n", "type": "t", "key": "k", "value": "w"}]))
    assert (report.counts["attribute"].unchanged, report.counts["attribute"].created) == (1, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM node_attributes WHERE node_id = %s", [node.pk])
        assert cursor.fetchone()[0] == 2


def test_keys_of_a_merged_node_lead_to_the_node_it_was_merged_into(tmp_path, graph_file):
    """Re-importing a feed after a curator merged one of its nodes neither brings the duplicate back nor loses what
    the feed says of it: that goes to the survivor, following merges of merges (docs/duplicates.md)."""
    from graph.services.merges import node_merge, node_unmerge

    run(graph_file)
    python, abc = Node.objects.get(external_key="lang:python"), Node.objects.get(external_key="lang:abc")
    admin_node = NodeFactory(name="ABC (language)", path=None)
    node_merge(survivor_id=python.pk, merged_id=abc.pk)
    merge = node_merge(survivor_id=admin_node.pk, merged_id=python.pk)  # and that one on again
    later = [
        {"kind": "node", "key": "lang:abc", "name": "ABC", "node_type": "language"},
        {"kind": "attribute", "node": "lang:abc", "type": "year", "key": "last_release", "value": 1993},
        {"kind": "relationship", "source": "lang:lang_new", "target": "lang:python", "type": "mentions"},
        {"kind": "node", "key": "lang:lang_new", "name": "New", "node_type": "language"},
    ]
    before = Node.objects.count()
    report = run(write_jsonl(tmp_path / "later.jsonl", later))
    assert report.ok, report.lines()
    assert report.counts["node"].created == 1 and report.counts["node"].redirected == 1
    assert "1 merged into another node" in "\n".join(report.lines())
    assert Node.objects.count() == before + 1  # only lang:lang_new; no "ABC" again
    assert not Node.objects.filter(external_key="lang:abc").exists()
    admin_node.refresh_from_db()
    assert admin_node.name == "ABC (language)"  # the survivor keeps its own fields
    assert NodeAttribute.objects.get(attribute_key="last_release").node_id == admin_node.pk
    assert Relationship.objects.get(relationship_type="mentions").target_node_id == admin_node.pk

    node_unmerge(merge_id=merge.merge_id)  # python exists again: its key is its own once more
    report = run(write_jsonl(tmp_path / "again.jsonl", [
        {"kind": "attribute", "node": "lang:python", "type": "note", "key": "k", "value": "v"}]))
    assert report.ok and NodeAttribute.objects.get(attribute_type="note").node_id == python.pk
