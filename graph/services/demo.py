"""Load the demo knowledge graph shipped in ``graph/fixtures/demo_graph.json``.

The file describes programming languages, the people who designed them, the organisations that developed them
and the paradigms they follow, placed in one taxonomy of paths under ``computing`` (category nodes for every
prefix: ``computing.languages.functional`` is the node "Functional languages"). A language's place in the taxonomy
is its parent; the paradigm it follows is a ``follows_paradigm`` relationship. Rows refer to each other by *keys*
local to the file (``"python"``, ``"guido_van_rossum"``); the loader turns keys into database ids.

File format (``"format": 1``)::

    {"format": 1, "description": "...",
     "nodes": [{"key", "name", "node_type", "path"?, "parent"?, "metadata"?,
                "attributes"?: [{"type", "key", "value", "weight"?, "confidence"?, "source_reliability"?,
                                 "metadata"?}]}],
     "relationships": [{"source", "target", "type", "strength"?, "stated_confidence"?, "bidirectional"?,
                        "metadata"?}],
     "resources": [{"key", "url", "title"?, "description"?, "resource_type"?, "metadata"?,
                    "links"?: [{"node", "link_type"?, "confidence"?, "context"?}]}],
     "references": [{"source_node" | "source_resource", "target_node" | "target_resource", "reference_type",
                     "page_number"?, "section"?, "quote"?, "context"?}]}

This module is the demo-specific part: reading that nested JSON into the flat records of
``graph/services/graph_records.py`` (which validates them, field names and rules as listed there, and writes them
in one transaction), the shipped file's location, ``source = 'demo'`` and loading only once. A file that cannot be
read as this format raises ``GraphError`` with ``UNREADABLE_FILE``; a record that fails validation, ``BAD_RECORD``.
Nothing is written unless the whole file is valid.

The demo is embedded as it loads (docs/embeddings.md): a newcomer's first search, right after ``quickstart``,
must find something, before any worker has run. The configured provider is loaded before anything is written, so
a provider that cannot be loaded (RG-EMBED-001) leaves the database as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from django.db import connection, transaction

from config_admin.selectors import config_get
from graph.errors import BAD_RECORD, UNREADABLE_FILE, GraphError
from graph.models import ExternalResource, Node
from graph.services.embeddings import embedding_provider, embeddings_compute_ids
from graph.services.graph_records import COUNT_KEYS, Record, RecordPlan, graph_records_validate, graph_records_write

__all__ = ["COUNT_KEYS", "DEMO_GRAPH_PATH", "DEMO_SOURCE", "demo_graph_load", "demo_graph_validate", "demo_records"]

DEMO_SOURCE = "demo"
DEMO_GRAPH_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "demo_graph.json"
SUPPORTED_FORMAT = 1
_TOP_LEVEL = {"format", "description", "nodes", "relationships", "resources", "references"}
# Serialises concurrent loads (two quickstarts at once) so the "already loaded?" check is reliable.
_LOCK_NAME = "graph.services.demo.demo_graph_load"


def _unreadable(problem: str) -> NoReturn:
    raise GraphError(f"demo graph: {problem}", code=UNREADABLE_FILE)


def _list(document: dict, name: str) -> list:
    value = document.get(name, [])
    if not isinstance(value, list):
        _unreadable(f"top level: {name} must be a list, got {type(value).__name__}")
    return value


def _bad_record(where: str, problem: str) -> NoReturn:
    raise GraphError(f"{where}: {problem}", code=BAD_RECORD, record=where)


def _nested(where: str, row: dict, name: str, owner_field: str) -> Iterator[tuple[str, Any]]:
    """The rows nested under ``row[name]`` with their locations, each given the owner's key as ``owner_field``."""
    value = row.get(name, [])
    if not isinstance(value, list):
        _bad_record(where, f"{name} must be a list, got {type(value).__name__}")
    for index, nested in enumerate(value):
        nested_where = f"{where}.{name}[{index}]"
        if isinstance(nested, dict):
            if owner_field in nested:
                _bad_record(nested_where, f"unknown field(s) {owner_field}")
            nested = {owner_field: row.get("key"), **nested}
        yield nested_where, nested


def _named(where: str, row: Any) -> str:
    """``where`` with the row's key, when it has a usable one: messages about nested rows name their owner."""
    key = row.get("key") if isinstance(row, dict) else None
    return f"{where} ({key!r})" if isinstance(key, str) and key else where


