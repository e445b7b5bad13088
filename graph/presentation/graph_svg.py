"""A subgraph as a picture: a force-directed layout computed on the server, drawn as inline SVG.

The picture works without JavaScript (``kgsite/static/kgsite/graph.js`` only adds pan and zoom) and without inline
styles or scripts, so a Content-Security-Policy can forbid both: colours and line styles are SVG presentation
attributes, hover and focus effects are classes in ``kgsite/static/kgsite/graph.css``.

Layout (``subgraph_layout``): a radial start (the centre pinned in the middle, each depth on a further ring, a
ring's nodes in the order of their parents' angles), or for paths (no centre) layers by depth from left to right;
then Fruchterman–Reingold, vectorised with numpy; then the result is fitted into the view box and node boxes
(the circle and, when there is room, the label under it) are pushed apart. No randomness: the same subgraph
always gives the same picture.

Labels (``subgraph_svg``): placed greedily, the centre first, then by depth and degree, below, above, right or
left of their node, wherever they overlap no label or circle already placed. A label that fits nowhere is kept but
hidden (``kg-node__label--crowded``); graph.css shows it while its node is hovered or focused, graph.js when the
picture is zoomed in. The full name is always in the node's ``<title>`` (the tooltip and the accessible name).

Colours (``node_type_colours``, ``subgraph_legend``): the Okabe–Ito palette (distinguishable with the common
colour-vision deficiencies) without its black, assigned to node types most frequent first; the types beyond it are
grey. ``PALETTE`` here is the one source of the colours: graph.css repeats them for the legend's swatches
(``.kg-swatch--0`` …, ``.kg-swatch--other``; a test keeps the two equal), because the legend is HTML in the
template, where an inline style is not allowed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from graph.presentation.graph_export import xml_safe_text
from graph.selectors.subgraph import Subgraph, SubgraphEdge, SubgraphNode

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
OTHER_COLOUR = "#A3A9B3"
EDGE_COLOUR = "#7D8697"
OUTLINE_COLOUR = "#1D2330"
MUTED_COLOUR = "#4B5465"
LABEL_MAX_CHARS = 24
EDGE_LABELS_UP_TO = 40  # relationships: with more, their types stay in the tooltips (and the table)

SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@dataclass(frozen=True)
class LegendEntry:
    node_type: str
    colour: str
    count: int
    palette_index: int | None  # None: beyond the palette, drawn grey

    @property
    def swatch_class(self) -> str:
        """The class of the legend's swatch in graph.css: ``kg-swatch--3`` or ``kg-swatch--other``."""
        return f"kg-swatch--{'other' if self.palette_index is None else self.palette_index}"


def node_type_colours(types: list[str]) -> dict[str, str]:
    """A colour per type, in the order given (most frequent first): the palette, then grey for the rest."""
    return {kind: colour for kind, (_, colour) in _palette_slots(types).items()}


def subgraph_legend(subgraph: Subgraph) -> list[LegendEntry]:
    """The node types drawn, most frequent first, with their colour and number of nodes."""
    counts: dict[str, int] = {}
    for node in subgraph.nodes:
        counts[node.node_type] = counts.get(node.node_type, 0) + 1
    return [
        LegendEntry(node_type=kind, colour=colour, count=counts[kind], palette_index=index)
        for kind, (index, colour) in _palette_slots(subgraph.node_types).items()
    ]


def _palette_slots(types: list[str]) -> dict[str, tuple[int | None, str]]:
    slots: dict[str, tuple[int | None, str]] = {}
    for kind in types:
        if kind not in slots:
            index = len(slots)
            slots[kind] = (index, PALETTE[index]) if index < len(PALETTE) else (None, OTHER_COLOUR)
    return slots


# --- Geometry shared by the layout and the drawing ------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    radius: float
    centre_radius: float
    font_size: float

    @property
    def label_gap(self) -> float:
        return 3.0

    @property
    def label_height(self) -> float:
        return self.font_size * 1.15

    def label_width(self, text: str) -> float:
        # No font metrics on the server: an average glyph of system-ui is about 0.55 em; a little more, so that the
        # estimate errs on the side of room.
        return 0.58 * self.font_size * len(text) + 4

    def node_radius(self, node: SubgraphNode, centre_id: int | None) -> float:
        return self.centre_radius if node.node_id == centre_id else self.radius

    def outer_radius(self, node: SubgraphNode, centre_id: int | None) -> float:
        """The circle and, for a node with more relationships, the dashed ring around it."""
        return self.node_radius(node, centre_id) + (4.0 if node.unexpanded else 0.0)


