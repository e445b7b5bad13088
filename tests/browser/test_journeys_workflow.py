"""A curator's workflow in a real browser: logging in and out, an import from the admin checked and applied by the
worker, an edit that makes the worker infer a relationship with its explanation, and what each role may do
(docs/roles.md, docs/import-format.md "From the admin", docs/inference.md)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.browser import server as harness
from tests.browser.faults import assert_page_loaded
from tests.browser.layout import overflow_problem

WORKER_DEADLINE = 60.0  # seconds the worker gets to pick up and finish what a journey gave it


def reload_until(page, holds: Callable[[], bool], what: str, worker=None, deadline: float = WORKER_DEADLINE) -> None:
    """Reload ``page`` until ``holds()`` is true, as a person waiting for the worker would; fail naming ``what``
    (and the end of the worker's log) after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not holds():
        if time.monotonic() > end:
            log = worker.log_text()[-3000:] if worker is not None else ""
            pytest.fail(f"{what}: not seen on {page.url} within {deadline:.0f} s\n--- worker log (end) ---\n{log}")
        page.wait_for_timeout(500)  # paces the reloads (not a wait for the result: that is holds())
        page.reload()


def assert_fits(page, what: str) -> None:
    problem = overflow_problem(page)
    assert problem is None, f"{what} scrolls sideways:\n{problem}"


# --- 1. Logging in and out --------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", (1400, 390))
def test_an_editor_logs_in_after_a_wrong_password_and_logs_out(site, anonymous_page, width):
    """A person opens the site without a session and is sent to the login page; a wrong password is refused on
    the form; the right one leads to the page they asked for; "Log out" ends the session, and the site sends them
    to the login page again. At 390 px the login and logged-out pages do not scroll sideways."""
    email = harness.ROLE_EMAILS["Editor"]
    page = anonymous_page(width)

    page.goto(site.url("/"))
    page.wait_for_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    assert_page_loaded(page)
    assert_fits(page, "the login page")

    # Asking for a page: the login page says why it is shown, and keeps the page to go to afterwards.
    page.goto(site.url("/hierarchy/"))
    page.wait_for_url(re.compile(r"/accounts/login/\?next=/hierarchy/$"))
    expect(page.locator(".notice")).to_have_text("Please log in to see that page.")

    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(harness.ADMIN_PASSWORD + "-wrong")
    page.get_by_role("button", name="Log in").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("That email address and password do not match an active account")
    assert "/accounts/login/" in page.url, f"a wrong password left the login page: {page.url}"
    expect(page.get_by_label("Email address")).to_have_value(email)  # kept; the password is not
    expect(page.get_by_label("Password")).to_have_value("")
    assert_fits(page, "the login page with its error")

    page.get_by_label("Password").fill(harness.ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site.url("/hierarchy/"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Site")
    expect(nav).to_contain_text(email)
    assert_page_loaded(page)

    nav.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/logout/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Logged out")
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    expect(page.get_by_role("navigation", name="Site")).not_to_contain_text(email)
    assert_page_loaded(page)
    assert_fits(page, "the logged-out page")

    # The session is gone: the site's pages send the person to the login page again.
    page.goto(site.url("/"))
    page.wait_for_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    page.goto(site.url("/hierarchy/"))
    page.wait_for_url(re.compile(r"/accounts/login/\?next=/hierarchy/$"))


# --- 2. An import from the admin --------------------------------------------------------------------------------

def import_file(tmp_path, tag: str) -> tuple:
    """A small JSON Lines file of this run (docs/import-format.md): a root and a child node, two attributes,
    one relationship between them. Returns the file and the two nodes' names."""
    label = "journey_import_" + tag
    root, child = f"Journey Import Root {tag}", f"Journey Import Child {tag}"
    records = [
        {"kind": "node", "key": f"journey-import-{tag}:root", "name": root, "node_type": "journey",
         "path": label},
        {"kind": "node", "key": f"journey-import-{tag}:child", "name": child, "node_type": "journey",
         "path": f"{label}.child"},
        {"kind": "attribute", "node": f"journey-import-{tag}:root", "type": "journey", "key": "colour",
         "value": f"import-{tag}"},
        {"kind": "attribute", "node": f"journey-import-{tag}:child", "type": "journey", "key": "colour",
         "value": f"import-{tag}-child", "confidence": 0.9},
        {"kind": "relationship", "source": f"journey-import-{tag}:child", "target": f"journey-import-{tag}:root",
         "type": "part_of", "strength": 0.8},
    ]
    path = tmp_path / f"journey-import-{tag}.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path, root, child


def counts_table(page, heading: str) -> dict[str, dict[str, int]]:
    """The rows of the counts table under ``heading``: {kind: {"created": n, ...}}."""
    table = page.get_by_role("heading", name=heading).locator("xpath=following-sibling::div[1]//table")
    columns = [text.strip().lower() for text in table.locator("thead th").all_inner_texts()]
    rows = {}
    for cells in table.locator("tbody tr").evaluate_all(
            "rows => rows.map(row => Array.from(row.cells, cell => cell.innerText.trim()))"):
        rows[cells[0]] = {column: int(value) for column, value in zip(columns[1:], cells[1:], strict=True)}
    return rows


def test_a_curator_imports_a_file_in_the_admin_and_finds_its_nodes(site, admin_page, site_worker, tmp_path):
    """A curator uploads a JSON Lines file in the admin and sees it waiting; the worker checks it and the page
    reports what it would create; the curator confirms, the worker imports it, and the new nodes are there: found
    by the node list's search, with their attributes and relationship on the node page."""
    tag = uuid.uuid4().hex[:8]
    upload, root, child = import_file(tmp_path, tag)
    page = admin_page(1400)
    page.goto(site.url("/admin/graph/importjob/add/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload an import")
    assert_page_loaded(page)
    page.get_by_label("File").set_input_files(upload)
    page.get_by_role("button", name="Upload and check").click()

    page.wait_for_url(re.compile(r"/admin/graph/importjob/\d+/change/$"))
    job_id = re.search(r"/importjob/(\d+)/change/", page.url).group(1)
    expect(page.locator(".messagelist")).to_contain_text(f"Uploaded {upload.name}. The worker checks it now")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Import {job_id}: {upload.name}")
    status = page.locator(".import-status")
    # Waiting for the worker (or, on a fast worker, already being checked or checked).
    expect(status).to_have_text(re.compile(r"^(Uploaded|Checking|Checked)"))

    # The page refreshes itself while the worker has the file; the check's report replaces the waiting.
    expect(status).to_have_text(re.compile(r"^Checked"), timeout=WORKER_DEADLINE * 1000)
    heading = "What the import would do (nothing is written until you confirm)"
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    assert page.get_by_role("heading", name=re.compile(r"errors?: nothing was written")).count() == 0
    would = counts_table(page, heading)
    assert would == {
        "nodes": {"created": 2, "updated": 0, "unchanged": 0, "skipped": 0},
        "attributes": {"created": 2, "updated": 0, "unchanged": 0, "skipped": 0},
        "relationships": {"created": 1, "updated": 0, "unchanged": 0, "skipped": 0},
    }, f"the check's report: {would}"
    assert_page_loaded(page)

    page.get_by_role("button", name="Confirm: import 5 records").click()
    page.wait_for_url(re.compile(rf"/admin/graph/importjob/{job_id}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text(f"Confirmed: the worker imports {upload.name} now")
    expect(status).to_have_text(re.compile(r"^Completed"), timeout=WORKER_DEADLINE * 1000)
    did = counts_table(page, "What the import did")
    assert {kind: row["created"] for kind, row in did.items()} == {"nodes": 2, "attributes": 2, "relationships": 1}, did
    expect(page.get_by_role("button", name=re.compile("^Confirm"))).to_have_count(0)

    # The import is listed as completed, with its records.
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role("link", name="Imports").click()
    row = page.locator("#result_list tbody tr").filter(has_text=upload.name)
    expect(row.locator(".field-status")).to_have_text("Completed")
    expect(row.locator(".field-records")).to_have_text("5")

    # The new nodes, found by the node list's search; the child's page shows its attribute and relationship.
    page.goto(site.url("/admin/graph/node/"))
    search = page.get_by_role("search")
    search.get_by_role("textbox").fill(f"Journey Import Child {tag}")
    search.get_by_role("button", name="Search").click()
    results = page.locator("#result_list tbody tr")
    expect(results).to_have_count(1)
    results.get_by_role("link", name=child).click()
    expect(page.get_by_label("Name:")).to_have_value(child)
    page.get_by_role("link", name="View on site").click()
    page.wait_for_url(re.compile(r"/nodes/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(child)
    expect(page.locator("#attributes")).to_contain_text(f"import-{tag}-child")
    outgoing = page.locator("#outgoing tbody tr").filter(has_text=root)
    expect(outgoing).to_contain_text("part_of")
    expect(outgoing).to_contain_text("manual")
    assert_page_loaded(page)
    outgoing.get_by_role("link", name=root).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(root)
    expect(page.locator("#attributes")).to_contain_text(f"import-{tag}")
    expect(page.locator("#incoming tbody tr").filter(has_text=child)).to_contain_text("part_of")


# --- 3. An edit the worker turns into an inferred relationship -------------------------------------------------

def add_attributes(page, values: list[tuple[str, str, str]]) -> None:
    """Fill new rows of the node page's attribute inline ("Add another Node attribute")."""
    group = page.locator("#attributes-group")
    for attribute_type, key, value in values:
        before = group.locator("tr.form-row.dynamic-attributes").count()
        group.get_by_role("button", name="Add another Node attribute").click()
        row = group.locator("tr.form-row.dynamic-attributes").nth(before)
        row.locator("[name$='-attribute_type']").fill(attribute_type)
        row.locator("[name$='-attribute_key']").fill(key)
        row.locator("[name$='-attribute_value']").fill(value)


def test_an_edit_makes_the_worker_infer_a_relationship_with_its_explanation(site, admin_page, site_worker):
    """A curator creates a node with two attribute values nobody else has, then edits a second node to carry the
    same two; the worker infers a relationship between them, and the second node's page shows it as inferred,
    naming the two shared values."""
    tag = uuid.uuid4().hex[:8]
    first, second = f"Journey Inference First {tag}", f"Journey Inference Second {tag}"
    # Two values only these two nodes carry: rarity 1 each, so with the admin's defaults (weight 1, confidence 0.5,
    # reliability 1) each contributes 0.5 and the pair scores 0.75, above the threshold 0.5 (docs/inference.md).
    shared = [("journey", "flavour", f"bergamot-{tag}"), ("journey", "texture", f"velvet-{tag}")]
    page = admin_page(1400)

    page.goto(site.url("/admin/graph/node/add/"))
    page.get_by_label("Name:").fill(first)
    page.get_by_label("Node type:").fill("journey")
    add_attributes(page, shared)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text(f"The node “{first} (journey)” was added successfully.")

    page.goto(site.url("/admin/graph/node/add/"))
    page.get_by_label("Name:").fill(second)
    page.get_by_label("Node type:").fill("journey")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text(f"The node “{second} (journey)” was added successfully.")
    assert_page_loaded(page)

    # The edit: the second node gets the same two values.
    add_attributes(page, shared)
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text(f"The node “{second} (journey)” was changed successfully.")
    expect(page.locator("#attributes-group")).to_contain_text(f"bergamot-{tag}")

    page.get_by_role("link", name="View on site").click()
    page.wait_for_url(re.compile(r"/nodes/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(second)
    link = page.locator("#outgoing tbody tr, #incoming tbody tr").filter(has_text=first)
    reload_until(page, lambda: link.count() > 0, f"the inferred relationship from “{second}” to “{first}”",
                 worker=site_worker)
    expect(link).to_have_count(1)
    expect(link).to_contain_text("shares_attributes")
    expect(link.locator(".badge--inferred")).to_have_text("inferred")
    why = link.locator(".because")
    expect(why).to_contain_text("inferred because both have")
    expect(why).to_contain_text(f"flavour = bergamot-{tag}")
    expect(why).to_contain_text(f"texture = velvet-{tag}")
    score = float(re.search(r"score (\d\.\d{3})", why.inner_text()).group(1))
    assert 0.5 <= score < 1, f"the explanation's score {score} is not one that makes a link"
    assert_page_loaded(page)

    # The first node's page shows the same link from its side.
    link.get_by_role("link", name=first).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(first)
    back = page.locator("#outgoing tbody tr, #incoming tbody tr").filter(has_text=second)
    expect(back.locator(".because")).to_contain_text(f"flavour = bergamot-{tag}")


# --- 4. What each role may do ----------------------------------------------------------------------------------

def node_page_affordances(page) -> dict[str, int]:
    """How many of the editing links an editor sees on a node page this page shows."""
    actions = page.locator(".item-actions")
    return {
        "Edit": actions.get_by_role("link", name="Edit", exact=True).count(),
        "Open in the admin": actions.get_by_role("link", name="Open in the admin").count(),
        "Edit the attributes": page.get_by_role("link", name="Edit the attributes").count(),
        "Edit (relationships)": page.locator("#outgoing, #incoming").get_by_role("link", name="Edit",
                                                                                  exact=True).count(),
        "View (relationships)": page.locator("#outgoing, #incoming").get_by_role("link", name="View",
                                                                                  exact=True).count(),
    }


def test_a_viewer_sees_no_edit_affordances_and_the_admin_refuses_changes(site, role_page, faults):
    """A Viewer reads a node page, the review queue and the hierarchy without any of the buttons and links an
    Editor uses to change them; the node's admin page is read-only, and the admin's add page is refused with a
    page naming the missing permission. The Editor sees those affordances on the same pages."""
    node = site.url(f"/nodes/{site.showcase_node_id}/")
    editor = role_page("Editor")
    editor.goto(node)
    seen = node_page_affordances(editor)
    assert seen["Edit"] == 1 and seen["Edit the attributes"] == 1 and seen["Open in the admin"] == 0, seen
    assert seen["Edit (relationships)"] > 0 and seen["View (relationships)"] == 0, seen
    relationships = seen["Edit (relationships)"]
    editor.goto(site.url("/review/"))
    expect(editor.get_by_role("group", name="Decide on several")).to_be_visible()
    assert editor.get_by_role("button", name="Accept", exact=True).count() > 0, "the Editor has no Accept buttons"
    editor.goto(site.url("/hierarchy/?path=computing"))
    expect(editor.get_by_role("heading", name="Move a subtree")).to_be_visible()
    editor.goto(site.url(f"/admin/graph/node/{site.showcase_node_id}/change/"))
    expect(editor.get_by_role("button", name="Save", exact=True)).to_be_visible()

    viewer = role_page("Viewer")
    viewer.goto(node)
    assert_page_loaded(viewer)
    seen = node_page_affordances(viewer)
    assert seen == {"Edit": 0, "Open in the admin": 1, "Edit the attributes": 0, "Edit (relationships)": 0,
                    "View (relationships)": relationships}, f"the Viewer's node page: {seen}"
    viewer.goto(site.url("/review/"))
    expect(viewer.locator("li.review-item").first).to_be_visible()  # the queue is there to read
    expect(viewer.get_by_role("group", name="Decide on several")).to_have_count(0)
    for button in ("Accept", "Reject", "Skip"):
        expect(viewer.get_by_role("button", name=button, exact=True)).to_have_count(0)
    viewer.goto(site.url("/hierarchy/?path=computing"))
    expect(viewer.get_by_role("heading", level=1)).to_be_visible()
    expect(viewer.get_by_role("heading", name="Move a subtree")).to_have_count(0)

    # The admin: the node's page is read-only.
    viewer.goto(node)
    viewer.locator(".item-actions").get_by_role("link", name="Open in the admin").click()
    viewer.wait_for_url(re.compile(rf"/admin/graph/node/{site.showcase_node_id}/change/$"))
    expect(viewer.get_by_role("heading", level=1)).to_contain_text("View node")
    assert_page_loaded(viewer)
    for button in ("Save", "Save and continue editing", "Save and add another"):
        expect(viewer.get_by_role("button", name=button, exact=True)).to_have_count(0)
    expect(viewer.locator("input[name=name]")).to_have_count(0)  # no field to type into
    expect(viewer.get_by_role("button", name=re.compile("^Add another"))).to_have_count(0)

    # Adding is refused, with the permission named.
    faults.expect(403, "/admin/graph/node/add/")
    response = viewer.goto(site.url("/admin/graph/node/add/"))
    assert response.status == 403, f"the Viewer's add page answered {response.status}"
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(viewer.locator(".error-message")).to_have_text("This page needs the permission graph.add_node (nodes).")
    assert_page_loaded(viewer)


def test_an_editor_cannot_change_the_configuration(site, role_page, admin_page, faults):
    """An Editor opens the configuration: the overview offers no edit or reset, the parameter's page is
    read-only, and the reset page is refused with a page naming the permission it needs. The superuser sees the
    edit and reset links on the same overview."""
    admin = admin_page(1400)
    admin.goto(site.url("/admin/config_admin/systemconfig/"))
    row = admin.locator("#param-inference_batch_size")
    expect(row.get_by_role("link", name="edit")).to_be_visible()
    expect(row.get_by_role("link", name="reset…")).to_be_visible()
    reset_url = row.get_by_role("link", name="reset…").get_attribute("href")

    page = role_page("Editor")
    page.goto(site.url("/admin/config_admin/systemconfig/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("System configuration")
    assert_page_loaded(page)
    row = page.locator("#param-inference_batch_size")
    expect(row).to_contain_text("inference_batch_size")
    expect(row.get_by_role("link", name="edit")).to_have_count(0)
    expect(row.get_by_role("link", name="reset…")).to_have_count(0)
    expect(page.locator(".cfg-actions").get_by_role("link", name="edit")).to_have_count(0)

    # The parameter's own page (its address, typed): read-only, nothing to save.
    page.goto(site.url(f"/admin/config_admin/systemconfig/{site.config_id}/change/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("View")
    expect(page.locator("[name=parameter_value]")).to_have_count(0)
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)

    # The reset page (the superuser's link, typed in): refused, naming the permission.
    faults.expect(403, reset_url)
    response = page.goto(site.url(reset_url))
    assert response.status == 403, f"the Editor's reset page answered {response.status}"
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.locator(".error-message")).to_have_text(
        "This page needs the permission config_admin.change_systemconfig (resetting a configuration parameter).")
    assert_page_loaded(page)
