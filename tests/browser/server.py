"""Serve the site for browser tests the way ``manage.py quickstart`` serves it, and drive Chromium against it.

Shared by the pytest fixtures (``tests/browser/conftest.py``) and the screenshot script
(``python -m tests.browser.screenshots``):

* ``collect_static`` runs ``collectstatic`` with hashed file names (``KGSITE_STATIC_MANIFEST=true``) into a
  directory of its own;
* ``database_url`` turns Django's settings dictionary of a database (the test database: HOST is the embedded
  server's socket directory) into a ``DATABASE_URL``;
* ``seed_site`` writes what the pages show: the demo graph, a superuser with a known password, a few audited
  configuration changes, refreshed materialized views. It commits (the server is another process);
* ``SiteServer`` starts gunicorn (``python -m gunicorn kgsite.wsgi:application``) with ``DEBUG=false`` on a free
  port, waits until it answers and stops it;
* ``launch_chromium`` starts Debian's ``chromium`` (never a downloaded browser) with Playwright;
  ``log_in`` logs in through the login form.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parents[2]
GUNICORN_CONFIG = BASE_DIR / "kgsite" / "gunicorn_conf.py"  # what quickstart serves with

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "s3cret-pass-123"  # tests.factories.USER_PASSWORD
# One staff account per role (kgsite/roles.py), with only its group's permissions; the same password.
ROLE_EMAILS = {"Viewer": "viewer@example.com", "Editor": "editor@example.com",
               "Administrator": "administrator@example.com"}
# A node of the demo graph with many attributes, links and relationships: the node change page shows it.
SHOWCASE_NODE_PATH = "computing.languages.multi_paradigm.python"
# A reason long enough to wrap: the audit log must not grow wider than the screen for it.
LONG_REASON = (
    "Raised after the nightly inference batch ran out of memory on the 1m-node staging graph; see the capacity "
    "review of the knowledge-graph team for the measurements behind this value"
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT_HEIGHTS = {1400: 900, 390: 844}
SERVER_START_TIMEOUT = 60.0
# The served site's database sessions say who they are (pg_stat_activity.application_name).
SERVER_APPLICATION_NAME = "kgsite-browser-site"


class BrowserHarnessError(RuntimeError):
    """The harness could not start something it needs (Chromium missing, gunicorn not answering)."""


def chromium_executable() -> str:
    """Debian's Chromium; a clear error when it is not installed (browser downloads do not work here)."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if not found:
        raise BrowserHarnessError(
            "Chromium is not installed: the browser tests drive Debian's chromium package (/usr/bin/chromium). "
            "Install it with: apt-get install --no-install-recommends chromium  (.ci/run does this). "
            "`playwright install` is not used: browser downloads do not work on these machines."
        )
    return found


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict, *, application_name: str = SERVER_APPLICATION_NAME) -> str:
    """A ``DATABASE_URL`` kgsite's settings read back into ``settings_dict`` (a socket directory as HOST is
    percent-encoded, as kgsite/settings.py expects). The server's sessions carry ``application_name``."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = quote(str(settings_dict.get("HOST") or ""), safe="")
    port = settings_dict.get("PORT") or ""
    netloc = f"{credentials}@{host}" + (f":{port}" if port else "")
    name = quote(settings_dict["NAME"], safe="")
    return f"postgres://{netloc}/{name}?application_name={quote(application_name, safe='')}"


def server_environment(*, db_url: str, static_root: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(
        DATABASE_URL=db_url,
        DEBUG="false",
        KGSITE_STATIC_MANIFEST="true",
        STATIC_ROOT=str(static_root),
        KGSITE_COLLECTSTATIC="0",  # collect_static ran already
        DJANGO_SETTINGS_MODULE="kgsite.settings",
        PYTHONUNBUFFERED="1",
    )
    env.pop("KGSITE_MODE", None)  # development mode: the generated secret key and the local ALLOWED_HOSTS
    return env


def is_test_database(settings_dict: dict) -> bool:
    """Whether Django's settings point at the test database (``TEST.NAME``, else a ``test_`` name)."""
    expected = (settings_dict.get("TEST") or {}).get("NAME")
    name = settings_dict["NAME"]
    return name == expected if expected else name.startswith("test_")


