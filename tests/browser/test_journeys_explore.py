"""Exploring the graph in a real browser (docs/search.md, docs/exploration.md): a curator searches by text and by
node, follows a result to its node page and its neighbourhood picture, re-centres the picture on another node and
exports what it shows as GraphML, finds the paths between two people, browses the hierarchy and moves a subtree.

The pages a journey passes through are measured at 390 px and 1400 px on the way: none may scroll sideways.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from playwright.sync_api import expect

from tests.browser import server as harness
from tests.browser.faults import assert_page_loaded
from tests.browser.layout import overflow_problem

GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"
WIDTHS = (390, 1400)


def assert_no_sideways_scroll(page, what: str) -> None:
    """The page, as it is, at a phone's width and a desktop's: it must not scroll sideways at either. The
    viewport is put back to its width afterwards."""
    before = page.viewport_size
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": harness.VIEWPORT_HEIGHTS[width]})
            problem = overflow_problem(page)
            assert problem is None, f"{what} scrolls sideways at {width} px:\n{problem}"
    finally:
        page.set_viewport_size(before)


def site_nav(page):
    return page.get_by_role("navigation", name="Site")


def result_rows(page):
    return page.locator(".search-results .search-table tbody tr")


def result_names(page) -> list[str]:
    return [row.locator("th > a").first.inner_text().strip() for row in result_rows(page).all()]


def similarities(page) -> list[float]:
    return [float(row.locator("td").first.inner_text()) for row in result_rows(page).all()]


def node_title_name(title: str) -> str:
    """The node's name from its picture tooltip, "Name (type), confidence 0.80[; N more ...]"."""
    match = re.match(r"(.*) \([^()]*\), confidence ", title)
    assert match, f"a node's tooltip in the picture does not start with its name and type: {title!r}"
    return match.group(1)


def picture_nodes(page) -> dict[int, str]:
    """The nodes the neighbourhood picture draws: node id -> name (from each node's tooltip)."""
    nodes = {}
    for link in page.locator("figure.kg-graph svg a.kg-node").all():
        title = link.locator("title").text_content()
        nodes[int(link.get_attribute("data-node-id"))] = node_title_name(title)
    return nodes


