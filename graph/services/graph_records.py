"""Graph records: the format-neutral middle of loading a graph from a file (the demo graph now, imports next).

A *reader*, one per file format (``graph/services/demo.py`` for the demo's nested JSON; JSON Lines and CSV next),
turns a file into a flat stream of ``Record``: a kind, the fields as the file gave them, and where the record is in
the file. Records refer to each other by keys local to the file (``"python"``). ``graph_records_validate`` checks
the records knowing nothing of the format and returns a ``RecordPlan`` of typed rows; ``graph_records_write``
writes a plan in one transaction, one bulk insert per table (per hierarchy level for nodes).

Kinds and their fields (``?``: optional; absent and ``null`` mean the same, so formats without a null, such as a
CSV's empty cell, behave alike)::

    node          key, name, node_type, path?, parent?, metadata?
    attribute     node, type, key, value, weight?, confidence?, source_reliability?, metadata?
    relationship  source, target, type, strength?, stated_confidence?, bidirectional?, metadata?
    resource      key, url, title?, description?, resource_type?, metadata?
    link          resource, node, link_type?, confidence?, context?
    reference     source_node | source_resource, target_node | target_resource, reference_type,
                  page_number?, section?, quote?, context?

``node``, ``parent``, ``source``, ``target``, ``source_node`` and ``target_node`` are node keys; ``resource``,
``source_resource`` and ``target_resource`` resource keys. An attribute's ``key`` is the attribute's name
(``first_appeared``), not a record key.

Checks (the first failure raises ``GraphError`` with code ``BAD_RECORD``, the message naming the record:
``relationships[3]: strength must be between 0 and 1, got '1.5'``): required and unknown fields; types;
numbers in 0..1 (``"0.9"`` or ``0.9``); lengths the columns allow; no NUL characters (PostgreSQL text cannot hold
them); ltree syntax; URLs; unique node keys, resource keys, paths and URLs; one relationship per
(source, target, type), none from a node to itself; one link per (resource, node, link_type); references with
exactly one source and one target; keys that name records of the file; no parent cycle.

Paths and parents follow the database's rule (``graph/sql/node_hierarchy.sql``), checked here so that a file is
refused before anything is written and with the record named:

* ``parent`` given: the node's path is the parent's path plus exactly one label (both nodes need a path);
* ``parent`` not given: it is derived from the path. A path of two or more labels hangs under the node of the file
  whose path is that path minus its last label (there must be one); a one-label path, or none, makes a root.

Writing refuses (``BAD_RECORD``) a node whose path another node of the database already has; a resource whose URL
is already in the database is reused rather than created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from graph.errors import BAD_RECORD, GraphError
from graph.models import ExternalResource, Node, NodeAttribute, NodeResourceLink, Reference, Relationship
from graph.models.resources import MAX_URL_LENGTH

KINDS = ("node", "attribute", "relationship", "resource", "link", "reference")
COUNT_KEYS = ("nodes", "attributes", "relationships", "resources", "resource_links", "references")

# ltree labels as this project writes them: lowercase letters, digits and underscores.
_PATH_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
_MAX_LABEL_LENGTH = 255
_INT_RANGE = (-(2**31), 2**31 - 1)  # PostgreSQL integer


def _max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


@dataclass(frozen=True)
class Record:
    """One record as a reader found it: ``fields`` are the file's values, unchecked; ``where`` locates the record
    in the file for messages (``nodes[3]``, ``line 12``)."""

    kind: str
    fields: Any
    where: str


# --- The plan: typed rows, keyed by file keys ----------------------------------------------------------------------

@dataclass
class NodeRow:
    where: str
    key: str
    name: str
    node_type: str
    path: str | None
    parent: str | None  # a node key, given or derived from the path
    metadata: dict


@dataclass
class AttributeRow:
    node: str
    attribute_type: str
    attribute_key: str
    attribute_value: str
    weight: Decimal | None
    confidence: Decimal | None
    source_reliability: Decimal | None
    metadata: dict


@dataclass
class RelationshipRow:
    source: str
    target: str
    relationship_type: str
    strength: Decimal | None
    stated_confidence: Decimal | None
    bidirectional: bool
    metadata: dict


@dataclass
class ResourceRow:
    key: str
    url: str
    title: str | None
    description: str | None
    resource_type: str | None
    metadata: dict


@dataclass
class LinkRow:
    resource: str
    node: str
    link_type: str
    confidence: Decimal | None
    context: str | None


@dataclass
class ReferenceRow:
    reference_type: str
    source_node: str | None = None
    source_resource: str | None = None
    target_node: str | None = None
    target_resource: str | None = None
    page_number: int | None = None
    section: str | None = None
    quote: str | None = None
    context: dict = field(default_factory=dict)


@dataclass
class RecordPlan:
    """Validated rows. ``nodes`` come parents first; ``depth`` is each node key's depth in the parent hierarchy."""

    nodes: list[NodeRow] = field(default_factory=list)
    depth: dict[str, int] = field(default_factory=dict)
    attributes: list[AttributeRow] = field(default_factory=list)
    relationships: list[RelationshipRow] = field(default_factory=list)
    resources: list[ResourceRow] = field(default_factory=list)
    links: list[LinkRow] = field(default_factory=list)
    references: list[ReferenceRow] = field(default_factory=list)