def require_test_database(settings_dict: dict) -> None:
    """Refuse to seed (and later flush) anything but a test database: the site's rows are committed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        current = cursor.fetchone()[0]
    if current != settings_dict["NAME"] or not is_test_database(settings_dict):
        raise BrowserHarnessError(
            f"refusing to write the browser tests' rows to database {current!r}: it is not the test database"
        )


def collect_static(static_root: Path) -> None:
    """``collectstatic`` with hashed, compressed files (what the served site uses); raises with its output."""
    env = {**os.environ, "KGSITE_STATIC_MANIFEST": "true", "DEBUG": "false", "STATIC_ROOT": str(static_root)}
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        raise BrowserHarnessError(f"collectstatic failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def seed_site() -> dict:
    """Write the rows the pages show, committed (call it with the database unblocked, outside a transaction).

    Idempotent: the demo graph loads once, the superuser is made once, the worker infers what is queued. Returns
    ``showcase_node_id``, ``config_id`` (``inference_batch_size``, changed with a long reason) and
    ``inferred_relationship_id`` (a relationship inference made, with its explanation), import ids and
    ``duplicate_pair`` (a duplicate candidate: the demo's Haskell and a copy).
    """

    from django.db import connection

    from config_admin.models import SystemConfig
    from config_admin.services import config_set
    from graph.models import Node, Relationship
    from graph.services.demo import demo_graph_load
    from graph.services.duplicates import duplicates_find
    from graph.services.inference_worker import Mode, inference_worker_run
    from graph.services.matviews import materialized_views_refresh
    from kgsite.models import User
    from tests.factories import UserFactory
    from tests.migrated_rows import migrated_rows_restore

    with connection.cursor() as cursor:  # a transactional test's flush may have emptied the migrated rows
        migrated_rows_restore(cursor)

    admin = User.objects.filter(email=ADMIN_EMAIL).first()
    if admin is None:
        admin = UserFactory(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, superuser=True)
    _seed_role_accounts()
    _seed_no_crawl()
    counts = demo_graph_load(user=admin)
    if not counts["already_loaded"]:
        materialized_views_refresh()
        config_set(name="inference_batch_size", value="250", user=admin, reason=LONG_REASON)
        config_set(name="work_mem", value="64MB", user=admin, reason="Sorts of the similarity view spilled to disk")
        config_set(name="mv_refresh_interval_hours", value="12", user=admin, reason="")
    duplicates = _seed_duplicates(admin)
    inference_worker_run(mode=Mode.DRAIN)
    _seed_review(admin)
    imports = _seed_imports(admin)
    duplicates_find(node_type="language")
    return {
        **imports,
        **duplicates,
        "showcase_node_id": Node.objects.get(path=SHOWCASE_NODE_PATH).pk,
        "config_id": SystemConfig.objects.get(parameter_name="inference_batch_size").pk,
        "inferred_relationship_id": Relationship.objects.filter(source="inference", auto_managed=True)
                                                       .order_by("-inference_confidence").values_list("pk", flat=True)
                                                       .first(),
    }


IMPORT_GOOD = "\n".join([
    '{"kind": "node", "key": "lang:zig", "name": "Zig", "node_type": "language", "path": "computing.languages.zig"}',
    '{"kind": "attribute", "node": "lang:zig", "type": "paradigm", "key": "paradigm", "value": "imperative"}',
    '{"kind": "relationship", "source": "lang:zig", "target": "node-1", "type": "part_of"}',
]) + "\n"
IMPORT_BAD = "\n".join([
    '{"kind": "node", "key": "lang:odin", "name": "Odin", "node_type": "language", "path": "Computing.Odin"}',
    '{"kind": "attribute", "node": "lang:odin", "type": "paradigm", "key": "paradigm", "value": "x", '
    '"confidence": 1.5}',
    '{"kind": "relationship", "source": "lang:odin", "target": "lang:nowhere-to-be-found-in-this-database", '
    '"type": "influenced_by"}',
    "{not json",
]) + "\n"


CRAWL_SKIPPED = "not run: the browser tests make no outbound requests (tests/browser/server.py)"


def _seed_no_crawl() -> None:
    """The worker the journeys run beside the site (``SiteWorker``) runs every maintenance job that is due; the
    crawl would fetch the demo's resources from the internet (python.org, go.dev, ...) and hold the worker for up
    to two minutes. Record it as just run, so that it is not due during the tests."""
    from django.utils import timezone

    from graph.models import MaintenanceRun

    now = timezone.now()
    MaintenanceRun.objects.update_or_create(job="crawl_resources", defaults={
        "last_started_at": now, "last_finished_at": now, "last_succeeded": True, "last_result": CRAWL_SKIPPED,
        "last_worker": "browser tests"})


def _seed_role_accounts() -> None:
    """A staff account per role, in its group only (made once; the groups are synchronised first: a flush of a
    reused test database empties them)."""
    from django.contrib.auth.models import Group, Permission

    from kgsite.models import User
    from kgsite.roles import roles_sync
    from tests.factories import UserFactory

    roles_sync(Group, Permission)
    for role, email in ROLE_EMAILS.items():
        if not User.objects.filter(email=email).exists():
            user = UserFactory(email=email, password=ADMIN_PASSWORD, staff=True)
            user.groups.add(Group.objects.get(name=role))


DUPLICATE_PATH = "computing.languages.functional.haskell_lang"


def _seed_duplicates(admin) -> dict:
    """A second Haskell ("Haskell language", with Haskell's attributes and one link of its own), made once:
    find_duplicates pairs it with the demo's Haskell. Returns ``duplicate_pair`` (Haskell's id, the copy's id)."""
    from django.db import connection

    from graph.models import Node

    original = Node.objects.get(path="computing.languages.functional.haskell")
    copy = Node.objects.filter(path=DUPLICATE_PATH).first()
    if copy is None:
        copy = Node.objects.create(name="Haskell language", node_type=original.node_type, path=DUPLICATE_PATH,
                                   parent_node_id=original.parent_node_id, created_by=admin)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value, weight, "
                "confidence) SELECT %s, attribute_type, attribute_key, attribute_value, weight, confidence "
                "FROM node_attributes WHERE node_id = %s", [copy.pk, original.pk])
            cursor.execute(
                "INSERT INTO relationships (source_node_id, target_node_id, relationship_type, strength, "
                "stated_confidence, created_by) SELECT %s, node_id, 'influenced_by', 0.7, 0.8, %s FROM nodes "
                "WHERE path = 'computing.languages.functional' LIMIT 1", [copy.pk, admin.pk])
    return {"duplicate_pair": (original.pk, copy.pk)}


def _seed_review(admin) -> None:
    """One rejected and one accepted inferred link (the weakest two), for the review admin's lists (made once)."""
    from graph.models import PendingLink, ReviewDecision
    from graph.services.curation import review_accept, review_reject

    if ReviewDecision.objects.exists():
        return
    weakest = list(PendingLink.objects.filter(auto_managed=True).order_by("review_impact", "relationship_id")
                   .values_list("pk", flat=True)[:2])
    if len(weakest) == 2:
        review_reject([weakest[0]], user=admin, reason="Sharing a paradigm is not a connection between these two")
        review_accept([weakest[1]], user=admin, reason="Checked against the language histories")


def _seed_imports(admin) -> dict:
    """Two uploads the worker has checked: one ready to confirm, one refused with its errors (made once)."""
    from graph.models import ImportJob
    from graph.services.import_jobs import import_job_upload, import_jobs_run_next

    jobs = {}
    for label, name, content in (("checked", "languages.jsonl", IMPORT_GOOD), ("invalid", "odin.jsonl", IMPORT_BAD)):
        job = ImportJob.objects.filter(file_name=name).first()
        if job is None:
            job = import_job_upload(user=admin, name=name, content=content.encode())
            import_jobs_run_next(worker="kg-worker-1:48213")
        jobs[f"{label}_import_id"] = job.pk
    return jobs


def server_sessions(database: str, application_name: str = SERVER_APPLICATION_NAME) -> list[tuple]:
    """The served site's sessions on ``database``: (pid, state, last query, start)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, left(query, 80), backend_start FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s", [database, application_name]
        )
        return cursor.fetchall()


@dataclass
class SiteServer:
    """gunicorn serving kgsite on ``127.0.0.1:<free port>``; its output goes to ``log_path``."""

    db_url: str
    static_root: Path
    log_path: Path
    workers: int = 3
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self, start: int = 0) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(start)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def start(self) -> SiteServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), "kgsite.wsgi:application",
                 "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)],
                cwd=BASE_DIR, env=server_environment(db_url=self.db_url, static_root=self.static_root),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        """Until the login page answers 200 (it needs no login) or gunicorn exits or the time is up."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        problem = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserHarnessError(
                    f"gunicorn exited with status {self.process.returncode} before answering:\n{self.log_text()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/accounts/login/", timeout=5) as response:
                    if response.status == 200:
                        return
                    problem = f"status {response.status}"
            except urllib.error.HTTPError as exc:  # an answer, but not the login page: a broken site
                raise BrowserHarnessError(
                    f"gunicorn answered {exc.code} for /accounts/login/:\n{self.log_text()}"
                ) from exc
            except OSError as exc:  # not listening yet
                problem = str(exc)
            time.sleep(0.1)
        self.stop()
        raise BrowserHarnessError(f"gunicorn did not answer within {SERVER_START_TIMEOUT:.0f} s ({problem}):\n"
                                  f"{self.log_text()}")

    def stop(self) -> None:
        """SIGTERM to gunicorn's process group (master and workers), SIGKILL if it has not exited in 20 s."""
        stop_process_group(self.process, grace_seconds=20)


