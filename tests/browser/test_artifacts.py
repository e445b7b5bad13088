"""A failing browser test leaves a screenshot and the page's HTML in test-artifacts/browser/<test name>/.

Proved on a pytest run of its own (a subprocess in a temporary directory) whose conftest uses the hook of
tests/browser/conftest.py and whose one failing test drives Chromium; it needs no site, so it stays cheap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.browser.server import BASE_DIR

INNER_CONFTEST = """
import pytest

from tests.browser import server as harness
from tests.browser.conftest import pytest_runtest_makereport  # noqa: F401  (the hook under test)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    yield page
    page.close()
"""

INNER_TESTS = """
def test_heading_says_goodbye(page):
    page.set_content("<h1>Deliberately failing page</h1><p>kgsite browser artefacts</p>")
    assert page.inner_text("h1") == "Goodbye"


def test_heading_says_hello(page):
    page.set_content("<h1>Hello</h1>")
    assert page.inner_text("h1") == "Hello"
"""


def test_failing_browser_test_saves_screenshot_and_html(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the inner run's rootdir: artefacts go below it
    (tmp_path / "conftest.py").write_text(textwrap.dedent(INNER_CONFTEST))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")]))}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django", "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed, 1 passed" in output, output
    failed_dir = tmp_path / "test-artifacts" / "browser" / "test_heading_says_goodbye"
    assert f"saved in {failed_dir}" in output, output
    screenshot = failed_dir / "page.png"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Deliberately failing page" in (failed_dir / "page.html").read_text()
    # A passing test leaves nothing.
    assert [path.name for path in failed_dir.parent.iterdir()] == ["test_heading_says_goodbye"]
