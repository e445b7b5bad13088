"""Imports: ``import_graph``'s COPY + set-based path against a straightforward ORM import of the same file.

The file (JSON Lines, written once per run into a temporary directory) holds ``NODES`` nodes in a three-level
hierarchy (10 typed roots, 200 categories, leaves), four attributes per node (two categorical values shared by
many nodes, an identifier, a year) and one relationship per node: 6 records per node, no embeddings (the provider
embeds them afterwards, as the format allows). Each run imports it into the emptied graph tables of a scratch
database migrated like the real one, with every index, trigger and foreign key in place (confidence scores
recomputed, nodes queued for inference and embedding, the hierarchy rule checked).

**Ours**: ``graph_import`` (graph/services/imports.py): COPY into staging tables, set-based validation of every
record, set-based upserts in one transaction; the load is bigger than the tables, so the secondary indexes are
rebuilt once at the end. **Baseline**: what an importer written with the ORM does (django-import-export works this
way): read the file line by line, ``json.loads`` each line, ``update_or_create`` each record by its identity (node
key; attribute node/type/key/value; relationship source/target/type), in one transaction, with no validation
beyond the database's. Quality: both sides must leave identical graphs (a checksum of nodes with their parents'
keys, attributes and relationships). The figure is nodes (with their attributes and relationships) per second.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from django.db import connections, transaction

from bench import database
from bench.harness import Benchmark, Context, register
from graph.models import ExternalResource, Node, NodeAttribute, NodeResourceLink, Reference, Relationship
from graph.services.exports import graph_export
from graph.services.import_staging import import_sources
from graph.services.imports import graph_import

ALIAS = "bench_scratch"
TYPES = ("concept", "person", "document", "organization", "place", "product", "technology", "event", "field",
         "dataset")
STATUSES = ("active", "draft", "archived", "retired", "proposed")
TABLES = "nodes, node_attributes, relationships, relationship_inference_queue, embedding_queue, import_jobs"
CHECKSUM_SQL = """
SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM node_attributes), (SELECT count(*) FROM relationships),
       (SELECT md5(string_agg(md5(row(n.external_key, n.name, n.node_type, n.path, p.external_key, n.metadata)::text),
                              '' ORDER BY n.external_key))
        FROM nodes n LEFT JOIN nodes p ON p.node_id = n.parent_node_id),
       (SELECT md5(string_agg(md5(row(n.external_key, a.attribute_type, a.attribute_key, a.attribute_value, a.weight,
                                      a.confidence)::text), '' ORDER BY n.external_key, a.value_key))
        FROM node_attributes a JOIN nodes n USING (node_id)),
       (SELECT md5(string_agg(md5(row(s.external_key, t.external_key, r.relationship_type, r.strength,
                                      r.stated_confidence)::text), '' ORDER BY s.external_key, t.external_key))
        FROM relationships r JOIN nodes s ON s.node_id = r.source_node_id JOIN nodes t ON t.node_id = r.target_node_id)
