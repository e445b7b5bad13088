"""``manage.py quickstart``: migrate, ensure a superuser, load the demo graph, then serve with gunicorn and run one
background worker (``run_worker``: inference, embeddings and maintenance) beside it.

The site it serves behaves like production: ``DEBUG`` off (friendly 404 and 500 pages, no URL list, no
tracebacks) and static files collected with hashed names, which WhiteNoise serves with a far-future
``Cache-Control``. ``--debug`` opts in to Django's debug pages (and unhashed static files) for development.
Ctrl-C (or SIGTERM) stops both processes; if one of them ends, the other is stopped too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pghistory
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.http.request import validate_host

from graph.models import Node
from graph.services.demo import demo_graph_load
from graph.services.matviews import materialized_views_refresh
from kgsite.db import capped_count
from kgsite.errors import InvalidArgument
from kgsite.management.base import DomainCommand
from kgsite.services import admin_account_ensure

DEFAULT_BIND = "127.0.0.1:8000"
GUNICORN_CONFIG = Path(settings.BASE_DIR) / "kgsite" / "gunicorn_conf.py"
# Refresh the views after loading the demo only while the graph is this small: the similarity cache takes one
# index lookup per embedded node (minutes at 100k); bigger graphs refresh with `refresh_views` (docs/schema.md).
DEMO_REFRESH_LIMIT = 5_000
MAX_WORKERS = 64
_BIND_RE = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})$")
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def parse_bind(bind: str) -> tuple[str, int]:
    match = _BIND_RE.fullmatch(bind)
    port = int(match["port"]) if match else 0
    if not match or not 1 <= port <= 65535:
        raise InvalidArgument(
            f"--bind must be HOST:PORT with a port from 1 to 65535, e.g. {DEFAULT_BIND}; got {bind!r}", bind=bind
        )
    return match["host"], port


def parse_workers(workers) -> int:
    """The number of gunicorn workers: ASCII digits only (``int()`` would take ``٣``), 1 to ``MAX_WORKERS``."""
    text = str(workers).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= MAX_WORKERS):
        raise InvalidArgument(f"--workers must be a whole number from 1 to {MAX_WORKERS}; got {workers!r}",
                              workers=workers)
    return int(text)


class Command(DomainCommand):
    # Migrations run here (pghistory's context would rewrite their SQL) and the demo load opens its own entry.
    history_context = False
    help = (
        "Set up and start the site: apply migrations, create a superuser if there is none, load the demo graph "
        "and run gunicorn."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="Set up only; do not start gunicorn.")
        parser.add_argument("--bind", default=DEFAULT_BIND, help=f"HOST:PORT for gunicorn (default {DEFAULT_BIND}).")
        parser.add_argument("--workers", default=None,
                            help=f"Number of gunicorn workers, 1 to {MAX_WORKERS} (default: kgsite/gunicorn_conf.py's, "
                                 "from the CPU count or KGSITE_WORKERS).")
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo graph.")
        parser.add_argument("--debug", action="store_true",
                            help="Serve with DEBUG on (Django's debug pages; for development only).")
        parser.add_argument("--no-worker", action="store_true",
                            help="Do not run the background worker (run_worker) beside the web server.")

    def handle(self, *args, no_serve, bind, workers, no_demo, debug, no_worker, **options):
        host, port = parse_bind(bind)
        workers = parse_workers(workers) if workers is not None else None
        verbosity = options["verbosity"]

        # Not stdout=self.stdout: wrapping it again would put each "OK" of migrate on a line of its own.
        call_command("migrate", interactive=False, verbosity=verbosity)

        admin, password, created = admin_account_ensure(
            email=os.environ.get("KGSITE_ADMIN_EMAIL") or None,
            password=os.environ.get("KGSITE_ADMIN_PASSWORD") or None,
        )
        if not created:
            self.stdout.write(f"Superuser {admin.email} already exists; its password is unchanged.")
        elif password:
            self.stdout.write(self.style.SUCCESS(f"Created superuser {admin.email} with password: {password}"))
            self.stdout.write("  (shown only this once: note it now, and change it after logging in)")
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Created superuser {admin.email} with the password from KGSITE_ADMIN_PASSWORD."
            ))

        if not no_demo:
            with pghistory.context(command="quickstart"):
                counts = demo_graph_load(user=admin)
            if counts["already_loaded"]:
                self.stdout.write("Demo graph already loaded; nothing added.")
            else:
                self.stdout.write(self.style.SUCCESS(
                    "Loaded the demo graph: " + ", ".join(
                        f"{counts[key]} {key.replace('_', ' ')}"
                        for key in ("nodes", "attributes", "relationships", "resources", "resource_links",
                                    "references")
                    ) + "."
                ))
                if counts["embedded"]:
                    self.stdout.write(f"Embedded {counts['embedded']} demo nodes and resources with the "
                                      f"{settings.KGSITE_EMBEDDING_PROVIDER} provider (docs/embeddings.md).")
                if capped_count(Node.objects.all(), DEMO_REFRESH_LIMIT) <= DEMO_REFRESH_LIMIT:
                    materialized_views_refresh()
                else:  # one index lookup per embedded node: not something to run in passing
                    self.stdout.write("The graph is large: the materialized views were not refreshed "
                                      "(python manage.py refresh_views).")

        url_host = _WILDCARD_HOSTS.get(host, host)
        self.stdout.write("")
        self.stdout.write(f"Site:   http://{url_host}:{port}/")
        self.stdout.write(f"Login:  {admin.email}")
        if not validate_host(url_host.lower(), settings.ALLOWED_HOSTS):
            self.stderr.write(f"Warning: {url_host} is not in ALLOWED_HOSTS; requests for it will get 400 Bad Request.")
        if no_serve:
            self.stdout.write(f"Start the server with: python manage.py quickstart --bind {bind}")
            return
        if debug:
            self.stderr.write("Warning: --debug serves Django's debug pages; never use it on a shared network.")
        if not no_worker:
            self.stdout.write("Worker: inference, embeddings and maintenance run in the background "
                              "(python manage.py run_worker)")
        self.stdout.write("Stop:   press Ctrl+C")
        self._serve(bind, workers, debug, worker=not no_worker)

    def _serve(self, bind: str, workers: int | None, debug: bool, worker: bool):
        """Collect the static files for the serving settings, then run gunicorn (and the worker) from the project
        root, so relative paths resolve, until Ctrl-C or until one of them ends."""
        env = serving_environment(debug)
        connections.close_all()
        if not debug:
            self.stdout.write("Collecting static files...")
            subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
                           cwd=settings.BASE_DIR, env=env, check=True)
        for stream in (self.stdout, self.stderr, sys.stdout, sys.stderr):
            stream.flush()
        argvs = [gunicorn_argv(bind, workers)] + ([worker_argv()] if worker else [])
        sys.exit(supervise(argvs, cwd=settings.BASE_DIR, env=env))


def serving_environment(debug: bool) -> dict[str, str]:
    """The environment of the served site: this one, with DEBUG and the static-file storage set explicitly."""
    return {**os.environ, "DEBUG": "true" if debug else "false",
            "KGSITE_STATIC_MANIFEST": "false" if debug else "true"}


def worker_argv() -> list[str]:
    return [sys.executable, "manage.py", "run_worker"]


def supervise(argvs: list[list[str]], *, cwd, env: dict[str, str], grace_seconds: float = 20.0) -> int:
    """Start every command; when one ends, or on SIGINT/SIGTERM, send SIGTERM to the others (each finishes what it
    has in hand), wait up to ``grace_seconds``, then kill what is left. Returns the first exit status (0 when
    stopped by a signal)."""
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    # A terminal's Ctrl-C reaches the whole process group: the children get their SIGINT directly, too.
    processes = [subprocess.Popen(argv, cwd=cwd, env=env) for argv in argvs]
    status = 0
    try:
        while not stopping:
            ended = [process for process in processes if process.poll() is not None]
            if ended:
                status = ended[0].returncode
                break
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status


def gunicorn_argv(bind: str, workers: int | None) -> list[str]:
    """gunicorn with kgsite/gunicorn_conf.py (threads, timeouts, graceful restarts, JSON access log on stdout);
    the options given here win over the file's values (docs/deployment.md)."""
    argv = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), "kgsite.wsgi:application",
            "--bind", bind]
    return argv + (["--workers", str(workers)] if workers is not None else [])
