"""Exporting the graph in the exchange format (docs/import-format.md), streamed: nothing is loaded whole.

JSON Lines and CSV are written by PostgreSQL itself: each kind is one ``COPY (SELECT ...) TO STDOUT`` whose rows are
the records (``jsonb_build_object(...)::text`` for JSON Lines, one column per field for CSV), read in chunks and
written straight to the file. GraphML rows come from a server-side cursor, a chunk at a time. Every file is
written under a temporary name beside the target and renamed at the end: an interrupted export leaves no half
file under the final name.

What is exported (``graph_export``): the nodes (all, or those under ``subtree`` and of ``types``), their attributes,
the relationships between exported nodes that inference did not make (``auto_managed`` ones are made again by the
importing database's inference), the links of exported nodes, the references whose node ends are exported, and
the resources those links and references use (all resources when nothing is filtered). Node keys are
``external_key`` or ``node-<node_id>``. Embeddings: ``supplied`` (default) writes the vectors users supplied;
provider-made ones are left to the destination's provider.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from django.db import connection, transaction
from psycopg import sql

from graph.errors import EXPORT_BAD_OPTION, GraphError
from graph.models import Node

FORMATS = ("jsonl", "csv", "graphml")
EMBEDDINGS = ("supplied", "all", "none")
CSV_NAMES = {"node": "nodes.csv", "attribute": "attributes.csv", "relationship": "relationships.csv",
             "resource": "resources.csv", "link": "links.csv", "reference": "references.csv"}
KEY = "coalesce({t}.external_key, 'node-' || {t}.node_id)"
CHUNK_ROWS = 5000


def _num(column: str) -> str:
    return f"trim_scale({column})"


@dataclass
class ExportReport:
    path: str
    format: str
    counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        records = sum(self.counts.values())
        parts = ", ".join(f"{count:,} {kind}{'s' * (count != 1)}" for kind, count in self.counts.items())
        rate = records / self.seconds if self.seconds else 0
        return (f"Exported {parts} to {self.path} ({self.bytes / 1e6:,.1f} MB, {self.seconds:.1f} s, "
                f"{rate:,.0f} records/s)")


def _fields(kind: str, embeddings: str) -> list[tuple[str, str]]:
    """(field, SQL expression) per field of ``kind``, in the format's order; NULL leaves the field out."""
    vector = {"supplied": "CASE WHEN {t}.embedding_model IS NULL THEN {t}.embedding END", "all": "{t}.embedding",
              "none": "NULL::vector"}[embeddings]
    return {
        "node": [("key", KEY.format(t="n")), ("name", "n.name"), ("node_type", "n.node_type"),
                 ("path", "n.path::text"), ("metadata", "nullif(n.metadata, '{}')"),
                 ("embedding", f"({vector.format(t='n')})::text::jsonb")],
        "attribute": [("node", KEY.format(t="n")), ("type", "a.attribute_type"), ("key", "a.attribute_key"),
                      ("value", "a.attribute_value"), ("weight", _num("a.weight")),
                      ("confidence", _num("a.confidence")), ("source_reliability", _num("a.source_reliability")),
                      ("last_verified", "to_char(a.last_verified AT TIME ZONE 'UTC', "
                                        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"),
                      ("metadata", "nullif(a.metadata, '{}')")],
        "relationship": [("source", KEY.format(t="s")), ("target", KEY.format(t="t")), ("type", "r.relationship_type"),
                         ("strength", _num("r.strength")), ("stated_confidence", _num("r.stated_confidence")),
                         ("source_reliability", _num("r.source_reliability")),
                         ("bidirectional", "coalesce(r.bidirectional, false)"),
                         ("metadata", "nullif(r.metadata, '{}')")],
        "resource": [("url", "x.url"), ("title", "x.title"), ("description", "x.description"),
                     ("resource_type", "x.resource_type"), ("metadata", "nullif(x.metadata, '{}')"),
                     ("embedding", f"({vector.format(t='x')})::text::jsonb")],
        "link": [("node", KEY.format(t="n")), ("resource", "x.url"), ("link_type", "l.link_type"),
                 ("confidence", _num("l.confidence")), ("context", "l.context")],
        "reference": [("source_node", f"CASE WHEN sn.node_id IS NOT NULL THEN {KEY.format(t='sn')} END"),
                      ("source_resource", "sr.url"),
                      ("target_node", f"CASE WHEN tn.node_id IS NOT NULL THEN {KEY.format(t='tn')} END"),
                      ("target_resource", "tr.url"), ("reference_type", "f.reference_type"),
                      ("page_number", "f.page_number"), ("section", "f.section"), ("quote", "f.quote"),
                      ("context", "nullif(f.context, '{}')")],
    }[kind]


def _sources(filtered: bool) -> dict[str, str]:
    """FROM and WHERE (and order) of each kind; ``export_nodes`` holds the exported node ids when filtered."""
    chosen = "{col} IN (SELECT node_id FROM export_nodes)" if filtered else "true"
    resources = ("x.resource_id IN (SELECT resource_id FROM node_resource_links WHERE node_id IN "
                 "(SELECT node_id FROM export_nodes) UNION SELECT source_resource_id FROM export_references "
                 "UNION SELECT target_resource_id FROM export_references)") if filtered else "true"
    return {
        "node": f"FROM nodes n WHERE {chosen.format(col='n.node_id')} ORDER BY nlevel(n.path) NULLS FIRST, n.node_id",
        "attribute": f"FROM node_attributes a JOIN nodes n ON n.node_id = a.node_id "
                     f"WHERE {chosen.format(col='a.node_id')} ORDER BY a.attribute_id",
        "relationship": f"FROM relationships r JOIN nodes s ON s.node_id = r.source_node_id "
                        f"JOIN nodes t ON t.node_id = r.target_node_id WHERE NOT coalesce(r.auto_managed, false) "
                        f"AND {chosen.format(col='r.source_node_id')} AND {chosen.format(col='r.target_node_id')} "
                        f"ORDER BY r.relationship_id",
        "resource": f"FROM external_resources x WHERE {resources} ORDER BY x.resource_id",
        "link": f"FROM node_resource_links l JOIN nodes n ON n.node_id = l.node_id "
                f"JOIN external_resources x ON x.resource_id = l.resource_id WHERE {chosen.format(col='l.node_id')} "
                f"ORDER BY l.link_id",
        "reference": "FROM reference_tracking f LEFT JOIN nodes sn ON sn.node_id = f.source_node_id "
                     "LEFT JOIN nodes tn ON tn.node_id = f.target_node_id "
                     "LEFT JOIN external_resources sr ON sr.resource_id = f.source_resource_id "
                     "LEFT JOIN external_resources tr ON tr.resource_id = f.target_resource_id "
                     + ("WHERE f.reference_id IN (SELECT reference_id FROM export_references) " if filtered else "")
                     + "ORDER BY f.reference_id",
    }


KINDS = ("node", "attribute", "relationship", "resource", "link", "reference")


def _select_jsonl(kind: str, embeddings: str, filtered: bool) -> str:
    pairs = ", ".join(f"'{name}', {expression}" for name, expression in _fields(kind, embeddings))
    return f"SELECT jsonb_strip_nulls(jsonb_build_object('kind', '{kind}', {pairs}))::text {_sources(filtered)[kind]}"


def _select_csv(kind: str, embeddings: str, filtered: bool) -> str:
    # Booleans as true/false (COPY writes t/f); the rest as PostgreSQL prints them, JSON as its text.
    columns = ", ".join(f"({expression})::text AS {name}" if name == "bidirectional" else f"{expression} AS {name}"
                        for name, expression in _fields(kind, embeddings))
    return f"SELECT {columns} {_sources(filtered)[kind]}"


def _choose(cursor, subtree: str | None, types: list[str]) -> None:
    cursor.execute("DROP TABLE IF EXISTS export_nodes, export_references")
    where, params = [], []
    if subtree:
        where.append("path <@ %s::ltree")
        params.append(subtree)
    if types:
        where.append("node_type = ANY(%s::text[])")
        params.append(types)
    cursor.execute(f"CREATE TEMP TABLE export_nodes ON COMMIT DROP AS SELECT node_id FROM nodes WHERE "
                   f"{' AND '.join(where)}", params)
    cursor.execute("ALTER TABLE export_nodes ADD PRIMARY KEY (node_id); ANALYZE export_nodes")
    # A reference goes with the export when each of its node ends is exported (a resource end comes along).
    cursor.execute("""
        CREATE TEMP TABLE export_references ON COMMIT DROP AS
        SELECT reference_id, source_resource_id, target_resource_id FROM reference_tracking f
        WHERE (f.source_node_id IS NOT NULL OR f.target_node_id IS NOT NULL)
          AND (f.source_node_id IS NULL OR f.source_node_id IN (SELECT node_id FROM export_nodes))
          AND (f.target_node_id IS NULL OR f.target_node_id IN (SELECT node_id FROM export_nodes))
    """)


def _count_rows(cursor, query: str) -> int:
    return cursor.execute(f"SELECT count(*) FROM ({query}) q").fetchone()[0]


def _copy_to(cursor, statement: sql.Composable, out) -> int:
    written = 0
    with cursor.copy(statement) as copy:
        for chunk in copy:
            out.write(chunk)
            written += len(chunk)
    return written


class _Target:
    """A file written under a temporary name in the target's directory, renamed into place by ``commit``."""

    def __init__(self, path: Path):
        self.path = path
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        self.temporary = Path(name)
        self.file = os.fdopen(handle, "wb")

    def commit(self) -> None:
        self.file.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self.file.close()
        self.temporary.unlink(missing_ok=True)


def _validate(path: Path, file_format: str, subtree: str | None, embeddings: str) -> None:
    if file_format not in FORMATS:
        raise GraphError(f"unknown format {file_format!r}; use one of {', '.join(FORMATS)}", code=EXPORT_BAD_OPTION)
    if embeddings not in EMBEDDINGS:
        raise GraphError(f"--embeddings must be one of {', '.join(EMBEDDINGS)}", code=EXPORT_BAD_OPTION)
    if subtree is not None:
        if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*", subtree):
            raise GraphError(f"--subtree {subtree!r} is not an ltree path (labels of letters, digits and "
                             "underscores separated by dots)", code=EXPORT_BAD_OPTION)
        if not Node.objects.filter(path=subtree).exists():
            raise GraphError(f"--subtree: no node has the path {subtree!r}", code=EXPORT_BAD_OPTION)
    if str(path) == "-":
        if file_format == "csv":
            raise GraphError("CSV is a directory of six files: give a directory, not -", code=EXPORT_BAD_OPTION)
        return
    if file_format == "csv":
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise GraphError(f"{path} exists and is not an empty directory; CSV goes into a directory of its own",
                             code=EXPORT_BAD_OPTION)
        if not path.parent.is_dir():
            raise GraphError(f"the directory {path.parent} does not exist", code=EXPORT_BAD_OPTION)
    elif not path.parent.is_dir():
        raise GraphError(f"the directory {path.parent} does not exist", code=EXPORT_BAD_OPTION)
    elif path.is_dir():
        raise GraphError(f"{path} is a directory; give a file name", code=EXPORT_BAD_OPTION)


def graph_export(*, path: str | Path, file_format: str = "jsonl", subtree: str | None = None,
                 types: list[str] | None = None, embeddings: str = "supplied", stdout=None,
                 progress: Callable[[str, int], None] | None = None) -> ExportReport:
    """Writes the graph (or the chosen part) to ``path`` (``-``: ``stdout``, a binary stream) in ``file_format``."""
    path = Path(path) if str(path) != "-" else Path("-")
    types = [t for t in (types or []) if t]
    _validate(path, file_format, subtree, embeddings)
    progress = progress or (lambda kind, count: None)
    report = ExportReport(path=str(path), format=file_format)
    started = time.perf_counter()
    filtered = bool(subtree or types)
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            if outermost:  # one snapshot for every kind: the files agree with each other
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if filtered:
                _choose(cursor, subtree, types)
            if file_format == "csv":
                _export_csv(cursor, path, embeddings, filtered, report, progress)
            elif file_format == "jsonl":
                _export_stream(cursor, path, stdout, report, progress,
                               lambda out: _write_jsonl(cursor, out, embeddings, filtered, report, progress))
            else:
                _export_stream(cursor, path, stdout, report, progress,
                               lambda out: _write_graphml(cursor, out, embeddings, filtered, report, progress))
            if filtered:
                cursor.execute("DROP TABLE export_nodes, export_references")
    report.seconds = time.perf_counter() - started
    return report


def _export_stream(cursor, path: Path, stdout, report: ExportReport, progress, write) -> None:
    if str(path) == "-":
        write(stdout)
        return
    target = _Target(path)
    try:
        write(target.file)
        target.file.flush()
        report.bytes = target.file.tell()
    except BaseException:
        target.discard()
        raise
    target.commit()


def _write_jsonl(cursor, out, embeddings: str, filtered: bool, report: ExportReport, progress) -> None:
    for kind in KINDS:
        query = _select_jsonl(kind, embeddings, filtered)
        report.counts[kind] = _count_rows(cursor, query)
        # CSV with a quote and delimiter that JSON text never holds unescaped: each record comes out as it is.
        _copy_to(cursor, sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')").format(
            sql.SQL(query)), out)
        progress(kind, report.counts[kind])


