"""Issue 12: the neighbourhood picture (graph/presentation/graph_svg.py), from hand-built subgraphs (no database)."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from graph.presentation.graph_svg import (
    OTHER_COLOUR,
    PALETTE,
    LegendEntry,
    node_type_colours,
    subgraph_layout,
    subgraph_legend,
    subgraph_svg,
)
from graph.selectors.subgraph import Subgraph, SubgraphEdge, SubgraphNode

SVG = "{http://www.w3.org/2000/svg}"
GRAPH_CSS = Path(__file__).resolve().parents[2] / "kgsite" / "static" / "kgsite" / "graph.css"
HOSTILE = '<script>alert(1)</script> "quoted" & \'single\' Gödel 🙂'


def node(node_id: int, name: str | None = None, *, node_type: str = "language", depth: int = 1,
         hidden_edges: int = 0) -> SubgraphNode:
    return SubgraphNode(node_id=node_id, name=name or f"Node {node_id}", node_type=node_type, path=None,
                        confidence=Decimal("0.90"), depth=depth, hidden_edges=hidden_edges)


def edge(relationship_id: int, source_id: int, target_id: int, *, strength: str = "0.80", confidence: str = "0.72",
         inferred: bool = False, bidirectional: bool = False, relationship_type: str = "influenced") -> SubgraphEdge:
    return SubgraphEdge(relationship_id=relationship_id, source_id=source_id, target_id=target_id,
                        relationship_type=relationship_type, strength=Decimal(strength),
                        confidence=Decimal(confidence), auto_managed=inferred, bidirectional=bidirectional)


def languages() -> Subgraph:
    """Rust at the centre: stated, inferred, bidirectional and parallel relationships; a node with more edges."""
    nodes = [
        node(1, "Rust", depth=0), node(2, "Go"), node(3, "C++"), node(4, "Graydon Hoare", node_type="person"),
        node(5, "Mozilla", node_type="organization", hidden_edges=3), node(6, "OCaml", depth=2, hidden_edges=1),
        node(7, "Haskell", depth=2), node(8, "Functional programming", node_type="paradigm", depth=2),
    ]
    edges = [
        edge(10, 1, 2, inferred=True),
        edge(11, 3, 1, strength="1.0", confidence="1.0"),
        edge(12, 4, 1, relationship_type="designed", strength="0.5", confidence="0.5"),
        edge(13, 5, 1, relationship_type="sponsored", strength="0.2", confidence="0.5"),
        edge(14, 6, 1, bidirectional=True, relationship_type="related_to"),
        edge(15, 7, 1, strength="0.3", confidence="0.3", inferred=True, bidirectional=True),
        edge(16, 7, 8, relationship_type="follows_paradigm"),
        edge(17, 6, 8, relationship_type="follows_paradigm"),
        edge(18, 1, 3, relationship_type="competes_with", strength="0.6", confidence="0.6"),  # parallel to 11
    ]
    return Subgraph(centre_id=1, nodes=nodes, edges=edges, parameters={"depth": 2})


def tree(count: int, *, edges_per_node: int = 2) -> Subgraph:
    """A centre, a ring of neighbours, the rest below them, and some cross links: a realistic neighbourhood."""
    first_ring = max(count // 6, 1)
    nodes = [node(0, "Centre", depth=0)] + [
        node(i, f"Neighbour number {i}", node_type=f"type{i % 5}", depth=1 if i <= first_ring else 2,
             hidden_edges=i % 3) for i in range(1, count)
    ]
    edges, next_id = [], itertools.count(1000)
    for i in range(1, count):
        edges.append(edge(next(next_id), i, 0 if i <= first_ring else 1 + i % first_ring))
    for i in range(1, count):
        for k in range(1, edges_per_node):
            j = (i * 7 + k * 13) % count
            if j not in (0, i):
                edges.append(edge(next(next_id), i, j, strength=f"{(i % 10) / 10:.1f}", inferred=(i + k) % 3 == 0))
    return Subgraph(centre_id=0, nodes=nodes, edges=edges)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def links(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{SVG}a")


def edge_groups(root: ET.Element) -> dict[int, ET.Element]:
    return {int(group.get("data-relationship-id")): group for group in root.iter(f"{SVG}g")
            if "kg-edge" in group.get("class", "").split()}


def line(group: ET.Element) -> ET.Element:
    return next(path for path in group.findall(f"{SVG}path") if path.get("class") == "kg-edge__line")


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def url(graph_node: SubgraphNode) -> str:
    return f"/nodes/{graph_node.node_id}/?depth=2&direction=both"


def test_the_picture_is_responsive_accessible_svg():
    root = parse(subgraph_svg(languages(), node_url=url, title="Rust and its neighbours"))

    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 960 640"
    assert root.get("width") == "100%" and root.get("height") is None
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title.text == "Rust and its neighbours"
    assert desc.text == "8 nodes, 9 relationships"
    assert set(root.get("aria-labelledby").split()) == {title.get("id"), desc.get("id")}


def test_the_summary_counts_the_nodes_left_out():
    subgraph = Subgraph(centre_id=1, nodes=[node(1, depth=0)], left_out=40, left_out_capped=True)
    root = parse(subgraph_svg(subgraph, node_url=url))
    assert root.find(f"{SVG}desc").text == "1 node, 0 relationships; at least 40 more nodes not shown"
    assert root.find(f"{SVG}title").text == root.find(f"{SVG}desc").text  # no title given


def test_no_inline_style_script_or_event_handler():
    """What a Content-Security-Policy without 'unsafe-inline' would block."""
    svg = subgraph_svg(languages(), node_url=url)
    for element in parse(svg).iter():
        assert element.tag != f"{SVG}script"
        assert "style" not in element.attrib
        assert not [name for name in element.attrib if name.lower().startswith("on")]
    assert "<script" not in svg and "javascript:" not in svg


def test_each_node_is_one_link_that_recentres():
    subgraph = languages()
    found = links(parse(subgraph_svg(subgraph, node_url=url)))

    assert len(found) == len(subgraph.nodes)
    by_id = {int(link.get("data-node-id")): link for link in found}
    assert set(by_id) == {graph_node.node_id for graph_node in subgraph.nodes}
    for graph_node in subgraph.nodes:
        assert by_id[graph_node.node_id].get("href") == url(graph_node)  # & escaped in the markup, intact here
        assert "kg-node" in classes(by_id[graph_node.node_id])


def test_the_centre_is_larger_and_outlined():
    root = parse(subgraph_svg(languages(), node_url=url))
    dots = {int(link.get("data-node-id")): link.find(f"{SVG}circle[@class='kg-node__dot']") for link in links(root)}
    centres = [link for link in links(root) if "kg-node--centre" in classes(link)]

    assert [int(link.get("data-node-id")) for link in centres] == [1]
    assert all(float(dots[1].get("r")) > float(dot.get("r")) for node_id, dot in dots.items() if node_id != 1)
    assert dots[1].get("stroke") != dots[2].get("stroke")


def test_node_colours_follow_the_legend():
    subgraph = languages()
    colours = node_type_colours(subgraph.node_types)
    for link in links(parse(subgraph_svg(subgraph, node_url=url))):
        graph_node = subgraph.node(int(link.get("data-node-id")))
        assert link.find(f"{SVG}circle[@class='kg-node__dot']").get("fill") == colours[graph_node.node_type]


def test_dashed_exactly_on_inferred_edges():
    subgraph = languages()
    groups = edge_groups(parse(subgraph_svg(subgraph, node_url=url)))

    assert set(groups) == {item.relationship_id for item in subgraph.edges}
    for item in subgraph.edges:
        group = groups[item.relationship_id]
        assert ("kg-edge--inferred" in classes(group)) is item.auto_managed
        assert (line(group).get("stroke-dasharray") is not None) is item.auto_managed


def test_arrowheads_on_directed_edges_only():
    root = parse(subgraph_svg(languages(), node_url=url))
    markers = {marker.get("id") for marker in root.iter(f"{SVG}marker")}

    for item in languages().edges:
        marker = line(edge_groups(root)[item.relationship_id]).get("marker-end")
        if item.bidirectional:
            assert marker is None
        else:
            assert re.fullmatch(r"url\(#(.+)\)", marker).group(1) in markers
        assert line(edge_groups(root)[item.relationship_id]).get("marker-start") is None


def test_line_width_grows_with_weighted_strength():
    subgraph = languages()
    groups = edge_groups(parse(subgraph_svg(subgraph, node_url=url)))
    widths = sorted((item.weighted_strength, float(line(groups[item.relationship_id]).get("stroke-width")))
                    for item in subgraph.edges)

    for (weaker, thinner), (stronger, thicker) in itertools.pairwise(widths):
        assert thinner < thicker if weaker < stronger else thinner == thicker
    assert widths[0][1] >= 1 and widths[-1][1] <= 6
    assert widths[-1] == (1.0, 5.5)  # strength 1 × confidence 1


def test_edge_tooltips_say_what_the_relationship_is():
    groups = edge_groups(parse(subgraph_svg(languages(), node_url=url)))

    assert groups[10].find(f"{SVG}title").text == "Rust → influenced → Go, strength 0.80, confidence 0.72, inferred"
    assert groups[11].find(f"{SVG}title").text == "C++ → influenced → Rust, strength 1.00, confidence 1.00"
    assert groups[14].find(f"{SVG}title").text.startswith("OCaml ↔ related_to ↔ Rust, ")
    assert "kg-edge--bidirectional" in classes(groups[14]) and "kg-edge--directed" in classes(groups[11])
    assert (groups[11].get("data-source-id"), groups[11].get("data-target-id")) == ("3", "1")


def test_relationships_between_the_same_nodes_bend_apart():
    groups = edge_groups(parse(subgraph_svg(languages(), node_url=url)))
    assert " Q" in line(groups[11]).get("d") and " Q" in line(groups[18]).get("d")
    assert line(groups[11]).get("d") != line(groups[18]).get("d")
    assert " Q" not in line(groups[10]).get("d")


def test_nodes_with_more_relationships_are_marked():
    root = parse(subgraph_svg(languages(), node_url=url))
    by_id = {int(link.get("data-node-id")): link for link in links(root)}

    for graph_node in languages().nodes:
        link = by_id[graph_node.node_id]
        rings = link.findall(f"{SVG}circle[@class='kg-node__more']")
        assert ("kg-node--unexpanded" in classes(link)) is graph_node.unexpanded
        assert len(rings) == (1 if graph_node.unexpanded else 0)
        assert ("not shown" in link.find(f"{SVG}title").text) is graph_node.unexpanded
    assert by_id[5].find(f"{SVG}title").text.endswith("; 3 more relationships not shown")
    assert by_id[6].find(f"{SVG}title").text.endswith("; 1 more relationship not shown")
    assert by_id[5].find(f"{SVG}circle[@class='kg-node__more']").get("stroke-dasharray")


def test_hostile_names_come_out_as_text():
    subgraph = Subgraph(centre_id=1, nodes=[
        node(1, HOSTILE, depth=0, node_type='type "x" & <y>'),
        node(2, "control\x00\x07\x1b characters\ufffe"),
    ], edges=[edge(1, 1, 2, relationship_type="<b>&amp;</b>")])
    svg = subgraph_svg(subgraph, node_url=lambda graph_node: f'/nodes/{graph_node.node_id}/?q="<x>"&y=1')
    root = parse(svg)  # control characters dropped, so still well-formed

    assert "<script>" not in svg and "<b>" not in svg
    centre = next(link for link in links(root) if link.get("data-node-id") == "1")
    assert centre.find(f"{SVG}title").text.startswith(HOSTILE + ' (type "x" & <y>)')
    assert centre.get("href") == '/nodes/1/?q="<x>"&y=1'
    assert centre.get("data-node-type") == 'type "x" & <y>'
    assert centre.find(f"{SVG}text").text == HOSTILE[:23] + "…"  # a short label
    assert edge_groups(root)[1].find(f"{SVG}title").text.startswith(f"{HOSTILE} → <b>&amp;</b> → control")
    other = next(link for link in links(root) if link.get("data-node-id") == "2")
    assert "\x00" not in other.find(f"{SVG}title").text


def test_labels_are_short_and_crowded_ones_hidden_until_pointed_at():
    root = parse(subgraph_svg(tree(200), node_url=url))
    labels = [text for link in links(root) for text in link.findall(f"{SVG}text")]

    assert all(len(label.text) <= 24 for label in labels)
    crowded = [label for label in labels if "kg-node__label--crowded" in classes(label)]
    assert crowded and all(label.get("visibility") == "hidden" for label in crowded)
    shown = [label for label in labels if label not in crowded]
    assert shown and all(label.get("visibility") is None for label in shown)
    centre = next(link for link in links(root) if "kg-node--centre" in classes(link))
    assert "kg-node__label--crowded" not in classes(centre.find(f"{SVG}text"))


def test_small_pictures_name_the_relationship_types_on_the_lines():
    root = parse(subgraph_svg(languages(), node_url=url))
    labels = [group.find(f"{SVG}text") for group in edge_groups(root).values()]
    types = {item.relationship_type for item in languages().edges}
    assert {label.text for label in labels if label is not None} <= types
    assert any(label is not None for label in labels)
    big = parse(subgraph_svg(tree(60), node_url=url))
    assert all(group.find(f"{SVG}text") is None for group in edge_groups(big).values())


def test_the_same_subgraph_gives_the_same_picture():
    subgraph = tree(80)
    shuffled = Subgraph(centre_id=0, nodes=list(reversed(subgraph.nodes)), edges=list(reversed(subgraph.edges)))
    assert subgraph_svg(subgraph, node_url=url) == subgraph_svg(subgraph, node_url=url)
    assert subgraph_svg(shuffled, node_url=url) == subgraph_svg(subgraph, node_url=url)


def test_the_picture_does_not_depend_on_the_hash_seed():
    program = (
        "import hashlib, sys; sys.path.insert(0, '.');"
        "from tests.graph.test_graph_svg import languages, url;"
        "from graph.presentation.graph_svg import subgraph_svg;"
        "print(hashlib.sha256(str(subgraph_svg(languages(), node_url=url)).encode()).hexdigest())"
    )
    root = Path(__file__).resolve().parents[2]
    digests = {
        subprocess.run([sys.executable, "-c", program], cwd=root, env={**os.environ, "PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True).stdout.strip()
        for seed in ("1", "2")
    }
    assert digests == {hashlib.sha256(str(subgraph_svg(languages(), node_url=url)).encode()).hexdigest()}


def circles(root: ET.Element) -> list[tuple[float, float, float]]:
    return [(float(dot.get("cx")), float(dot.get("cy")), float(dot.get("r")))
            for dot in root.iter(f"{SVG}circle") if dot.get("class") == "kg-node__dot"]


@pytest.mark.parametrize("count", [1, 2, 8, 60, 500])
def test_every_node_is_inside_the_view_box(count):
    subgraph = languages() if count == 8 else tree(count)
    root = parse(subgraph_svg(subgraph, node_url=url, width=800, height=500))

    assert len(links(root)) == count
    for x, y, radius in circles(root):
        assert radius <= x <= 800 - radius and radius <= y <= 500 - radius
    for text in root.iter(f"{SVG}text"):
        if text.get("visibility") is None:
            assert 0 <= float(text.get("x")) <= 800 and 0 <= float(text.get("y")) <= 500


def test_circles_do_not_overlap():
    for subgraph in (languages(), tree(60), tree(150)):
        found = circles(parse(subgraph_svg(subgraph, node_url=url)))
        for (x1, y1, r1), (x2, y2, r2) in itertools.combinations(found, 2):
            assert ((x1 - x2) ** 2 + (y1 - y2) ** 2) ** 0.5 >= r1 + r2


def test_a_single_node_sits_in_the_middle():
    subgraph = Subgraph(centre_id=7, nodes=[node(7, "Alone", depth=0)])
    assert subgraph_layout(subgraph, width=960, height=640) == {7: (480.0, 320.0)}
    root = parse(subgraph_svg(subgraph, node_url=url))
    assert len(links(root)) == 1 and not edge_groups(root)


def test_nodes_without_edges():
    subgraph = Subgraph(centre_id=1, nodes=[node(i, depth=0 if i == 1 else 1) for i in range(1, 13)])
    root = parse(subgraph_svg(subgraph, node_url=url))
    assert len(links(root)) == 12 and not edge_groups(root)
    assert len({(x, y) for x, y, _ in circles(root)}) == 12


def test_an_empty_subgraph_is_an_empty_picture():
    root = parse(subgraph_svg(Subgraph(centre_id=None), node_url=url))
    assert root.find(f"{SVG}desc").text == "0 nodes, 0 relationships" and not links(root)
    assert subgraph_layout(Subgraph(centre_id=None), width=100, height=100) == {}


def test_edges_to_nodes_not_drawn_and_loops_do_not_break_the_picture():
    subgraph = Subgraph(centre_id=1, nodes=[node(1, depth=0), node(2)],
                        edges=[edge(1, 1, 2), edge(2, 1, 99), edge(3, 2, 2)])
    groups = edge_groups(parse(subgraph_svg(subgraph, node_url=url)))
    assert set(groups) == {1, 3}


def test_the_centre_is_pinned_in_the_middle():
    positions = subgraph_layout(tree(40), width=960, height=640)
    assert positions[0] == (480.0, 320.0)


def test_paths_go_left_to_right_by_depth():
    nodes = [node(1, "Start", depth=0), node(2, depth=1), node(3, depth=1), node(4, depth=2), node(5, "End", depth=3)]
    edges = [edge(1, 1, 2), edge(2, 1, 3), edge(3, 2, 4), edge(4, 3, 4), edge(5, 4, 5)]
    positions = subgraph_layout(Subgraph(centre_id=None, nodes=nodes, edges=edges), width=960, height=640)
    x = {node_id: position[0] for node_id, position in positions.items()}
    assert x[1] < x[2] == x[3] < x[4] < x[5]
    assert positions[2][1] != positions[3][1]


def test_legend_most_frequent_type_first():
    legend = subgraph_legend(languages())
    assert legend[0] == LegendEntry(node_type="language", colour=PALETTE[0], count=5, palette_index=0)
    assert [entry.node_type for entry in legend] == languages().node_types
    assert sum(entry.count for entry in legend) == len(languages().nodes)
    assert [entry.swatch_class for entry in legend] == [f"kg-swatch--{index}" for index in range(len(legend))]


def test_types_beyond_the_palette_are_grey():
    types = [f"type{i}" for i in range(len(PALETTE) + 3)]
    colours = node_type_colours(types + ["type0"])
    assert [colours[kind] for kind in types[: len(PALETTE)]] == list(PALETTE)
    assert {colours[kind] for kind in types[len(PALETTE):]} == {OTHER_COLOUR}
    subgraph = Subgraph(centre_id=None, nodes=[node(i, node_type=kind) for i, kind in enumerate(types)])
    beyond = [entry for entry in subgraph_legend(subgraph) if entry.palette_index is None]
    assert len(beyond) == 3 and {entry.swatch_class for entry in beyond} == {"kg-swatch--other"}


def test_the_stylesheet_swatches_are_the_palette():
    css = GRAPH_CSS.read_text()
    declared = dict(re.findall(r"\.kg-swatch--(\w+)\s*\{\s*background:\s*(#[0-9A-Fa-f]{6})", css))
    expected = {str(index): colour for index, colour in enumerate(PALETTE)} | {"other": OTHER_COLOUR}
    assert {key: value.upper() for key, value in declared.items()} == expected
