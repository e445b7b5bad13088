"""Importing a graph from files (docs/import-format.md): stage, validate set-based, apply in one transaction.

``graph_import(sources=..., on_conflict=..., dry_run=...)`` is the one entry point (``manage.py import_graph``, the
worker's uploads). Every step is SQL over temporary tables, a statement per check or per table (per hierarchy level
for nodes), never a Python loop over records:

1. ``sources_stage`` (graph/services/import_staging.py) copies the files into ``import_records``.
2. ``_check_fields``: one pass per kind finds the kind, missing, unknown and malformed fields of every record.
3. ``_stage_typed``: the records without errors become typed rows (``stage_nodes``, ``stage_attributes``, ...).
4. ``_resolve``: node keys and resource URLs are resolved against the file and the database; references to
   nothing, duplicates inside the file, paths that break the hierarchy rule, parent cycles and (``error``) records
   already in the database are reported.
5. With no error, ``_apply`` upserts, parents before children; the database's triggers recompute confidence,
   queue inference and embeddings, and check the hierarchy as for any write. A dry run is the same transaction,
   rolled back: its counts are exactly what the import would do.

Errors are ``ImportProblem`` rows (file, line, field, message), all of them, in file and line order.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pghistory
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone
from psycopg import errors as pg_errors

from graph.choices import ImportStatus, OnConflict
from graph.models import ExternalResource, ImportJob, Node, NodeAttribute, NodeResourceLink, Reference, Relationship
from graph.models.resources import MAX_URL_LENGTH
from graph.services.history import history_context_bind
from graph.services.import_staging import FIELDS, KINDS, ImportSource, sources_stage
from kgsite.bulk import DeferredDefinitions, indexes_and_foreign_keys_drop, indexes_and_foreign_keys_recreate

TABLES = ("nodes", "node_attributes", "relationships", "external_resources", "node_resource_links",
          "reference_tracking")
PLURAL = {"node": "nodes", "attribute": "attributes", "relationship": "relationships", "resource": "resources",
          "link": "links", "reference": "references"}
DEFER_INDEXES_MIN_RECORDS = 50_000
NODE_SOURCE = "import"
DIMENSIONS = 768
FLOAT4_MAX = 3.4e38


def _max(model, name: str) -> int:
    return model._meta.get_field(name).max_length


@dataclass(frozen=True)
class ImportProblem:
    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self):
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"


@dataclass
class KindCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0  # relationships a curator rejected (docs/curation.md): never re-created by an import
    redirected: int = 0  # of the skipped: node records whose key names a node merged into another (docs/duplicates.md)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.skipped + self.rejected


@dataclass
class ImportReport:
    records: int = 0
    dry_run: bool = False
    on_conflict: str = OnConflict.UPDATE
    counts: dict[str, KindCounts] = field(default_factory=lambda: {kind: KindCounts() for kind in KINDS})
    problems: list[ImportProblem] = field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0
    phases: list[tuple[str, float]] = field(default_factory=list)
    indexes_deferred: bool = False

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def lines(self) -> list[str]:
        if not self.ok:
            shown = len(self.problems)
            head = f"Refused: {self.problem_count:,} error{'s' * (self.problem_count != 1)} in {self.records:,} " \
                   "records; nothing was written."
            tail = [f"... and {self.problem_count - shown:,} more"] if self.problem_count > shown else []
            return [head, *map(str, self.problems), *tail]
        verb = "Would import" if self.dry_run else "Imported"
        rate = self.records / self.seconds if self.seconds else 0
        lines = [f"{verb} {self.records:,} records in {self.seconds:.1f} s ({rate:,.0f} records/s)"
                 + (" (dry run: nothing was written)" if self.dry_run else "") + ":"]
        for kind in KINDS:
            c = self.counts[kind]
            if c.total:
                lines.append(f"  {PLURAL[kind]}: {c.created:,} created, {c.updated:,} updated, "
                             f"{c.unchanged:,} unchanged, {c.skipped:,} skipped"
                             + (f" ({c.redirected:,} merged into another node: what names them goes to it)"
                                if c.redirected else "")
                             + (f", {c.rejected:,} left out as rejected by a curator" if c.rejected else ""))
        if self.records == 0:
            lines.append("  the files hold no record")
        return lines

    def as_dict(self) -> dict:
        return {
            "records": self.records, "dry_run": self.dry_run, "on_conflict": self.on_conflict,
            "counts": {kind: vars(c) for kind, c in self.counts.items()},
            "problems": [vars(p) for p in self.problems], "problem_count": self.problem_count,
            "seconds": round(self.seconds, 3), "indexes_deferred": self.indexes_deferred,
        }


@dataclass(frozen=True)
class ImportProgress:
    """What an import is doing: ``phase`` (reading, checking, nodes, attributes, ...); ``done`` and ``total`` in
    the phase's unit (bytes while reading, records after; ``total`` None when unknown); ``rows`` read so far."""

    phase: str
    done: int = 0
    total: int | None = None
    rows: int = 0


Progress = Callable[[ImportProgress], None]


class _DryRun(Exception):
    pass


# --- 2. Field checks ---------------------------------------------------------------------------------------------

def _present(name: str) -> str:
    return f"(coalesce(r.doc->'{name}', 'null') <> 'null')"


def _text_check(name: str, max_length: int | None, *, numbers: bool = False) -> str:
    value = f"(r.doc->'{name}')"
    kinds = "('string', 'number')" if numbers else "('string')"
    what = "a non-empty string or a number" if numbers else "a non-empty string"
    too_long = "" if max_length is None else (
        f" WHEN length(r.doc->>'{name}') > {max_length} THEN format('is %s characters long; at most {max_length} "
        f"are allowed', length(r.doc->>'{name}'))")
    return (f"CASE WHEN NOT {_present(name)} THEN NULL WHEN jsonb_typeof({value}) NOT IN {kinds} "
            f"OR btrim(r.doc->>'{name}') = '' THEN format('must be {what}, got %s', left({value}::text, 80))"
            f"{too_long} END")


def _unit_check(name: str) -> str:
    value = f"(r.doc->'{name}')"
    return (f"CASE WHEN NOT {_present(name)} THEN NULL "
            f"WHEN jsonb_typeof({value}) NOT IN ('number', 'string') OR NOT pg_input_is_valid(r.doc->>'{name}', "
            f"'numeric') OR (r.doc->>'{name}')::numeric = 'NaN' OR NOT (r.doc->>'{name}')::numeric BETWEEN 0 AND 1 "
            f"THEN format('must be a number between 0 and 1, got %s', left({value}::text, 80)) END")


