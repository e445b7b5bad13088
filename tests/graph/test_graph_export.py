"""Issue 12: the subgraph downloads (graph/presentation/graph_export.py): JSON, and GraphML as networkx reads it."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import networkx
import pytest

from graph.presentation.graph_export import subgraph_graphml, subgraph_json, xml_safe_text
from graph.selectors.subgraph import Subgraph, SubgraphEdge, SubgraphNode

GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"
HOSTILE = '<b>"Gödel" & \'Escher\'</b> 🙂 ]]> --> <!-- '


def node(node_id: int, name: str, *, node_type: str = "person", path: str | None = "science.logic",
         confidence: str = "0.85", depth: int = 1, hidden_edges: int = 0) -> SubgraphNode:
    return SubgraphNode(node_id=node_id, name=name, node_type=node_type, path=path, confidence=Decimal(confidence),
                        depth=depth, hidden_edges=hidden_edges)


def edge(relationship_id: int, source_id: int, target_id: int, relationship_type: str = "influenced", *,
         strength: str = "0.80", confidence: str = "0.90", inferred: bool = False,
         bidirectional: bool = False) -> SubgraphEdge:
    return SubgraphEdge(relationship_id=relationship_id, source_id=source_id, target_id=target_id,
                        relationship_type=relationship_type, strength=Decimal(strength),
                        confidence=Decimal(confidence), auto_managed=inferred, bidirectional=bidirectional)


def logicians() -> Subgraph:
    return Subgraph(
        centre_id=1,
        nodes=[
            node(1, "Kurt Gödel", depth=0, confidence="1.00"),
            node(2, HOSTILE, node_type="book", path=None, hidden_edges=4),
            node(3, "Alonzo Church", confidence="0.50", depth=2),
        ],
        edges=[
            edge(10, 1, 2, "inspired", inferred=True),
            edge(11, 3, 1, "corresponded_with", strength="0.5", bidirectional=True),
            edge(12, 1, 3, "influenced", strength="1", confidence="0.333"),  # parallel to 11, the other way
        ],
        left_out=7,
        left_out_capped=True,
        parameters={"depth": 2, "direction": "both", "types": ("inspired", "influenced"),
                    "min_confidence": Decimal("0.5"), "limit": 100},
    )


def read(graphml: str) -> networkx.MultiDiGraph:
    return networkx.read_graphml(io.BytesIO(graphml.encode("utf-8")), force_multigraph=True)


# --- GraphML ----------------------------------------------------------------------------------------------------


def test_graphml_is_what_networkx_reads_back():
    subgraph = logicians()
    graph = read(subgraph_graphml(subgraph))

    assert graph.is_directed()
    assert set(graph.nodes) == {"n1", "n2", "n3"}
    for item in subgraph.nodes:
        data = graph.nodes[f"n{item.node_id}"]
        expected = {"label": item.name, "node_id": item.node_id, "node_type": item.node_type,
                    "confidence": float(item.confidence), "depth": item.depth, "hidden_edges": item.hidden_edges}
        if item.path is not None:
            expected["path"] = item.path
        assert data == expected
        assert [type(data[key]) for key in ("label", "node_id", "confidence")] == [str, int, float]

    edges = {key: (source, target, data) for source, target, key, data in graph.edges(keys=True, data=True)}
    assert set(edges) == {"e10", "e11", "e12"}
    for item in subgraph.edges:
        source, target, data = edges[f"e{item.relationship_id}"]
        assert (source, target) == (f"n{item.source_id}", f"n{item.target_id}")
        assert {key: value for key, value in data.items() if key != "id"} == {
            "relationship_id": item.relationship_id, "relationship_type": item.relationship_type,
            "strength": float(item.strength), "confidence": float(item.confidence),
            "weighted_strength": item.weighted_strength, "inferred": item.auto_managed,
            "bidirectional": item.bidirectional, "label": item.relationship_type, "weight": item.weighted_strength,
        }
        assert type(data["inferred"]) is bool and type(data["bidirectional"]) is bool

    assert graph.graph["centre"] == 1 and graph.graph["left_out"] == 7 and graph.graph["left_out_capped"] is True
    assert json.loads(graph.graph["parameters"]) == {"depth": 2, "direction": "both", "limit": 100,
                                                     "min_confidence": 0.5, "types": ["inspired", "influenced"]}


def test_graphml_declares_a_typed_key_for_every_attribute():
    root = ET.fromstring(subgraph_graphml(logicians()))

    assert root.tag == f"{GRAPHML}graphml"
    keys = {key.get("id"): key for key in root.findall(f"{GRAPHML}key")}
    assert {key.get("attr.type") for key in keys.values()} == {"string", "double", "int", "boolean"}
    graph = root.find(f"{GRAPHML}graph")
    assert graph.get("edgedefault") == "directed"
    for element in graph.iter():
        for data in element.findall(f"{GRAPHML}data"):
            domain = element.tag.removeprefix(GRAPHML)
            assert keys[data.get("key")].get("for") == domain
    # The node's name under the key Gephi and Cytoscape take for the label.
    assert keys["label"].get("attr.name") == "label" and keys["label"].get("for") == "node"
    assert [element.get("id") for element in graph.findall(f"{GRAPHML}node")] == ["n1", "n2", "n3"]
    assert [element.get("id") for element in graph.findall(f"{GRAPHML}edge")] == ["e10", "e11", "e12"]


def test_graphml_starts_with_an_xml_declaration():
    assert subgraph_graphml(logicians()).startswith('<?xml version="1.0" encoding="UTF-8"?>\n<graphml ')


@pytest.mark.parametrize("name", [HOSTILE, "Gödel", "🙂 emoji", "日本語", "a\tb\nc", "&amp; is not &", "]]>"])
def test_names_round_trip(name):
    subgraph = Subgraph(centre_id=1, nodes=[node(1, name, node_type=name, path=None)],
                        edges=[edge(1, 1, 1, name)])
    graph = read(subgraph_graphml(subgraph))
    assert graph.nodes["n1"]["label"] == name and graph.nodes["n1"]["node_type"] == name
    assert next(iter(graph.edges(data=True)))[2]["relationship_type"] == name


def test_control_characters_do_not_break_the_file():
    bad = "Kurt\x00 G\x07ö\x1bdel\x0b\x0c\ufffe\uffff"
    subgraph = Subgraph(centre_id=1, nodes=[node(1, bad, node_type="type\x01", path="science\x02")])
    graphml = subgraph_graphml(subgraph)

    ET.fromstring(graphml)  # well-formed
    data = read(graphml).nodes["n1"]
    assert data["label"] == "Kurt\ufffd G\ufffdö\ufffddel\ufffd\ufffd\ufffd\ufffd"
    assert data["node_type"] == "type\ufffd" and data["path"] == "science\ufffd"


def test_xml_safe_text_keeps_what_xml_allows():
    allowed = "tab\t newline\n return\r Gödel 🙂 \ud7ff\ue000\ufffd"
    assert xml_safe_text(allowed) == allowed
    assert xml_safe_text("\x00\x08\x0b\x0c\x0e\x1f\ud800\udfff") == "\ufffd" * 8


def test_an_empty_subgraph_is_an_empty_graph():
    graph = read(subgraph_graphml(Subgraph(centre_id=None)))
    assert graph.number_of_nodes() == 0 and "centre" not in graph.graph


# --- JSON -------------------------------------------------------------------------------------------------------


def test_json_matches_the_subgraph_with_numbers_as_numbers():
    subgraph = logicians()
    data = json.loads(json.dumps(subgraph_json(subgraph)))

    assert data["centre"] == 1 and data["left_out"] == 7 and data["left_out_capped"] is True
    assert data["parameters"] == {"depth": 2, "direction": "both", "types": ["inspired", "influenced"],
                                  "min_confidence": 0.5, "limit": 100}
    assert data["nodes"] == [
        {"id": 1, "name": "Kurt Gödel", "node_type": "person", "path": "science.logic", "confidence": 1.0,
         "depth": 0, "hidden_edges": 0},
        {"id": 2, "name": HOSTILE, "node_type": "book", "path": None, "confidence": 0.85, "depth": 1,
         "hidden_edges": 4},
        {"id": 3, "name": "Alonzo Church", "node_type": "person", "path": "science.logic", "confidence": 0.5,
         "depth": 2, "hidden_edges": 0},
    ]
    assert data["edges"][0] == {"id": 10, "source": 1, "target": 2, "relationship_type": "inspired",
                                "strength": 0.8, "confidence": 0.9, "weighted_strength": pytest.approx(0.72),
                                "inferred": True, "bidirectional": False}
    assert [item["id"] for item in data["edges"]] == [10, 11, 12]
    assert data["edges"][1]["bidirectional"] is True
    for item in data["nodes"] + data["edges"]:
        assert all(isinstance(item[key], int | float) and not isinstance(item[key], bool)
                   for key in ("id", "confidence"))


def test_json_with_node_urls():
    data = subgraph_json(logicians(), node_url=lambda item: f"/nodes/{item.node_id}/")
    assert [item["url"] for item in data["nodes"]] == ["/nodes/1/", "/nodes/2/", "/nodes/3/"]
    assert "url" not in subgraph_json(logicians())["nodes"][0]


def test_json_of_a_paths_subgraph_has_no_centre():
    data = subgraph_json(Subgraph(centre_id=None, nodes=[node(5, "Alone", depth=0)]))
    assert data["centre"] is None and data["edges"] == [] and data["parameters"] == {}
    json.dumps(data)