def demo_records(document: Any) -> Iterator[Record]:
    """The records of a parsed demo-graph document, in file order; nested attributes and links become records of
    their own carrying their owner's key. Checks only the document's shape (``UNREADABLE_FILE``)."""
    if not isinstance(document, dict):
        _unreadable(f"expected a JSON object at the top level, got {type(document).__name__}")
    unknown = sorted(document.keys() - _TOP_LEVEL)
    if unknown:
        _unreadable(f"top level: unknown field(s) {', '.join(unknown)}")
    if document.get("format", SUPPORTED_FORMAT) != SUPPORTED_FORMAT:
        _unreadable(f"format {document['format']!r} is not supported (expected {SUPPORTED_FORMAT})")
    if "nodes" not in document:
        _unreadable("top level: missing field nodes")
    nodes = _list(document, "nodes")
    if not nodes:
        _unreadable("top level: nodes is empty")

    for index, raw in enumerate(nodes):
        where = f"nodes[{index}]"
        fields = {name: value for name, value in raw.items() if name != "attributes"} if isinstance(raw, dict) else raw
        yield Record("node", fields, where)
        if isinstance(raw, dict):
            for nested_where, fields in _nested(_named(where, raw), raw, "attributes", "node"):
                yield Record("attribute", fields, nested_where)
    for index, raw in enumerate(_list(document, "relationships")):
        yield Record("relationship", raw, f"relationships[{index}]")
    for index, raw in enumerate(_list(document, "resources")):
        where = f"resources[{index}]"
        fields = {name: value for name, value in raw.items() if name != "links"} if isinstance(raw, dict) else raw
        yield Record("resource", fields, where)
        if isinstance(raw, dict):
            for nested_where, fields in _nested(_named(where, raw), raw, "links", "resource"):
                yield Record("link", fields, nested_where)
    for index, raw in enumerate(_list(document, "references")):
        yield Record("reference", raw, f"references[{index}]")


def demo_graph_validate(document: Any) -> RecordPlan:
    """Check a parsed demo-graph document; return the rows to write or raise ``GraphError``."""
    return graph_records_validate(records=demo_records(document))


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        _unreadable(f"cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        _unreadable(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _unreadable(f"{path} is not valid JSON: {exc}")


def demo_graph_load(*, user=None, path: str | Path | None = None) -> dict[str, int]:
    """Load the demo graph (``path`` or the shipped file) in one transaction; ``user`` becomes ``created_by``.
    Then embed its nodes and resources with the configured provider, so that they are searchable at once.

    Idempotent: when nodes with ``source='demo'`` already exist nothing is written and every count is zero,
    with ``already_loaded`` true (demo rows still without a vector are embedded). Resources whose URL is already
    in the database are reused (and not counted; embedded unless a user supplied their vector). Returns how many
    rows were created per table (``COUNT_KEYS``), the ``already_loaded`` flag and ``embedded`` (nodes and resources
    given a vector). Raises ``GraphError`` (``UNREADABLE_FILE``, ``BAD_RECORD``) before writing anything when the
    file is not valid, and ``EMBEDDING_PROVIDER_UNAVAILABLE`` when the provider cannot be loaded.
    """
    plan = demo_graph_validate(_read(Path(path or DEMO_GRAPH_PATH)))
    if not Node.objects.filter(source=DEMO_SOURCE).exists():
        embedding_provider()  # loadable? (RG-EMBED-001 before anything is written)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_LOCK_NAME])
        if Node.objects.filter(source=DEMO_SOURCE).exists():
            counts = {**dict.fromkeys(COUNT_KEYS, 0), "already_loaded": True}
        else:
            counts = {**graph_records_write(plan=plan, source=DEMO_SOURCE, user=user), "already_loaded": False}
    return {**counts, "embedded": _demo_embed(plan)}


def _demo_embed(plan: RecordPlan) -> int:
    """Embed the demo's nodes and resources that have no vector yet (one UPDATE per batch)."""
    node_ids = list(Node.objects.filter(source=DEMO_SOURCE, embedding__isnull=True).values_list("pk", flat=True))
    resource_ids = list(ExternalResource.objects.filter(
        url__in=[resource.url for resource in plan.resources], embedding__isnull=True).values_list("pk", flat=True))
    if not node_ids and not resource_ids:
        return 0
    return embeddings_compute_ids(node_ids=node_ids, resource_ids=resource_ids,
                                  batch_size=int(config_get("embedding_batch_size"))).embedded