def _export_csv(cursor, directory: Path, embeddings: str, filtered: bool, report: ExportReport, progress) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".part", dir=directory.parent))
    try:
        for kind in KINDS:
            query = _select_csv(kind, embeddings, filtered)
            report.counts[kind] = _count_rows(cursor, query)
            with open(staging / CSV_NAMES[kind], "wb") as out:
                report.bytes += _copy_to(cursor, sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER true)").format(
                    sql.SQL(query)), out)
            progress(kind, report.counts[kind])
        if directory.exists():
            directory.rmdir()  # empty, checked before
        os.replace(staging, directory)
    except BaseException:
        for file in staging.iterdir():
            file.unlink()
        staging.rmdir()
        raise


GRAPHML_NODE_KEYS = (("key", "string"), ("name", "string"), ("node_type", "string"), ("path", "string"),
                     ("confidence_score", "double"), ("metadata", "string"), ("attributes", "string"))
GRAPHML_EDGE_KEYS = (("type", "string"), ("strength", "double"), ("stated_confidence", "double"),
                     ("confidence_score", "double"), ("bidirectional", "boolean"), ("metadata", "string"))


def _rows(cursor_factory, query: str, params=None) -> Iterator[tuple]:
    with cursor_factory() as named:
        named.itersize = CHUNK_ROWS
        named.execute(query, params)
        yield from named