# --- Field checks ------------------------------------------------------------------------------------------------

def _fail(where: str, problem: str) -> NoReturn:
    raise GraphError(f"{where}: {problem}", code=BAD_RECORD, record=where)


def _check_fields(record: Record, required: set[str], optional: set[str]) -> dict:
    fields = record.fields
    if not isinstance(fields, dict):
        _fail(record.where, f"expected an object, got {type(fields).__name__}")
    missing = sorted(name for name in required if fields.get(name) is None)
    if missing:
        _fail(record.where, f"missing field(s) {', '.join(missing)}")
    unknown = sorted(fields.keys() - required - optional)
    if unknown:
        _fail(record.where, f"unknown field(s) {', '.join(map(str, unknown))}")
    return fields


def _text(where: str, row: dict, name: str, *, max_length: int | None = None, required: bool = True) -> str | None:
    value = row.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        _fail(where, f"{name} must be a non-empty string, got {value!r}")
    if max_length is not None and len(value) > max_length:
        _fail(where, f"{name} is {len(value)} characters long; at most {max_length} are allowed")
    if "\x00" in value:
        _fail(where, f"{name} contains a NUL character")
    return value


def _unit(where: str, row: dict, name: str) -> Decimal | None:
    value = row.get(name)
    if value is None:
        return None
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
    value = row.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(where, f"{name} must be an object, got {type(value).__name__}")
    if "\\u0000" in json.dumps(value):
        _fail(where, f"{name} contains a NUL character")
    return value


def _key(where: str, row: dict, name: str, known: dict, what: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value:
        _fail(where, f"{name} must be a {what} key, got {value!r}")
    if value not in known:
        _fail(where, f"{name} {value!r} is not a {what} key defined in the file")
    return value


# --- Validation --------------------------------------------------------------------------------------------------

def _validate_node(record: Record, nodes: dict[str, NodeRow], paths: dict[str, str]) -> NodeRow:
    if isinstance(record.fields, dict) and "confidence_score" in record.fields:
        _fail(record.where, "confidence_score is not given for a node: the database works it out from the node's "
                            "attributes (docs/confidence.md)")
    raw = _check_fields(record, {"key", "name", "node_type"}, {"path", "parent", "metadata"})
    key = _text(record.where, raw, "key")
    where = f"{record.where} ({key!r})"
    if key in nodes:
        _fail(where, f"key {key!r} is used by more than one node")
    path = _text(where, raw, "path", required=False)
    if path is not None:
        if not _PATH_RE.match(path):
            _fail(where, f"path {path!r} is not an ltree path of lowercase letters, digits and underscores "
                         "separated by dots")
        if any(len(label) > _MAX_LABEL_LENGTH for label in path.split(".")):
            _fail(where, f"path {path!r} has a label longer than {_MAX_LABEL_LENGTH} characters")
        if path in paths:
            _fail(where, f"path {path!r} is also used by node {paths[path]!r}")
        paths[path] = key
    parent = raw.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent):
        _fail(where, f"parent must be a node key, got {parent!r}")
    return NodeRow(
        where=where, key=key,
        name=_text(where, raw, "name", max_length=_max_length(Node, "name")),
        node_type=_text(where, raw, "node_type", max_length=_max_length(Node, "node_type")),
        path=path, parent=parent,
        metadata=_object(where, raw, "metadata"),
    )


