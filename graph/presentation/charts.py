"""The dashboard's bar charts as inline SVG, rendered on the server.

Pure functions of plain numbers (no database access) returning a ``SafeString`` to place in a template:

* ``column_chart``: vertical bars over a numeric axis (``confidence_histogram``: ten bins 0–0.1 … 0.9–1.0,
  each coloured by the confidence tier it falls in);
* ``bar_chart``: labelled horizontal bars with their value printed at the end (``tier_chart``: the spec's three
  tiers; node types).

Every chart scales to its container (``viewBox`` with ``width="100%"``), is an image for assistive technology
(``role="img"`` named by its ``<title>`` and ``<desc>``), gives each bar a ``<title>`` (the tooltip) with the exact
count, and draws a "no data" picture rather than nothing. No ``style`` attributes and no scripts (the site's CSP
allows neither): colours are presentation attributes, overridable through the classes (``dashboard.css``). The
coordinate system is small on purpose (320 units wide), so that 12-unit text stays about 11 px on a 390 px phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 320
FONT_SIZE = 12
SMALL_FONT_SIZE = 11
AXIS_COLOUR = "#5b6475"
GRID_COLOUR = "#e3e6ec"
BAR_COLOUR = "#1f5fbf"
TIER_COLOURS = {"high": "#2e7d46", "medium": "#c98a00", "low": "#c0392b"}
# The spec's tiers (mv_node_confidence_cache): >= 0.8 high, >= 0.5 medium, else low.
HIGH_TIER_FROM, MEDIUM_TIER_FROM = 0.8, 0.5
CHAR_WIDTH = 0.6  # of the font size: a generous average for the sans-serif fonts of site.css
HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class Bar:
    """One bar: what it is (axis or row label), how many, its CSS modifier and colour, its tooltip."""

    label: str
    value: int
    tooltip: str = ""  # default: "label: value"
    css_class: str = ""  # appended to "chart__bar"
    colour: str = BAR_COLOUR


def count_text(value: int, *, estimated: bool = False) -> str:
    """``1,234`` or, for an estimate, ``≈1,234``."""
    return f"≈{value:,}" if estimated else f"{value:,}"


def compact_number(value: float) -> str:
    """An axis label: 0, 50, 1.5k, 12k, 3M."""
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:g}" if value != int(value) else f"{int(value)}"


def nice_maximum(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at least ``value``: a round top for a value axis (1 for 0 or less)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # not reached


def _fmt(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * CHAR_WIDTH


def _truncate(text: str, width: float, size: float = FONT_SIZE) -> str:
    if _text_width(text, size) <= width:
        return text
    keep = max(1, int(width / (size * CHAR_WIDTH)) - 1)
    return text[:keep].rstrip() + "…"


def _open_svg(*, height: float, title: str, description: str, id_prefix: str, css_class: str) -> list[str]:
    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape(css_class)}" viewBox="0 0 {WIDTH} '
        f'{_fmt(height)}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}" font-size="{FONT_SIZE}">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(description)}</desc>',
    ]


def _no_data(parts: list[str], *, x: float, y: float, width: float, height: float, message: str) -> None:
    parts.append(f'<rect class="chart__empty" x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(width)}" '
                 f'height="{_fmt(height)}" fill="#f5f6f8" stroke="{GRID_COLOUR}" stroke-dasharray="4 3"/>')
    parts.append(f'<text class="chart__empty-text" x="{_fmt(x + width / 2)}" y="{_fmt(y + height / 2 + 4)}" '
                 f'text-anchor="middle" fill="{AXIS_COLOUR}">{escape(message)}</text>')


def column_chart(bars: Sequence[Bar], *, title: str, description: str = "", edges: Sequence[str] = (),
                 x_title: str = "", y_title: str = "", empty_message: str = "No data yet",
                 id_prefix: str = "chart", css_class: str = "chart--columns") -> SafeString:
    """Vertical bars side by side with a value axis (0, half, a round maximum) and gridlines.

    ``edges``: labels of the bars' boundaries (one more than the bars: a histogram's bin edges), drawn under the
    gaps; without them each bar's ``label`` is drawn under the bar. Heights are proportional to the values (the
    axis top is the next round number above the largest). All values 0 (or no bars) draw "no data" instead.
    """
    height = 196.0
    left, right, top = 34.0, 10.0, 18.0
    bottom = 24.0 + (14.0 if x_title else 0.0)
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    base = top + plot_h
    parts = _open_svg(height=height, title=title, description=description, id_prefix=id_prefix,
                      css_class=css_class)
    largest = max((bar.value for bar in bars), default=0)
    if y_title:
        parts.append(f'<text class="chart__axis-title" x="{_fmt(left)}" y="{_fmt(top - 6)}" '
                     f'font-size="{SMALL_FONT_SIZE}" fill="{AXIS_COLOUR}">{escape(y_title)}</text>')
    if x_title:
        parts.append(f'<text class="chart__axis-title" x="{_fmt(left + plot_w / 2)}" y="{_fmt(height - 4)}" '
                     f'text-anchor="middle" font-size="{SMALL_FONT_SIZE}" fill="{AXIS_COLOUR}">'
                     f'{escape(x_title)}</text>')
    if not bars or largest <= 0:
        _no_data(parts, x=left, y=top, width=plot_w, height=plot_h, message=empty_message)
        parts.append("</svg>")
        return mark_safe("".join(parts))

    top_value = nice_maximum(largest)
    for fraction in (0, 0.5, 1):
        y = base - fraction * plot_h
        parts.append(f'<line class="chart__grid" x1="{_fmt(left)}" x2="{_fmt(left + plot_w)}" y1="{_fmt(y)}" '
                     f'y2="{_fmt(y)}" stroke="{GRID_COLOUR if fraction else AXIS_COLOUR}"/>')
        parts.append(f'<text class="chart__tick" x="{_fmt(left - 5)}" y="{_fmt(y + 4)}" text-anchor="end" '
                     f'fill="{AXIS_COLOUR}">{escape(compact_number(fraction * top_value))}</text>')

    slot = plot_w / len(bars)
    gap = min(4.0, slot * 0.15)
    for index, bar in enumerate(bars):
        x = left + index * slot
        bar_h = bar.value / top_value * plot_h
        tooltip = bar.tooltip or f"{bar.label}: {bar.value:,}"
        modifier = f" chart__bar--{escape(bar.css_class)}" if bar.css_class else ""
        parts.append(f'<g class="chart__column"><title>{escape(tooltip)}</title>')
        # The full-height strip is what the pointer finds: a bar of a few pixels still shows its tooltip.
        parts.append(f'<rect class="chart__hit" x="{_fmt(x)}" y="{_fmt(top)}" width="{_fmt(slot)}" '
                     f'height="{_fmt(plot_h)}" fill="#ffffff" fill-opacity="0"/>')
        parts.append(f'<rect class="chart__bar{modifier}" x="{_fmt(x + gap / 2)}" y="{_fmt(base - bar_h)}" '
                     f'width="{_fmt(slot - gap)}" height="{_fmt(bar_h)}" fill="{escape(bar.colour)}" '
                     f'data-value="{bar.value}"/>')
        parts.append("</g>")
        if not edges:
            parts.append(f'<text class="chart__tick" x="{_fmt(x + slot / 2)}" y="{_fmt(base + 16)}" '
                         f'text-anchor="middle" fill="{AXIS_COLOUR}">'
                         f'{escape(_truncate(bar.label, slot, FONT_SIZE))}</text>')
    for index, edge in enumerate(edges):
        x = left + index * slot
        parts.append(f'<text class="chart__tick" x="{_fmt(x)}" y="{_fmt(base + 16)}" text-anchor="middle" '
                     f'font-size="{SMALL_FONT_SIZE}" fill="{AXIS_COLOUR}">{escape(edge)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bar_chart(bars: Sequence[Bar], *, title: str, description: str = "", value_texts: Sequence[str] = (),
              empty_message: str = "No data yet", id_prefix: str = "chart",
              css_class: str = "chart--bars") -> SafeString:
    """Horizontal bars, one row each: the label on the left, the bar, and its value (``value_texts``, default the
    count) at the bar's end. Lengths are proportional to the values, the largest taking the full width."""
    row_h, bar_h, pad = 26.0, 16.0, 4.0
    texts = list(value_texts) or [f"{bar.value:,}" for bar in bars]
    label_w = min(112.0, max((_text_width(bar.label) for bar in bars), default=40.0)) + 8
    value_w = max((_text_width(text) for text in texts), default=30.0) + 8
    bar_x = label_w
    bar_max = max(40.0, WIDTH - label_w - value_w - pad)
    height = pad * 2 + row_h * max(len(bars), 2)
    parts = _open_svg(height=height, title=title, description=description, id_prefix=id_prefix,
                      css_class=css_class)
    largest = max((bar.value for bar in bars), default=0)
    if not bars or largest <= 0:
        _no_data(parts, x=0, y=pad, width=WIDTH, height=height - 2 * pad, message=empty_message)
        parts.append("</svg>")
        return mark_safe("".join(parts))
    for index, (bar, text) in enumerate(zip(bars, texts, strict=True)):
        y = pad + index * row_h
        length = bar.value / largest * bar_max
        tooltip = bar.tooltip or f"{bar.label}: {bar.value:,}"
        modifier = f" chart__bar--{escape(bar.css_class)}" if bar.css_class else ""
        middle = y + row_h / 2
        parts.append(f'<g class="chart__row"><title>{escape(tooltip)}</title>')
        parts.append(f'<rect class="chart__hit" x="0" y="{_fmt(y)}" width="{WIDTH}" height="{_fmt(row_h)}" '
                     f'fill="#ffffff" fill-opacity="0"/>')
        parts.append(f'<text class="chart__label" x="{_fmt(label_w - 8)}" y="{_fmt(middle + 4)}" '
                     f'text-anchor="end" fill="#1d2330">{escape(_truncate(bar.label, label_w - 8))}</text>')
        parts.append(f'<rect class="chart__bar{modifier}" x="{_fmt(bar_x)}" y="{_fmt(middle - bar_h / 2)}" '
                     f'width="{_fmt(length)}" height="{_fmt(bar_h)}" rx="2" fill="{escape(bar.colour)}" '
                     f'data-value="{bar.value}"/>')
        parts.append(f'<text class="chart__value" x="{_fmt(bar_x + length + 5)}" y="{_fmt(middle + 4)}" '
                     f'fill="{AXIS_COLOUR}">{escape(text)}</text>')
        parts.append("</g>")
    parts.append(f'<line class="chart__axis" x1="{_fmt(bar_x)}" x2="{_fmt(bar_x)}" y1="{_fmt(pad)}" '
                 f'y2="{_fmt(height - pad)}" stroke="{AXIS_COLOUR}"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


# --- Confidence ------------------------------------------------------------------------------------------------------

def tier_of(score: float) -> str:
    """The tier of a confidence score, as the spec's ``mv_node_confidence_cache`` defines it."""
    if score >= HIGH_TIER_FROM:
        return "high"
    if score >= MEDIUM_TIER_FROM:
        return "medium"
    return "low"


def _nodes(value: int, estimated: bool) -> str:
    return f"{count_text(value, estimated=estimated)} node{'' if value == 1 and not estimated else 's'}"


def confidence_histogram(counts: Sequence[int], *, estimated: bool = False,
                         id_prefix: str = "confidence-histogram") -> SafeString:
    """Ten bins of confidence, 0–0.1 … 0.9–1.0 (each bin holds its lower edge; the last holds 1.0 too), coloured
    by tier. ``counts``: the ten bins' node counts."""
    if len(counts) != HISTOGRAM_BINS:
        raise ValueError(f"a confidence histogram has {HISTOGRAM_BINS} bins, not {len(counts)}")
    bars = []
    for index, value in enumerate(counts):
        lower, upper = index / HISTOGRAM_BINS, (index + 1) / HISTOGRAM_BINS
        interval = f"{lower:.1f}–{upper:.1f}"
        closing = "]" if index == HISTOGRAM_BINS - 1 else ")"
        tier = tier_of(lower)
        bars.append(Bar(label=interval, value=int(value), css_class=tier, colour=TIER_COLOURS[tier],
                        tooltip=f"Confidence [{interval}{closing}: {_nodes(int(value), estimated)} ({tier})"))
    total = sum(int(value) for value in counts)
    description = (f"Histogram of the confidence scores of {_nodes(total, estimated)} in ten bins of 0.1"
                   + (", estimated from PostgreSQL's statistics" if estimated else "") + ".")
    return column_chart(
        bars, title="Confidence distribution" + (" (estimated)" if estimated else ""), description=description,
        edges=[f"{index / HISTOGRAM_BINS:g}" for index in range(HISTOGRAM_BINS + 1)], x_title="confidence score",
        y_title="nodes", empty_message="No nodes with a confidence score", id_prefix=id_prefix,
        css_class="chart--histogram")


TIER_LABELS = {"high": "High ≥ 0.8", "medium": "Medium 0.5–0.8", "low": "Low < 0.5"}


def tier_chart(*, high: int, medium: int, low: int, estimated: bool = False,
               id_prefix: str = "confidence-tiers") -> SafeString:
    """The spec's three confidence tiers as horizontal bars, each with its count and share."""
    values = {"high": int(high), "medium": int(medium), "low": int(low)}
    total = sum(values.values())
    bars, texts = [], []
    for tier, value in values.items():
        share = f"{value / total:.0%}" if total else "0%"
        bars.append(Bar(label=TIER_LABELS[tier], value=value, css_class=tier, colour=TIER_COLOURS[tier],
                        tooltip=f"{TIER_LABELS[tier]}: {_nodes(value, estimated)} ({share})"))
        texts.append(f"{count_text(value, estimated=estimated)} · {share}")
    description = ", ".join(f"{tier} {count_text(value, estimated=estimated)}" for tier, value in values.items())
    return bar_chart(
        bars, title="Confidence tiers" + (" (estimated)" if estimated else ""),
        description=f"Nodes by confidence tier: {description}.", value_texts=texts,
        empty_message="No nodes with a confidence score", id_prefix=id_prefix, css_class="chart--tiers")


def node_type_chart(rows: Sequence[tuple[str, int]], *, id_prefix: str = "node-types") -> SafeString:
    """The biggest node types, ``(node_type, node_count)`` pairs, as horizontal bars."""
    bars = [Bar(label=name, value=int(count), tooltip=f"{name}: {int(count):,} node{'' if count == 1 else 's'}")
            for name, count in rows]
    return bar_chart(bars, title="Nodes by type",
                     description=", ".join(f"{name} {int(count):,}" for name, count in rows) or "No node types.",
                     empty_message="No node types yet", id_prefix=id_prefix, css_class="chart--types")