def _object_check(name: str) -> str:
    return (f"CASE WHEN NOT {_present(name)} THEN NULL WHEN jsonb_typeof(r.doc->'{name}') <> 'object' "
            f"THEN format('must be a JSON object, got %s', left((r.doc->'{name}')::text, 80)) END")


def _boolean_check(name: str) -> str:
    return (f"CASE WHEN NOT {_present(name)} THEN NULL WHEN jsonb_typeof(r.doc->'{name}') <> 'boolean' "
            f"THEN format('must be true or false, got %s', left((r.doc->'{name}')::text, 80)) END")


def _path_check(name: str) -> str:
    text = f"(r.doc->>'{name}')"
    return (f"CASE WHEN NOT {_present(name)} THEN NULL WHEN jsonb_typeof(r.doc->'{name}') <> 'string' "
            f"OR {text} !~ '^[a-z0-9_]+(\\.[a-z0-9_]+)*$' THEN format('%s is not an ltree path of lowercase letters, "
            f"digits and underscores separated by dots (languages.python)', left((r.doc->'{name}')::text, 80)) "
            f"WHEN {text} ~ '[a-z0-9_]{{255}}[a-z0-9_]' THEN 'has a label longer than 255 characters' END")


def _vector_check(name: str) -> str:
    value = f"(r.doc->'{name}')"
    return (f"CASE WHEN NOT {_present(name)} THEN NULL WHEN jsonb_typeof({value}) <> 'array' "
            f"THEN format('must be a list of {DIMENSIONS} numbers, got %s', left({value}::text, 40)) "
            f"WHEN jsonb_array_length({value}) <> {DIMENSIONS} THEN format('must have {DIMENSIONS} numbers, "
            f"got %s', jsonb_array_length({value})) "
            f"WHEN jsonb_path_exists({value}, '$[*] ? (@.type() != \"number\")') "
            f"THEN 'must hold numbers only' "
            f"WHEN jsonb_path_exists({value}, '$[*] ? (@ > {FLOAT4_MAX} || @ < -{FLOAT4_MAX})') "
            f"THEN 'holds a number too large for a 4-byte float' "
            f"WHEN NOT jsonb_path_exists({value}, '$[*] ? (@ != 0)') THEN 'is all zeros, which has no direction' END")


def _timestamp_check(name: str) -> str:
    return (f"CASE WHEN NOT {_present(name)} THEN NULL WHEN jsonb_typeof(r.doc->'{name}') <> 'string' "
            f"OR NOT pg_input_is_valid(r.doc->>'{name}', 'timestamptz') THEN format('must be an ISO 8601 timestamp "
            f"(2026-01-31T12:00:00Z), got %s', left((r.doc->'{name}')::text, 80)) END")


def _integer_check(name: str) -> str:
    value = f"(r.doc->'{name}')"
    return (f"CASE WHEN NOT {_present(name)} THEN NULL WHEN jsonb_typeof({value}) NOT IN ('number', 'string') "
            f"OR NOT pg_input_is_valid(r.doc->>'{name}', 'integer') "
            f"THEN format('must be an integer, got %s', left({value}::text, 80)) END")


def _url_check(name: str) -> str:
    text = f"(r.doc->>'{name}')"
    return (f"CASE WHEN NOT {_present(name)} THEN NULL WHEN jsonb_typeof(r.doc->'{name}') <> 'string' "
            f"OR {text} !~* '^(https?|ftps?)://[^\\s/?#@]+(/[^\\s]*)?([?#][^\\s]*)?$' "
            f"THEN format('%s is not a valid URL (http, https, ftp or ftps)', left((r.doc->'{name}')::text, 80)) "
            f"WHEN length({text}) > {MAX_URL_LENGTH} THEN format('is %s characters long; at most {MAX_URL_LENGTH} "
            f"are allowed', length({text})) END")


def _checks() -> dict[str, list[tuple[str, str]]]:
    key = 255
    return {
        "node": [
            ("key", _text_check("key", key)), ("name", _text_check("name", _max(Node, "name"))),
            ("node_type", _text_check("node_type", _max(Node, "node_type"))), ("path", _path_check("path")),
            ("parent", _text_check("parent", key)), ("metadata", _object_check("metadata")),
            ("embedding", _vector_check("embedding")),
            ("confidence_score", "CASE WHEN r.doc ? 'confidence_score' THEN 'is not imported: the database works "
                                 "it out from the attributes (docs/confidence.md)' END"),
        ],
        "attribute": [
            ("node", _text_check("node", key)),
            ("type", _text_check("type", _max(NodeAttribute, "attribute_type"))),
            ("key", _text_check("key", _max(NodeAttribute, "attribute_key"))),
            ("value", _text_check("value", None, numbers=True)),
            ("weight", _unit_check("weight")), ("confidence", _unit_check("confidence")),
            ("source_reliability", _unit_check("source_reliability")),
            ("last_verified", _timestamp_check("last_verified")), ("metadata", _object_check("metadata")),
        ],
        "relationship": [
            ("source", _text_check("source", key)), ("target", _text_check("target", key)),
            ("type", _text_check("type", _max(Relationship, "relationship_type"))),
            ("strength", _unit_check("strength")), ("stated_confidence", _unit_check("stated_confidence")),
            ("source_reliability", _unit_check("source_reliability")),
            ("bidirectional", _boolean_check("bidirectional")), ("metadata", _object_check("metadata")),
        ],
        "resource": [
            ("url", _url_check("url")), ("title", _text_check("title", None)),
            ("description", _text_check("description", None)),
            ("resource_type", _text_check("resource_type", _max(ExternalResource, "resource_type"))),
            ("metadata", _object_check("metadata")), ("embedding", _vector_check("embedding")),
        ],
        "link": [
            ("node", _text_check("node", key)), ("resource", _url_check("resource")),
            ("link_type", _text_check("link_type", _max(NodeResourceLink, "link_type"))),
            ("confidence", _unit_check("confidence")), ("context", _text_check("context", None)),
        ],
        "reference": [
            ("source_node", _text_check("source_node", key)), ("source_resource", _url_check("source_resource")),
            ("target_node", _text_check("target_node", key)), ("target_resource", _url_check("target_resource")),
            ("reference_type", _text_check("reference_type", _max(Reference, "reference_type"))),
            ("page_number", _integer_check("page_number")), ("section", _text_check("section", None)),
            ("quote", _text_check("quote", None)), ("context", _object_check("context")),
            ("source_node", f"CASE WHEN {_present('source_node')} = {_present('source_resource')} THEN "
                            "'give exactly one of source_node and source_resource' END"),
            ("target_node", f"CASE WHEN {_present('target_node')} = {_present('target_resource')} THEN "
                            "'give exactly one of target_node and target_resource' END"),
        ],
    }


