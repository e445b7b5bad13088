"""The pages fit the screen at 1400 px (a laptop) and 390 px (a phone): no horizontal page scroll.

At 390 px a table with more columns than a phone can show scrolls inside its own container (the admin's
``.results`` wrapper, the home page's ``.table-wrap``); the page itself never does. At 1400 px the columns people
come for are on screen without scrolling at all.
"""

from __future__ import annotations

import pytest

from tests.browser.layout import overflow_problem, right_edge

WIDTHS = (1400, 390)


# name -> path (a callable of the site for paths with a row id).
PAGES = {
    "home": "/",
    "node-list": "/admin/graph/node/",
    "node-change": lambda site: f"/admin/graph/node/{site.showcase_node_id}/change/",
    "relationship-list": "/admin/graph/relationship/",
    "attribute-list": "/admin/graph/nodeattribute/",
    "config-list": "/admin/config_admin/systemconfig/",
    "config-change": lambda site: f"/admin/config_admin/systemconfig/{site.config_id}/change/",
    "audit-log": "/admin/config_admin/configauditlog/",
    "user-list": "/admin/kgsite/user/",
}


@pytest.fixture
def page_path(site):
    def resolve(name):
        path = PAGES[name]
        return path(site) if callable(path) else path

    return resolve


def _visit(page, url):
    response = page.goto(url)
    assert response is not None and response.ok, f"{url}: {response.status if response else 'no response'}"
    return page


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_page_does_not_scroll_sideways(site, admin_page, page_path, name, width):
    page = _visit(admin_page(width), site.url(page_path(name)))
    assert "/accounts/login/" not in page.url, "not logged in"
    problem = overflow_problem(page)
    assert problem is None, problem


@pytest.mark.parametrize("width", WIDTHS)
def test_login_page_does_not_scroll_sideways(site, anonymous_page, width):
    page = _visit(anonymous_page(width), site.url("/accounts/login/"))
    problem = overflow_problem(page)
    assert problem is None, problem


def _inner_width(page) -> int:
    return page.evaluate("window.innerWidth")


def test_node_list_shows_every_column_at_1400(site, admin_page):
    page = _visit(admin_page(1400), site.url("/admin/graph/node/"))
    width = _inner_width(page)
    for column in ("confidence_score", "source", "created_at"):
        header = page.locator(f"#result_list thead th.column-{column}")
        assert header.count() == 1, f"the node list has no {column} column"
        assert right_edge(header) <= width, f"the {column} column header ends beyond the {width} px viewport"


def test_audit_log_shows_reason_at_1400(site, admin_page):
    page = _visit(admin_page(1400), site.url("/admin/config_admin/configauditlog/"))
    header = page.locator("#result_list thead th.column-reason")
    assert header.count() == 1, "the audit log has no reason column"
    width = _inner_width(page)
    assert right_edge(header) <= width, f"the Reason column header ends beyond the {width} px viewport"


def test_node_change_page_shows_attribute_delete_column_at_1400(site, admin_page, page_path):
    page = _visit(admin_page(1400), site.url(page_path("node-change")))
    width = _inner_width(page)
    group = page.locator(".inline-group").filter(has=page.locator("input[name$='-attribute_key']")).first
    delete_header = group.locator("thead th").last
    assert "delete" in delete_header.inner_text().lower()
    assert right_edge(delete_header) <= width, f"the attributes' Delete column ends beyond the {width} px viewport"
    first_checkbox = group.locator("tbody td.delete input[type=checkbox]").first
    assert first_checkbox.is_visible()
    assert right_edge(first_checkbox) <= width, "the first attribute's delete checkbox is off screen"


def test_node_change_page_path_box_shows_the_whole_path(site, admin_page, page_path):
    """The Path box is wide enough for an ordinary path (the demo's deepest are ~45 characters)."""
    page = _visit(admin_page(1400), site.url(page_path("node-change")))
    path_input = page.locator("input[name=path]")
    widths = path_input.evaluate("input => ({scroll: input.scrollWidth, client: input.clientWidth})")
    assert widths["scroll"] <= widths["client"], (
        f"the path {path_input.input_value()!r} is cut off: {widths['scroll']} px of text in a "
        f"{widths['client']} px box"
    )
