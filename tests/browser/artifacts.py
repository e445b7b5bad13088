"""What a failing browser test leaves behind: ``test-artifacts/browser/<test name>/``.

For every open Playwright page of the test: a full-page screenshot (``page.png``, or ``page-2.png`` ... when the
test had several) and the page's HTML (``page.html``), plus ``url.txt``; and, when the test ran against the
served site, the part of gunicorn's log written during the test (``gunicorn.log``), and the log of the worker
it ran beside the site (``worker.log``). The hook is
``pytest_runtest_makereport`` in ``tests/browser/conftest.py``, which calls ``save_failure_artifacts``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ARTIFACTS_DIR = Path("test-artifacts") / "browser"
# Where fixtures put what the hook should save: pages (list) and the (server, log offset) of the served site.
PAGES_KEY = pytest.StashKey[list]()
SERVER_LOG_KEY = pytest.StashKey[tuple]()
WORKER_LOG_KEY = pytest.StashKey[Path]()  # the log of the worker a test ran beside the site


def artifact_dir(item: pytest.Item) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", item.name).strip("_") or "test"
    return item.config.rootpath / ARTIFACTS_DIR / name


def register_page(item: pytest.Item, page) -> None:
    item.stash.setdefault(PAGES_KEY, []).append(page)


def _pages_of(item: pytest.Item) -> list:
    from playwright.sync_api import Page

    pages = list(item.stash.get(PAGES_KEY, []))
    pages += [value for value in getattr(item, "funcargs", {}).values() if isinstance(value, Page)]
    unique = []
    for page in pages:
        if page not in unique and not page.is_closed():
            unique.append(page)
    return unique


def save_failure_artifacts(item: pytest.Item, report: pytest.TestReport) -> Path | None:
    """Save what the test's pages show and the server log of the test; return the directory (None: nothing)."""
    pages = _pages_of(item)
    server_log = item.stash.get(SERVER_LOG_KEY, None)
    if not pages and server_log is None and WORKER_LOG_KEY not in item.stash:
        return None
    target = artifact_dir(item)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    problems = []
    for index, page in enumerate(pages, start=1):
        stem = "page" if index == 1 else f"page-{index}"
        try:
            (target / f"{stem}.url.txt").write_text(page.url + "\n")
            (target / f"{stem}.html").write_text(page.content(), encoding="utf-8")
            page.screenshot(path=str(target / f"{stem}.png"), full_page=True)
        except Exception as exc:  # a crashed page must not hide the test's own failure
            problems.append(f"{stem}: {exc!r}")
    if server_log is not None:
        server, offset = server_log
        (target / "gunicorn.log").write_text(server.log_text(offset), encoding="utf-8")
    worker_log = item.stash.get(WORKER_LOG_KEY, None)
    if worker_log is not None and worker_log.exists():
        shutil.copyfile(worker_log, target / "worker.log")
    if problems:
        (target / "artifact-errors.txt").write_text("\n".join(problems) + "\n")
    report.sections.append(("browser artefacts", f"saved in {target}"))
    return target
