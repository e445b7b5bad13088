"""Duplicates in a real browser (docs/duplicates.md): a curator finds a duplicate on the candidates page, merges it
after the confirmation, is led from the merged node's address to the survivor, and undoes the merge."""

from __future__ import annotations

import re


def test_a_curator_merges_a_duplicate_is_redirected_and_undoes_the_merge(site, admin_page):
    haskell, copy = site.duplicate_pair
    low, high = sorted(site.duplicate_pair)
    page = admin_page(1400)
    page.goto(site.url("/duplicates/?type=language"))
    item = page.locator(f"#pair-{low}-{high}")
    assert "Haskell language" in item.inner_text() and "Haskell" in item.inner_text()
    side = item.locator(".dup-side").filter(has_text="Haskell language")
    links = int(re.search(r"Relationships\s+(\d+)", side.inner_text()).group(1))
    assert re.search(r"score \d\.\d\d", item.inner_text())
    assert "Both have" in item.inner_text()  # the evidence: the attribute values they share

    # Merge the copy into Haskell: a confirmation first, saying what moves.
    item.locator(f"a[href*='survivor={haskell}&']").click()
    assert page.locator("h1").inner_text() == "Merge “Haskell language” into “Haskell”?"
    moves = page.locator(".merge-moves").inner_text()
    assert re.search(rf"Relationships\s+{links}\b", moves), moves
    page.get_by_role("button", name="Yes, merge").click()
    page.wait_for_url(re.compile(rf"/nodes/{haskell}/$"))
    assert "Merged" in page.locator(".messages").inner_text()

    # The merged node's address leads to the survivor, which shows the merge with its undo button.
    response = page.goto(site.url(f"/nodes/{copy}/"))
    assert response.ok and page.url == site.url(f"/nodes/{haskell}/")
    notice = page.locator(".merged-here")
    assert f"“Haskell language” (#{copy}) was merged into this node" in notice.inner_text()
    page.goto(site.url("/duplicates/?type=language"))
    assert page.locator(f"#pair-{low}-{high}").count() == 0  # a merged pair is no longer a candidate

    # Undo: the copy is back at its own address, with its link.
    page.goto(site.url(f"/nodes/{haskell}/"))
    page.locator(".merged-here").get_by_role("button", name="Undo merge").click()
    page.wait_for_url(re.compile(rf"/nodes/{copy}/$"))
    assert "Undid the merge" in page.locator(".messages").inner_text()
    assert page.locator("h1").inner_text().startswith("Haskell language")
    assert page.locator("#outgoing tbody tr").filter(has_text="influenced_by").count() == 1
    page.goto(site.url(f"/nodes/{haskell}/"))
    assert page.locator(".merged-here").count() == 0

    # The history shows the merge and its undoing as one entry each.
    page.goto(site.url(f"/nodes/{copy}/history/"))
    text = page.locator("main").inner_text()
    assert "merge" in text.lower() and "unmerge" in text.lower(), text
