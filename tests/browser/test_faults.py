"""The fault log (tests/browser/faults.py) sees what the browser sees go wrong, and a test that saw it fails.

The first tests drive the served site with a ``FaultLog`` of their own (not the ``faults`` fixture, so that the
test itself passes); the last proves the hook that fails a test, on a pytest run of its own.
"""

from __future__ import annotations

from tests.browser.faults import FaultLog, assert_page_loaded, page_problems
from tests.browser.inner_run import run_inner_pytest


def _watched_page(chromium, storage_state=None):
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, storage_state=storage_state)
    log = FaultLog()
    log.watch(context)
    return context, context.new_page(), log


def test_a_missing_page_and_a_missing_stylesheet_are_faults(site, chromium, storage_states):
    context, page, log = _watched_page(chromium, storage_states("admin@example.com"))
    try:
        page.goto(site.url("/nodes/2147483000/"))
        page.goto(site.url("/static/kgsite/no-such-file.css"))
    finally:
        context.close()
    report = log.report() or ""
    assert "HTTP 404 for GET " + site.url("/nodes/2147483000/") in report, report
    assert "HTTP 404 for GET " + site.url("/static/kgsite/no-such-file.css") in report, report


def test_console_errors_and_blocked_requests_are_faults(site, chromium, storage_states):
    context, page, log = _watched_page(chromium, storage_states("admin@example.com"))
    try:
        page.goto(site.url("/"))
        assert log.report() is None, log.report()  # the dashboard itself is clean
        page.evaluate("console.error('deliberate console error')")
        # The Content-Security-Policy allows no other origin: Chromium logs the violation as a console error.
        with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
            page.evaluate("fetch('http://127.0.0.1:9/').catch(() => null)")
    finally:
        context.close()
    report = log.report() or ""
    assert "deliberate console error" in report, report
    assert "Content Security Policy" in report, report


def test_an_expected_refusal_is_not_a_fault_but_another_one_is(site, chromium, storage_states):
    context, page, log = _watched_page(chromium, storage_states("editor@example.com"))
    try:
        log.expect(403, "/admin/config_admin/")
        refused = page.goto(site.url(f"/admin/config_admin/systemconfig/{site.config_id}/reset/"))
        assert refused.status == 403, f"the Editor's reset page answered {refused.status}"
        assert log.report() is None, log.report()
        page.goto(site.url("/admin/kgsite/user/"))  # refused too, but nobody said so
    finally:
        context.close()
    report = log.report() or ""
    assert report.count("HTTP 403") == 1 and "/admin/kgsite/user/" in report, report


def test_a_page_whose_stylesheet_did_not_apply_is_reported(chromium):
    page = chromium.new_page()
    try:
        page.set_content('<link rel="stylesheet" href="data:text/css,"><img src="data:image/png;base64,AAAA">'
                         "<p>broken assets</p>")
        problems = page_problems(page)
    finally:
        page.close()
    assert any(problem.startswith("stylesheet not applied") for problem in problems), problems
    assert any(problem.startswith("image not loaded") for problem in problems), problems


def test_the_dashboard_loads_its_stylesheets_and_pictures(site, admin_page):
    page = admin_page(1400)
    page.goto(site.url("/"))
    assert page.locator("link[rel=stylesheet]").count() >= 1
    assert_page_loaded(page)


INNER_CONFTEST = """
from tests.browser.conftest import faults, pytest_runtest_call  # noqa: F401  (the fixture and hook under test)


@pytest.fixture
def page(browser, faults):
    context = browser.new_context()
    faults.watch(context)
    yield context.new_page()
    context.close()
"""

INNER_TESTS = """
def test_page_logs_an_error(page):
    page.set_content("<h1>Fine</h1>")
    page.evaluate("console.error('something broke in the page')")
    assert page.inner_text("h1") == "Fine"


def test_page_is_clean(page):
    page.set_content("<h1>Fine</h1>")
    assert page.inner_text("h1") == "Fine"
"""


def test_a_test_whose_browser_saw_a_fault_fails(tmp_path):
    returncode, output = run_inner_pytest(tmp_path, conftest=INNER_CONFTEST, tests=INNER_TESTS)

    assert returncode == 1, output
    assert "1 failed, 1 passed" in output, output
    assert "the browser saw faults" in output and "something broke in the page" in output, output
    assert "FAILED test_inner.py::test_page_logs_an_error" in output, output
