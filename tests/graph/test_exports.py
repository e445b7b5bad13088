"""export_graph (graph/services/exports.py): the exchange format streamed out, and the round trip through
import_graph into an empty database that gives back the same graph."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import networkx
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from graph.models import ExternalResource, Node, NodeAttribute, NodeResourceLink, Reference, Relationship
from graph.services.exports import graph_export
from graph.services.import_staging import import_sources
from graph.services.imports import graph_import
from tests.factories import (
    ExternalResourceFactory,
    NodeAttributeFactory,
    NodeFactory,
    NodeResourceLinkFactory,
    ReferenceFactory,
    RelationshipFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph():
    """Keyed and keyless nodes in two trees, every kind of row, an inferred link and a supplied vector."""
    science = NodeFactory(label="science", name="Science", node_type="category", external_key="sci",
                          metadata={"about": "all of it"})
    physics = NodeFactory(parent=science, label="physics", name="Physics", node_type="field", embedded=True)
    optics = NodeFactory(parent=physics, label="optics", name="Optics", node_type="field", external_key="optics")
    arts = NodeFactory(label="arts", name="Arts", node_type="category")
    loose = NodeFactory(label="x", name="No path", path=None)
    NodeAttributeFactory(node=physics, attribute_type="field", attribute_key="since", attribute_value="1687",
                         weight=Decimal("0.7"), confidence=Decimal("0.9"))
    NodeAttributeFactory(node=optics, attribute_type="field", attribute_key="since", attribute_value="1687",
                         metadata={"source": "book"})
    NodeAttributeFactory(node=arts, attribute_type="tag", attribute_key="mood", attribute_value='quote " and \\')
    RelationshipFactory(source_node=optics, target_node=physics, relationship_type="part_of",
                        strength=Decimal("0.9"), stated_confidence=Decimal("0.8"), bidirectional=True,
                        metadata={"note": "tab\there"})
    RelationshipFactory(source_node=arts, target_node=science, relationship_type="contrasts")
    RelationshipFactory(source_node=physics, target_node=arts, relationship_type="shares_attributes", inferred=True)
    resource = ExternalResourceFactory(url="https://example.org/optics", title="Optics, a primer",
                                       description="line one\nline two")
    ExternalResourceFactory(url="https://example.org/unlinked")
    NodeResourceLinkFactory(node=optics, resource=resource, link_type="source", context="chapter 1")
    ReferenceFactory(source_node=optics, target_resource=resource, reference_type="cites", page_number=12,
                     section="Lenses", quote="a lens bends light")
    ReferenceFactory(source_resource=resource, target_node=arts, reference_type="mentions")
    return {"science": science, "physics": physics, "optics": optics, "arts": arts, "loose": loose}


def graph_clear() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE nodes, external_resources, import_jobs RESTART IDENTITY CASCADE")


def snapshot() -> dict:
    """The graph as an export sees it, without ids: nodes by key (external_key, or node-<id> for nodes without)."""
    keys = {n.pk: n.external_key or f"node-{n.pk}" for n in Node.objects.all()}
    urls = dict(ExternalResource.objects.values_list("pk", "url"))
    embeddings = {keys[n.pk]: [round(float(x), 6) for x in n.embedding] for n in Node.objects.all()
                  if n.embedding is not None and not n.embedding_model}
    return {
        "nodes": ordered((keys[n.pk], n.name, n.node_type, str(n.path) if n.path else None,
                         keys.get(n.parent_node_id), json.dumps(n.metadata, sort_keys=True))
                        for n in Node.objects.all()),
        "embeddings": embeddings,
        "attributes": ordered((keys[a.node_id], a.attribute_type, a.attribute_key, a.attribute_value, a.weight,
                              a.confidence, a.source_reliability, a.last_verified.isoformat(),
                              json.dumps(a.metadata, sort_keys=True)) for a in NodeAttribute.objects.all()),
        "relationships": ordered((keys[r.source_node_id], keys[r.target_node_id], r.relationship_type, r.strength,
                                 r.stated_confidence, r.source_reliability, r.bidirectional,
                                 json.dumps(r.metadata, sort_keys=True))
                                for r in Relationship.objects.filter(auto_managed=False)),
        "resources": ordered((r.url, r.title, r.description, r.resource_type) for r in ExternalResource.objects.all()),
        "links": ordered((keys[x.node_id], urls[x.resource_id], x.link_type, x.confidence, x.context)
                        for x in NodeResourceLink.objects.all()),
        "references": ordered((keys.get(r.source_node_id), urls.get(r.source_resource_id), keys.get(r.target_node_id),
                              urls.get(r.target_resource_id), r.reference_type, r.page_number, r.section, r.quote)
                             for r in Reference.objects.all()),
    }


def ordered(rows) -> list[tuple]:
    return sorted(rows, key=lambda row: tuple("" if value is None else str(value) for value in row))


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_an_export_imported_into_an_empty_database_gives_back_the_same_graph(tmp_path, graph, file_format):
    before = snapshot()
    target = tmp_path / ("graph.jsonl" if file_format == "jsonl" else "graph")
    graph_export(path=target, file_format=file_format)
    graph_clear()
    assert not Node.objects.exists()

    report = graph_import(sources=import_sources(paths=[target]))
    assert report.ok, report.lines()
    assert snapshot() == before
    # And again: exporting the imported graph gives the same records, importing them changes nothing.
    again = graph_import(sources=import_sources(paths=[target]))
    assert all(c.created == c.updated == 0 for c in again.counts.values()), again.lines()


def test_json_lines_hold_every_kind_with_keys_and_leave_inferred_links_out(tmp_path, graph):
    path = tmp_path / "graph.jsonl"
    report = graph_export(path=path)
    rows = records(path)
    kinds = [row["kind"] for row in rows]
    assert kinds == sorted(kinds, key=["node", "attribute", "relationship", "resource", "link",
                                       "reference"].index)
    assert report.counts == {"node": 5, "attribute": 3, "relationship": 2, "resource": 2, "link": 1, "reference": 2}
    nodes = {row["key"]: row for row in rows if row["kind"] == "node"}
    physics = graph["physics"]
    assert set(nodes) == {"sci", "optics", f"node-{physics.pk}", f"node-{graph['arts'].pk}",
                          f"node-{graph['loose'].pk}"}
    assert [row["key"] for row in rows if row["kind"] == "node"][:2] == [f"node-{graph['loose'].pk}", "sci"] \
        or [row["key"] for row in rows if row["kind"] == "node"][0] == f"node-{graph['loose'].pk}"  # parents first
    assert len(nodes[f"node-{physics.pk}"]["embedding"]) == 768  # a supplied vector
    assert nodes["sci"]["metadata"] == {"about": "all of it"} and "metadata" not in nodes["optics"]
    edge = next(row for row in rows if row["kind"] == "relationship" and row["type"] == "part_of")
    assert edge == {"kind": "relationship", "source": "optics", "target": f"node-{physics.pk}", "type": "part_of",
                    "strength": 0.9, "stated_confidence": 0.8, "source_reliability": 1, "bidirectional": True,
                    "metadata": {"note": "tab\there"}}
    assert not any(row.get("type") == "shares_attributes" for row in rows)


def test_provider_made_vectors_are_left_to_the_destination_unless_asked(tmp_path, graph):
    Node.objects.filter(pk=graph["physics"].pk).update(embedding_model="hashing-v1")
    path = tmp_path / "graph.jsonl"
    graph_export(path=path)
    assert not any("embedding" in row for row in records(path))
    graph_export(path=path, embeddings="all")
    assert sum("embedding" in row for row in records(path)) == 1
    graph_export(path=path, embeddings="none")
    assert not any("embedding" in row for row in records(path))


def test_a_subtree_export_holds_its_nodes_their_rows_and_what_they_use(tmp_path, graph):
    path = tmp_path / "physics.jsonl"
    report = graph_export(path=path, subtree="science.physics")
    rows = records(path)
    assert report.counts["node"] == 2
    assert {row["key"] for row in rows if row["kind"] == "node"} == {f"node-{graph['physics'].pk}", "optics"}
    assert [row["type"] for row in rows if row["kind"] == "relationship"] == ["part_of"]  # both ends inside
    assert [row["url"] for row in rows if row["kind"] == "resource"] == ["https://example.org/optics"]
    # The resource-to-arts reference has a node end outside the subtree: left out.
    assert [row["reference_type"] for row in rows if row["kind"] == "reference"] == ["cites"]

    by_type = tmp_path / "categories.jsonl"
    graph_export(path=by_type, types=["category"])
    assert {row["key"] for row in records(by_type) if row["kind"] == "node"} == {"sci", f"node-{graph['arts'].pk}"}
    assert [row["type"] for row in records(by_type) if row["kind"] == "relationship"] == ["contrasts"]


def test_exports_are_deterministic_and_csv_has_a_file_per_kind(tmp_path, graph):
    graph_export(path=tmp_path / "a.jsonl")
    graph_export(path=tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    graph_export(path=tmp_path / "csv", file_format="csv")
    names = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert names == ["attributes.csv", "links.csv", "nodes.csv", "references.csv", "relationships.csv",
                     "resources.csv"]
    assert (tmp_path / "csv" / "nodes.csv").read_text().splitlines()[0] == "key,name,node_type,path,metadata,embedding"
    assert list(tmp_path.glob(".*part")) == []


def test_graphml_reads_in_networkx(tmp_path, graph):
    path = tmp_path / "graph.graphml"
    graph_export(path=path, file_format="graphml")
    read = networkx.read_graphml(path)
    assert read.number_of_nodes() == 5 and read.number_of_edges() == 2
    optics = read.nodes[f"n{graph['optics'].pk}"]
    assert optics["key"] == "optics" and optics["path"] == "science.physics.optics"
    assert json.loads(read.nodes[f"n{graph['arts'].pk}"]["attributes"])[0]["value"] == 'quote " and \\'


def test_a_failed_export_leaves_no_file(tmp_path, graph, monkeypatch):
    from graph.services import exports

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "_copy_to", broken)
    with pytest.raises(RuntimeError):
        graph_export(path=tmp_path / "graph.jsonl")
    with pytest.raises(RuntimeError):
        graph_export(path=tmp_path / "csv", file_format="csv")
    assert list(tmp_path.iterdir()) == []


def test_command_prints_a_summary(tmp_path, graph):
    out = StringIO()
    call_command("export_graph", str(tmp_path / "graph.jsonl"), stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("Exported 5 nodes, 3 attributes, 2 relationships, 2 resources, 1 link, "
                                     "2 references to ")


@pytest.mark.parametrize(("arguments", "message"), [
    (["{tmp}/g.jsonl", "--format", "xml"], "invalid choice: 'xml'"),
    (["{tmp}/g.jsonl", "--subtree", "Bad..Path"], "is not a usable ltree path"),
    (["{tmp}/g.jsonl", "--subtree", "nowhere"], "no node has the path 'nowhere'"),
    (["{tmp}/missing/g.jsonl"], "does not exist"),
    (["{tmp}/full", "--format", "csv"], "is not an empty directory"),
    (["{tmp}/full"], "is a directory"),
    (["-", "--format", "csv"], "give a directory"),
    (["{tmp}/g.jsonl", "--embeddings", "some"], "invalid choice: 'some'"),
])
def test_command_refuses_bad_arguments_clearly(tmp_path, graph, arguments, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    with pytest.raises(CommandError, match=message):
        call_command("export_graph", *arguments, stdout=StringIO(), stderr=StringIO())
    assert not (tmp_path / "g.jsonl").exists()
