"""The site comes back by itself after its database dies (docs/deployment.md, "Recovery").

A real gunicorn serves the site; its PostgreSQL server is killed with SIGKILL under it. With the embedded server
the next connection starts it again; with an external ``DATABASE_URL`` the broken connections are health-checked
and replaced once the database is back. In between, requests get a 503 that says so, never a 500.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from kgsite import embedded_pg
from kgsite.views import server_error

BASE_DIR = Path(__file__).resolve().parent.parent.parent
RECOVERY_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def health(port: int) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/web", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, None
    except OSError:
        return 0, None


def database_ok(port: int) -> bool:
    status, body = health(port)
    return status in (200, 503) and body is not None and body["checks"].get("database") == "ok"


def wait_for(predicate, seconds: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def kill_postmaster(data_dir: Path) -> None:
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(**env_changes) -> int:
        port = free_port()
        env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "KGSITE_MODE"}}
        env.update(KGSITE_BIND=f"127.0.0.1:{port}", KGSITE_WORKERS="2", KGSITE_THREADS="1", DEBUG="false",
                   KGSITE_STATIC_MANIFEST="false", KGSITE_COLLECTSTATIC="0",
                   KGSITE_DATA_DIR=str(tmp_path / "embedded"), **env_changes)
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "kgsite/gunicorn_conf.py", "kgsite.wsgi"],
                                   cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        servers.append(process)
        return port

    yield start
    for process in servers:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    for data_dir in (tmp_path / "embedded", tmp_path / "external"):
        if data_dir.exists():
            embedded_pg.stop_server(data_dir, mode="immediate")


def watch(port: int, seconds: float) -> tuple[float | None, list[int]]:
    """Poll until the database check passes again; the statuses seen on the way."""
    statuses = []

    def back() -> bool:
        status, body = health(port)
        statuses.append(status)
        return body is not None and body["checks"].get("database") == "ok"

    return wait_for(back, seconds), statuses


@pytest.mark.slow
def test_the_embedded_server_is_restarted_by_the_next_request(serve, tmp_path):
    port = serve()
    assert wait_for(lambda: database_ok(port), 120) is not None, "the site never reached its database"
    data_dir = tmp_path / "embedded"

    for _ in range(2):  # twice: the restarted server is supervised the same way
        kill_postmaster(data_dir)
        took, statuses = watch(port, RECOVERY_SECONDS)
        assert took is not None, f"not back within {RECOVERY_SECONDS} s: {statuses}"
        assert 500 not in statuses and 0 not in statuses, statuses  # a 503 that says so, never a 500


@pytest.mark.slow
def test_an_external_database_is_reconnected_to_when_it_returns(serve, tmp_path):
    external = tmp_path / "external"
    info = embedded_pg.ensure_server(external)
    port = serve(DATABASE_URL=info.url())
    assert wait_for(lambda: database_ok(port), 60) is not None

    kill_postmaster(external)
    assert wait_for(lambda: health(port)[0] == 503, 10) is not None  # down: said so
    status, body = health(port)
    assert status == 503 and body["checks"]["database"] == "failed"
    embedded_pg.ensure_server(external)  # the database returns (as an operator or systemd would bring it back)
    took, statuses = watch(port, RECOVERY_SECONDS)
    assert took is not None, f"not reconnected within {RECOVERY_SECONDS} s: {statuses}"
    assert 500 not in statuses, statuses


def test_a_lost_database_is_a_503_page_and_other_errors_a_500():
    request = RequestFactory().get("/")
    try:
        raise OperationalError('connection to server on socket "/x/.s.PGSQL.5432" failed: No such file')
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert b"The database is not answering" in response.content and b".s.PGSQL" not in response.content
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500 and b"Something went wrong" in response.content
