"""The dashboard's SVG charts (graph.presentation.charts): valid SVG that scales, bars proportional to the counts,
exact counts in the tooltips, a "no data" picture, and nothing a CSP would block."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from graph.presentation.charts import (
    Bar,
    bar_chart,
    column_chart,
    compact_number,
    confidence_histogram,
    nice_maximum,
    node_type_chart,
    tier_chart,
    tier_of,
)

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg) -> ET.Element:
    root = ET.fromstring(str(svg))
    assert root.tag == f"{SVG}svg"
    return root


def _bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if "chart__bar" in rect.get("class", "").split()]


def _tooltips(root: ET.Element, group_class: str) -> list[str]:
    return [group.find(f"{SVG}title").text for group in root.iter(f"{SVG}g") if group.get("class") == group_class]


def _assert_scalable_accessible_and_csp_safe(svg) -> ET.Element:
    root = _parse(svg)
    assert root.get("width") == "100%" and root.get("viewBox", "").startswith("0 0 ")
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text
    assert title.get("id") in root.get("aria-labelledby").split()
    for element in root.iter():
        assert "style" not in element.attrib, element.tag
        assert not any(name.startswith("on") for name in element.attrib), element.attrib
        assert element.tag not in (f"{SVG}script", f"{SVG}style", f"{SVG}foreignObject")
    return root


def test_histogram_has_ten_bars_with_heights_proportional_to_the_counts():
    counts = [0, 10, 20, 40, 80, 100, 50, 25, 5, 1]
    root = _assert_scalable_accessible_and_csp_safe(confidence_histogram(counts))
    bars = _bars(root)
    assert [int(bar.get("data-value")) for bar in bars] == counts
    heights = [float(bar.get("height")) for bar in bars]
    unit = heights[5] / 100
    for height, count in zip(heights, counts, strict=True):
        assert height == pytest.approx(count * unit, abs=0.02)
    # The bars stand on the same baseline.
    assert len({round(float(bar.get("y")) + float(bar.get("height")), 1) for bar in bars}) == 1
    assert heights[5] > 0 and heights[0] == 0


def test_histogram_tooltips_give_the_exact_counts_and_tiers():
    counts = [1, 0, 0, 0, 12_345, 2, 0, 3, 4, 5]
    root = _parse(confidence_histogram(counts))
    tooltips = _tooltips(root, "chart__column")
    assert tooltips[0] == "Confidence [0.0–0.1): 1 node (low)"
    assert tooltips[4] == "Confidence [0.4–0.5): 12,345 nodes (low)"
    assert tooltips[5] == "Confidence [0.5–0.6): 2 nodes (medium)"
    assert tooltips[7] == "Confidence [0.7–0.8): 3 nodes (medium)"
    assert tooltips[8] == "Confidence [0.8–0.9): 4 nodes (high)"
    assert tooltips[9] == "Confidence [0.9–1.0]: 5 nodes (high)"
    classes = [bar.get("class") for bar in _bars(root)]
    assert classes[4].endswith("--low") and classes[5].endswith("--medium") and classes[8].endswith("--high")


def test_histogram_axis_labels_are_the_bin_edges_and_a_round_maximum():
    root = _parse(confidence_histogram([3, 0, 0, 0, 0, 7, 0, 0, 0, 0]))
    ticks = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "chart__tick"]
    assert ticks[:3] == ["0", "5", "10"]  # 7 rounds up to 10
    assert ticks[3:] == ["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"]
    assert all(float(text.get("font-size", 12)) >= 11 for text in root.iter(f"{SVG}text"))


def test_estimated_histogram_says_so():
    root = _parse(confidence_histogram([0, 0, 0, 0, 0, 1200, 0, 0, 0, 0], estimated=True))
    assert root.find(f"{SVG}title").text == "Confidence distribution (estimated)"
    assert _tooltips(root, "chart__column")[5] == "Confidence [0.5–0.6): ≈1,200 nodes (medium)"


def test_empty_histogram_draws_no_data():
    root = _assert_scalable_accessible_and_csp_safe(confidence_histogram([0] * 10))
    assert _bars(root) == []
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert "No nodes with a confidence score" in texts
    assert any(rect.get("class") == "chart__empty" for rect in root.iter(f"{SVG}rect"))


def test_histogram_needs_ten_bins():
    with pytest.raises(ValueError, match="10 bins"):
        confidence_histogram([1, 2, 3])


def test_tier_chart_lengths_counts_and_shares():
    root = _assert_scalable_accessible_and_csp_safe(tier_chart(high=30, medium=60, low=10))
    bars = _bars(root)
    assert [bar.get("class").split()[-1] for bar in bars] == ["chart__bar--high", "chart__bar--medium",
                                                              "chart__bar--low"]
    widths = [float(bar.get("width")) for bar in bars]
    assert widths[0] / widths[1] == pytest.approx(0.5, abs=0.01)
    assert widths[2] / widths[1] == pytest.approx(1 / 6, abs=0.01)
    values = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "chart__value"]
    assert values == ["30 · 30%", "60 · 60%", "10 · 10%"]
    assert _tooltips(root, "chart__row") == ["High ≥ 0.8: 30 nodes (30%)", "Medium 0.5–0.8: 60 nodes (60%)",
                                             "Low < 0.5: 10 nodes (10%)"]


def test_tier_chart_without_nodes_draws_no_data():
    root = _parse(tier_chart(high=0, medium=0, low=0))
    assert _bars(root) == []
    assert "No nodes with a confidence score" in [text.text for text in root.iter(f"{SVG}text")]


def test_tier_chart_estimate_marks_the_counts():
    root = _parse(tier_chart(high=1000, medium=0, low=0, estimated=True))
    values = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "chart__value"]
    assert values[0] == "≈1,000 · 100%"


@pytest.mark.parametrize(("score", "tier"), [
    (0.0, "low"), (0.4999, "low"), (0.5, "medium"), (0.7999, "medium"), (0.8, "high"), (1.0, "high"),
])
def test_tiers_follow_the_spec_view(score, tier):
    assert tier_of(score) == tier


def test_labels_are_escaped_and_long_ones_shortened():
    name = "<script>alert(1)</script>-a-very-long-node-type-name"
    svg = node_type_chart([(name, 5), ("person", 10)])
    assert "<script>" not in str(svg)
    root = _assert_scalable_accessible_and_csp_safe(svg)
    labels = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "chart__label"]
    assert labels[1] == "person"
    assert labels[0].endswith("…") and len(labels[0]) < len(name)
    assert _tooltips(root, "chart__row")[0] == f"{name}: 5 nodes"  # the full name, with the exact count
    widths = [float(bar.get("width")) for bar in _bars(root)]
    assert widths[0] / widths[1] == pytest.approx(0.5, abs=0.01)


def test_generic_charts_without_data():
    for svg in (column_chart([], title="Nothing"), bar_chart([Bar("a", 0)], title="Nothing"),
                node_type_chart([])):
        root = _assert_scalable_accessible_and_csp_safe(svg)
        assert _bars(root) == []
        assert any(text.get("class") == "chart__empty-text" for text in root.iter(f"{SVG}text"))


def test_column_chart_labels_bars_without_edges():
    root = _parse(column_chart([Bar("a", 1), Bar("b", 3)], title="Two", id_prefix="two"))
    assert root.get("aria-labelledby") == "two-title two-desc"
    ticks = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "chart__tick"]
    assert ticks[-2:] == ["a", "b"]
    assert _tooltips(root, "chart__column") == ["a: 1", "b: 3"]


@pytest.mark.parametrize(("value", "expected"), [(0, 1), (0.3, 0.5), (1, 1), (7, 10), (12, 20), (23, 25),
                                                 (140, 200), (999_000, 1_000_000)])
def test_nice_maximum(value, expected):
    assert nice_maximum(value) == pytest.approx(expected)


@pytest.mark.parametrize(("value", "expected"), [(0, "0"), (50, "50"), (1500, "1.5k"), (12_000, "12k"),
                                                 (2_500_000, "2.5M"), (0.5, "0.5")])
def test_compact_number(value, expected):
    assert compact_number(value) == expected