def _style(node_count: int) -> _Style:
    if node_count <= 60:
        return _Style(radius=9, centre_radius=14, font_size=12)
    if node_count <= 150:
        return _Style(radius=7.5, centre_radius=12, font_size=11)
    if node_count <= 300:
        return _Style(radius=6, centre_radius=11, font_size=10)
    return _Style(radius=4.5, centre_radius=10, font_size=9)


def _margin(width: float, height: float) -> float:
    return max(6.0, min(width, height) * 0.025)


def _short_label(name: str) -> str:
    text = " ".join(xml_safe_text(name).split())
    return text if len(text) <= LABEL_MAX_CHARS else text[: LABEL_MAX_CHARS - 1].rstrip() + "…"


def _drawing_order(subgraph: Subgraph) -> list[SubgraphNode]:
    """The nodes by depth, then id: the same order whatever order the selector returned them in."""
    unique = {node.node_id: node for node in subgraph.nodes}
    return sorted(unique.values(), key=lambda node: (node.node_id != subgraph.centre_id, node.depth, node.node_id))


# --- Layout ---------------------------------------------------------------------------------------------------


def subgraph_layout(subgraph: Subgraph, *, width: float, height: float) -> dict[int, tuple[float, float]]:
    """The position of each node's centre in a ``width`` × ``height`` view box (y down), by node id."""
    nodes = _drawing_order(subgraph)
    if not nodes:
        return {}
    style = _style(len(nodes))
    index = {node.node_id: i for i, node in enumerate(nodes)}
    pairs, weights = _layout_pairs(subgraph.edges, index)
    half = np.array([width / 2.0, height / 2.0])
    margin = _margin(width, height)
    inner = np.maximum(half - margin, 1.0)
    centre = index.get(subgraph.centre_id) if subgraph.centre_id is not None else None
    layered = subgraph.centre_id is None and len({node.depth for node in nodes}) > 1

    if len(nodes) == 1:
        positions = np.zeros((1, 2))
    else:
        if layered:
            positions = _layered_start(nodes, pairs, inner)
        else:
            positions = _radial_start(nodes, pairs, centre, inner)
        pinned = np.zeros(len(nodes), dtype=bool)
        if centre is not None:
            pinned[centre] = True
        # The ideal distance of Fruchterman–Reingold, capped so that a handful of nodes stay close to the centre.
        ideal = min(0.9 * math.sqrt(4.0 * inner[0] * inner[1] / len(nodes)), 170.0)
        positions = _fruchterman_reingold(
            positions, pairs, weights, ideal=ideal, pinned=pinned, fixed_x=layered, bounds=inner,
            iterations=50 if len(nodes) <= 200 else 40,
        )
        boxes = _node_boxes(nodes, style, subgraph.centre_id, inner)
        positions = _fit(positions, boxes, inner, keep_origin=centre is not None)
        positions = _separate(positions, boxes, pinned, inner, fixed_x=layered,
                              iterations=40 if len(nodes) <= 200 else 20)
    return {node.node_id: (round(float(x + half[0]), 2), round(float(y + half[1]), 2))
            for node, (x, y) in zip(nodes, positions)}