def test_a_curator_searches_by_text_opens_a_result_and_exports_its_neighbourhood(site, role_page):
    """A viewer goes from the dashboard to the search, searches for "functional programming language", opens the
    best result's node page and its neighbourhood picture, clicks another node in the picture to centre on it, and
    downloads what the picture shows as GraphML."""
    page = role_page("Viewer", 1400)
    page.goto(site.url("/"))
    site_nav(page).get_by_role("link", name="Search", exact=True).click()
    page.wait_for_url(site.url("/search/"))
    expect(page.locator("h1")).to_have_text("Similarity search")

    query = "functional programming language"
    page.get_by_label("Text:", exact=True).fill(query)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r"/search/\?.*text=functional"))
    expect(page.locator("#results-heading")).to_contain_text(f"Nodes similar to “{query}”")
    assert_page_loaded(page)
    names = result_names(page)
    assert names, "the text search found nothing: " + page.locator(".search-results").inner_text()
    scores = similarities(page)
    assert scores == sorted(scores, reverse=True), f"the results are not ranked by similarity: {scores}"
    summary = page.locator(".search-summary").inner_text()
    assert re.search(rf"\b{len(names)} results?\b", summary), f"the summary does not count {len(names)}: {summary}"
    assert_no_sideways_scroll(page, "the text search's results")

    # The best result opens its node page.
    best = names[0]
    result_rows(page).first.get_by_role("link", name=best, exact=True).click()
    page.wait_for_url(re.compile(r"/nodes/\d+/$"))
    expect(page.locator("h1")).to_have_text(best)
    assert_page_loaded(page)
    assert_no_sideways_scroll(page, f"the node page of {best}")

    # Its neighbourhood picture: drawn on the server, one link per node.
    page.get_by_role("link", name="Neighbourhood picture").click()
    page.wait_for_url(re.compile(r"/nodes/\d+/neighbourhood/$"))
    expect(page.locator("h1")).to_have_text(f"Neighbourhood of {best}")
    picture = page.locator("figure.kg-graph svg")
    expect(picture).to_be_visible()
    assert_page_loaded(page)
    drawn = picture_nodes(page)
    assert len(drawn) > 1, f"the neighbourhood picture of {best} shows {len(drawn)} node(s)"
    assert best in drawn.values(), f"the picture does not show its centre {best}: {sorted(drawn.values())}"
    counted = int(re.match(r"\s*(\d+) nodes?", page.locator("#summary").inner_text()).group(1))
    assert counted == len(drawn), f"the summary counts {counted} nodes, the picture draws {len(drawn)}"
    assert picture.locator("g.kg-edges > g").count() > 0, "the neighbourhood picture draws no relationships"
    assert_no_sideways_scroll(page, f"the neighbourhood of {best}")

    # Click another node of the picture: the neighbourhood is centred on it.
    other = picture.locator("a.kg-node:not(.kg-node--centre)").first
    other_id = int(other.get_attribute("data-node-id"))
    other_name = drawn[other_id]
    other.locator("circle.kg-node__dot").click()
    page.wait_for_url(re.compile(rf"/nodes/{other_id}/neighbourhood/"))
    expect(page.locator("h1")).to_have_text(f"Neighbourhood of {other_name}")
    picture = page.locator("figure.kg-graph svg")
    expect(picture.locator("a.kg-node--centre")).to_have_attribute("data-node-id", str(other_id))
    assert_page_loaded(page)
    shown = picture_nodes(page)
    table = page.locator("#node-table details")
    if table.get_attribute("open") is None:  # a long table is folded: unfold it
        table.locator("summary").click()
    table_names = sorted(table.locator("tbody th a").all_inner_texts())
    assert table_names == sorted(shown.values()), (
        f"the node table {table_names} and the picture {sorted(shown.values())} disagree")
    summary = page.locator("#summary").inner_text()
    shown_edges = int(re.search(r"and (\d+) relationships?", summary).group(1))

    # Export what is shown as GraphML: the same nodes, with their relationships.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download GraphML").click()
    download = download_info.value
    assert download.suggested_filename == f"neighbourhood-{other_id}.graphml", download.suggested_filename
    root = ET.parse(download.path()).getroot()
    assert root.tag == f"{GRAPHML}graphml", f"the download is not GraphML: its root element is {root.tag}"
    graph = root.find(f"{GRAPHML}graph")
    labels = {key.get("id") for key in root.findall(f"{GRAPHML}key") if key.get("attr.name") == "label"
              and key.get("for") == "node"}
    assert labels, "the GraphML declares no node label key"
    exported = {}
    for node in graph.findall(f"{GRAPHML}node"):
        name = next(data.text for data in node.findall(f"{GRAPHML}data") if data.get("key") in labels)
        exported[int(node.get("id").removeprefix("n"))] = name
    assert exported == shown, (
        f"the GraphML's nodes {sorted(exported.values())} are not the ones the page shows {sorted(shown.values())}")
    edges = graph.findall(f"{GRAPHML}edge")
    assert edges, "the GraphML has no edges"
    assert len(edges) == shown_edges, f"the GraphML has {len(edges)} edges, the page says {shown_edges}"
    ends = {node_id for edge in edges for node_id in (edge.get("source"), edge.get("target"))}
    assert ends <= {f"n{node_id}" for node_id in shown}, "a GraphML edge ends at a node the page does not show"


def test_a_curator_finds_the_nodes_similar_to_a_node_in_each_mode(site, role_page):
    """A viewer picks Haskell from the node field's suggestions, searches in each mode the form offers (hybrid
    shows both ranks), never sees Haskell among its own results, and opens one of them."""
    page = role_page("Viewer", 1400)
    page.goto(site.url("/search/"))
    node_field = page.get_by_role("combobox", name="Node:", exact=True)
    node_field.press_sequentially("Haskell")
    suggestions = page.get_by_role("listbox", name="Nodes")
    expect(suggestions).to_be_visible()
    haskell = suggestions.get_by_role("option").filter(
        has=page.locator(".autocomplete__name", has_text=re.compile(r"^Haskell$")))
    expect(haskell).to_have_count(1)
    haskell_id = re.search(r"id (\d+)", haskell.locator(".autocomplete__detail").inner_text()).group(1)
    haskell.click()
    expect(node_field).to_have_value("Haskell")
    expect(suggestions).to_be_hidden()

    modes = page.get_by_label("Mode:", exact=True).locator("option").all_inner_texts()
    assert len(modes) >= 3 and any(mode.startswith("Hybrid") for mode in modes), f"the modes offered: {modes}"
    for mode in sorted(modes, key=lambda mode: mode.startswith("Hybrid")):  # hybrid last
        page.get_by_label("Mode:", exact=True).select_option(label=mode)
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_url(re.compile(rf"/search/\?.*node={haskell_id}\b"))
        heading = page.locator("#results-heading")
        expect(heading).to_contain_text("Nodes similar to Haskell")
        expect(heading).to_contain_text(f"id {haskell_id}")
        assert mode in page.locator(".search-summary").inner_text(), f"the summary does not name the mode {mode}"
        names = result_names(page)
        assert names, f"{mode}: no node is similar to Haskell: " + page.locator(".search-results").inner_text()
        assert "Haskell" not in names, f"{mode}: Haskell is among its own similar nodes: {names}"
        links = result_rows(page).locator("th > a").evaluate_all("links => links.map(a => a.pathname)")
        assert f"/nodes/{haskell_id}/" not in links, f"{mode}: a result links to Haskell's own page"
        hybrid = mode.startswith("Hybrid")
        for column in ("Vector rank", "Text rank", "Fused score"):
            expect(page.locator(".search-table thead").get_by_text(column)).to_have_count(1 if hybrid else 0)
        # The form keeps the node and the mode for the next search.
        expect(page.get_by_label("Mode:", exact=True).locator("option:checked")).to_have_text(mode)
    assert_no_sideways_scroll(page, "the hybrid search's results")

    # The last of the hybrid results opens its node page.
    chosen = names[-1]
    result_rows(page).get_by_role("link", name=chosen, exact=True).first.click()
    page.wait_for_url(re.compile(r"/nodes/\d+/$"))
    expect(page.locator("h1")).to_have_text(chosen)
    assert_page_loaded(page)


