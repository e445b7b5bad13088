"""gunicorn's configuration for kgsite (docs/deployment.md): ``gunicorn -c kgsite/gunicorn_conf.py kgsite.wsgi``.

Every value can be changed through the environment; options on gunicorn's command line win over this file (that is
how ``quickstart --bind/--workers`` work):

| variable | default | |
|---|---|---|
| ``KGSITE_BIND`` | ``127.0.0.1:8000`` | address(es) to listen on, comma-separated (``0.0.0.0:8000`` in a container) |
| ``KGSITE_WORKERS`` | ``2 × CPUs + 1``, at most 12 | worker processes |
| ``KGSITE_THREADS`` | ``2`` | threads per worker (more than 1: the ``gthread`` worker) |
| ``KGSITE_TIMEOUT`` | ``60`` | seconds a request may take before its worker is killed and replaced |
| ``KGSITE_GRACEFUL_TIMEOUT`` | ``30`` | seconds workers get to finish their requests on a restart or stop |
| ``KGSITE_KEEPALIVE`` | ``5`` | seconds a keep-alive connection waits for the next request |
| ``KGSITE_MAX_REQUESTS`` | ``1000`` | requests after which a worker is replaced (0: never), plus a random jitter |
| ``KGSITE_MAX_REQUESTS_JITTER`` | ``100`` | of up to this many, so that workers are not all replaced together |
| ``KGSITE_COLLECTSTATIC`` | ``1`` | run ``collectstatic`` when the server starts (``0``: collected at build) |

Each worker holds up to ``threads`` database connections (``CONN_MAX_AGE``): ``workers × threads`` per machine,
against PostgreSQL's ``max_connections``.

The access log goes to stdout, one JSON object per request (``JsonAccessLogger``: time, remote address, method,
path, query, status, bytes, duration, request id, user agent, referrer, process); gunicorn's own messages go to
stderr. With ``PROMETHEUS_MULTIPROC_DIR`` set, the directory is emptied when the server starts and a dead worker's
gauges are dropped (``child_exit``), as prometheus_client's multiprocess mode requires (kgsite/metrics.py).

The file is loaded by gunicorn (and by tests) as a module; it imports nothing of Django's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from gunicorn.glogging import Logger

MAX_DEFAULT_WORKERS = 12


def _whole(name: str, default: int, *, minimum: int = 0, maximum: int = 10_000) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}, not {raw!r}")
    return int(raw)


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask: a container's cpuset), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def default_workers(cpus: int) -> int:
    return min(2 * cpus + 1, MAX_DEFAULT_WORKERS)


class JsonAccessLogger(Logger):
    """gunicorn's logger, with one JSON object per access-log line (request paths cannot break the format)."""

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
            entry = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "type": "access",
                "remote": atoms["h"],
                "method": atoms["m"],
                "path": atoms["U"],
                "query": atoms["q"] or "",
                "protocol": atoms["H"],
                "status": int(status),
                "bytes": atoms["B"],
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "request_id": atoms.get("{x-request-id}o", "-"),
                "user_agent": atoms["a"],
                "referrer": atoms["f"],
                "process": os.getpid(),
            }
            self.access_log.info(json.dumps(entry, ensure_ascii=False, default=str))
        except Exception:
            self.error(traceback.format_exc())


wsgi_app = "kgsite.wsgi:application"
bind = [address.strip() for address in os.environ.get("KGSITE_BIND", "127.0.0.1:8000").split(",")
        if address.strip()]
workers = _whole("KGSITE_WORKERS", default_workers(cpu_count()), minimum=1, maximum=256)
threads = _whole("KGSITE_THREADS", 2, minimum=1, maximum=64)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _whole("KGSITE_TIMEOUT", 60, minimum=1)
graceful_timeout = _whole("KGSITE_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = _whole("KGSITE_KEEPALIVE", 5, minimum=0, maximum=300)
max_requests = _whole("KGSITE_MAX_REQUESTS", 1000, minimum=0, maximum=10_000_000)
max_requests_jitter = _whole("KGSITE_MAX_REQUESTS_JITTER", 100, minimum=0, maximum=10_000_000)
# Heartbeat files of the workers in memory, not on a disk that may stall (containers' /tmp can be overlayfs).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
proc_name = "kgsite"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("KGSITE_GUNICORN_LOG_LEVEL", "info")
logger_class = JsonAccessLogger
# Requests' size limits stay at gunicorn's defaults (request line 4094 bytes, 100 header fields of 8190 bytes).


def collect_static() -> None:
    """``collectstatic`` before the first request, so that no page depends on a step someone forgot (a served site
    reads hashed files from its manifest: without them every page would fail). Quick when nothing changed;
    ``KGSITE_COLLECTSTATIC=0`` skips it (an image that collected its files at build time)."""
    if os.environ.get("KGSITE_COLLECTSTATIC", "1").strip() == "0":
        return
    project = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, str(project / "manage.py"), "collectstatic", "--noinput", "--verbosity", "0"],
                   cwd=project, check=True, timeout=600)


def on_starting(server):
    """Collect the static files; empty the multiprocess directory (figures of a previous run must not be added to
    this one's)."""
    collect_static()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)


def child_exit(server, worker):
    """A worker ended (replaced after max_requests, killed after timeout): drop its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