"""


def import_file_write(path: Path, *, nodes: int, seed: int = 1) -> int:
    """Writes the benchmark's JSON Lines file, nodes first, then attributes and relationships (the order an export
    writes, which a one-pass importer needs); returns the number of records."""
    rng = random.Random(seed)
    categories = 200
    node_lines, attribute_lines, relationship_lines = [], [], []

    def line(record: dict) -> str:
        return json.dumps(record, separators=(",", ":")) + "\n"

    for i in range(nodes):
        if i < len(TYPES):
            path_text = f"t{i}"
        elif i < len(TYPES) + categories:
            path_text = f"t{i % len(TYPES)}.c{i}"
        else:
            category = len(TYPES) + rng.randrange(categories)
            path_text = f"t{category % len(TYPES)}.c{category}.n{i}"
        key, node_type = f"n{i}", TYPES[int(path_text.split(".")[0][1:])]
        node_lines.append(line({"kind": "node", "key": key, "name": f"{node_type.title()} {i}",
                                "node_type": node_type, "path": path_text, "metadata": {"rank": i % 97}}))
        attribute_lines += [
            line({"kind": "attribute", "node": key, "type": "category", "key": "status",
                  "value": STATUSES[min(int(rng.expovariate(1.0)), 4)], "confidence": round(rng.uniform(0.5, 1), 2)}),
            line({"kind": "attribute", "node": key, "type": "category", "key": "region",
                  "value": f"region {rng.randrange(20)}", "weight": 0.8}),
            line({"kind": "attribute", "node": key, "type": "identifier", "key": "code", "value": f"C-{i:07d}"}),
            line({"kind": "attribute", "node": key, "type": "number", "key": "year", "value": 1900 + i % 120}),
        ]
        target = (i * 7919 + 13) % nodes
        if target != i:
            relationship_lines.append(line({"kind": "relationship", "source": key, "target": f"n{target}",
                                            "type": "related_to", "strength": round(rng.uniform(0.1, 1), 2)}))
    with path.open("w", encoding="utf-8") as out:
        for lines in (node_lines, attribute_lines, relationship_lines):
            out.writelines(lines)
    return len(node_lines) + len(attribute_lines) + len(relationship_lines)


def orm_import(path: Path, *, using: str) -> None:
    """The baseline: a straightforward ORM import, record by record (module docstring)."""
    node_ids: dict[str, int] = {}
    with transaction.atomic(using=using), path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            kind = record.pop("kind")
            if kind == "node":
                node, _ = Node.objects.using(using).update_or_create(
                    external_key=record["key"],
                    defaults={"name": record["name"], "node_type": record["node_type"], "path": record.get("path"),
                              "metadata": record.get("metadata", {}), "source": "import"})
                node_ids[record["key"]] = node.pk
            elif kind == "attribute":
                NodeAttribute.objects.using(using).update_or_create(
                    node_id=node_ids[record["node"]], attribute_type=record["type"], attribute_key=record["key"],
                    attribute_value=str(record["value"]),
                    defaults={"weight": record.get("weight", 1.0), "confidence": record.get("confidence", 0.5)})
            elif kind == "relationship":
                Relationship.objects.using(using).update_or_create(
                    source_node_id=node_ids[record["source"]], target_node_id=node_ids[record["target"]],
                    relationship_type=record["type"],
                    defaults={"strength": record.get("strength", 1.0), "stated_confidence": 0.5, "source": "import"})


class ImportJsonl(Benchmark):
    unit = "rows/s"
    baseline = "record-by-record update_or_create (ORM), one transaction"

    def __init__(self, name: str, nodes: int, *, with_baseline: bool, repeat: int, warmup: int):
        self.name, self.nodes, self.with_baseline = name, nodes, with_baseline
        self.repeat, self.warmup = repeat, warmup
        self.description = (f"import a JSON Lines file of {nodes:,} nodes in a hierarchy, 4 attributes and 1 "
                            "relationship each, into the empty graph of a fully indexed scratch database "
                            "(figure: nodes/s)")
        if not with_baseline:
            self.baseline = "not run (the ORM import of this file takes over 10 minutes)"

    def baseline_runs(self, context: Context) -> bool:
        return self.with_baseline

    def setup(self, context: Context) -> None:
        self.server = context.extra["server_url"]
        self.dbname = f"{context.database}_scratch"
        database.scratch_database_attach(self.server, self.dbname, ALIAS)
        self.directory = tempfile.TemporaryDirectory(prefix="kgsite-bench-import-")
        self.path = Path(self.directory.name) / "graph.jsonl"
        self.records = import_file_write(self.path, nodes=self.nodes)
        self.rows = self.nodes
        self.checksums: dict[str, tuple] = {}
        self.reports = []

    def teardown(self) -> None:
        database.scratch_database_detach(self.server, self.dbname, ALIAS)
        self.directory.cleanup()

    def before_each(self, side: str) -> None:
        with connections[ALIAS].cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")

    def after_each(self, side: str, final: bool) -> None:
        if final:
            with connections[ALIAS].cursor() as cursor:
                cursor.execute(CHECKSUM_SQL)
                self.checksums[side] = cursor.fetchone()

    def ours(self) -> None:
        report = graph_import(sources=import_sources(paths=[self.path]), using=ALIAS)
        if not report.ok:
            raise RuntimeError("; ".join(report.lines()[:5]))
        self.reports.append(report)

    def run_baseline(self) -> None:
        orm_import(self.path, using=ALIAS)

    def quality(self) -> str:
        report = self.reports[-1]
        phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report.phases)
        deferred = "indexes rebuilt after the load" if report.indexes_deferred else "indexes kept"
        detail = f"{self.records:,} records, {self.records / report.seconds:,.0f} records/s; {deferred}; {phases}"
        if not self.with_baseline:
            return detail
        ours, baseline = self.checksums.get("ours"), self.checksums.get("baseline")
        same = "identical graphs" if ours == baseline else f"graphs differ: {ours} vs {baseline}"
        return f"{same} ({detail})"


register(ImportJsonl("imports.jsonl_vs_orm", 1_000, with_baseline=True, repeat=3, warmup=1))
register(ImportJsonl("imports.jsonl_rate", 20_000, with_baseline=False, repeat=3, warmup=1))
register(ImportJsonl("imports.jsonl_rate_100k", 100_000, with_baseline=False, repeat=1, warmup=0))


class ExportJsonl(Benchmark):
    """The scale's graph exported as JSON Lines: ``graph_export`` (PostgreSQL writes the records, COPY TO STDOUT)
    against a straightforward ORM export (``QuerySet.iterator()`` per table, ``json.dumps`` per row). Figure:
    records per second; quality: both files hold the same number of records."""

    name = "exports.jsonl"
    unit = "rows/s"
    repeat = 3
    warmup = 1
    description = "export the whole graph of the scale's database as JSON Lines (figure: records/s)"
    baseline = "QuerySet.iterator() per table, json.dumps per row"

    def setup(self, context: Context) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="kgsite-bench-export-")
        self.paths = {side: Path(self.directory.name) / f"{side}.jsonl" for side in ("ours", "baseline")}
        self.description = f"export the {context.scale} graph as JSON Lines (figure: records/s)"
        self.lines: dict[str, int] = {}

    def teardown(self) -> None:
        self.directory.cleanup()

    def after_each(self, side: str, final: bool) -> None:
        if final:
            with self.paths[side].open("rb") as lines:
                self.lines[side] = sum(1 for _ in lines)
            self.rows = self.lines.get("ours", self.rows)

    def ours(self) -> None:
        report = graph_export(path=self.paths["ours"])
        self.rows = sum(report.counts.values())

    def run_baseline(self) -> None:
        keys = {}
        with self.paths["baseline"].open("w", encoding="utf-8") as out:
            for node in Node.objects.order_by("node_id").iterator(chunk_size=2000):
                keys[node.pk] = node.external_key or f"node-{node.pk}"
                record = {"kind": "node", "key": keys[node.pk], "name": node.name, "node_type": node.node_type,
                          "path": str(node.path) if node.path else None, "metadata": node.metadata or None}
                out.write(json.dumps({k: v for k, v in record.items() if v is not None}) + "\n")
            for a in NodeAttribute.objects.order_by("attribute_id").iterator(chunk_size=2000):
                out.write(json.dumps({"kind": "attribute", "node": keys[a.node_id], "type": a.attribute_type,
                                      "key": a.attribute_key, "value": a.attribute_value, "weight": str(a.weight),
                                      "confidence": str(a.confidence)}) + "\n")
            for r in Relationship.objects.filter(auto_managed=False).order_by("relationship_id").iterator(
                    chunk_size=2000):
                out.write(json.dumps({"kind": "relationship", "source": keys[r.source_node_id],
                                      "target": keys[r.target_node_id], "type": r.relationship_type,
                                      "strength": str(r.strength)}) + "\n")
            for x in ExternalResource.objects.order_by("resource_id").iterator(chunk_size=2000):
                out.write(json.dumps({"kind": "resource", "url": x.url, "title": x.title}) + "\n")
            for link in NodeResourceLink.objects.select_related("resource").order_by("link_id").iterator(
                    chunk_size=2000):
                out.write(json.dumps({"kind": "link", "node": keys[link.node_id], "resource": link.resource.url,
                                      "link_type": link.link_type}) + "\n")
            for ref in Reference.objects.order_by("reference_id").iterator(chunk_size=2000):
                out.write(json.dumps({"kind": "reference", "source_node": keys.get(ref.source_node_id),
                                      "reference_type": ref.reference_type}) + "\n")

    def quality(self) -> str:
        ours, baseline = self.lines.get("ours"), self.lines.get("baseline")
        same = "same record count" if ours == baseline else f"record counts differ: {ours} vs {baseline}"
        size = self.paths["ours"].stat().st_size / 1e6 if self.paths["ours"].exists() else 0
        return f"{same} ({ours:,} records, {size:,.0f} MB)"


register(ExportJsonl)