def _write_graphml(cursor, out, embeddings: str, filtered: bool, report: ExportReport, progress) -> None:
    def text(value: str) -> None:
        out.write(value.encode("utf-8"))

    text('<?xml version="1.0" encoding="UTF-8"?>\n'
         '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n')
    for name, kind in GRAPHML_NODE_KEYS:
        text(f'  <key id="n_{name}" for="node" attr.name="{name}" attr.type="{kind}"/>\n')
    for name, kind in GRAPHML_EDGE_KEYS:
        text(f'  <key id="e_{name}" for="edge" attr.name="{name}" attr.type="{kind}"/>\n')
    text('  <graph id="kgsite" edgedefault="directed">\n')
    sources = _sources(filtered)
    chosen = "WHERE n.node_id IN (SELECT node_id FROM export_nodes)" if filtered else ""
    node_query = f"""
        SELECT n.node_id, {KEY.format(t='n')}, n.name, n.node_type, n.path::text, n.confidence_score::float8,
               nullif(n.metadata, '{{}}')::text,
               (SELECT jsonb_agg(jsonb_build_object('type', a.attribute_type, 'key', a.attribute_key,
                                                    'value', a.attribute_value) ORDER BY a.attribute_id)::text
                FROM node_attributes a WHERE a.node_id = n.node_id)
        FROM nodes n {chosen} ORDER BY nlevel(n.path) NULLS FIRST, n.node_id"""
    factory = lambda: connection.connection.cursor(name="kgsite_export_graphml")  # noqa: E731
    count = 0
    for node_id, key, name, node_type, path, score, metadata, attributes in _rows(factory, node_query):
        values = {"key": key, "name": name, "node_type": node_type, "path": path, "confidence_score": score,
                  "metadata": metadata, "attributes": attributes}
        data = "".join(f'<data key="n_{k}">{escape(str(v))}</data>' for k, v in values.items() if v is not None)
        text(f'    <node id="n{node_id}">{data}</node>\n')
        count += 1
    report.counts["node"] = count
    progress("node", count)
    edge_query = f"""
        SELECT r.relationship_id, r.source_node_id, r.target_node_id, r.relationship_type, r.strength::float8,
               r.stated_confidence::float8, r.confidence_score::float8, coalesce(r.bidirectional, false),
               nullif(r.metadata, '{{}}')::text
        {sources['relationship']}"""
    count = 0
    for rid, source, target, kind, strength, stated, score, bidirectional, metadata in _rows(factory, edge_query):
        values = {"type": kind, "strength": strength, "stated_confidence": stated, "confidence_score": score,
                  "bidirectional": "true" if bidirectional else "false", "metadata": metadata}
        data = "".join(f'<data key="e_{k}">{escape(str(v))}</data>' for k, v in values.items() if v is not None)
        text(f'    <edge id="e{rid}" source="n{source}" target="n{target}" label={quoteattr(kind)}>{data}</edge>\n')
        count += 1
    report.counts["relationship"] = count
    progress("relationship", count)
    text("  </graph>\n</graphml>\n")