def _place_nodes(plan: RecordPlan, nodes: dict[str, NodeRow], paths: dict[str, str]) -> None:
    """Resolves or derives each node's parent, refuses cycles, checks the path rule, orders parents first."""
    for node in nodes.values():
        if node.parent is not None:
            if node.parent not in nodes:
                _fail(node.where, f"parent {node.parent!r} is not a node key defined in the file")
        elif node.path is not None and "." in node.path:
            parent_path = node.path.rsplit(".", 1)[0]
            if parent_path not in paths:
                _fail(node.where, f"path {node.path!r} needs a parent: no node has the path {parent_path!r} (add "
                                  "that node, or give this one a one-label path)")
            node.parent = paths[parent_path]

    for node in nodes.values():  # depth in the parent hierarchy: parents are inserted before their children
        chain: list[str] = []
        key: str | None = node.key
        while key is not None and key not in plan.depth:
            if key in chain:
                cycle = " -> ".join(chain[chain.index(key):] + [key])
                _fail(node.where, f"parent cycle {cycle}")
            chain.append(key)
            key = nodes[key].parent
        depth = -1 if key is None else plan.depth[key]
        for key in reversed(chain):
            depth += 1
            plan.depth[key] = depth

    for node in nodes.values():
        if node.parent is None:
            continue
        parent = nodes[node.parent]
        if parent.path is None:
            _fail(node.where, f"parent {parent.key!r} has no path; a node with children needs one")
        if node.path is None:
            _fail(node.where, f"a node with a parent needs a path: the parent's path {parent.path!r} plus one label")
        if "." not in node.path or node.path.rsplit(".", 1)[0] != parent.path:
            _fail(node.where, f"path {node.path!r} must be the parent's path {parent.path!r} plus one label "
                              f"(parent {parent.key!r})")
    plan.nodes = sorted(nodes.values(), key=lambda node: plan.depth[node.key])


def _validate_attribute(record: Record, nodes: dict[str, NodeRow]) -> AttributeRow:
    raw = _check_fields(record, {"node", "type", "key", "value"},
                        {"weight", "confidence", "source_reliability", "metadata"})
    where = record.where
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value) == "":
        _fail(where, f"value must be a non-empty string or a number, got {value!r}")
    if "\x00" in str(value):
        _fail(where, "value contains a NUL character")
    return AttributeRow(
        node=_key(where, raw, "node", nodes, "node"),
        attribute_type=_text(where, raw, "type", max_length=_max_length(NodeAttribute, "attribute_type")),
        attribute_key=_text(where, raw, "key", max_length=_max_length(NodeAttribute, "attribute_key")),
        attribute_value=str(value),
        weight=_unit(where, raw, "weight"),
        confidence=_unit(where, raw, "confidence"),
        source_reliability=_unit(where, raw, "source_reliability"),
        metadata=_object(where, raw, "metadata"),
    )


def _validate_relationship(record: Record, nodes: dict[str, NodeRow], seen: set) -> RelationshipRow:
    raw = _check_fields(record, {"source", "target", "type"},
                        {"strength", "stated_confidence", "bidirectional", "metadata"})
    where = record.where
    source = _key(where, raw, "source", nodes, "node")
    target = _key(where, raw, "target", nodes, "node")
    rel_type = _text(where, raw, "type", max_length=_max_length(Relationship, "relationship_type"))
    if source == target:
        _fail(where, f"relationship {rel_type!r} connects node {source!r} to itself")
    if (source, target, rel_type) in seen:
        _fail(where, f"duplicate relationship {source!r} -[{rel_type}]-> {target!r}")
    seen.add((source, target, rel_type))
    bidirectional = raw.get("bidirectional")
    if bidirectional is None:
        bidirectional = False
    if not isinstance(bidirectional, bool):
        _fail(where, f"bidirectional must be true or false, got {bidirectional!r}")
    return RelationshipRow(
        source=source, target=target, relationship_type=rel_type,
        strength=_unit(where, raw, "strength"),
        stated_confidence=_unit(where, raw, "stated_confidence"),
        bidirectional=bidirectional,
        metadata=_object(where, raw, "metadata"),
    )