def stop_process_group(process: subprocess.Popen | None, *, grace_seconds: float) -> None:
    """SIGTERM to the process group of ``process`` (started with ``start_new_session``), SIGKILL if it has not
    exited after ``grace_seconds``; nothing if it never started or has ended."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


WORKER_APPLICATION_NAME = "kgsite-browser-worker"


@dataclass
class SiteWorker:
    """``manage.py run_worker`` beside the served site, on its database, as quickstart runs it: inference,
    embeddings, the admin's imports and maintenance. Its output goes to ``log_path``."""

    db_url: str
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> SiteWorker:
        env = server_environment(db_url=self.db_url.replace(quote(SERVER_APPLICATION_NAME, safe=""),
                                                             quote(WORKER_APPLICATION_NAME, safe="")),
                                 static_root=BASE_DIR / "static")  # the worker serves no static files
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "manage.py", "run_worker", "--verbosity", "2"],
                                            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """SIGTERM (the worker finishes the batch in hand), SIGKILL after 30 s."""
        stop_process_group(self.process, grace_seconds=30)


def wait_for_server_sessions_to_end(database: str, timeout: float = 20.0) -> None:
    """After gunicorn stopped: until PostgreSQL has ended the site's sessions (else DROP DATABASE fails)."""
    deadline = time.monotonic() + timeout
    while sessions := server_sessions(database) + server_sessions(database, WORKER_APPLICATION_NAME):
        if time.monotonic() > deadline:
            raise BrowserHarnessError(
                f"sessions on {database} still open {timeout:.0f} s after gunicorn stopped: {sessions}"
            )
        time.sleep(0.05)


def log_in(page, base_url: str, *, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    """Log in through the login form (the username field takes the email) and wait for the home page."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    if "/accounts/login/" in page.url:
        raise BrowserHarnessError(f"logging in as {email} failed: still on {page.url}")