def _layout_pairs(edges: list[SubgraphEdge], index: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each connected pair once, with the weight of its strongest relationship (stronger pulls closer)."""
    strongest: dict[tuple[int, int], float] = {}
    for edge in edges:
        source, target = index.get(edge.source_id), index.get(edge.target_id)
        if source is None or target is None or source == target:
            continue
        pair = (min(source, target), max(source, target))
        strongest[pair] = max(strongest.get(pair, 0.0), _unit(edge.weighted_strength))
    if not strongest:
        return np.zeros((0, 2), dtype=np.intp), np.zeros(0)
    ordered = sorted(strongest)
    return np.array(ordered, dtype=np.intp), 0.6 + 0.8 * np.array([strongest[pair] for pair in ordered])


def _neighbours(count: int, pairs: np.ndarray) -> list[list[int]]:
    around: list[list[int]] = [[] for _ in range(count)]
    for a, b in pairs.tolist():
        around[a].append(b)
        around[b].append(a)
    return around


def _radial_start(nodes: list[SubgraphNode], pairs: np.ndarray, centre: int | None,
                  inner: np.ndarray) -> np.ndarray:
    """The centre in the middle, depth d on the d-th of evenly spaced elliptical rings."""
    count = len(nodes)
    around = _neighbours(count, pairs)
    depth = [0 if i == centre else max(node.depth, 1 if centre is not None else node.depth)
             for i, node in enumerate(nodes)]
    rings = sorted({depth[i] for i in range(count) if i != centre})
    positions = np.zeros((count, 2))
    angle = [math.nan] * count
    for ring_number, ring in enumerate(rings, start=1):
        members = [i for i in range(count) if i != centre and depth[i] == ring]
        wanted = {}
        for i in members:
            placed = [angle[j] for j in around[i] if not math.isnan(angle[j])]
            wanted[i] = _circular_mean(placed) if placed else math.nan
        if ring_number == 1 or all(math.isnan(value) for value in wanted.values()):
            # The first ring has no parents to follow: types together, so the colours form sectors.
            members.sort(key=lambda i: (nodes[i].node_type, nodes[i].node_id))
            offset = -math.pi / 2
        else:
            members.sort(key=lambda i: (math.isnan(wanted[i]), wanted[i] if not math.isnan(wanted[i]) else 0.0,
                                        nodes[i].node_id))
            evenly = [2 * math.pi * k / len(members) for k in range(len(members))]
            offset = _circular_mean([wanted[i] - evenly[k] for k, i in enumerate(members)
                                     if not math.isnan(wanted[i])])
        # Rings alternate half a step, so that a node does not start exactly behind one on the ring inside.
        offset += (math.pi / len(members)) * (ring_number % 2 == 0)
        fraction = 0.85 * ring_number / len(rings)
        for k, i in enumerate(members):
            angle[i] = offset + 2 * math.pi * k / len(members)
            positions[i] = (fraction * inner[0] * math.cos(angle[i]), fraction * inner[1] * math.sin(angle[i]))
    return positions


def _circular_mean(angles: list[float]) -> float:
    return math.atan2(sum(math.sin(a) for a in angles), sum(math.cos(a) for a in angles))


def _layered_start(nodes: list[SubgraphNode], pairs: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Paths: a column per depth from left to right; in a column, nodes follow their neighbours on the left."""
    count = len(nodes)
    around = _neighbours(count, pairs)
    layers = sorted({node.depth for node in nodes})
    positions = np.zeros((count, 2))
    placed = [False] * count
    for number, layer in enumerate(layers):
        members = [i for i, node in enumerate(nodes) if node.depth == layer]
        wanted = {}
        for i in members:
            left = [positions[j][1] for j in around[i] if placed[j]]
            wanted[i] = sum(left) / len(left) if left else 0.0
        members.sort(key=lambda i: (wanted[i], nodes[i].node_id))
        step = min(2 * 0.8 * inner[1] / max(len(members) - 1, 1), 90.0)
        x = -0.9 * inner[0] + 1.8 * inner[0] * number / (len(layers) - 1)
        for k, i in enumerate(members):
            positions[i] = (x, (k - (len(members) - 1) / 2) * step)
            placed[i] = True
    return positions


def _fruchterman_reingold(positions: np.ndarray, pairs: np.ndarray, weights: np.ndarray, *, ideal: float,
                          pinned: np.ndarray, fixed_x: bool, bounds: np.ndarray, iterations: int) -> np.ndarray:
    """Fruchterman & Reingold (1991): repulsion k²/d between all nodes, attraction d²/k along edges, a cooling step.

    All pairs at once in n × n float32 arrays allocated once (500 nodes: about a millisecond an iteration); no
    matrix products, whose result could depend on the BLAS library's threads. A weak pull to the middle keeps
    loose nodes in the picture.
    """
    count = len(positions)
    positions = positions.astype(np.float32)
    # Nodes starting on the same spot would never separate: nudge each by a fixed, index-based amount.
    steps = np.arange(count, dtype=np.float32)
    nudge = np.column_stack([(steps * 0.618034) % 1.0 - 0.5, (steps * 0.754878) % 1.0 - 0.5])
    nudge[pinned] = 0.0
    if fixed_x:
        nudge[:, 0] = 0.0
    positions += (nudge * (ideal * 0.01)).astype(np.float32)
    k2 = np.float32(ideal * ideal)
    closest = np.float32((0.02 * ideal) ** 2)
    # A linear pull to the middle, about what all the others push with at the edge of the box: loose nodes and
    # small components stay near the rest instead of flying to the corners (the fit would then shrink the rest).
    gravity = np.float32(2.0 * count * ideal * ideal / float(np.max(bounds)) ** 2)
    limits = 3 * bounds.astype(np.float32)
    weights = weights.astype(np.float32)
    source, target = (pairs[:, 0], pairs[:, 1]) if len(pairs) else (None, None)
    temperature = 0.06 * float(np.max(bounds))  # the start is already a reasonable picture
    cooling = temperature / (iterations + 1)
    mobile = ~pinned
    dx, dy, distance2, push = (np.empty((count, count), dtype=np.float32) for _ in range(4))
    displacement = np.empty((count, 2), dtype=np.float32)
    for _ in range(iterations):
        x, y = np.ascontiguousarray(positions[:, 0]), np.ascontiguousarray(positions[:, 1])
        np.subtract.outer(x, x, out=dx)
        np.subtract.outer(y, y, out=dy)
        np.multiply(dx, dx, out=distance2)
        np.multiply(dy, dy, out=push)
        distance2 += push
        np.maximum(distance2, closest, out=distance2)
        np.divide(k2, distance2, out=push)
        np.fill_diagonal(push, 0.0)
        displacement[:, 0] = np.einsum("ij,ij->i", dx, push)
        displacement[:, 1] = np.einsum("ij,ij->i", dy, push)
        if source is not None:
            delta = positions[source] - positions[target]
            length = np.sqrt(np.einsum("ij,ij->i", delta, delta))
            pull = delta * (length * weights / np.float32(ideal))[:, None]
            for axis in (0, 1):
                displacement[:, axis] -= np.bincount(source, pull[:, axis], count).astype(np.float32)
                displacement[:, axis] += np.bincount(target, pull[:, axis], count).astype(np.float32)
        displacement -= positions * gravity
        if fixed_x:
            displacement[:, 0] = 0.0
        length = np.sqrt(np.einsum("ij,ij->i", displacement, displacement))
        step = np.minimum(length, np.float32(temperature)) / np.maximum(length, np.float32(1e-6))
        positions[mobile] += displacement[mobile] * step[mobile, None]
        np.clip(positions, -limits, limits, out=positions)  # the fit brings them inside
        temperature = max(temperature - cooling, 0.02 * ideal)
    return positions.astype(float)


@dataclass(frozen=True)
class _Boxes:
    """Each node's box around its centre: half its width, and how far it reaches up and down."""

    half_width: np.ndarray
    up: np.ndarray
    down: np.ndarray


def _node_boxes(nodes: list[SubgraphNode], style: _Style, centre_id: int | None, inner: np.ndarray) -> _Boxes:
    padding = 3.0
    outer = np.array([style.outer_radius(node, centre_id) for node in nodes]) + padding
    label_width = np.array([style.label_width(_short_label(node.name)) for node in nodes]) / 2 + padding
    with_labels = _Boxes(np.maximum(outer, label_width), outer,
                         outer + style.label_gap + style.label_height)
    area = float(np.sum(2 * with_labels.half_width * (with_labels.up + with_labels.down)))
    if area <= 0.9 * 4 * inner[0] * inner[1]:
        return with_labels
    # Too many labels to give each its room: separate the circles only; the drawing hides the labels that collide.
    return _Boxes(outer, outer, outer)


def _fit(positions: np.ndarray, boxes: _Boxes, inner: np.ndarray, *, keep_origin: bool) -> np.ndarray:
    """Scale (each axis, by at most 1.6) so that every box is inside; around the pinned centre when there is one."""
    positions = positions.copy()
    if not keep_origin:
        low = np.min(positions - np.column_stack([boxes.half_width, boxes.up]), axis=0)
        high = np.max(positions + np.column_stack([boxes.half_width, boxes.down]), axis=0)
        positions -= (low + high) / 2
    reach = [(boxes.half_width, boxes.half_width), (boxes.up, boxes.down)]
    for axis in (0, 1):
        before, after = reach[axis]
        value = positions[:, axis]
        room = np.where(value >= 0, inner[axis] - after, inner[axis] - before)
        with np.errstate(divide="ignore", invalid="ignore"):
            limits = np.where(np.abs(value) > 1e-9, np.maximum(room, 0.0) / np.abs(value), np.inf)
        scale = min(float(np.min(limits)), 1.6)
        positions[:, axis] = value * scale
    return positions


def _separate(positions: np.ndarray, boxes: _Boxes, pinned: np.ndarray, inner: np.ndarray, *, fixed_x: bool,
              iterations: int) -> np.ndarray:
    """Push overlapping boxes apart along the axis where they overlap least, keeping each inside the view box."""
    count = len(positions)
    positions = positions.astype(np.float32)
    half_height = ((boxes.up + boxes.down) / 2).astype(np.float32)
    offset = ((boxes.down - boxes.up) / 2).astype(np.float32)  # from the node's centre to its box's centre
    lower = np.column_stack([-inner[0] + boxes.half_width, -inner[1] + boxes.up])
    upper = np.column_stack([inner[0] - boxes.half_width, inner[1] - boxes.down])
    lower, upper = np.minimum(lower, upper).astype(np.float32), np.maximum(lower, upper).astype(np.float32)
    widths = np.add.outer(boxes.half_width, boxes.half_width).astype(np.float32)
    heights = np.add.outer(half_height, half_height)
    # A pinned node does not move: the other one of the pair moves the whole way. Equal coordinates: by index.
    share = np.where(pinned[None, :], 1.0, np.where(pinned[:, None], 0.0, 0.5)).astype(np.float32)
    tie = (np.sign(np.subtract.outer(np.arange(count), np.arange(count))) * 1e-3).astype(np.float32)
    dx, dy, overlap_x, overlap_y = (np.empty((count, count), dtype=np.float32) for _ in range(4))
    for _ in range(iterations):
        x, y = np.ascontiguousarray(positions[:, 0]), np.ascontiguousarray(positions[:, 1] + offset)
        np.subtract.outer(x, x, out=dx)
        dx += tie
        np.subtract.outer(y, y, out=dy)
        dy += tie
        np.subtract(widths, np.abs(dx), out=overlap_x)
        np.subtract(heights, np.abs(dy), out=overlap_y)
        overlapping = (overlap_x > 0) & (overlap_y > 0)
        np.fill_diagonal(overlapping, False)
        if not overlapping.any():
            break
        along_x = overlapping & (overlap_x <= overlap_y) if not fixed_x else np.zeros_like(overlapping)
        along_y = overlapping & ~along_x
        overlap_x *= share
        overlap_y *= share
        move_x = np.einsum("ij,ij->i", np.copysign(overlap_x, dx), along_x.astype(np.float32))
        move_y = np.einsum("ij,ij->i", np.copysign(overlap_y, dy), along_y.astype(np.float32))
        move = np.column_stack([move_x, move_y])
        move[pinned] = 0.0
        if float(np.max(np.abs(move))) < 0.5:  # what is left is stuck against the walls: no use going on
            break
        # Several neighbours pushing the same way would overshoot: move a little less than the sum.
        positions += np.float32(0.7) * move
        np.clip(positions, lower, upper, out=positions)
    return positions.astype(float)


# --- Drawing --------------------------------------------------------------------------------------------------


def subgraph_svg(subgraph: Subgraph, *, node_url: Callable[[SubgraphNode], str], width: int = 960, height: int = 640,
                 title: str = "") -> SafeString:
    """The subgraph as an inline ``<svg>``: edges under nodes, each node a link (``node_url``) that re-centres."""
    nodes = _drawing_order(subgraph)
    by_id = {node.node_id: node for node in nodes}
    edges = [edge for edge in subgraph.edges if edge.source_id in by_id and edge.target_id in by_id]
    style = _style(len(nodes))
    positions = subgraph_layout(subgraph, width=width, height=height)
    colours = node_type_colours(subgraph.node_types)
    summary = _summary(subgraph, len(nodes), len(edges))
    uid = f"{zlib.crc32(repr(sorted(by_id)).encode() + repr(sorted(e.relationship_id for e in edges)).encode()):08x}"
    labels, obstacles = _place_labels(nodes, edges, positions, style, subgraph.centre_id, width, height)
    geometry = {edge.relationship_id: _edge_geometry(edge, by_id, positions, style, subgraph.centre_id, offset)
                for edge, offset in _edge_offsets(edges)}
    edge_labels = _place_edge_labels(edges, geometry, obstacles, style) if len(edges) <= EDGE_LABELS_UP_TO else {}

    parts = [
        f'<svg xmlns="{SVG_NAMESPACE}" class="kg-graph__svg" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="kg-graph-title-{uid} kg-graph-desc-{uid}" '
        f'data-node-count="{len(nodes)}" data-edge-count="{len(edges)}">',
        f'<title id="kg-graph-title-{uid}">{_text(title or summary)}</title>',
        f'<desc id="kg-graph-desc-{uid}">{_text(summary)}</desc>',
        _markers(uid),
        '<g class="kg-edges">',
    ]
    parts.extend(_edge_svg(edge, by_id, geometry[edge.relationship_id], uid, edge_labels.get(edge.relationship_id))
                 for edge in sorted(edges, key=lambda edge: edge.relationship_id))
    parts.append('</g><g class="kg-nodes">')
    parts.extend(_node_svg(node, positions[node.node_id], style, subgraph.centre_id, colours[node.node_type],
                           node_url(node), labels.get(node.node_id)) for node in nodes)
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # every user-supplied value went through _text


def _text(value: str) -> str:
    return escape(xml_safe_text(str(value)))


_attr = _text


def _number(value: float, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def _summary(subgraph: Subgraph, node_count: int, edge_count: int) -> str:
    text = f"{node_count} {'node' if node_count == 1 else 'nodes'}, " \
           f"{edge_count} {'relationship' if edge_count == 1 else 'relationships'}"
    if subgraph.left_out:
        more = "at least " if subgraph.left_out_capped else ""
        text += f"; {more}{subgraph.left_out} more {'node' if subgraph.left_out == 1 else 'nodes'} not shown"
    return text


# Arrowheads in three sizes by line width; userSpaceOnUse so that a thick line does not get a huge arrow.
_ARROWS = (("s", 2.6, 8.0, 6.0), ("m", 4.4, 11.0, 9.0), ("l", math.inf, 14.0, 12.0))  # (name, up to width, L, W)


def _markers(uid: str) -> str:
    markers = "".join(
        f'<marker id="kg-arrow-{uid}-{name}" class="kg-arrow" viewBox="0 0 10 10" refX="0" refY="5" '
        f'markerUnits="userSpaceOnUse" markerWidth="{_number(length)}" markerHeight="{_number(breadth)}" '
        f'orient="auto" preserveAspectRatio="none"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE_COLOUR}"/></marker>'
        for name, _, length, breadth in _ARROWS
    )
    return f"<defs>{markers}</defs>"


def _edge_width(edge: SubgraphEdge) -> float:
    return 1.0 + 4.5 * _unit(edge.weighted_strength)


def _unit(value: float) -> float:
    return 0.0 if not math.isfinite(value) else min(max(value, 0.0), 1.0)


def _edge_offsets(edges: list[SubgraphEdge]) -> list[tuple[SubgraphEdge, float]]:
    """Relationships between the same two nodes bend apart, so that each stays visible and hoverable."""
    groups: dict[tuple[int, int], list[SubgraphEdge]] = {}
    for edge in sorted(edges, key=lambda edge: edge.relationship_id):
        groups.setdefault((min(edge.source_id, edge.target_id), max(edge.source_id, edge.target_id)), []).append(edge)
    result = []
    for group in groups.values():
        for k, edge in enumerate(group):
            result.append((edge, (k - (len(group) - 1) / 2) * 18.0))
    return result


@dataclass(frozen=True)
class _EdgeGeometry:
    path: str  # the d attribute
    middle: tuple[float, float]
    width: float
    arrow: str | None  # the marker's size, None for a bidirectional relationship


def _edge_geometry(edge: SubgraphEdge, by_id: dict[int, SubgraphNode], positions: dict[int, tuple[float, float]],
                   style: _Style, centre_id: int | None, offset: float) -> _EdgeGeometry:
    source, target = by_id[edge.source_id], by_id[edge.target_id]
    width = _edge_width(edge)
    arrow_name, arrow_length = next((name, length) for name, up_to, length, _ in _ARROWS if width <= up_to)
    path, middle = _edge_path(
        positions[source.node_id], positions[target.node_id],
        start_gap=style.outer_radius(source, centre_id) + 1.0,
        end_gap=style.outer_radius(target, centre_id) + 1.0 + (0.0 if edge.bidirectional else arrow_length),
        offset=offset if source.node_id < target.node_id else -offset,
    )
    return _EdgeGeometry(path, middle, width, None if edge.bidirectional else arrow_name)


def _edge_svg(edge: SubgraphEdge, by_id: dict[int, SubgraphNode], geometry: _EdgeGeometry, uid: str,
              label: _Label | None) -> str:
    source, target = by_id[edge.source_id], by_id[edge.target_id]
    width, path = geometry.width, geometry.path
    arrow = "↔" if edge.bidirectional else "→"
    title = (f"{source.name} {arrow} {edge.relationship_type} {arrow} {target.name}, "
             f"strength {float(edge.strength):.2f}, confidence {float(edge.confidence):.2f}"
             + (", inferred" if edge.auto_managed else ""))
    classes = "kg-edge" + (" kg-edge--inferred" if edge.auto_managed else "") + \
              (" kg-edge--bidirectional" if edge.bidirectional else " kg-edge--directed")
    drawing = [f'stroke="{EDGE_COLOUR}"', 'stroke-opacity="0.8"', f'stroke-width="{_number(width, 2)}"', 'fill="none"']
    if edge.auto_managed:
        drawing.append(f'stroke-dasharray="{_number(3 + 1.5 * width)} {_number(2 + width)}"')
    if geometry.arrow:
        drawing.append(f'marker-end="url(#kg-arrow-{uid}-{geometry.arrow})"')
    text = "" if label is None else (
        f'<text class="kg-edge__label" x="{_number(label.x)}" y="{_number(label.y)}" text-anchor="middle" '
        f'font-size="{_number(label.font_size)}" fill="{MUTED_COLOUR}" stroke="#FFFFFF" stroke-width="3" '
        f'stroke-linejoin="round" paint-order="stroke">{_text(label.text)}</text>'
    )
    return (
        f'<g class="{classes}" data-relationship-id="{edge.relationship_id}" data-source-id="{edge.source_id}" '
        f'data-target-id="{edge.target_id}"><title>{_text(title)}</title>'
        f'<path class="kg-edge__line" d="{path}" {" ".join(drawing)}/>'
        f'<path class="kg-edge__hit" d="{path}" stroke="#000" stroke-opacity="0" stroke-width="{_number(width + 8)}" '
        f'fill="none"/>{text}</g>'
    )


def _edge_path(start: tuple[float, float], end: tuple[float, float], *, start_gap: float, end_gap: float,
               offset: float) -> tuple[str, tuple[float, float]]:
    """A line (or, with an offset, a quadratic curve) from rim to rim, and its middle."""
    (x1, y1), (x2, y2) = start, end
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy)
    if length <= start_gap + end_gap + 2.0:
        # Circles touching (only when the view box is too small for the nodes): centre to centre, under them.
        start_gap = end_gap = 0.0
    if length < 1e-6:
        return f"M{_number(x1)},{_number(y1)} L{_number(x2)},{_number(y2)}", (x1, y1)
    if not offset:
        ux, uy = dx / length, dy / length
        return (f"M{_number(x1 + ux * start_gap)},{_number(y1 + uy * start_gap)} "
                f"L{_number(x2 - ux * end_gap)},{_number(y2 - uy * end_gap)}"), ((x1 + x2) / 2, (y1 + y2) / 2)
    # The control point is off the middle by twice the wanted bend (a quadratic curve reaches half way to it).
    cx, cy = (x1 + x2) / 2 - dy / length * offset * 2, (y1 + y2) / 2 + dx / length * offset * 2
    sx, sy = _towards(x1, y1, cx, cy, start_gap)
    ex, ey = _towards(x2, y2, cx, cy, end_gap)
    middle = (0.25 * x1 + 0.5 * cx + 0.25 * x2, 0.25 * y1 + 0.5 * cy + 0.25 * y2)
    return f"M{_number(sx)},{_number(sy)} Q{_number(cx)},{_number(cy)} {_number(ex)},{_number(ey)}", middle


def _towards(x: float, y: float, to_x: float, to_y: float, distance: float) -> tuple[float, float]:
    length = math.hypot(to_x - x, to_y - y) or 1.0
    return x + (to_x - x) / length * distance, y + (to_y - y) / length * distance


@dataclass(frozen=True)
class _Label:
    text: str
    x: float
    y: float  # the baseline
    anchor: str  # text-anchor: start, middle, end
    crowded: bool  # overlaps another label or a circle wherever it goes: hidden until hovered or zoomed
    font_size: float = 0.0


def _place_labels(nodes: list[SubgraphNode], edges: list[SubgraphEdge], positions: dict[int, tuple[float, float]],
                  style: _Style, centre_id: int | None, width: float,
                  height: float) -> tuple[dict[int, _Label], np.ndarray]:
    """Greedy placement: the centre, the centre's neighbours, then the rest, the busiest nodes first; each label in
    the first of four spots (below, above, right, left) that overlaps no circle and no label placed before it.

    The centre's label is always shown. Also returns the rectangles taken (circles and labels shown)."""
    degree: dict[int, int] = {}
    for edge in edges:
        degree[edge.source_id] = degree.get(edge.source_id, 0) + 1
        degree[edge.target_id] = degree.get(edge.target_id, 0) + 1
    order = sorted(range(len(nodes)), key=lambda i: (
        nodes[i].node_id != centre_id, nodes[i].depth > 1, -degree.get(nodes[i].node_id, 0), nodes[i].depth,
        nodes[i].node_id,
    ))
    # Obstacles as rectangles (left, top, right, bottom): every circle from the start, then each label placed.
    obstacles = np.empty((2 * len(nodes), 4))
    for i, node in enumerate(nodes):
        (x, y), radius = positions[node.node_id], style.outer_radius(node, centre_id)
        obstacles[i] = (x - radius, y - radius, x + radius, y + radius)
    filled = len(nodes)
    labels = {}
    for i in order:
        node = nodes[i]
        text = _short_label(node.name)
        if not text:
            continue
        x, y = positions[node.node_id]
        radius = style.outer_radius(node, centre_id)
        larger = 1.1 if node.node_id == centre_id else 1.0
        font, text_width, gap = style.font_size * larger, style.label_width(text) * larger, style.label_gap
        ascent, descent = font * 0.8, font * 0.25
        spots = [  # (anchor x, baseline, text-anchor, left, top)
            (x, y + radius + gap + ascent, "middle", x - text_width / 2, y + radius + gap),
            (x, y - radius - gap - descent, "middle", x - text_width / 2, y - radius - gap - font),
            (x + radius + gap, y + (ascent - descent) / 2, "start", x + radius + gap, y - font / 2),
            (x - radius - gap, y + (ascent - descent) / 2, "end", x - radius - gap - text_width, y - font / 2),
        ]
        inside = [spot for spot in spots if spot[3] >= 0 and spot[4] >= 0 and spot[3] + text_width <= width
                  and spot[4] + font * 1.05 <= height] or spots[:1]
        chosen = None
        for spot in inside:
            left, top = spot[3], spot[4]
            right, bottom = left + text_width, top + font * 1.05
            hits = ((obstacles[:filled, 0] < right) & (obstacles[:filled, 2] > left)
                    & (obstacles[:filled, 1] < bottom) & (obstacles[:filled, 3] > top))
            hits[i] = False  # its own circle
            if not hits.any() or node.node_id == centre_id:
                chosen = spot
                obstacles[filled] = (left, top, right, bottom)
                filled += 1
                break
        anchor_x, baseline, anchor = (chosen or inside[0])[:3]
        labels[node.node_id] = _Label(text, anchor_x, baseline, anchor, crowded=chosen is None)
    return labels, obstacles[:filled]


def _place_edge_labels(edges: list[SubgraphEdge], geometry: dict[int, _EdgeGeometry], obstacles: np.ndarray,
                       style: _Style) -> dict[int, _Label]:
    """The relationship type at the middle of its line, strongest first, where it covers nothing already there."""
    font = style.font_size * 0.85
    taken = [obstacles]
    labels = {}
    for edge in sorted(edges, key=lambda edge: (-edge.weighted_strength, edge.relationship_id)):
        text = " ".join(xml_safe_text(edge.relationship_type).split())
        text = text if len(text) <= 20 else text[:19].rstrip() + "…"
        if not text:
            continue
        x, y = geometry[edge.relationship_id].middle
        half = style.label_width(text) * 0.85 / 2
        left, top, right, bottom = x - half, y - font * 0.6, x + half, y + font * 0.55
        others = np.concatenate(taken) if len(taken) > 1 else taken[0]
        if np.any((others[:, 0] < right) & (others[:, 2] > left) & (others[:, 1] < bottom) & (others[:, 3] > top)):
            continue
        taken.append(np.array([[left, top, right, bottom]]))
        labels[edge.relationship_id] = _Label(text, x, y + font * 0.35, "middle", crowded=False, font_size=font)
    return labels


def _node_svg(node: SubgraphNode, position: tuple[float, float], style: _Style, centre_id: int | None, colour: str,
              url: str, label: _Label | None) -> str:
    x, y = position
    is_centre = node.node_id == centre_id
    radius = style.node_radius(node, centre_id)
    classes = "kg-node" + (" kg-node--centre" if is_centre else "")
    classes += " kg-node--unexpanded" if node.unexpanded else ""
    title = f"{node.name} ({node.node_type}), confidence {float(node.confidence):.2f}"
    if node.unexpanded:
        title += f"; {node.hidden_edges} more {'relationship' if node.hidden_edges == 1 else 'relationships'} not shown"
    parts = [
        f'<a class="{classes}" href="{_attr(url)}" data-node-id="{node.node_id}" '
        f'data-node-type="{_attr(node.node_type)}">'
        f"<title>{_text(title)}</title>"
    ]
    if node.unexpanded:
        parts.append(f'<circle class="kg-node__more" cx="{_number(x)}" cy="{_number(y)}" r="{_number(radius + 3.5)}" '
                     f'fill="none" stroke="{OUTLINE_COLOUR}" stroke-width="1.2" stroke-dasharray="2.5 2"/>')
    outline = f'stroke="{OUTLINE_COLOUR}" stroke-width="3"' if is_centre else 'stroke="#FFFFFF" stroke-width="1.5"'
    parts.append(f'<circle class="kg-node__dot" cx="{_number(x)}" cy="{_number(y)}" r="{_number(radius)}" '
                 f'fill="{colour}" {outline}/>')
    if label is not None:
        extra = ' font-weight="700"' if is_centre else ""
        font = style.font_size * (1.1 if is_centre else 1.0)
        crowded = ' visibility="hidden"' if label.crowded else ""
        parts.append(
            f'<text class="kg-node__label{" kg-node__label--crowded" if label.crowded else ""}" '
            f'x="{_number(label.x)}" y="{_number(label.y)}" text-anchor="{label.anchor}" font-size="{_number(font)}"'
            f'{extra}{crowded} fill="{OUTLINE_COLOUR}" stroke="#FFFFFF" stroke-width="3" stroke-linejoin="round" '
            f'paint-order="stroke">{_text(label.text)}</text>'
        )
    parts.append("</a>")
    return "".join(parts)