def _validate_resource(record: Record, resources: dict[str, ResourceRow], urls: dict[str, str],
                       url_validator: URLValidator) -> ResourceRow:
    raw = _check_fields(record, {"key", "url"}, {"title", "description", "resource_type", "metadata"})
    key = _text(record.where, raw, "key")
    where = f"{record.where} ({key!r})"
    if key in resources:
        _fail(where, f"key {key!r} is used by more than one resource")
    url = _text(where, raw, "url", max_length=MAX_URL_LENGTH)
    try:
        url_validator(url)
    except ValidationError:
        _fail(where, f"url {url!r} is not a valid URL")
    if url in urls:
        _fail(where, f"url {url!r} is also used by resource {urls[url]!r}")
    urls[url] = key
    return ResourceRow(
        key=key, url=url,
        title=_text(where, raw, "title", required=False),
        description=_text(where, raw, "description", required=False),
        resource_type=_text(where, raw, "resource_type", max_length=_max_length(ExternalResource, "resource_type"),
                            required=False),
        metadata=_object(where, raw, "metadata"),
    )


def _validate_link(record: Record, nodes: dict, resources: dict, seen: set) -> LinkRow:
    raw = _check_fields(record, {"resource", "node"}, {"link_type", "confidence", "context"})
    where = record.where
    resource = _key(where, raw, "resource", resources, "resource")
    node = _key(where, raw, "node", nodes, "node")
    link_type = _text(where, raw, "link_type", max_length=_max_length(NodeResourceLink, "link_type"),
                      required=False) or "reference"
    if (resource, node, link_type) in seen:
        _fail(where, f"node {node!r} is linked to resource {resource!r} twice as {link_type!r}")
    seen.add((resource, node, link_type))
    return LinkRow(resource=resource, node=node, link_type=link_type, confidence=_unit(where, raw, "confidence"),
                   context=_text(where, raw, "context", required=False))


def _validate_reference(record: Record, nodes: dict, resources: dict) -> ReferenceRow:
    ends = {"source_node", "source_resource", "target_node", "target_resource"}
    raw = _check_fields(record, {"reference_type"}, ends | {"page_number", "section", "quote", "context"})
    where = record.where
    reference = ReferenceRow(
        reference_type=_text(where, raw, "reference_type", max_length=_max_length(Reference, "reference_type")))
    for end in ("source", "target"):
        node_field, resource_field = f"{end}_node", f"{end}_resource"
        if (raw.get(node_field) is None) == (raw.get(resource_field) is None):
            _fail(where, f"give exactly one of {node_field} and {resource_field}")
        if raw.get(node_field) is not None:
            setattr(reference, node_field, _key(where, raw, node_field, nodes, "node"))
        else:
            setattr(reference, resource_field, _key(where, raw, resource_field, resources, "resource"))
    page_number = raw.get("page_number")
    if page_number is not None and (isinstance(page_number, bool) or not isinstance(page_number, int)):
        _fail(where, f"page_number must be an integer, got {page_number!r}")
    if page_number is not None and not _INT_RANGE[0] <= page_number <= _INT_RANGE[1]:
        _fail(where, f"page_number {page_number} is out of range")
    reference.page_number = page_number
    reference.section = _text(where, raw, "section", required=False)
    reference.quote = _text(where, raw, "quote", required=False)
    reference.context = _object(where, raw, "context")
    return reference


def graph_records_validate(*, records: Iterable[Record]) -> RecordPlan:
    """Checks ``records`` (see the module docstring) and returns the rows to write; ``GraphError`` (``BAD_RECORD``)
    names the first record that fails. Nodes are checked first, then the other kinds in ``KINDS`` order."""
    by_kind: dict[str, list[Record]] = {kind: [] for kind in KINDS}
    for record in records:
        if record.kind not in by_kind:
            _fail(record.where, f"unknown kind {record.kind!r}; expected one of {', '.join(KINDS)}")
        by_kind[record.kind].append(record)

    plan = RecordPlan()
    nodes: dict[str, NodeRow] = {}
    paths: dict[str, str] = {}
    for record in by_kind["node"]:
        node = _validate_node(record, nodes, paths)
        nodes[node.key] = node
    _place_nodes(plan, nodes, paths)
    plan.attributes = [_validate_attribute(record, nodes) for record in by_kind["attribute"]]
    seen_relationships: set[tuple[str, str, str]] = set()
    plan.relationships = [_validate_relationship(record, nodes, seen_relationships)
                          for record in by_kind["relationship"]]
    resources: dict[str, ResourceRow] = {}
    urls: dict[str, str] = {}
    url_validator = URLValidator()
    for record in by_kind["resource"]:
        resource = _validate_resource(record, resources, urls, url_validator)
        resources[resource.key] = resource
    plan.resources = list(resources.values())
    seen_links: set[tuple[str, str, str]] = set()
    plan.links = [_validate_link(record, nodes, resources, seen_links) for record in by_kind["link"]]
    plan.references = [_validate_reference(record, nodes, resources) for record in by_kind["reference"]]
    return plan


