"""Load the demo knowledge graph shipped in ``graph/fixtures/demo_graph.json``.

The file describes programming languages, the people who designed them, the organisations that developed them
and the paradigms they belong to. Rows refer to each other by *keys* local to the file (``"python"``,
``"guido_van_rossum"``); the loader turns keys into database ids.

File format (``"format": 1``)::

    {"format": 1, "description": "...",
     "nodes": [{"key", "name", "node_type", "path"?, "parent"?, "confidence_score"?, "metadata"?,
                "attributes"?: [{"type", "key", "value", "weight"?, "confidence"?, "source_reliability"?,
                                 "metadata"?}]}],
     "relationships": [{"source", "target", "type", "strength"?, "confidence_score"?, "bidirectional"?,
                        "metadata"?}],
     "resources": [{"key", "url", "title"?, "description"?, "resource_type"?, "metadata"?,
                    "links"?: [{"node", "link_type"?, "confidence"?, "context"?}]}],
     "references": [{"source_node" | "source_resource", "target_node" | "target_resource", "reference_type",
                     "page_number"?, "section"?, "quote"?, "context"?}]}

The whole file is validated before anything is written (``ValueError`` naming the first problem), then loaded
in one transaction with one bulk insert per table (per hierarchy level for nodes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction

from graph.models import ExternalResource, Node, NodeAttribute, NodeResourceLink, Reference, Relationship
from graph.models.resources import MAX_URL_LENGTH

DEMO_SOURCE = "demo"
DEMO_GRAPH_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "demo_graph.json"
SUPPORTED_FORMAT = 1

# ltree labels as this project writes them: lowercase letters, digits and underscores.
_PATH_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
_MAX_LABEL_LENGTH = 255
# Serialises concurrent loads (two quickstarts at once) so the "already loaded?" check is reliable.
_LOCK_NAME = "graph.services.demo.demo_graph_load"

COUNT_KEYS = ("nodes", "attributes", "relationships", "resources", "resource_links", "references")


# --- Validation ------------------------------------------------------------------------------------------------

@dataclass
class _Plan:
    """The validated file: rows ready to insert, keyed by file keys."""

    nodes: list[dict] = field(default_factory=list)
    depth: dict[str, int] = field(default_factory=dict)
    relationships: list[dict] = field(default_factory=list)
    resources: list[dict] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)


def _fail(where: str, problem: str):
    raise ValueError(f"demo graph: {where}: {problem}")


def _check_fields(where: str, row: Any, required: set[str], optional: set[str]) -> dict:
    if not isinstance(row, dict):
        _fail(where, f"expected an object, got {type(row).__name__}")
    missing = sorted(required - row.keys())
    if missing:
        _fail(where, f"missing field(s) {', '.join(missing)}")
    unknown = sorted(row.keys() - required - optional)
    if unknown:
        _fail(where, f"unknown field(s) {', '.join(unknown)}")
    return row


def _text(where: str, row: dict, name: str, *, max_length: int | None = None, required: bool = True) -> str | None:
    value = row.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        _fail(where, f"{name} must be a non-empty string, got {value!r}")
    if max_length is not None and len(value) > max_length:
        _fail(where, f"{name} is {len(value)} characters long; at most {max_length} are allowed")
    return value


def _unit(where: str, row: dict, name: str) -> Decimal | None:
    if name not in row:
        return None
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _fail(where, f"{name} must be a number between 0 and 1, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        _fail(where, f"{name} must be a number between 0 and 1, got {value!r}")
    if not number.is_finite() or not Decimal(0) <= number <= Decimal(1):
        _fail(where, f"{name} must be between 0 and 1, got {value!r}")
    return number


def _object(where: str, row: dict, name: str) -> dict:
    value = row.get(name, {})
    if not isinstance(value, dict):
        _fail(where, f"{name} must be an object, got {type(value).__name__}")
    return value


def _list(where: str, row: dict, name: str, *, required: bool = False) -> list:
    if name not in row and not required:
        return []
    value = row.get(name)
    if not isinstance(value, list):
        _fail(where, f"{name} must be a list, got {type(value).__name__}")
    return value


def _key(where: str, row: dict, name: str, known: dict | set, what: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value:
        _fail(where, f"{name} must be a {what} key, got {value!r}")
    if value not in known:
        _fail(where, f"{name} {value!r} is not a {what} key defined in the file")
    return value


def _validate_nodes(data: dict, plan: _Plan) -> dict[str, dict]:
    nodes_by_key: dict[str, dict] = {}
    paths: dict[str, str] = {}
    raw_nodes = _list("top level", data, "nodes", required=True)
    if not raw_nodes:
        _fail("top level", "nodes is empty")
    for index, raw in enumerate(raw_nodes):
        where = f"nodes[{index}]"
        _check_fields(where, raw, {"key", "name", "node_type"},
                      {"path", "parent", "confidence_score", "metadata", "attributes"})
        key = _text(where, raw, "key")
        where = f"nodes[{index}] ({key!r})"
        if key in nodes_by_key:
            _fail(where, f"key {key!r} is used by more than one node")
        node = {
            "key": key,
            "name": _text(where, raw, "name", max_length=Node._meta.get_field("name").max_length),
            "node_type": _text(where, raw, "node_type", max_length=Node._meta.get_field("node_type").max_length),
            "path": _text(where, raw, "path", required=False),
            "parent": raw.get("parent"),
            "confidence_score": _unit(where, raw, "confidence_score"),
            "metadata": _object(where, raw, "metadata"),
            "attributes": [],
        }
        path = node["path"]
        if path is not None:
            if not _PATH_RE.match(path):
                _fail(where, f"path {path!r} is not an ltree path of lowercase letters, digits and underscores "
                             "separated by dots")
            if any(len(label) > _MAX_LABEL_LENGTH for label in path.split(".")):
                _fail(where, f"path {path!r} has a label longer than {_MAX_LABEL_LENGTH} characters")
            if path in paths:
                _fail(where, f"path {path!r} is also used by node {paths[path]!r}")
            paths[path] = key
        for attr_index, raw_attr in enumerate(_list(where, raw, "attributes")):
            attr_where = f"{where}.attributes[{attr_index}]"
            _check_fields(attr_where, raw_attr, {"type", "key", "value"},
                          {"weight", "confidence", "source_reliability", "metadata"})
            value = raw_attr["value"]
            if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value) == "":
                _fail(attr_where, f"value must be a non-empty string or a number, got {value!r}")
            node["attributes"].append({
                "attribute_type": _text(attr_where, raw_attr, "type",
                                        max_length=NodeAttribute._meta.get_field("attribute_type").max_length),
                "attribute_key": _text(attr_where, raw_attr, "key",
                                       max_length=NodeAttribute._meta.get_field("attribute_key").max_length),
                "attribute_value": str(value),
                "weight": _unit(attr_where, raw_attr, "weight"),
                "confidence": _unit(attr_where, raw_attr, "confidence"),
                "source_reliability": _unit(attr_where, raw_attr, "source_reliability"),
                "metadata": _object(attr_where, raw_attr, "metadata"),
            })
        nodes_by_key[key] = node
        plan.nodes.append(node)

    for index, node in enumerate(plan.nodes):
        parent = node["parent"]
        if parent is not None:
            _key(f"nodes[{index}] ({node['key']!r})", node, "parent", nodes_by_key, "node")

    # Depth in the parent hierarchy: parents are inserted (and get their ids) before their children.
    for node in plan.nodes:
        chain: list[str] = []
        key = node["key"]
        while key is not None and key not in plan.depth:
            if key in chain:
                cycle = " -> ".join(chain[chain.index(key):] + [key])
                _fail(f"node {node['key']!r}", f"parent cycle {cycle}")
            chain.append(key)
            key = nodes_by_key[key]["parent"]
        depth = -1 if key is None else plan.depth[key]
        for key in reversed(chain):
            depth += 1
            plan.depth[key] = depth
    return nodes_by_key


def _validate_relationships(data: dict, plan: _Plan, nodes_by_key: dict) -> None:
    seen: set[tuple[str, str, str]] = set()
    max_type = Relationship._meta.get_field("relationship_type").max_length
    for index, raw in enumerate(_list("top level", data, "relationships")):
        where = f"relationships[{index}]"
        _check_fields(where, raw, {"source", "target", "type"},
                      {"strength", "confidence_score", "bidirectional", "metadata"})
        source = _key(where, raw, "source", nodes_by_key, "node")
        target = _key(where, raw, "target", nodes_by_key, "node")
        rel_type = _text(where, raw, "type", max_length=max_type)
        if source == target:
            _fail(where, f"relationship {rel_type!r} connects node {source!r} to itself")
        if (source, target, rel_type) in seen:
            _fail(where, f"duplicate relationship {source!r} -[{rel_type}]-> {target!r}")
        seen.add((source, target, rel_type))
        bidirectional = raw.get("bidirectional", False)
        if not isinstance(bidirectional, bool):
            _fail(where, f"bidirectional must be true or false, got {bidirectional!r}")
        plan.relationships.append({
            "source": source, "target": target, "relationship_type": rel_type,
            "strength": _unit(where, raw, "strength"),
            "confidence_score": _unit(where, raw, "confidence_score"),
            "bidirectional": bidirectional,
            "metadata": _object(where, raw, "metadata"),
        })


def _validate_resources(data: dict, plan: _Plan, nodes_by_key: dict) -> dict[str, dict]:
    resources_by_key: dict[str, dict] = {}
    urls: dict[str, str] = {}
    url_validator = URLValidator()
    max_resource_type = ExternalResource._meta.get_field("resource_type").max_length
    max_link_type = NodeResourceLink._meta.get_field("link_type").max_length
    for index, raw in enumerate(_list("top level", data, "resources")):
        where = f"resources[{index}]"
        _check_fields(where, raw, {"key", "url"},
                      {"title", "description", "resource_type", "metadata", "links"})
        key = _text(where, raw, "key")
        where = f"resources[{index}] ({key!r})"
        if key in resources_by_key:
            _fail(where, f"key {key!r} is used by more than one resource")
        url = _text(where, raw, "url", max_length=MAX_URL_LENGTH)
        try:
            url_validator(url)
        except ValidationError:
            _fail(where, f"url {url!r} is not a valid URL")
        if url in urls:
            _fail(where, f"url {url!r} is also used by resource {urls[url]!r}")
        urls[url] = key
        resource = {
            "key": key, "url": url,
            "title": _text(where, raw, "title", required=False),
            "description": _text(where, raw, "description", required=False),
            "resource_type": _text(where, raw, "resource_type", max_length=max_resource_type, required=False),
            "metadata": _object(where, raw, "metadata"),
            "links": [],
        }
        seen_links: set[tuple[str, str]] = set()
        for link_index, raw_link in enumerate(_list(where, raw, "links")):
            link_where = f"{where}.links[{link_index}]"
            _check_fields(link_where, raw_link, {"node"}, {"link_type", "confidence", "context"})
            node = _key(link_where, raw_link, "node", nodes_by_key, "node")
            link_type = _text(link_where, raw_link, "link_type", max_length=max_link_type, required=False)
            link_type = link_type or "reference"
            if (node, link_type) in seen_links:
                _fail(link_where, f"node {node!r} is linked to this resource twice as {link_type!r}")
            seen_links.add((node, link_type))
            resource["links"].append({
                "node": node, "link_type": link_type,
                "confidence": _unit(link_where, raw_link, "confidence"),
                "context": _text(link_where, raw_link, "context", required=False),
            })
        resources_by_key[key] = resource
        plan.resources.append(resource)
    return resources_by_key


def _validate_references(data: dict, plan: _Plan, nodes_by_key: dict, resources_by_key: dict) -> None:
    max_type = Reference._meta.get_field("reference_type").max_length
    for index, raw in enumerate(_list("top level", data, "references")):
        where = f"references[{index}]"
        _check_fields(where, raw, {"reference_type"}, {
            "source_node", "source_resource", "target_node", "target_resource",
            "page_number", "section", "quote", "context",
        })
        reference: dict[str, Any] = {"reference_type": _text(where, raw, "reference_type", max_length=max_type)}
        for end in ("source", "target"):
            node_field, resource_field = f"{end}_node", f"{end}_resource"
            if (node_field in raw) == (resource_field in raw):
                _fail(where, f"give exactly one of {node_field} and {resource_field}")
            if node_field in raw:
                reference[node_field] = _key(where, raw, node_field, nodes_by_key, "node")
            else:
                reference[resource_field] = _key(where, raw, resource_field, resources_by_key, "resource")
        page_number = raw.get("page_number")
        if page_number is not None and (isinstance(page_number, bool) or not isinstance(page_number, int)):
            _fail(where, f"page_number must be an integer, got {page_number!r}")
        reference.update(
            page_number=page_number,
            section=_text(where, raw, "section", required=False),
            quote=_text(where, raw, "quote", required=False),
            context=_object(where, raw, "context"),
        )
        plan.references.append(reference)


def demo_graph_validate(data: Any) -> _Plan:
    """Check a parsed demo-graph document; return the rows to insert or raise ``ValueError``."""
    _check_fields("top level", data, {"nodes"}, {"format", "description", "relationships", "resources", "references"})
    if data.get("format", SUPPORTED_FORMAT) != SUPPORTED_FORMAT:
        _fail("top level", f"format {data['format']!r} is not supported (expected {SUPPORTED_FORMAT})")
    plan = _Plan()
    nodes_by_key = _validate_nodes(data, plan)
    _validate_relationships(data, plan, nodes_by_key)
    resources_by_key = _validate_resources(data, plan, nodes_by_key)
    _validate_references(data, plan, nodes_by_key, resources_by_key)
    return plan


def _read(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"demo graph: cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"demo graph: {path} is not valid JSON: {exc}") from exc


# --- Loading ----------------------------------------------------------------------------------------------------

def _defaults(**values) -> dict:
    """Leave out values the file did not give, so the model (and database) defaults apply."""
    return {name: value for name, value in values.items() if value is not None}


def demo_graph_load(*, user=None, path: str | Path | None = None) -> dict[str, int]:
    """Load the demo graph (``path`` or the shipped file) in one transaction; ``user`` becomes ``created_by``.

    Idempotent: when nodes with ``source='demo'`` already exist nothing is written and every count is zero,
    with ``already_loaded`` true. Resources whose URL is already in the database are reused (and not counted).
    Returns how many rows were created per table (``COUNT_KEYS``) and the ``already_loaded`` flag.
    """
    plan = demo_graph_validate(_read(path or DEMO_GRAPH_PATH))
    counts: dict[str, int] = dict.fromkeys(COUNT_KEYS, 0)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_LOCK_NAME])
        if Node.objects.filter(source=DEMO_SOURCE).exists():
            return {**counts, "already_loaded": True}

        node_ids: dict[str, int] = {}
        for level in range(max(plan.depth.values()) + 1):
            batch = [node for node in plan.nodes if plan.depth[node["key"]] == level]
            created = Node.objects.bulk_create([
                Node(
                    name=node["name"], node_type=node["node_type"], path=node["path"],
                    parent_node_id=node_ids[node["parent"]] if node["parent"] else None,
                    metadata=node["metadata"], created_by=user, source=DEMO_SOURCE,
                    **_defaults(confidence_score=node["confidence_score"]),
                )
                for node in batch
            ])
            node_ids.update((node["key"], obj.pk) for node, obj in zip(batch, created))
        counts["nodes"] = len(node_ids)

        counts["attributes"] = len(NodeAttribute.objects.bulk_create([
            NodeAttribute(
                node_id=node_ids[node["key"]], attribute_type=attr["attribute_type"],
                attribute_key=attr["attribute_key"], attribute_value=attr["attribute_value"],
                metadata=attr["metadata"], created_by=user,
                **_defaults(weight=attr["weight"], confidence=attr["confidence"],
                            source_reliability=attr["source_reliability"]),
            )
            for node in plan.nodes for attr in node["attributes"]
        ]))

        counts["relationships"] = len(Relationship.objects.bulk_create([
            Relationship(
                source_node_id=node_ids[rel["source"]], target_node_id=node_ids[rel["target"]],
                relationship_type=rel["relationship_type"], bidirectional=rel["bidirectional"],
                metadata=rel["metadata"], created_by=user, source=DEMO_SOURCE,
                **_defaults(strength=rel["strength"], confidence_score=rel["confidence_score"]),
            )
            for rel in plan.relationships
        ]))

        existing = dict(
            ExternalResource.objects.filter(url__in=[r["url"] for r in plan.resources]).values_list("url", "pk")
        )
        new_resources = [r for r in plan.resources if r["url"] not in existing]
        created = ExternalResource.objects.bulk_create([
            ExternalResource(
                url=r["url"], title=r["title"], description=r["description"], resource_type=r["resource_type"],
                metadata=r["metadata"], created_by=user,
            )
            for r in new_resources
        ])
        counts["resources"] = len(created)
        resource_ids = {r["key"]: existing[r["url"]] for r in plan.resources if r["url"] in existing}
        resource_ids.update((r["key"], obj.pk) for r, obj in zip(new_resources, created))

        counts["resource_links"] = len(NodeResourceLink.objects.bulk_create([
            NodeResourceLink(
                node_id=node_ids[link["node"]], resource_id=resource_ids[resource["key"]],
                link_type=link["link_type"], context=link["context"], created_by=user,
                **_defaults(confidence=link["confidence"]),
            )
            for resource in plan.resources for link in resource["links"]
        ]))

        counts["references"] = len(Reference.objects.bulk_create([
            Reference(
                source_node_id=node_ids.get(ref.get("source_node")),
                source_resource_id=resource_ids.get(ref.get("source_resource")),
                target_node_id=node_ids.get(ref.get("target_node")),
                target_resource_id=resource_ids.get(ref.get("target_resource")),
                reference_type=ref["reference_type"], page_number=ref["page_number"], section=ref["section"],
                quote=ref["quote"], context=ref["context"], created_by=user,
            )
            for ref in plan.references
        ]))

    return {**counts, "already_loaded": False}
