"""A failing browser test leaves a screenshot and the page's HTML in test-artifacts/browser/<test name>/.

Proved on a pytest run of its own (a subprocess in a temporary directory) whose conftest uses the hook of
tests/browser/conftest.py and whose one failing test drives Chromium; it needs no site, so it stays cheap.
"""

from __future__ import annotations

from tests.browser.inner_run import run_inner_pytest

INNER_CONFTEST = """
from tests.browser.conftest import pytest_runtest_makereport  # noqa: F401  (the hook under test)


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
    returncode, output = run_inner_pytest(tmp_path, conftest=INNER_CONFTEST, tests=INNER_TESTS)

    assert returncode == 1, output
    assert "1 failed, 1 passed" in output, output
    failed_dir = tmp_path / "test-artifacts" / "browser" / "test_heading_says_goodbye"
    assert f"saved in {failed_dir}" in output, output
    screenshot = failed_dir / "page.png"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Deliberately failing page" in (failed_dir / "page.html").read_text()
    # A passing test leaves nothing.
    assert [path.name for path in failed_dir.parent.iterdir()] == ["test_heading_says_goodbye"]
