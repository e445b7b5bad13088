"""Curators' journeys through the Django admin in a real browser (docs/admin.md, docs/configuration.md).

* A node with two attributes made on one form: a confidence out of range is reported beside its field, in its
  row, and nothing is saved until it is fixed; the node is then on its own page, reached by "View on site".
* A relationship made with the autocomplete widgets: an exact name typed is offered and chosen.
* A configuration parameter changed (refused out of range, then saved with a reason), listed in the audit log
  with its old and new value, and reset to its default through the confirmation page.
* The forms of these journeys at 390 px: none scrolls sideways.

The rows made here have names of their own ("Journey admin …"); the parameter changed here
(``ivfflat_lists_external_resources``) is used by no other browser test and is back at its default at the end.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser import server as harness
from tests.browser.faults import assert_page_loaded
from tests.browser.layout import overflow_problem

NODE_NAME = "Journey admin node with attributes"
PHONE_NODE_NAME = "Journey admin phone node"
RELATIONSHIP_TYPE = "journey_admin_studied"
PARAMETER = "ivfflat_lists_external_resources"  # integer, 10 to 10000, default 50
OUT_OF_RANGE = "20000"
NEW_VALUE = "64"
REASON = "Journey admin: more lists for the resources index after the crawl doubled it"


# An element's left and right edges in the viewport, and the part of the viewport its scrolling ancestors show.
_VISIBLE_SPAN_JS = """
element => {
  let shownLeft = 0, shownRight = window.innerWidth;
  for (let node = element.parentElement; node; node = node.parentElement) {
    if (getComputedStyle(node).overflowX !== 'visible') {
      const box = node.getBoundingClientRect();
      shownLeft = Math.max(shownLeft, box.left + node.clientLeft);
      shownRight = Math.min(shownRight, box.left + node.clientLeft + node.clientWidth);
    }
  }
  const box = element.getBoundingClientRect();
  return {left: box.left, right: box.right, shownLeft: shownLeft, shownRight: shownRight};
}
"""


def visible_span(locator) -> dict:
    return locator.evaluate(_VISIBLE_SPAN_JS)


def add_attribute_row(page, index: int, *, type_: str, key: str, value: str, confidence: str) -> None:
    """Click "Add another Node attribute" and fill the new row (``attributes-<index>``)."""
    group = page.locator("#attributes-group")
    group.get_by_role("button", name="Add another Node attribute").click()
    row = page.locator(f"#attributes-{index}")
    expect(row).to_be_visible()
    row.locator(f"[name='attributes-{index}-attribute_type']").fill(type_)
    row.locator(f"[name='attributes-{index}-attribute_key']").fill(key)
    row.locator(f"[name='attributes-{index}-attribute_value']").fill(value)
    row.locator(f"[name='attributes-{index}-confidence']").fill(confidence)


def fill_node_with_a_bad_attribute(page, name: str) -> None:
    """The node add form: a name and type, one valid attribute and one with confidence 1.5."""
    page.get_by_label("Name:").fill(name)
    page.get_by_label("Node type:").fill("journey")
    add_attribute_row(page, 0, type_="fact", key="colour", value="teal", confidence="0.8")
    add_attribute_row(page, 1, type_="fact", key="shape", value="round", confidence="1.5")


def assert_confidence_error_beside_its_field(page, index: int) -> None:
    """The error is in the row of the attribute, in the confidence cell, above its input, naming 0 to 1."""
    cell = page.locator(f"#attributes-{index} td.field-confidence")
    errors = cell.locator("ul.errorlist")
    expect(errors).to_have_count(1)
    text = errors.inner_text()
    assert re.search(r"between 0 and 1", text), f"the confidence error does not name the range 0 to 1: {text!r}"
    expect(cell.locator(f"input[name='attributes-{index}-confidence']")).to_have_value("1.5")
    # Beside the input: the error list sits directly above it, in the same cell.
    error_box, input_box = errors.bounding_box(), cell.locator("input").bounding_box()
    assert error_box["y"] + error_box["height"] <= input_box["y"] + 1, (error_box, input_box)
    assert abs(error_box["x"] - input_box["x"]) < 40, (error_box, input_box)
    # It is the form's only error (the other row, the node's own fields: none).
    expect(page.locator("#node_form ul.errorlist")).to_have_count(1)


def search_nodes_in_admin(page, name: str):
    """Search the node change list for ``name`` (typed in its search box); the rows found."""
    page.locator("#searchbar").fill(name)
    page.locator("#changelist-search").get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"\?q="))
    return page.locator("#result_list tbody tr")


def test_a_curator_makes_a_node_with_attributes_fixing_a_confidence_out_of_range(site, admin_page):
    """A curator adds a node with two attributes on one form; one has confidence 1.5. The error is shown in that
    attribute's row beside its confidence and nothing is saved; with 0.9 instead the node is saved, and its page on
    the site ("View on site") shows the name and both attributes."""
    page = admin_page(1400)
    page.goto(site.url("/admin/graph/node/add/"))
    assert_page_loaded(page)
    fill_node_with_a_bad_attribute(page, NODE_NAME)
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".errornote")).to_be_visible()
    assert_confidence_error_beside_its_field(page, 1)
    assert page.url.endswith("/admin/graph/node/add/"), f"the refused form was not shown again: {page.url}"

    # Nothing was saved: the node list, in another tab, has no node of that name.
    other_tab = page.context.new_page()
    other_tab.goto(site.url("/admin/graph/node/"))
    found = search_nodes_in_admin(other_tab, NODE_NAME).filter(has_text=NODE_NAME)
    expect(found, "the node was saved although its form was refused").to_have_count(0)
    other_tab.close()

    # Fixed: saved, with both attributes.
    page.locator("[name='attributes-1-confidence']").fill("0.9")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/graph/node/$"))
    message = page.locator("ul.messagelist li.success")
    expect(message).to_have_text(f"The node “{NODE_NAME} (journey)” was added successfully.")

    # Found by its name in the node list; from its admin page to its page on the site.
    found = search_nodes_in_admin(page, NODE_NAME).filter(has_text=NODE_NAME)
    expect(found).to_have_count(1)
    found.get_by_role("link", name=NODE_NAME).click()
    page.wait_for_url(re.compile(r"/admin/graph/node/\d+/change/"))
    node_id = int(re.search(r"/node/(\d+)/change/", page.url).group(1))
    expect(page.locator("#attributes-group tbody tr.has_original")).to_have_count(2)
    page.get_by_role("link", name="View on site").click()
    page.wait_for_url(re.compile(rf"/nodes/{node_id}/$"))
    assert_page_loaded(page)
    expect(page.locator("h1")).to_have_text(NODE_NAME)
    rows = page.locator("#attributes tbody tr")
    expect(rows).to_have_count(2)
    texts = rows.all_inner_texts()
    assert any("colour" in text and "teal" in text and "0.80" in text for text in texts), texts
    assert any("shape" in text and "round" in text and "0.90" in text for text in texts), texts


def choose_in_autocomplete(page, field: str, typed: str, option: str) -> None:
    """Open the select2 widget of ``field``, type ``typed`` and choose the option whose text is ``option``."""
    page.locator(f".field-{field} .select2-selection").click()
    search = page.locator(".select2-container--open .select2-search__field")
    expect(search).to_be_focused()
    search.press_sequentially(typed)
    results = page.locator(".select2-container--open .select2-results__option")
    offered = results.filter(has_text=re.compile(rf"^{re.escape(option)}$"))
    expect(offered, f"the autocomplete did not offer {option!r} for {typed!r}").to_have_count(1)
    offered.click()
    expect(page.locator(f".field-{field} .select2-selection__rendered")).to_contain_text(option)


def test_a_curator_links_two_nodes_choosing_them_by_name_in_the_autocomplete(site, admin_page):
    """A curator adds a relationship: in the source field's widget they type "Ken Thompson" and choose it, in the
    target's they type "C" (a name many others start with) and choose C itself, type the relationship's type and
    save; the relationship is listed, and shown on Ken Thompson's page."""
    page = admin_page(1400)
    page.goto(site.url("/admin/graph/relationship/add/"))
    assert_page_loaded(page)
    choose_in_autocomplete(page, "source_node", "Ken Thompson", "Ken Thompson (person)")
    choose_in_autocomplete(page, "target_node", "C", "C (language)")
    page.get_by_label("Relationship type:").fill(RELATIONSHIP_TYPE)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/graph/relationship/$"))
    expect(page.locator("ul.messagelist li.success")).to_contain_text("was added successfully")

    # In the list, searched by its type.
    page.locator("#searchbar").fill(RELATIONSHIP_TYPE)
    page.locator("#changelist-search").get_by_role("button", name="Search").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    row = rows.first.inner_text()
    assert "Ken Thompson" in row and RELATIONSHIP_TYPE in row and re.search(r"\bC\b", row), row

    # On Ken Thompson's page, reached from the node's admin page.
    page.locator("#nav-sidebar").get_by_role("link", name="Nodes", exact=True).click()
    search_nodes_in_admin(page, "Ken Thompson").get_by_role("link", name="Ken Thompson", exact=True).click()
    page.get_by_role("link", name="View on site").click()
    page.wait_for_url(re.compile(r"/nodes/\d+/$"))
    expect(page.locator("h1")).to_have_text("Ken Thompson")
    outgoing = page.locator("#outgoing tbody tr").filter(has_text=RELATIONSHIP_TYPE)
    expect(outgoing).to_have_count(1)
    expect(outgoing.locator("th").get_by_role("link")).to_have_text("C")
    expect(outgoing).to_contain_text("manual")


