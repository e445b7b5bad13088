"""The review queue in a real browser (docs/curation.md): a curator rejects an inferred link with a reason, the
worker runs over both nodes, and the link stays gone; the rejection is listed in the admin with its reason."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.browser import server as harness
from tests.browser.layout import overflow_problem

REASON = "Popularity is not a connection"


def manage(site, *args: str) -> str:
    """``python manage.py ...`` against the site's database, as an operator would run it beside the server."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["DATABASE_URL"] = site.server.db_url
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=harness.BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_curator_rejects_a_link_and_it_stays_gone_after_the_worker_runs(site, admin_page, faults):
    faults.expect(400, "/review/decide/")  # the rejection without a reason, refused on purpose
    page = admin_page(1400)
    page.goto(site.url("/review/"))
    # The first link but the one other browser tests show (its admin page).
    ids = [int(value.removeprefix("link-")) for value in
           page.locator("li.review-item").evaluate_all("items => items.map(li => li.id)")]
    link_id = next(pk for pk in ids if pk != site.inferred_relationship_id)
    item = page.locator(f"#link-{link_id}")
    ends = [int(re.search(r"/nodes/(\d+)/", href).group(1))
            for href in item.locator("h3 a").evaluate_all("links => links.map(a => a.getAttribute('href'))")]
    names = item.locator("h3 a").all_inner_texts()
    assert len(ends) == 2 and "Inferred because both have" in item.inner_text()

    # Reject without a reason: refused, nothing changed.
    item.get_by_role("button", name="Reject").click()
    assert page.locator(".form-errors").inner_text().count("RG-REVIEW-001") == 1
    page.get_by_role("link", name="Back to the review queue").click()

    item = page.locator(f"#link-{link_id}")
    item.get_by_label(re.compile("^Reason for")).fill(REASON)
    item.get_by_role("button", name="Reject").click()
    page.wait_for_url(re.compile(r"/review/"))
    assert "Rejected 1 inferred link." in page.locator(".messages").inner_text()
    assert page.locator(f"#link-{link_id}").count() == 0

    # The worker re-infers both nodes: the link is not made again.
    manage(site, "queue_inference", "--node", str(ends[0]), "--node", str(ends[1]), "--priority", "10")
    out = manage(site, "run_inference")
    assert "nodes in" in out
    page.goto(site.url("/review/"))
    assert page.locator(f"#link-{link_id}").count() == 0
    page.goto(site.url(f"/nodes/{ends[0]}/"))
    rows = page.locator("#outgoing tbody tr, #incoming tbody tr").all_inner_texts()
    assert not any(names[1] in row and "shares_attributes" in row for row in rows), rows

    # The rejection, with who and why, in the admin.
    page.goto(site.url("/admin/graph/inferencerejection/"))
    rows = page.locator("#result_list tbody tr")
    assert any(REASON in text and names[0] in text and names[1] in text for text in rows.all_inner_texts())


@pytest.mark.parametrize("width", (1400, 390))
def test_the_confirmation_pages_fit_the_screen_and_change_nothing_until_confirmed(site, admin_page, width):
    page = admin_page(width)
    page.goto(site.url("/review/"))
    pending = page.locator("li.review-item").count()
    page.get_by_role("button", name=re.compile(r"^Decide on all .* matching$")).click()
    assert re.match(r"Accept [\d,]+ inferred links?\?", page.locator("h1").inner_text())
    assert overflow_problem(page) is None, overflow_problem(page)
    page.get_by_role("link", name="No, back to the queue").click()
    assert page.locator("li.review-item").count() == pending

    page.goto(site.url("/admin/graph/pendinglink/"))
    page.locator("#result_list tbody input.action-select").first.check()
    page.locator("select[name=action]").select_option("reject_links")
    page.get_by_role("button", name="Run").or_(page.locator("button[name=index]")).first.click()
    assert "Reject 1 inferred link" in " ".join(page.locator("#content-main").inner_text().split())
    assert overflow_problem(page) is None, overflow_problem(page)
