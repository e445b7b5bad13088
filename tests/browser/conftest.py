"""Browser tests: headless Chromium (Debian's package, through Playwright) against the site served by gunicorn.

Every test under ``tests/browser/`` is marked ``browser`` here (``pytest -m browser`` runs only them,
``pytest -m "not browser"`` skips them) and runs after the other tests of the session: the site's data is
committed to the test database, where tests that expect an empty database would see it (it is flushed when the
server stops).

Fixtures (docs/testing.md):

* ``site`` (session): collectstatic with hashed names into a temporary STATIC_ROOT, the demo graph, a superuser
  and a few audited configuration changes committed to pytest-django's test database, and gunicorn serving the
  site with ``DEBUG=false`` on a free port. Attributes: ``base_url``, ``url(path)``, ``showcase_node_id`` (the
  demo's Python), ``config_id``. Test bodies do not query the database (they are not marked ``django_db``).
* ``chromium`` (session): the Playwright browser. Fails (never skips) when Chromium is not installed.
* ``admin_page`` (function): ``admin_page(width)`` returns a new page logged in as the superuser, in a viewport
  of that width (1400 x 900, 390 x 844).

A failing test saves a full-page screenshot, the HTML of each of its pages and gunicorn's log of the test into
``test-artifacts/browser/<test name>/`` (``tests/browser/artifacts.py``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser import server as harness
from tests.browser.artifacts import PAGES_KEY, SERVER_LOG_KEY, WORKER_LOG_KEY, register_page, save_failure_artifacts
from tests.browser.faults import FaultLog, settle

BROWSER_DIR = Path(__file__).resolve().parent
FAULTS_KEY = pytest.StashKey[FaultLog]()


def pytest_collection_modifyitems(config, items):
    """Mark the tests under tests/browser/ ``browser`` and run them last (their data is committed)."""
    browser_items, other_items = [], []
    for item in items:
        if BROWSER_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            browser_items.append(item)
        else:
            other_items.append(item)
    items[:] = other_items + browser_items


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and report.when in ("setup", "call"):
        save_failure_artifacts(item, report)
    return report


@dataclass
class Site:
    server: harness.SiteServer
    showcase_node_id: int  # the demo's Python: many attributes, links and relationships
    config_id: int  # a configuration parameter with an audited change
    inferred_relationship_id: int  # a relationship inference made, with its explanation
    checked_import_id: int  # an upload the worker checked, ready to confirm
    invalid_import_id: int  # an upload the worker refused, with its errors
    duplicate_pair: tuple[int, int]  # a duplicate candidate: the demo's Haskell and a copy, "Haskell language"

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def url(self, path: str) -> str:
        return self.server.base_url + path


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, request):
    """pytest-django's test database, also when only browser tests run.

    pytest-django creates the test database when a collected test is marked ``django_db`` (or asks for ``db``);
    browser tests are not (their bodies never touch the database: the site is another process), so with
    ``pytest -m browser`` nothing else asked for it and it is created here, the way pytest-django does.
    """
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    if harness.is_test_database(connection.settings_dict):
        yield
        return
    with django_db_blocker.unblock():
        created = setup_databases(verbosity=request.config.option.verbose, interactive=False, aliases={"default"})
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=request.config.option.verbose)


@pytest.fixture(scope="session")
def site(request, django_db_setup, django_db_blocker, playwright_instance):
    """The served site (see the module's docstring).

    Inside ``sync_playwright()`` Django's context-local connections are not the same from one fixture or test
    to the next, so each step that queries closes its connection itself: none is left open on the test
    database when pytest-django drops it.
    """
    from django.core.management import call_command
    from django.db import connection

    with tempfile.TemporaryDirectory(prefix="kgsite-browser-") as tmp:
        tmp = Path(tmp)
        harness.collect_static(tmp / "static")
        with django_db_blocker.unblock():
            settings_dict = connection.settings_dict
            try:
                harness.require_test_database(settings_dict)
                seeded = harness.seed_site()
            except harness.BrowserHarnessError as exc:
                pytest.fail(str(exc), pytrace=False)
            finally:
                connection.close()
        server = harness.SiteServer(
            db_url=harness.database_url(settings_dict), static_root=tmp / "static", log_path=tmp / "gunicorn.log"
        )
        try:
            try:
                server.start()
            except harness.BrowserHarnessError as exc:
                pytest.fail(str(exc), pytrace=False)
            yield Site(server=server, **seeded)
        finally:
            server.stop()
            with django_db_blocker.unblock():
                try:
                    harness.wait_for_server_sessions_to_end(settings_dict["NAME"])
                    if request.getfixturevalue("django_db_keepdb"):
                        # --reuse-db keeps the test database for the next run: leave it as its tests expect it.
                        call_command("flush", interactive=False, verbosity=0)
                finally:
                    connection.close()


@pytest.fixture
def site_worker(request, site, tmp_path):
    """``manage.py run_worker`` beside the site for the test (as quickstart runs it), stopped with SIGTERM at
    the end; a failing test keeps its log (``worker.log``)."""
    worker = harness.SiteWorker(db_url=site.server.db_url, log_path=tmp_path / "worker.log")
    request.node.stash[WORKER_LOG_KEY] = worker.log_path
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(autouse=True)
def _server_log_of_test(request):
    """Remember where gunicorn's log stood when a test using the site started (the artefacts keep the rest)."""
    if "site" in request.fixturenames:
        site = request.getfixturevalue("site")
        request.node.stash[SERVER_LOG_KEY] = (site.server, site.server.log_size())


@pytest.fixture(scope="session")
def playwright_instance():
    """Playwright's sync API runs an event loop in this thread for as long as it is open; Django then refuses
    database access from "an async context" unless told it is safe (it is: nothing here is async)."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def chromium(playwright_instance):
    try:
        browser = harness.launch_chromium(playwright_instance)
    except harness.BrowserHarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def storage_states(site, chromium):
    """``storage_states(email)``: cookies of a session logged in through the login form as that account, made
    once per account; each test's context starts from them."""
    states = {}

    def state_of(email: str):
        if email not in states:
            context = chromium.new_context(viewport={"width": 1400, "height": 900})
            log = FaultLog()
            log.watch(context)
            try:
                page = context.new_page()
                harness.log_in(page, site.base_url, email=email)
                settle([page])
                if log.report():
                    pytest.fail(f"logging in as {email}: {log.report()}", pytrace=False)
                states[email] = context.storage_state()
            finally:
                context.close()
        return states[email]

    return state_of


@pytest.fixture
def faults(request):
    """The test's ``FaultLog`` (tests/browser/faults.py): every page the fixtures below open reports to it, and
    the test fails on what it saw. ``faults.expect(status, path_prefix)`` lets a refusal the test provokes through."""
    log = FaultLog()
    request.node.stash[FAULTS_KEY] = log
    return log


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a test body that passed: fail it on the faults its browser saw (a 404, a 500, a console error)."""
    result = yield
    log = item.stash.get(FAULTS_KEY, None)
    if log is not None:
        settle(item.stash.get(PAGES_KEY, []))  # events still on their way (a late console error) are seen too
    problem = log.report() if log is not None else None
    if problem:
        pytest.fail(problem, pytrace=False)
    return result


@pytest.fixture
def open_page(request, chromium, faults):
    """``open_page(width, storage_state=None)``: a new page in a new context of that width, watched by ``faults``."""
    contexts = []

    def open_(width: int = 1400, height: int | None = None, *, storage_state=None):
        context = chromium.new_context(
            viewport={"width": width, "height": height or harness.VIEWPORT_HEIGHTS.get(width, 900)},
            storage_state=storage_state,
        )
        context.set_default_timeout(15_000)
        faults.watch(context)
        contexts.append(context)
        page = context.new_page()
        register_page(request.node, page)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def admin_page(site, storage_states, open_page):
    """``admin_page(width)``: a new page, logged in as the superuser, in a ``width`` x (900 or 844) viewport."""

    def open_admin(width: int = 1400, height: int | None = None):
        return open_page(width, height, storage_state=storage_states(harness.ADMIN_EMAIL))

    return open_admin


@pytest.fixture
def role_page(site, storage_states, open_page):
    """``role_page(role, width)``: a new page logged in as the seeded account of a role (``harness.ROLE_EMAILS``:
    Viewer, Editor, Administrator; each is staff, with only its group's permissions)."""

    def open_role(role: str, width: int = 1400, height: int | None = None):
        return open_page(width, height, storage_state=storage_states(harness.ROLE_EMAILS[role]))

    return open_role


@pytest.fixture
def anonymous_page(open_page):
    """``anonymous_page(width)``: a new page without a session."""

    def open_anonymous(width: int = 1400, height: int | None = None):
        return open_page(width, height)

    return open_anonymous