def parameter_row(page):
    return page.locator(f"#param-{PARAMETER}")


def test_an_administrator_changes_a_parameter_sees_it_audited_and_resets_it(site, admin_page):
    """An administrator sets a parameter out of its range (refused, naming the range, nothing saved), then to a
    valid value with a reason (saved; the audit log shows old and new value, reason and who), then resets it to its
    default on the confirmation page (the value is the default again, and the reset is in the audit log)."""
    page = admin_page(1400)
    page.goto(site.url("/admin/config_admin/systemconfig/"))
    assert_page_loaded(page)
    row = parameter_row(page)
    default = row.locator("td[data-label='Default'] code").inner_text()
    before = row.locator("td[data-label='Value'] code").inner_text()
    allowed = row.locator("td[data-label='Allowed']").inner_text().strip()
    assert before == default, f"{PARAMETER} is {before}, not its default {default}: another test left it changed"

    row.get_by_role("link", name="edit").click()
    page.wait_for_url(re.compile(r"/admin/config_admin/systemconfig/\d+/change/$"))
    change_url = page.url
    value = page.get_by_label("Parameter value:")
    value.fill(OUT_OF_RANGE)
    page.get_by_label("Reason:").fill("too many")
    page.get_by_role("button", name="Save", exact=True).click()
    errors = page.locator(".field-parameter_value ul.errorlist")
    expect(errors).to_have_count(1)
    error = errors.inner_text()
    assert "out of range" in error and allowed in error and OUT_OF_RANGE in error, (
        f"the error does not say {OUT_OF_RANGE} is outside {allowed!r}: {error!r}")
    page.locator(".breadcrumbs").get_by_role("link", name="Configuration parameters").click()
    expect(parameter_row(page).locator("td[data-label='Value'] code")).to_have_text(before)

    # A valid value with a reason: saved.
    page.goto(change_url)
    page.get_by_label("Parameter value:").fill(NEW_VALUE)
    page.get_by_label("Reason:").fill(REASON)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/config_admin/systemconfig/$"))
    expect(page.locator("ul.messagelist li.success")).to_be_visible()
    row = parameter_row(page)
    expect(row.locator("td[data-label='Value'] code")).to_have_text(NEW_VALUE)
    expect(row.locator(".cfg-changed")).to_be_visible()

    # The audit log: old → new, the reason, who.
    page.get_by_role("link", name="audit log").click()
    page.wait_for_url(re.compile(r"/admin/config_admin/configauditlog/"))
    entry = page.locator("#result_list tbody tr").filter(has_text=PARAMETER).first
    expect(entry.locator(".field-old_value")).to_have_text(before)
    expect(entry.locator(".field-new_value")).to_have_text(NEW_VALUE)
    expect(entry.locator(".field-reason")).to_have_text(REASON)
    expect(entry.locator(".field-updated_by")).to_have_text(harness.ADMIN_EMAIL)

    # Reset through its link and the confirmation page.
    page.goto(site.url("/admin/config_admin/systemconfig/"))
    parameter_row(page).get_by_role("link", name="reset…").click()
    page.wait_for_url(re.compile(r"/reset/$"))
    assert_page_loaded(page)
    question = page.locator("#content-main p").first.inner_text()
    assert PARAMETER in question and NEW_VALUE in question and default in question, question
    page.get_by_role("button", name="Yes, reset it").click()
    page.wait_for_url(re.compile(r"/admin/config_admin/systemconfig/$"))
    expect(page.locator("ul.messagelist li.success")).to_have_text(f"Reset {PARAMETER} to its default {default}.")
    row = parameter_row(page)
    expect(row.locator("td[data-label='Value'] code")).to_have_text(default)
    expect(row.locator(".cfg-changed")).to_have_count(0)

    page.get_by_role("link", name="audit log").click()
    entry = page.locator("#result_list tbody tr").filter(has_text=PARAMETER).first
    expect(entry.locator(".field-old_value")).to_have_text(NEW_VALUE)
    expect(entry.locator(".field-new_value")).to_have_text(default)
    expect(entry.locator(".field-updated_by")).to_have_text(harness.ADMIN_EMAIL)