def _check_fields(cursor) -> None:
    cursor.execute(
        """
        INSERT INTO import_errors (file, line, field, message)
        SELECT file, line, 'kind', CASE
            WHEN jsonb_typeof(doc) <> 'object' THEN format('expected a JSON object, got %%s', jsonb_typeof(doc))
            WHEN kind IS NULL THEN 'missing field kind (one of ' || array_to_string(%(kinds)s::text[], ', ') || ')'
            ELSE format('unknown kind %%L; expected one of %%s', kind, array_to_string(%(kinds)s::text[], ', ')) END
        FROM import_records WHERE jsonb_typeof(doc) <> 'object' OR kind IS NULL OR kind <> ALL(%(kinds)s::text[])
        """,
        {"kinds": list(KINDS)},
    )
    for kind, checks in _checks().items():
        required, optional = FIELDS[kind]
        allowed = "ARRAY[" + ", ".join(f"'{name}'" for name in ("kind", "confidence_score", *required, *optional)) \
            + "]::text[]"
        items = [f"CASE WHEN NOT {_present(name)} THEN '{name}' || chr(31) || 'missing' END" for name in required]
        items.append(f"CASE WHEN r.doc - {allowed} <> '{{}}'::jsonb THEN (SELECT min(k) || chr(31) || 'unknown field"
                     f"(s) ' || string_agg(quote_literal(k), ', ' ORDER BY k) || '; {kind} records have "
                     f"{', '.join(required + optional)}' FROM jsonb_object_keys(r.doc - {allowed}) k) END")
        items += [f"'{name}' || chr(31) || ({check})" for name, check in checks]
        # One pass per kind: each record's problems as one array (NULL items dropped), unnested only when not empty.
        cursor.execute(
            f"""
            INSERT INTO import_errors (file, line, field, message)
            SELECT x.file, x.line, split_part(e, chr(31), 1), substr(e, strpos(e, chr(31)) + 1)
            FROM (SELECT r.file, r.line, array_remove(ARRAY[{", ".join(items).replace("%", "%%")}], NULL) AS problems
                  FROM import_records r WHERE r.kind = %(kind)s) x
            CROSS JOIN LATERAL unnest(x.problems) e
            WHERE cardinality(x.problems) > 0
            """,
            {"kind": kind},
        )


# --- 3. Typed staging --------------------------------------------------------------------------------------------

# Every record of the kind, each field cast only where the field checks found nothing wrong with it (NULL
# otherwise), so that the cross-record checks below see every record; nothing is applied while any error stands.
_VALID = "FROM import_records r LEFT JOIN (SELECT file, line, array_agg(field) AS bad FROM import_errors " \
         "GROUP BY file, line) b ON b.file = r.file AND b.line = r.line WHERE r.kind = %s"


def _cast(name: str, expression: str) -> str:
    return f"CASE WHEN b.bad IS NOT NULL AND '{name}' = ANY(b.bad) THEN NULL ELSE {expression} END"

_VALUE_KEY = "md5({t} || chr(31) || {k} || chr(31) || {v})::uuid"

TYPED_SQL = {
    "node": f"""
        CREATE TEMP TABLE stage_nodes ON COMMIT DROP AS
        SELECT r.file, r.line, r.doc->>'key' AS key, r.doc->>'name' AS name, r.doc->>'node_type' AS node_type,
               {_cast('path', "(r.doc->>'path')::ltree")} AS path,
               r.doc->>'parent' AS parent, r.doc->'metadata' AS metadata,
               {_cast('embedding', "(r.doc->>'embedding')::vector")} AS embedding,
               NULL::integer AS node_id, NULL::integer AS parent_id, NULL::text AS parent_key, NULL::integer AS depth
        {_VALID}""",
    "attribute": f"""
        CREATE TEMP TABLE stage_attributes ON COMMIT DROP AS
        SELECT r.file, r.line, r.doc->>'node' AS node, r.doc->>'type' AS attribute_type,
               r.doc->>'key' AS attribute_key, r.doc->>'value' AS attribute_value,
               {_VALUE_KEY.format(t="(r.doc->>'type')", k="(r.doc->>'key')", v="(r.doc->>'value')")} AS value_key,
               {_cast('weight', "(r.doc->>'weight')::numeric")} AS weight,
               {_cast('confidence', "(r.doc->>'confidence')::numeric")} AS confidence,
               {_cast('source_reliability', "(r.doc->>'source_reliability')::numeric")} AS source_reliability,
               {_cast('last_verified', "(r.doc->>'last_verified')::timestamptz")} AS last_verified,
               r.doc->'metadata' AS metadata,
               NULL::integer AS attribute_id
        {_VALID}""",
    "relationship": f"""
        CREATE TEMP TABLE stage_relationships ON COMMIT DROP AS
        SELECT r.file, r.line, r.doc->>'source' AS source, r.doc->>'target' AS target,
               r.doc->>'type' AS relationship_type, {_cast('strength', "(r.doc->>'strength')::numeric")} AS strength,
               {_cast('stated_confidence', "(r.doc->>'stated_confidence')::numeric")} AS stated_confidence,
               {_cast('source_reliability', "(r.doc->>'source_reliability')::numeric")} AS source_reliability,
               {_cast('bidirectional', "(r.doc->'bidirectional')::boolean")} AS bidirectional,
               r.doc->'metadata' AS metadata,
               NULL::integer AS relationship_id
        {_VALID}""",
    "resource": f"""
        CREATE TEMP TABLE stage_resources ON COMMIT DROP AS
        SELECT r.file, r.line, r.doc->>'url' AS url, r.doc->>'title' AS title, r.doc->>'description' AS description,
               r.doc->>'resource_type' AS resource_type, r.doc->'metadata' AS metadata,
               {_cast('embedding', "(r.doc->>'embedding')::vector")} AS embedding, NULL::integer AS resource_id
        {_VALID}""",
    "link": f"""
        CREATE TEMP TABLE stage_links ON COMMIT DROP AS
        SELECT r.file, r.line, r.doc->>'node' AS node, r.doc->>'resource' AS resource,
               coalesce(r.doc->>'link_type', 'reference') AS link_type,
               {_cast('confidence', "(r.doc->>'confidence')::numeric")} AS confidence,
               r.doc->>'context' AS context, NULL::integer AS link_id
        {_VALID}""",
    "reference": f"""
        CREATE TEMP TABLE stage_references ON COMMIT DROP AS
        SELECT r.file, r.line, r.doc->>'source_node' AS source_node, r.doc->>'source_resource' AS source_resource,
               r.doc->>'target_node' AS target_node, r.doc->>'target_resource' AS target_resource,
               r.doc->>'reference_type' AS reference_type,
               {_cast('page_number', "(r.doc->>'page_number')::integer")} AS page_number,
               r.doc->>'section' AS section, r.doc->>'quote' AS quote, r.doc->'context' AS context,
               NULL::integer AS reference_id
        {_VALID}""",
}


