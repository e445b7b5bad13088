"""A subgraph as a download: JSON (for scripts) and GraphML 1.0 (for Gephi, Cytoscape, networkx, yEd).

Both read the same ``Subgraph`` the picture draws, so a download holds exactly the nodes and relationships on the
page. Numbers are numbers (``Decimal`` columns become floats), booleans are booleans.

GraphML keeps to what every reader understands: plain ``<data>`` elements with a ``<key>`` per attribute and an
``attr.type`` of string, double, int or boolean; no yFiles or Gephi extensions. Node ids are ``n<node_id>`` and
edge ids ``e<relationship_id>`` (XML ids may not start with a digit); the database ids are also attributes
(``node_id``, ``relationship_id``) so they survive readers that renumber. The node's name is the ``label``
attribute, which Gephi and Cytoscape show as the label; an edge's ``label`` is its relationship type and its
``weight`` its weighted strength (confidence × strength), which Gephi's layouts use. A relationship stored once
with ``bidirectional`` true stays one directed edge with ``bidirectional`` true, as in the database.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal

from graph.selectors.subgraph import Subgraph, SubgraphNode

GRAPHML_NAMESPACE = "http://graphml.graphdrawing.org/xmlns"
GRAPHML_SCHEMA = "http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"

# Characters XML 1.0 does not allow anywhere in a document, not even escaped: C0 controls other than tab, newline
# and carriage return, lone surrogates, U+FFFE and U+FFFF.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# (key id, for, attr.name, attr.type): the order of the <key> declarations and of each element's <data>.
NODE_KEYS = (
    ("label", "node", "label", "string"),
    ("node_id", "node", "node_id", "int"),
    ("node_type", "node", "node_type", "string"),
    ("path", "node", "path", "string"),
    ("node_confidence", "node", "confidence", "double"),
    ("depth", "node", "depth", "int"),
    ("hidden_edges", "node", "hidden_edges", "int"),
)
EDGE_KEYS = (
    ("edge_label", "edge", "label", "string"),  # the relationship type again, as Gephi's and Cytoscape's edge label
    ("weight", "edge", "weight", "double"),  # weighted_strength again, as the edge weight Gephi's layouts use
    ("relationship_id", "edge", "relationship_id", "int"),
    ("relationship_type", "edge", "relationship_type", "string"),
    ("strength", "edge", "strength", "double"),
    ("edge_confidence", "edge", "confidence", "double"),
    ("weighted_strength", "edge", "weighted_strength", "double"),
    ("inferred", "edge", "inferred", "boolean"),
    ("bidirectional", "edge", "bidirectional", "boolean"),
)
GRAPH_KEYS = (
    ("centre", "graph", "centre", "int"),
    ("left_out", "graph", "left_out", "int"),
    ("left_out_capped", "graph", "left_out_capped", "boolean"),
    ("parameters", "graph", "parameters", "string"),  # the query, as JSON text
)


def xml_safe_text(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids replaced by U+FFFD (escaping is the serialiser's job)."""
    return _XML_FORBIDDEN.sub("\ufffd", text)


def subgraph_json(subgraph: Subgraph, *, node_url: Callable[[SubgraphNode], str] | None = None) -> dict:
    """The subgraph as plain JSON-ready data; with ``node_url``, each node also carries its page's address."""
    nodes = []
    for node in subgraph.nodes:
        row = {
            "id": node.node_id,
            "name": node.name,
            "node_type": node.node_type,
            "path": node.path,
            "confidence": float(node.confidence),
            "depth": node.depth,
            "hidden_edges": node.hidden_edges,
        }
        if node_url is not None:
            row["url"] = node_url(node)
        nodes.append(row)
    edges = [
        {
            "id": edge.relationship_id,
            "source": edge.source_id,
            "target": edge.target_id,
            "relationship_type": edge.relationship_type,
            "strength": float(edge.strength),
            "confidence": float(edge.confidence),
            "weighted_strength": edge.weighted_strength,
            "inferred": edge.auto_managed,
            "bidirectional": edge.bidirectional,
        }
        for edge in subgraph.edges
    ]
    return {
        "centre": subgraph.centre_id,
        "parameters": _json_ready(subgraph.parameters),
        "left_out": subgraph.left_out,
        "left_out_capped": subgraph.left_out_capped,
        "nodes": nodes,
        "edges": edges,
    }


def subgraph_graphml(subgraph: Subgraph) -> str:
    """The subgraph as a GraphML 1.0 document (UTF-8 once encoded; the declaration says so)."""
    ET.register_namespace("", GRAPHML_NAMESPACE)
    ET.register_namespace("xsi", XSI_NAMESPACE)
    root = ET.Element(_tag("graphml"), {f"{{{XSI_NAMESPACE}}}schemaLocation": f"{GRAPHML_NAMESPACE} {GRAPHML_SCHEMA}"})
    for key_id, domain, name, kind in GRAPH_KEYS + NODE_KEYS + EDGE_KEYS:
        ET.SubElement(root, _tag("key"), {"id": key_id, "for": domain, "attr.name": name, "attr.type": kind})
    graph = ET.SubElement(root, _tag("graph"), {"id": "G", "edgedefault": "directed"})
    _data(graph, "centre", subgraph.centre_id)
    _data(graph, "left_out", subgraph.left_out)
    _data(graph, "left_out_capped", subgraph.left_out_capped)
    _data(graph, "parameters", json.dumps(_json_ready(subgraph.parameters), ensure_ascii=False, sort_keys=True))

    for node in subgraph.nodes:
        element = ET.SubElement(graph, _tag("node"), {"id": f"n{node.node_id}"})
        _data(element, "label", node.name)
        _data(element, "node_id", node.node_id)
        _data(element, "node_type", node.node_type)
        _data(element, "path", node.path)
        _data(element, "node_confidence", node.confidence)
        _data(element, "depth", node.depth)
        _data(element, "hidden_edges", node.hidden_edges)
    for edge in subgraph.edges:
        element = ET.SubElement(graph, _tag("edge"), {
            "id": f"e{edge.relationship_id}", "source": f"n{edge.source_id}", "target": f"n{edge.target_id}",
        })
        _data(element, "edge_label", edge.relationship_type)
        _data(element, "weight", edge.weighted_strength)
        _data(element, "relationship_id", edge.relationship_id)
        _data(element, "relationship_type", edge.relationship_type)
        _data(element, "strength", edge.strength)
        _data(element, "edge_confidence", edge.confidence)
        _data(element, "weighted_strength", edge.weighted_strength)
        _data(element, "inferred", edge.auto_managed)
        _data(element, "bidirectional", edge.bidirectional)

    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _tag(name: str) -> str:
    return f"{{{GRAPHML_NAMESPACE}}}{name}"


def _data(parent: ET.Element, key: str, value) -> None:
    """A ``<data>`` element, or none for a missing value (GraphML's way of saying null)."""
    if value is None:
        return
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Decimal | float):
        text = repr(float(value))
    else:
        text = xml_safe_text(str(value))
    ET.SubElement(parent, _tag("data"), {"key": key}).text = text


def _json_ready(value):
    """The query's parameters with Decimals as floats and tuples as lists, anything else unknown as text."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_json_ready(item) for item in items]
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
