"""The pages fit the screen at 1400 px (a laptop) and 390 px (a phone): no horizontal page scroll.

At 390 px a table with more columns than a phone can show scrolls inside its own container (the admin's
``.results`` wrapper, the home page's ``.table-wrap``); the page itself never does. At 1400 px the columns people
come for are on screen without scrolling at all.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.faults import assert_page_loaded
from tests.browser.layout import fully_visible_problem, overflow_problem

WIDTHS = (1400, 390)


# name -> path (a callable of the site for paths with a row id).
PAGES = {
    "home": "/",
    "node-page": lambda site: f"/nodes/{site.showcase_node_id}/",
    "neighbourhood": lambda site: f"/nodes/{site.showcase_node_id}/neighbourhood/?depth=2",
    "neighbourhood-max": lambda site: f"/nodes/{site.showcase_node_id}/neighbourhood/?depth=3&limit=500",
    "paths": "/paths/?from=Alan+Kay&to=Rich+Hickey",
    "hierarchy-roots": "/hierarchy/",
    "hierarchy-level": "/hierarchy/?path=computing.languages",
    "node-list": "/admin/graph/node/",
    "node-change": lambda site: f"/admin/graph/node/{site.showcase_node_id}/change/",
    "relationship-list": "/admin/graph/relationship/",
    "relationship-inferred": lambda site: f"/admin/graph/relationship/{site.inferred_relationship_id}/change/",
    "inference-queue": "/admin/graph/inferencequeueitem/",
    "attribute-list": "/admin/graph/nodeattribute/",
    "config-list": "/admin/config_admin/systemconfig/",
    "config-change": lambda site: f"/admin/config_admin/systemconfig/{site.config_id}/change/",
    "audit-log": "/admin/config_admin/configauditlog/",
    "user-list": "/admin/kgsite/user/",
    "search-form": "/search/",
    "search-text": "/search/?text=functional+programming+language",
    "search-node-hybrid": lambda site: f"/search/?node={site.showcase_node_id}&mode=hybrid",
    "search-resources": "/search/?text=language+reference&target=resources",
    "vector-index-runs": "/admin/graph/vectorindexbuild/",
    "vector-index-health": "/admin/graph/vectorindexbuild/health/",
    "import-upload": "/admin/graph/importjob/add/",
    "import-checked": lambda site: f"/admin/graph/importjob/{site.checked_import_id}/change/",
    "import-invalid": lambda site: f"/admin/graph/importjob/{site.invalid_import_id}/change/",
    "import-list": "/admin/graph/importjob/",
    "review": "/review/",
    "review-filtered": "/review/?min_score=0.6&skipped=all",
    "review-admin": "/admin/graph/pendinglink/",
    "review-rejections": "/admin/graph/inferencerejection/",
    "review-decisions": "/admin/graph/reviewdecision/",
    "duplicates": "/duplicates/",
    "merge-confirm": lambda site: "/duplicates/merge/?survivor={}&merged={}".format(*site.duplicate_pair),
    "node-history": lambda site: f"/nodes/{site.showcase_node_id}/history/",
    "history": "/history/",
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
    assert_page_loaded(page)  # its stylesheets applied, its images loaded
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


def _column_header(page, label: str):
    """The change list's column header whose text starts with ``label`` (case-insensitive)."""
    headers = page.locator("#result_list thead th").filter(has_text=re.compile(rf"^\s*{label}", re.IGNORECASE))
    assert headers.count() == 1, f"{page.url}: no single column header starting with {label!r}"
    return headers


@pytest.mark.parametrize(("path", "labels"), [
    ("/admin/graph/node/", ("confidence", "source", "created")),
    ("/admin/config_admin/configauditlog/", ("reason",)),
], ids=["node-list", "audit-log"])
def test_columns_are_on_screen_without_scrolling_at_1400(site, admin_page, path, labels):
    """Visible means inside the viewport and inside the list's own scrolling box (``.results``)."""
    page = _visit(admin_page(1400), site.url(path))
    problems = [fully_visible_problem(_column_header(page, label), f"the {label!r} column header")
                for label in labels]
    assert not any(problems), "\n".join(filter(None, problems))


def test_home_page_types_table_shows_every_column_at_1400(site, admin_page):
    page = _visit(admin_page(1400), site.url("/"))
    headers = page.locator("section[aria-labelledby=types-heading] thead th")
    assert headers.count() == 7, "the biggest-types table is missing or has other columns"
    problems = [fully_visible_problem(headers.nth(index), f"the {headers.nth(index).inner_text()!r} column header")
                for index in range(headers.count())]
    assert not any(problems), "\n".join(filter(None, problems))


def test_node_change_page_shows_attribute_delete_column_at_1400(site, admin_page, page_path):
    page = _visit(admin_page(1400), site.url(page_path("node-change")))
    group = page.locator(".inline-group").filter(has=page.locator("input[name$='-attribute_key']")).first
    delete_header = group.locator("thead th").last
    assert "delete" in delete_header.inner_text().lower()
    problem = fully_visible_problem(delete_header, "the attributes' Delete column header")
    assert problem is None, problem
    first_checkbox = group.locator("tbody td.delete input[type=checkbox]").first
    assert first_checkbox.is_visible()
    problem = fully_visible_problem(first_checkbox, "the first attribute's delete checkbox")
    assert problem is None, problem


def test_node_change_page_path_box_shows_the_whole_path(site, admin_page, page_path):
    """The Path box is wide enough for an ordinary path (the demo's deepest are ~45 characters)."""
    page = _visit(admin_page(1400), site.url(page_path("node-change")))
    path_input = page.locator("input[name=path]")
    widths = path_input.evaluate("input => ({scroll: input.scrollWidth, client: input.clientWidth})")
    assert widths["scroll"] <= widths["client"], (
        f"the path {path_input.input_value()!r} is cut off: {widths['scroll']} px of text in a "
        f"{widths['client']} px box"
    )


def _registered_models():
    from django.contrib import admin

    for model in admin.site._registry:
        opts = model._meta
        yield pytest.param(f"/admin/{opts.app_label}/{opts.model_name}/", id=f"{opts.app_label}.{opts.model_name}")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("changelist", _registered_models())
def test_every_admin_page_fits(site, admin_page, changelist, width):
    """Every registered model's list, its first row's page and its add page (when the admin offers them); at
    1400 px the list's whole table is visible without scrolling its box."""
    page = _visit(admin_page(width), site.url(changelist))
    problems = [overflow_problem(page)]
    results = page.locator("#result_list")
    if width == 1400 and results.count():  # at 1400 px every column of a list is on screen
        problems.append(fully_visible_problem(results, f"{changelist}: the list's table"))
    first_row = page.locator("#result_list tbody tr a[href*='/change/']").first
    add_link = page.locator(".object-tools a.addlink").first
    targets = [link.get_attribute("href") for link in (first_row, add_link) if link.count()]
    for href in targets:
        _visit(page, site.url(href))
        problems.append(overflow_problem(page))
    assert not any(problems), "\n".join(filter(None, problems))