# --- Writing -----------------------------------------------------------------------------------------------------

def _defaults(**values) -> dict:
    """Leave out values the file did not give, so the model (and database) defaults apply."""
    return {name: value for name, value in values.items() if value is not None}


def _refuse_taken_paths(plan: RecordPlan) -> None:
    by_path = {node.path: node for node in plan.nodes if node.path is not None}
    taken = Node.objects.filter(path__in=list(by_path)).values_list("path", "node_id").first()
    if taken is not None:
        path, node_id = str(taken[0]), taken[1]
        _fail(by_path[path].where, f"path {path!r} is already used by node {node_id} of the database")


def graph_records_write(*, plan: RecordPlan, source: str, user=None) -> dict[str, int]:
    """Writes ``plan`` in one transaction: nodes and relationships with ``source``, every row with ``created_by``
    ``user``. Returns how many rows were created per table (``COUNT_KEYS``); reused resources are not counted.
    """
    counts: dict[str, int] = dict.fromkeys(COUNT_KEYS, 0)
    with transaction.atomic():
        _refuse_taken_paths(plan)
        node_ids: dict[str, int] = {}
        levels: dict[int, list[NodeRow]] = {}
        for node in plan.nodes:
            levels.setdefault(plan.depth[node.key], []).append(node)
        for level in sorted(levels):  # a level at a time: children need their parents' ids
            batch = levels[level]
            created = Node.objects.bulk_create([
                Node(
                    name=node.name, node_type=node.node_type, path=node.path,
                    parent_node_id=node_ids[node.parent] if node.parent else None,
                    metadata=node.metadata, created_by=user, source=source,
                )
                for node in batch
            ])
            node_ids.update((node.key, obj.pk) for node, obj in zip(batch, created))
        counts["nodes"] = len(node_ids)

        counts["attributes"] = len(NodeAttribute.objects.bulk_create([
            NodeAttribute(
                node_id=node_ids[attr.node], attribute_type=attr.attribute_type, attribute_key=attr.attribute_key,
                attribute_value=attr.attribute_value, metadata=attr.metadata, created_by=user,
                **_defaults(weight=attr.weight, confidence=attr.confidence,
                            source_reliability=attr.source_reliability),
            )
            for attr in plan.attributes
        ]))

        counts["relationships"] = len(Relationship.objects.bulk_create([
            Relationship(
                source_node_id=node_ids[rel.source], target_node_id=node_ids[rel.target],
                relationship_type=rel.relationship_type, bidirectional=rel.bidirectional,
                metadata=rel.metadata, created_by=user, source=source,
                **_defaults(strength=rel.strength, stated_confidence=rel.stated_confidence),
            )
            for rel in plan.relationships
        ]))

        existing = dict(
            ExternalResource.objects.filter(url__in=[r.url for r in plan.resources]).values_list("url", "pk")
        )
        new_resources = [r for r in plan.resources if r.url not in existing]
        created = ExternalResource.objects.bulk_create([
            ExternalResource(
                url=r.url, title=r.title, description=r.description, resource_type=r.resource_type,
                metadata=r.metadata, created_by=user,
            )
            for r in new_resources
        ])
        counts["resources"] = len(created)
        resource_ids = {r.key: existing[r.url] for r in plan.resources if r.url in existing}
        resource_ids.update((r.key, obj.pk) for r, obj in zip(new_resources, created))

        counts["resource_links"] = len(NodeResourceLink.objects.bulk_create([
            NodeResourceLink(
                node_id=node_ids[link.node], resource_id=resource_ids[link.resource], link_type=link.link_type,
                context=link.context, created_by=user, **_defaults(confidence=link.confidence),
            )
            for link in plan.links
        ]))

        counts["references"] = len(Reference.objects.bulk_create([
            Reference(
                source_node_id=node_ids.get(ref.source_node), source_resource_id=resource_ids.get(ref.source_resource),
                target_node_id=node_ids.get(ref.target_node), target_resource_id=resource_ids.get(ref.target_resource),
                reference_type=ref.reference_type, page_number=ref.page_number, section=ref.section,
                quote=ref.quote, context=ref.context, created_by=user,
            )
            for ref in plan.references
        ]))
    return counts