def _stage_typed(cursor) -> None:
    for kind, statement in TYPED_SQL.items():
        cursor.execute(statement, [kind])
    cursor.execute("CREATE INDEX ON stage_nodes (key); ANALYZE stage_nodes; ANALYZE stage_attributes; "
                   "ANALYZE stage_relationships; ANALYZE stage_resources; ANALYZE stage_links; "
                   "ANALYZE stage_references")


# --- 4. Resolution and cross-record checks -----------------------------------------------------------------------

# Every node key the file uses, resolved: a node's key (external_key), or node-<id> for a node without one.
KEYS_SQL = """
CREATE TEMP TABLE import_keys ON COMMIT DROP AS
SELECT k.key, bool_or(k.in_file) AS in_file, NULL::integer AS node_id FROM (
    SELECT key, true AS in_file FROM stage_nodes WHERE key IS NOT NULL
    UNION ALL SELECT parent, false FROM stage_nodes WHERE parent IS NOT NULL
    UNION ALL SELECT node, false FROM stage_attributes WHERE node IS NOT NULL
    UNION ALL SELECT source, false FROM stage_relationships WHERE source IS NOT NULL
    UNION ALL SELECT target, false FROM stage_relationships WHERE target IS NOT NULL
    UNION ALL SELECT node, false FROM stage_links WHERE node IS NOT NULL
    UNION ALL SELECT source_node, false FROM stage_references WHERE source_node IS NOT NULL
    UNION ALL SELECT target_node, false FROM stage_references WHERE target_node IS NOT NULL
) k GROUP BY k.key;
CREATE UNIQUE INDEX ON import_keys (key);
UPDATE import_keys k SET node_id = n.node_id FROM nodes n WHERE n.external_key = k.key;
UPDATE import_keys k SET node_id = n.node_id FROM nodes n
WHERE k.node_id IS NULL AND k.key ~ '^node-[0-9]{1,9}$' AND n.node_id = substr(k.key, 6)::integer
  AND n.external_key IS NULL;
-- A key of a node merged into another (its external key, or node-<id>) leads to the survivor, following merges of
-- merges (docs/duplicates.md, "Redirects"): what the file says of it goes to the survivor, and its own record is
-- left out (the survivor keeps its fields) instead of bringing the duplicate back.
ALTER TABLE import_keys ADD COLUMN redirected boolean NOT NULL DEFAULT false;
WITH RECURSIVE named AS (
    SELECT DISTINCT ON (k.key) k.key, m.survivor_id AS node_id, 1 AS hops
    FROM import_keys k JOIN node_merges m
      ON m.unmerged_at IS NULL
     AND (m.merged_row ->> 'external_key' = k.key
          OR (k.key ~ '^node-[0-9]{1,9}$' AND m.merged_node_id = substr(k.key, 6)::integer
              AND m.merged_row ->> 'external_key' IS NULL))
    WHERE k.node_id IS NULL
    ORDER BY k.key, m.merged_at DESC
), walked AS (
    SELECT key, node_id, hops FROM named
    UNION ALL
    SELECT w.key, m.survivor_id, w.hops + 1
    FROM walked w JOIN node_merges m ON m.merged_node_id = w.node_id AND m.unmerged_at IS NULL
    WHERE w.hops < 20
)
UPDATE import_keys k SET node_id = n.node_id, redirected = true
FROM walked w JOIN nodes n ON n.node_id = w.node_id
WHERE k.key = w.key AND k.node_id IS NULL;
ALTER TABLE stage_nodes ADD COLUMN redirected boolean NOT NULL DEFAULT false;
ANALYZE import_keys;
CREATE TEMP TABLE import_urls ON COMMIT DROP AS
SELECT u.url, bool_or(u.in_file) AS in_file, NULL::integer AS resource_id FROM (
    SELECT url, true AS in_file FROM stage_resources WHERE url IS NOT NULL
    UNION ALL SELECT resource, false FROM stage_links WHERE resource IS NOT NULL
    UNION ALL SELECT source_resource, false FROM stage_references WHERE source_resource IS NOT NULL
    UNION ALL SELECT target_resource, false FROM stage_references WHERE target_resource IS NOT NULL
) u GROUP BY u.url;
CREATE UNIQUE INDEX ON import_urls (url);
UPDATE import_urls u SET resource_id = r.resource_id FROM external_resources r WHERE r.url = u.url;
ANALYZE import_urls;
UPDATE stage_nodes s SET node_id = k.node_id, redirected = k.redirected FROM import_keys k
WHERE k.key = s.key AND k.node_id IS NOT NULL;
UPDATE stage_resources s SET resource_id = u.resource_id FROM import_urls u
WHERE u.url = s.url AND u.resource_id IS NOT NULL;
"""


def _unknown(table: str, column: str, what: str) -> str:
    lookup = "import_keys" if what == "node" else "import_urls"
    match = "key" if what == "node" else "url"
    found = "node_id" if what == "node" else "resource_id"
    return f"""
        SELECT s.file, s.line, '{column}', format('%s is not a {what} of the file or the database', quote_literal(
               s.{column})) FROM {table} s JOIN {lookup} l ON l.{match} = s.{column}
        WHERE NOT l.in_file AND l.{found} IS NULL AND NOT EXISTS (
            SELECT 1 FROM import_errors e WHERE e.file = s.file AND e.line = s.line AND e.field = '{column}')"""


def _duplicates(table: str, identity: str, field: str, what: str, where: str = "true") -> str:
    return f"""
        SELECT file, line, '{field}', format('{what} is also on line %s%s', first_line,
               CASE WHEN first_file <> file THEN ' of ' || (SELECT name FROM import_files WHERE file = first_file)
               ELSE '' END)
        FROM (SELECT file, line, first_value(line) OVER w AS first_line, first_value(file) OVER w AS first_file,
                     row_number() OVER w AS copy
              FROM {table} WHERE {where} WINDOW w AS (PARTITION BY {identity} ORDER BY file, line)) d
        WHERE copy > 1"""