def test_the_forms_of_these_journeys_fit_a_phone(site, admin_page):
    """On a 390 px phone the node form with its attribute error, the relationship form with the autocomplete open,
    the parameter form with its range error and the reset confirmation do not scroll sideways. Nothing is saved."""
    page = admin_page(390)
    page.goto(site.url("/admin/graph/node/add/"))
    fill_node_with_a_bad_attribute(page, PHONE_NODE_NAME)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errornote")).to_be_visible()
    assert_confidence_error_beside_its_field(page, 1)
    assert overflow_problem(page) is None, overflow_problem(page)
    # The attributes' table scrolls sideways in its own box; the column of the error is the one in view.
    for what, locator in (("the confidence error", page.locator("#attributes-1 td.field-confidence ul.errorlist")),
                          ("its input", page.locator("[name='attributes-1-confidence']"))):
        seen = visible_span(locator)
        assert seen["shownLeft"] <= seen["left"] + 0.5 and seen["right"] <= seen["shownRight"] + 0.5, (
            f"{what} is out of view ({seen}): the curator reads “Please correct the error below” and sees no error")

    page.goto(site.url("/admin/graph/relationship/add/"))
    assert overflow_problem(page) is None, overflow_problem(page)
    choose_in_autocomplete(page, "source_node", "Ken Thompson", "Ken Thompson (person)")
    page.locator(".field-target_node .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").press_sequentially("C")
    expect(page.locator(".select2-container--open .select2-results__option").first).to_be_visible()
    assert overflow_problem(page) is None, overflow_problem(page)
    page.keyboard.press("Escape")

    page.goto(site.url("/admin/config_admin/systemconfig/"))
    assert overflow_problem(page) is None, overflow_problem(page)
    parameter_row(page).get_by_role("link", name="edit").click()
    page.get_by_label("Parameter value:").fill(OUT_OF_RANGE)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".field-parameter_value ul.errorlist")).to_contain_text("out of range")
    assert overflow_problem(page) is None, overflow_problem(page)

    # The reset confirmation (nothing to reset: the value is its default) and the audit log.
    page.goto(re.sub(r"/change/.*$", "/reset/", page.url))
    expect(page.get_by_role("button", name="Yes, reset it")).to_be_visible()
    assert overflow_problem(page) is None, overflow_problem(page)
    page.get_by_role("link", name="No, take me back").click()
    page.get_by_role("link", name="audit log").click()
    page.wait_for_url(re.compile(r"/admin/config_admin/configauditlog/"))
    assert overflow_problem(page) is None, overflow_problem(page)