def test_a_curator_finds_the_paths_between_two_people(site, role_page):
    """A viewer opens Paths from the navigation, asks for the paths from Alan Kay to Rich Hickey, reads the
    chains and opens the page of a node along the way."""
    page = role_page("Viewer", 1400)
    page.goto(site.url("/"))
    site_nav(page).get_by_role("link", name="Paths", exact=True).click()
    page.wait_for_url(site.url("/paths/"))
    page.get_by_label("From:", exact=True).fill("Alan Kay")
    page.get_by_label("To:", exact=True).fill("Rich Hickey")
    page.get_by_role("button", name="Find paths").click()
    page.wait_for_url(re.compile(r"/paths/\?.*from=Alan"))
    heading = page.locator("#paths-heading")
    expect(heading).to_have_text(re.compile(r"\d+ shortest paths? of \d+ hops?"))
    hops = int(re.search(r"of (\d+) hop", heading.inner_text()).group(1))
    assert_page_loaded(page)

    paths = page.locator(".path-list > li.path")
    assert paths.count() >= 1, "no path is listed under the heading " + heading.inner_text()
    for index in range(paths.count()):
        steps = paths.nth(index).locator(".path__node a.path__name")
        names = steps.all_inner_texts()
        assert names[0] == "Alan Kay" and names[-1] == "Rich Hickey", f"path {index + 1} runs {names}"
        assert len(names) == hops + 1, f"path {index + 1} has {len(names)} nodes for {hops} hops: {names}"
        assert paths.nth(index).locator(".path__hop").count() == hops
        hrefs = steps.evaluate_all("links => links.map(a => a.pathname)")
        assert all(re.fullmatch(r"/nodes/\d+/", href) for href in hrefs), f"a step links elsewhere: {hrefs}"
    assert_no_sideways_scroll(page, "the paths from Alan Kay to Rich Hickey")

    # A node along the first path opens its page.
    steps = paths.first.locator(".path__node a.path__name")
    step = steps.nth(1) if hops > 1 else steps.last
    name = step.inner_text()
    step.click()
    page.wait_for_url(re.compile(r"/nodes/\d+/$"))
    expect(page.locator("h1")).to_have_text(name)