CROSS_CHECKS_SQL = " UNION ALL ".join([
    _unknown("stage_nodes", "parent", "node"),
    _unknown("stage_attributes", "node", "node"),
    _unknown("stage_relationships", "source", "node"), _unknown("stage_relationships", "target", "node"),
    _unknown("stage_links", "node", "node"), _unknown("stage_links", "resource", "resource"),
    _unknown("stage_references", "source_node", "node"), _unknown("stage_references", "target_node", "node"),
    _unknown("stage_references", "source_resource", "resource"),
    _unknown("stage_references", "target_resource", "resource"),
    _duplicates("stage_nodes", "key", "key", "this node key", "key IS NOT NULL"),
    _duplicates("stage_nodes", "path", "path", "this path", "path IS NOT NULL"),
    _duplicates("stage_attributes", "node, value_key", "value", "this attribute (node, type, key and value)",
                "node IS NOT NULL AND value_key IS NOT NULL"),
    _duplicates("stage_relationships", "source, target, relationship_type", "type",
                "this relationship (source, target and type)",
                "source IS NOT NULL AND target IS NOT NULL AND relationship_type IS NOT NULL"),
    _duplicates("stage_resources", "url", "url", "this URL", "url IS NOT NULL"),
    _duplicates("stage_links", "node, resource, link_type", "resource", "this link (node, resource and link type)",
                "node IS NOT NULL AND resource IS NOT NULL"),
    _duplicates("stage_references", "source_node, source_resource, target_node, target_resource, reference_type, "
                                    "page_number, section", "reference_type",
                "this reference (source, target, type, page and section)", "reference_type IS NOT NULL"),
    """
    SELECT s.file, s.line, 'target', 'a relationship cannot connect a node to itself' FROM stage_relationships s
    LEFT JOIN import_keys a ON a.key = s.source LEFT JOIN import_keys b ON b.key = s.target
    WHERE s.source = s.target OR (a.node_id IS NOT NULL AND a.node_id = b.node_id)""",
    """
    SELECT s.file, s.line, 'path', format('%s is already the path of node %s', s.path, n.node_id)
    FROM stage_nodes s JOIN nodes n ON n.path = s.path WHERE n.node_id IS DISTINCT FROM s.node_id""",
])

# Parents: given, or derived from the path (the node of the file, or else of the database, at the path minus its
# last label); then the rule's checks, and the depth of each node among the file's nodes (parents first).
HIERARCHY_SQL = """
UPDATE stage_nodes s SET parent_key = s.parent WHERE s.parent IS NOT NULL;
UPDATE stage_nodes s SET parent_key = p.key FROM stage_nodes p
WHERE s.parent IS NULL AND nlevel(s.path) > 1 AND p.path = subpath(s.path, 0, nlevel(s.path) - 1);
UPDATE stage_nodes s SET parent_id = n.node_id FROM nodes n
WHERE s.parent IS NULL AND s.parent_key IS NULL AND nlevel(s.path) > 1
  AND n.path = subpath(s.path, 0, nlevel(s.path) - 1);
UPDATE stage_nodes s SET parent_id = k.node_id FROM import_keys k
WHERE s.parent_key IS NOT NULL AND k.key = s.parent_key AND NOT k.in_file;
UPDATE stage_nodes s SET parent_key = NULL WHERE s.parent_id IS NOT NULL;
"""
HIERARCHY_CHECKS_SQL = """
INSERT INTO import_errors (file, line, field, message)
SELECT s.file, s.line, 'path', format('%s needs a parent: no node of the file or the database has the path %s (add '
       'that node, or give this one a one-label path)', s.path, subpath(s.path, 0, nlevel(s.path) - 1))
FROM stage_nodes s WHERE s.parent IS NULL AND nlevel(s.path) > 1 AND s.parent_key IS NULL AND s.parent_id IS NULL
UNION ALL
SELECT s.file, s.line, 'parent', format('parent %L has no path; a node with children needs one', s.parent)
FROM stage_nodes s LEFT JOIN stage_nodes p ON p.key = s.parent_key LEFT JOIN nodes pn ON pn.node_id = s.parent_id
LEFT JOIN nodes pe ON pe.node_id = p.node_id
WHERE s.parent IS NOT NULL AND (
    (s.parent_id IS NOT NULL AND pn.path IS NULL)
    OR (p.key IS NOT NULL AND p.path IS NULL AND p.parent IS NULL AND pe.path IS NULL))
UNION ALL
SELECT s.file, s.line, 'path', format('%s must be the parent''s path %s plus one label (parent %L)',
       s.path, coalesce(p.path, pe.path, pn.path), s.parent)
FROM stage_nodes s LEFT JOIN stage_nodes p ON p.key = s.parent_key LEFT JOIN nodes pn ON pn.node_id = s.parent_id
LEFT JOIN nodes pe ON pe.node_id = p.node_id
WHERE s.parent IS NOT NULL AND nlevel(s.path) > 1 AND coalesce(p.path, pe.path, pn.path) IS NOT NULL
  AND subpath(s.path, 0, nlevel(s.path) - 1) <> coalesce(p.path, pe.path, pn.path);
WITH RECURSIVE levels AS (
    SELECT key, 0 AS depth FROM stage_nodes WHERE parent_key IS NULL AND key IS NOT NULL
    UNION ALL
    SELECT s.key, l.depth + 1 FROM stage_nodes s JOIN levels l ON s.parent_key = l.key WHERE l.depth < 10000
)
UPDATE stage_nodes s SET depth = l.depth FROM levels l WHERE l.key = s.key;
INSERT INTO import_errors (file, line, field, message)
SELECT file, line, 'parent', format('parent cycle: %L is among its own ancestors', key)
FROM stage_nodes WHERE depth IS NULL
  AND NOT EXISTS (SELECT 1 FROM import_errors e WHERE e.file = stage_nodes.file AND e.line = stage_nodes.line);
"""