def add_node_in_admin(page, *, name: str, path: str = "", parent: str = "", then: str = "Save") -> None:
    """Fill the admin's add form for a node (its name, type "topic", and either a path or a parent chosen in the
    parent field's autocomplete) and save it with the button ``then``."""
    page.get_by_label("Name:", exact=True).fill(name)
    page.get_by_label("Node type:", exact=True).fill("topic")
    if path:
        page.get_by_label("Path:", exact=True).fill(path)
    if parent:
        page.locator(".field-parent_node .select2-selection").click()
        page.locator(".select2-container--open .select2-search__field").fill(parent)
        page.locator(".select2-results__option", has_text=re.compile(rf"^{re.escape(parent)}\b")).first.click()
        expect(page.locator(".field-parent_node .select2-selection__rendered")).to_contain_text(parent)
    page.get_by_role("button", name=then, exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text(f"“{name} (topic)” was added successfully")


def hierarchy_row(page, name: str):
    return page.locator(".hierarchy-table tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True))


def test_a_curator_browses_the_hierarchy_and_moves_a_subtree(site, admin_page):
    """The administrator browses down from the roots, adds two roots and a child with a grandchild in the admin,
    then moves the child from one root to the other on the hierarchy page: the grandchild moves with it."""
    page = admin_page(1400)
    page.goto(site.url("/"))
    site_nav(page).get_by_role("link", name="Hierarchy", exact=True).click()
    page.wait_for_url(site.url("/hierarchy/"))
    expect(page.locator("#children-heading")).to_contain_text("Roots")
    assert_page_loaded(page)

    # Down two levels from the root with the most descendants.
    for level in range(2):
        rows = page.locator(".hierarchy-table tbody tr")
        assert rows.count(), f"level {level}: no rows to click down into"
        sizes = [int(text) if text.strip().isdigit() else 0
                 for text in rows.locator("td.num").all_inner_texts()]
        biggest = rows.nth(sizes.index(max(sizes)))
        name = biggest.locator("a.hierarchy-table__name").inner_text()
        path = biggest.locator("td.hierarchy-table__path").inner_text()
        biggest.locator("a.hierarchy-table__name").click()
        expect(page.locator("h1")).to_have_text(name)
        expect(page.locator(".lead .hierarchy-path")).to_have_text(path)
        facts = page.locator("dl.facts").inner_text()
        assert re.search(rf"Descendants\s+{max(sizes)}\b", facts), f"{name}: {facts} (the row said {max(sizes)})"

    # Two roots of our own, and a child of the first with a grandchild.
    site_nav(page).get_by_role("link", name="Admin", exact=True).click()
    page.locator("tr.model-node").get_by_role("link", name="Add").click()
    page.wait_for_url(site.url("/admin/graph/node/add/"))
    add_node_in_admin(page, name="Journey root A", path="journey_root_a", then="Save and add another")
    add_node_in_admin(page, name="Journey root B", path="journey_root_b", then="Save and add another")
    add_node_in_admin(page, name="Journey child", parent="Journey root A", then="Save and add another")
    add_node_in_admin(page, name="Journey grandchild", parent="Journey child")

    page.goto(site.url("/hierarchy/"))
    hierarchy_row(page, "Journey root A").get_by_role("link", name="Journey root A", exact=True).click()
    expect(page.locator("h1")).to_have_text("Journey root A")
    child_row = hierarchy_row(page, "Journey child")
    expect(child_row.locator("td.hierarchy-table__path")).to_have_text("journey_root_a.journey_child")
    expect(child_row.locator("td.num")).to_have_text("1")

    # Move the child (and so its grandchild) under root B.
    move = page.locator("section.hierarchy-move")
    node_select = move.get_by_label("Move:", exact=True)
    offered = node_select.locator("option").all_inner_texts()
    child_option = next((option for option in offered if option.startswith("Journey child ")), None)
    assert child_option == "Journey child (journey_root_a.journey_child)", f"the move form offers {offered}"
    node_select.select_option(label=child_option)
    move.get_by_label("Under:", exact=True).fill("Journey root B")
    move.get_by_role("button", name="Move", exact=True).click()
    page.wait_for_url(re.compile(r"/hierarchy/\?path=journey_root_b\.journey_child"))
    expect(page.locator(".messages")).to_contain_text(
        "Moved Journey child and its 1 descendant: journey_root_a.journey_child → journey_root_b.journey_child.")
    expect(page.locator("h1")).to_have_text("Journey child")
    expect(page.locator(".lead .hierarchy-path")).to_have_text("journey_root_b.journey_child")
    grandchild = hierarchy_row(page, "Journey grandchild")
    expect(grandchild.locator("td.hierarchy-table__path")).to_have_text(
        "journey_root_b.journey_child.journey_grandchild")

    grandchild.get_by_role("link", name="Journey grandchild", exact=True).click()
    expect(page.locator("h1")).to_have_text("Journey grandchild")
    expect(page.locator(".lead .hierarchy-path")).to_have_text("journey_root_b.journey_child.journey_grandchild")
    page.get_by_role("link", name="Up to Journey child").click()
    expect(page.locator("h1")).to_have_text("Journey child")
    page.get_by_role("link", name="Up to Journey root B").click()
    expect(page.locator("h1")).to_have_text("Journey root B")
    expect(hierarchy_row(page, "Journey child").locator("td.num")).to_have_text("1")
    page.get_by_role("link", name="Up to the roots").click()
    hierarchy_row(page, "Journey root A").get_by_role("link", name="Journey root A", exact=True).click()
    expect(page.locator("h1")).to_have_text("Journey root A")
    expect(page.locator("main")).to_contain_text("No children: Journey root A is a leaf of the tree.")