# Records that match a row of the database (identity: docs/import-format.md).
MATCH_SQL = """
UPDATE stage_attributes s SET attribute_id = a.attribute_id FROM import_keys k, node_attributes a
WHERE k.key = s.node AND k.node_id IS NOT NULL AND a.node_id = k.node_id AND a.value_key = s.value_key;
UPDATE stage_relationships s SET relationship_id = r.relationship_id
FROM import_keys a, import_keys b, relationships r
WHERE a.key = s.source AND b.key = s.target AND r.source_node_id = a.node_id AND r.target_node_id = b.node_id
  AND r.relationship_type = s.relationship_type;
UPDATE stage_links s SET link_id = l.link_id FROM import_keys k, import_urls u, node_resource_links l
WHERE k.key = s.node AND u.url = s.resource AND l.node_id = k.node_id AND l.resource_id = u.resource_id
  AND l.link_type = s.link_type;
UPDATE stage_references s SET reference_id = m.reference_id FROM (
    SELECT DISTINCT ON (s.file, s.line) s.file, s.line, t.reference_id
    FROM stage_references s
    LEFT JOIN import_keys sn ON sn.key = s.source_node LEFT JOIN import_keys tn ON tn.key = s.target_node
    LEFT JOIN import_urls sr ON sr.url = s.source_resource LEFT JOIN import_urls tr ON tr.url = s.target_resource
    JOIN reference_tracking t ON t.reference_type = s.reference_type
     AND coalesce(t.source_node_id, 0) = coalesce(sn.node_id, 0)
     AND coalesce(t.source_resource_id, 0) = coalesce(sr.resource_id, 0)
     AND coalesce(t.target_node_id, 0) = coalesce(tn.node_id, 0)
     AND coalesce(t.target_resource_id, 0) = coalesce(tr.resource_id, 0)
     AND t.page_number IS NOT DISTINCT FROM s.page_number AND t.section IS NOT DISTINCT FROM s.section
    WHERE (sn.node_id IS NOT NULL OR sr.resource_id IS NOT NULL)
      AND (tn.node_id IS NOT NULL OR tr.resource_id IS NOT NULL)
    ORDER BY s.file, s.line, t.reference_id
) m WHERE m.file = s.file AND m.line = s.line;
"""
MATCHED = {  # kind: (staging table, the column set when the record matches a row of the database)
    "node": ("stage_nodes", "node_id"), "attribute": ("stage_attributes", "attribute_id"),
    "relationship": ("stage_relationships", "relationship_id"), "resource": ("stage_resources", "resource_id"),
    "link": ("stage_links", "link_id"), "reference": ("stage_references", "reference_id"),
}


def _resolve(cursor, on_conflict: str) -> None:
    cursor.execute(KEYS_SQL)
    cursor.execute("INSERT INTO import_errors (file, line, field, message) " + CROSS_CHECKS_SQL)
    cursor.execute(HIERARCHY_SQL)
    cursor.execute(HIERARCHY_CHECKS_SQL)
    cursor.execute(MATCH_SQL)
    if on_conflict == OnConflict.ERROR:
        for kind, (table, column) in MATCHED.items():
            cursor.execute(f"INSERT INTO import_errors (file, line, field, message) SELECT file, line, NULL, "
                           f"format('this {kind} is already in the database ({column} %s) and --on-conflict is "
                           f"error', {column}) FROM {table} WHERE {column} IS NOT NULL")


# --- 5. Applying -------------------------------------------------------------------------------------------------

def _changed(pairs: list[tuple[str, str]]) -> str:
    """``(stored, ...) IS DISTINCT FROM (coalesce(given, stored), ...)``: a field the record leaves out keeps its
    stored value."""
    stored = ", ".join(column for column, _ in pairs)
    given = ", ".join(f"coalesce({value}, {column})" for column, value in pairs)
    return f"({stored}) IS DISTINCT FROM ({given})"


NODE_FIELDS = [("n.name", "s.name"), ("n.node_type", "s.node_type"), ("n.metadata", "s.metadata"),
               ("n.embedding", "s.embedding"), ("n.path", "s.path")]
ATTRIBUTE_FIELDS = [("a.weight", "s.weight"), ("a.confidence", "s.confidence"),
                    ("a.source_reliability", "s.source_reliability"), ("a.last_verified", "s.last_verified"),
                    ("a.metadata", "s.metadata")]
RELATIONSHIP_FIELDS = [("r.strength", "s.strength"), ("r.stated_confidence", "s.stated_confidence"),
                       ("r.source_reliability", "s.source_reliability"), ("r.bidirectional", "s.bidirectional"),
                       ("r.metadata", "s.metadata")]
RESOURCE_FIELDS = [("r.title", "s.title"), ("r.description", "s.description"),
                   ("r.resource_type", "s.resource_type"), ("r.metadata", "s.metadata"), ("r.embedding", "s.embedding")]
LINK_FIELDS = [("l.confidence", "s.confidence"), ("l.context", "s.context")]
REFERENCE_FIELDS = [("t.quote", "s.quote"), ("t.context", "s.context")]


def _update(cursor, *, table: str, alias: str, stage_from: str, where: str, fields: list[tuple[str, str]],
            extra: str = "") -> int:
    sets = ", ".join(f"{column.split('.')[-1]} = coalesce({value}, {column})" for column, value in fields)
    cursor.execute(f"UPDATE {table} {alias} SET {sets}{extra} FROM {stage_from} WHERE {where} "
                   f"AND {_changed(fields)}")
    return cursor.rowcount


def _count(cursor, statement: str, params=None) -> int:
    return cursor.execute(statement, params).fetchone()[0]


def _apply_nodes(cursor, report: ImportReport, user_id: int | None, progress: Progress) -> None:
    counts = report.counts["node"]
    depths = [row[0] for row in cursor.execute("SELECT DISTINCT depth FROM stage_nodes ORDER BY 1").fetchall()]
    total = _count(cursor, "SELECT count(*) FROM stage_nodes")
    done = 0
    for depth in depths:
        cursor.execute(
            """
            WITH created AS (
                INSERT INTO nodes (name, node_type, path, parent_node_id, metadata, embedding, external_key, source,
                                   created_by)
                SELECT s.name, s.node_type, s.path, coalesce(p.node_id, s.parent_id), coalesce(s.metadata, '{}'),
                       s.embedding, s.key, %(source)s, %(user)s
                FROM stage_nodes s LEFT JOIN stage_nodes p ON p.key = s.parent_key
                WHERE s.depth = %(depth)s AND s.node_id IS NULL
                ORDER BY s.file, s.line
                RETURNING node_id, external_key
            )
            UPDATE stage_nodes s SET node_id = c.node_id FROM created c WHERE s.key = c.external_key
            """,
            {"depth": depth, "source": NODE_SOURCE, "user": user_id},
        )
        counts.created += cursor.rowcount
        if report.on_conflict == OnConflict.UPDATE:
            # The parent is set only when the record names one or its path implies one; else it stays.
            fields = NODE_FIELDS + [("n.parent_node_id", "CASE WHEN s.parent IS NOT NULL OR nlevel(s.path) > 1 "
                                                         "THEN coalesce(p.node_id, s.parent_id) END")]
            counts.updated += _update(
                cursor, table="nodes", alias="n",
                stage_from="(stage_nodes s LEFT JOIN stage_nodes p ON p.key = s.parent_key)",
                where=f"n.node_id = s.node_id AND s.depth = {int(depth)} AND NOT s.created AND NOT s.redirected",
                fields=fields,
                extra=", updated_at = now()")
        done = _count(cursor, "SELECT count(*) FROM stage_nodes WHERE depth <= %s", [depth])
        progress(ImportProgress("nodes", done, total, done))


def _apply(cursor, report: ImportReport, user_id: int | None, progress: Progress) -> None:
    matched = {kind: _count(cursor, f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL")
               for kind, (table, column) in MATCHED.items()}
    cursor.execute("ALTER TABLE stage_nodes ADD COLUMN created boolean; UPDATE stage_nodes SET created = "
                   "(node_id IS NULL)")
    _apply_nodes(cursor, report, user_id, progress)
    cursor.execute("UPDATE import_keys k SET node_id = s.node_id FROM stage_nodes s "
                   "WHERE s.key = k.key AND k.node_id IS NULL")
    update = report.on_conflict == OnConflict.UPDATE
    counts = report.counts

    progress(ImportProgress("attributes"))
    cursor.execute(
        """
        INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value, weight, confidence,
                                     source_reliability, last_verified, metadata, created_by)
        SELECT k.node_id, s.attribute_type, s.attribute_key, s.attribute_value, coalesce(s.weight, 1.0),
               coalesce(s.confidence, 0.5), coalesce(s.source_reliability, 1.0), coalesce(s.last_verified, now()),
               coalesce(s.metadata, '{}'), %s
        FROM stage_attributes s JOIN import_keys k ON k.key = s.node WHERE s.attribute_id IS NULL
        ORDER BY s.file, s.line
        """, [user_id])
    counts["attribute"].created = cursor.rowcount
    if update:
        counts["attribute"].updated = _update(
            cursor, table="node_attributes", alias="a", stage_from="stage_attributes s",
            where="a.attribute_id = s.attribute_id", fields=ATTRIBUTE_FIELDS)

    progress(ImportProgress("relationships"))
    # A pair and type a curator rejected is not re-created (docs/curation.md, "Rejections stick").
    cursor.execute(
        """
        DELETE FROM stage_relationships s USING import_keys a, import_keys b, inference_rejections j
        WHERE s.relationship_id IS NULL AND a.key = s.source AND b.key = s.target
          AND j.source_node_id = least(a.node_id, b.node_id) AND j.target_node_id = greatest(a.node_id, b.node_id)
          AND j.relationship_type = s.relationship_type
        """)
    counts["relationship"].rejected = cursor.rowcount
    cursor.execute(
        """
        INSERT INTO relationships (source_node_id, target_node_id, relationship_type, strength, stated_confidence,
                                   source_reliability, bidirectional, metadata, source, created_by)
        SELECT a.node_id, b.node_id, s.relationship_type, coalesce(s.strength, 1.0), coalesce(s.stated_confidence, 0.5),
               coalesce(s.source_reliability, 1.0), coalesce(s.bidirectional, false), coalesce(s.metadata, '{}'),
               %s, %s
        FROM stage_relationships s JOIN import_keys a ON a.key = s.source JOIN import_keys b ON b.key = s.target
        WHERE s.relationship_id IS NULL ORDER BY s.file, s.line
        """, [NODE_SOURCE, user_id])
    counts["relationship"].created = cursor.rowcount
    if update:
        # A relationship the file states is a curated one, even where inference had made it (docs/import-format.md).
        fields = RELATIONSHIP_FIELDS + [("r.auto_managed", "false")]
        counts["relationship"].updated = _update(
            cursor, table="relationships", alias="r", stage_from="stage_relationships s",
            where="r.relationship_id = s.relationship_id", fields=fields, extra=", updated_at = now()")

    progress(ImportProgress("resources"))
    cursor.execute(
        """
        WITH created AS (
            INSERT INTO external_resources (url, title, description, resource_type, metadata, embedding, created_by)
            SELECT s.url, s.title, s.description, s.resource_type, coalesce(s.metadata, '{}'), s.embedding, %s
            FROM stage_resources s WHERE s.resource_id IS NULL ORDER BY s.file, s.line
            RETURNING resource_id, url
        )
        UPDATE import_urls u SET resource_id = c.resource_id FROM created c WHERE c.url = u.url
        """, [user_id])
    counts["resource"].created = cursor.rowcount
    if update:
        counts["resource"].updated = _update(
            cursor, table="external_resources", alias="r", stage_from="stage_resources s",
            where="r.resource_id = s.resource_id", fields=RESOURCE_FIELDS, extra=", updated_at = now()")

    progress(ImportProgress("links"))
    cursor.execute(
        """
        INSERT INTO node_resource_links (node_id, resource_id, link_type, confidence, context, created_by)
        SELECT k.node_id, u.resource_id, s.link_type, coalesce(s.confidence, 0.5), s.context, %s
        FROM stage_links s JOIN import_keys k ON k.key = s.node JOIN import_urls u ON u.url = s.resource
        WHERE s.link_id IS NULL ORDER BY s.file, s.line
        """, [user_id])
    counts["link"].created = cursor.rowcount
    if update:
        counts["link"].updated = _update(cursor, table="node_resource_links", alias="l", stage_from="stage_links s",
                                         where="l.link_id = s.link_id", fields=LINK_FIELDS)

    progress(ImportProgress("references"))
    cursor.execute(
        """
        INSERT INTO reference_tracking (source_node_id, source_resource_id, target_node_id, target_resource_id,
                                        reference_type, page_number, section, quote, context, created_by)
        SELECT sn.node_id, sr.resource_id, tn.node_id, tr.resource_id, s.reference_type, s.page_number, s.section,
               s.quote, coalesce(s.context, '{}'), %s
        FROM stage_references s
        LEFT JOIN import_keys sn ON sn.key = s.source_node LEFT JOIN import_keys tn ON tn.key = s.target_node
        LEFT JOIN import_urls sr ON sr.url = s.source_resource LEFT JOIN import_urls tr ON tr.url = s.target_resource
        WHERE s.reference_id IS NULL ORDER BY s.file, s.line
        """, [user_id])
    counts["reference"].created = cursor.rowcount
    if update:
        counts["reference"].updated = _update(cursor, table="reference_tracking", alias="t",
                                              stage_from="stage_references s", where="t.reference_id = s.reference_id",
                                              fields=REFERENCE_FIELDS)

    counts["node"].redirected = _count(cursor, "SELECT count(*) FROM stage_nodes WHERE redirected")
    matched["node"] -= counts["node"].redirected
    for kind, number in matched.items():
        if update:
            counts[kind].unchanged = number - counts[kind].updated
        else:
            counts[kind].skipped = number
    counts["node"].skipped += counts["node"].redirected


# --- The entry point ---------------------------------------------------------------------------------------------

def _problems(cursor, limit: int) -> tuple[list[ImportProblem], int]:
    total = _count(cursor, "SELECT count(*) FROM import_errors")
    rows = cursor.execute(
        "SELECT f.name, e.line, e.field, e.message FROM import_errors e LEFT JOIN import_files f ON f.file = e.file "
        "ORDER BY e.file NULLS FIRST, e.line NULLS FIRST, e.field LIMIT %s", [limit]).fetchall()
    return [ImportProblem(name or "", line, field, message) for name, line, field, message in rows], total


def _defer_indexes(cursor, records: int, mode: str) -> DeferredDefinitions | None:
    if mode == "never" or (mode == "auto" and records < DEFER_INDEXES_MIN_RECORDS):
        return None
    if mode == "auto":
        stored = _count(cursor, "SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class "
                                "WHERE oid = ANY(%s::regclass[])", [list(TABLES)])
        if records <= stored:
            return None
    cursor.execute(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE")
    return indexes_and_foreign_keys_drop(cursor, TABLES)


def graph_import(*, sources: list[ImportSource], on_conflict: str = OnConflict.UPDATE, dry_run: bool = False,
                 user=None, progress: Progress | None = None, defer_indexes: str = "auto",
                 problem_limit: int = 1000, job: ImportJob | None = None, using: str = DEFAULT_DB_ALIAS
                 ) -> ImportReport:
    """Imports ``sources`` (docs/import-format.md) in one transaction and returns what it did; with problems
    (``report.ok`` false) nothing is written. ``dry_run`` rolls the transaction back after the same work.
    ``progress`` hears of each phase (``ImportProgress``). Every applied import is recorded in ``import_jobs``
    (``job``, when the worker runs an upload; else a new row)."""
    if on_conflict not in OnConflict.values:
        raise ValueError(f"on_conflict must be one of {', '.join(OnConflict.values)}")
    if defer_indexes not in ("auto", "always", "never"):
        raise ValueError("defer_indexes must be auto, always or never")
    report = ImportReport(dry_run=dry_run, on_conflict=on_conflict)
    progress = progress or (lambda state: None)
    started = time.perf_counter()
    user_id = getattr(user, "pk", None)
    total_bytes = sum(source.size or 0 for source in sources) or None
    phase_started = [time.perf_counter()]

    def phase(name: str) -> None:
        now = time.perf_counter()
        report.phases.append((name, now - phase_started[0]))
        phase_started[0] = now

    try:
        connection = connections[using]
        # One history entry per import (docs/history.md): its rows are written through a raw psycopg cursor
        # (COPY), so the context is bound to the transaction once, at its start.
        with transaction.atomic(using=using), pghistory.context(
                operation="import", import_job=getattr(job, "pk", None), user=user_id):
            connection.ensure_connection()
            with connection.connection.cursor() as cursor:
                history_context_bind(cursor)
                read, lines, digest = [0], [0], hashlib.sha256()

                def advance(chunk: bytes) -> None:
                    read[0] += len(chunk)
                    lines[0] += chunk.count(b"\n")
                    digest.update(chunk)
                    progress(ImportProgress("reading", read[0], total_bytes, lines[0]))

                # One import at a time: two would both see a new key as new and the second would fail on it.
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('kgsite.import'))")
                report.records = sources_stage(cursor, sources, advance=advance)
                phase("stage")
                progress(ImportProgress("checking"))
                _check_fields(cursor)
                _stage_typed(cursor)
                _resolve(cursor, on_conflict)
                phase("validate")
                report.problems, report.problem_count = _problems(cursor, problem_limit)
                if not report.ok:
                    raise _DryRun
                deferred = None if dry_run else _defer_indexes(cursor, report.records, defer_indexes)
                report.indexes_deferred = deferred is not None
                try:
                    with transaction.atomic(using=using):
                        _apply(cursor, report, user_id, progress)
                except (DatabaseError, pg_errors.Error) as exc:  # the database's own rules (hierarchy moves) refused
                    cause = exc if isinstance(exc, pg_errors.Error) else exc.__cause__
                    cause = cause if isinstance(cause, pg_errors.Error) else None
                    message = (cause.diag.message_primary if cause and cause.diag else None) or str(exc)
                    report.problems = [ImportProblem("", None, None, f"the database refused the import: {message}")]
                    report.problem_count = 1
                    raise _DryRun from exc
                phase("apply")
                if deferred is not None:
                    progress(ImportProgress("rebuilding indexes"))
                    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                    indexes_and_foreign_keys_recreate(cursor, deferred)
                    phase("indexes")
                cursor.execute("DROP TABLE import_files, import_errors, import_records, import_raw, import_keys, "
                               "import_urls, stage_nodes, stage_attributes, stage_relationships, stage_resources, "
                               "stage_links, stage_references; DROP SEQUENCE import_line")
                if not dry_run:
                    _record(report, sources, user, job, digest.hexdigest(), using)
                report.seconds = time.perf_counter() - started
                if dry_run:
                    raise _DryRun
    except _DryRun:
        pass
    report.seconds = time.perf_counter() - started
    if report.ok and not dry_run and report.records >= DEFER_INDEXES_MIN_RECORDS:
        with connections[using].cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(TABLES)}")
    return report


def _record(report: ImportReport, sources: list[ImportSource], user, job: ImportJob | None, digest: str,
            using: str) -> None:
    if job is not None:
        return  # the worker records its job's outcome itself, in this transaction (graph/services/import_jobs.py)
    names = ", ".join(source.name for source in sources)[:255]
    now = timezone.now()
    ImportJob.objects.using(using).create(
        file_name=names, file_format=sources[0].format if sources else "jsonl", on_conflict=report.on_conflict,
        content=b"", size=sum(source.size or 0 for source in sources), sha256=digest, status=ImportStatus.COMPLETED,
        phase="done", rows_total=report.records, rows_done=report.records, result=report.as_dict(),
        created_by=user, confirmed_by=user, checked_at=now, confirmed_at=now, started_at=now, finished_at=now,
        worker="manage.py import_graph")
