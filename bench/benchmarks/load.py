"""The site under load (issue 14, item 7): the bench graph served as production serves it, gunicorn with
``kgsite/gunicorn_conf.py`` and its default workers and threads, driven over loopback by ``CLIENTS`` concurrent
logged-in clients for ``DURATION_SECONDS`` (after ``WARMUP_SECONDS`` not counted).

Set-up: a superuser ``load@kgsite.invalid`` with a fresh random password in the bench database, ``collectstatic``
into a temporary ``STATIC_ROOT`` (hashed names, as production; ``KGSITE_COLLECTSTATIC=0`` then), then
``gunicorn -c kgsite/gunicorn_conf.py kgsite.wsgi`` in its own process group with ``KGSITE_MODE=production``
(a random 64-character ``SECRET_KEY``, ``ALLOWED_HOSTS=127.0.0.1``, and ``SECURE_SSL_REDIRECT``,
``SESSION_COOKIE_SECURE``, ``CSRF_COOKIE_SECURE`` off: plain HTTP on loopback) on a free loopback port,
``PROMETHEUS_MULTIPROC_DIR`` in the temporary directory, access log to a file; ready when ``/healthz/web`` answers
200. The ids and names the clients use are drawn once, by random primary keys (index probes, never a scan of a big
table).

Each client is a thread with one keep-alive ``http.client`` connection that logs in through ``/accounts/login/``
(GET for the CSRF token, POST the form) and then requests, at random by ``MIX``'s weights: node pages of typical
nodes (a hub, a root of the hierarchy, one time in 16), neighbourhoods (the default depth and cap), similarity
searches by a node's name (``/search/?node=``) or by words (``/search/?text=``), and the admin change lists of
nodes, relationships and attributes, with and without ``?q=``; ``load.admin`` requests only the admin lists
(``ADMIN_MIX``, the mix of issue 14's baseline). An error is any status other than 200 or a connection error (the
first few distinct ones are printed and shown).

**Ours** is the concurrent run: requests/s over the window (the figure), p50/p95/p99 latency, errors, per-kind
figures, and the CPU the server used per request meanwhile. **Baseline** is what the cores allow: one client
sends ``SINGLE_CLIENT_REQUESTS`` requests of the same mix one after the other, and around each request the bench
reads the CPU time of the gunicorn workers (every thread of the master's children, ``/proc/<pid>/task/*/
schedstat``, nanoseconds) and of the PostgreSQL backends they hold (``application_name``); the baseline's figure
is the capacity, cores (``os.sched_getaffinity``) divided by the median CPU seconds of one request, so that
**ratio** is the fraction of capacity reached (target 0.8). The single client's requests/s and p50 are in the
quality column too, with the server's workers and threads, the client's own CPU, and, since the machine may be
shared, the load averages before and after and the share of the cores that other processes used meanwhile (all
CPU time of ``/proc/stat`` but idle and iowait, less the server's and the client's; steal apart).

``python -m bench --scale 100k --only load.mixed`` (or ``--only load.admin``) runs one, in about a minute and a
half; ``--only load`` runs both and ``bulk_load.*`` (``--only`` matches a part of the name).
"""

from __future__ import annotations

import http.client
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from bench.database import BASE_DIR
from bench.harness import Benchmark, Context, Sample, register

CLIENTS = 16
WARMUP_SECONDS = 5.0
DURATION_SECONDS = 30.0
SINGLE_CLIENT_WARMUP = 20
SINGLE_CLIENT_REQUESTS = 200
P99_TARGET_MS = 500.0
CAPACITY_TARGET = 0.8
TYPICAL_SAMPLE = 1_000
ATTRIBUTE_SAMPLE = 300
HUB_SHARE = 1 / 16
REQUEST_TIMEOUT = 60.0
START_TIMEOUT = 90.0
ERRORS_SHOWN = 5
LOAD_USER = "load@kgsite.invalid"
APPLICATION_NAME = "kgsite_load_bench"

# kind: weight (out of 100)
MIX = {
    "node_page": 30,
    "neighbourhood": 12,
    "search.node": 10,
    "search.text": 10,
    "admin.node": 7,
    "admin.node.q": 6,
    "admin.relationship": 6,
    "admin.relationship.q": 6,
    "admin.nodeattribute": 6,
    "admin.nodeattribute.q": 7,
}

# The admin lists alone (what issue 14's baseline, 31.7 requests/s with 2 sync workers, measured): load.admin.
ADMIN_MIX = {kind: weight for kind, weight in MIX.items() if kind.startswith("admin.")}

_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_STATIC_LINK = re.compile(r'(?:href|src)="(/static/[^"]+)"')


# --- Arithmetic (tests/bench/test_load.py) ----------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100): the smallest value with at least q% of them at or
    below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def capacity(cores: int, cpu_seconds_per_request: float) -> float:
    """Requests/s the cores allow when each request costs ``cpu_seconds_per_request`` of CPU."""
    return cores / cpu_seconds_per_request if cpu_seconds_per_request > 0 else math.inf


def cpu_delta(before: dict, after: dict) -> float:
    """CPU seconds spent between two readings of ``{task key: seconds}``: a task in both counts its difference,
    a task only in ``after`` (a new thread or connection) all of its time, a task gone is lost."""
    return sum(seconds - before.get(key, 0.0) for key, seconds in after.items())


# --- CPU readings -----------------------------------------------------------------------------------------------

def _task_seconds(pid: int) -> dict:
    """``{(pid, tid): seconds on CPU}`` of every thread of ``pid`` (schedstat: nanoseconds)."""
    found = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                found[(pid, int(tid))] = int(handle.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
    return found


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:  # no CONFIG_PROC_CHILDREN: scan /proc
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                            found.append(int(entry))
                except (OSError, ValueError, IndexError):
                    pass
        return found


def machine_busy() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot: ``/proc/stat``'s first line, all but idle and
    iowait (guest time is inside user time already)."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(value) for value in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return math.nan, math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    ticks = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / ticks, steal / ticks


@dataclass
class CpuReading:
    workers: dict
    backends: dict


# --- The clients ------------------------------------------------------------------------------------------------

@dataclass
class Targets:
    typical: list[int]
    hubs: list[int]
    names: list[str]
    attribute_terms: list[str]


def request_path(kind: str, targets: Targets, rng: random.Random) -> str:
    if kind == "node_page":
        pool = targets.hubs if rng.random() < HUB_SHARE else targets.typical
        return f"/nodes/{rng.choice(pool)}/"
    if kind == "neighbourhood":
        return f"/nodes/{rng.choice(targets.typical)}/neighbourhood/"
    if kind == "search.node":
        return "/search/?" + urlencode({"node": rng.choice(targets.names)})
    if kind == "search.text":
        return "/search/?" + urlencode({"text": rng.choice(targets.names)})
    model = kind.split(".")[1]
    path = f"/admin/graph/{model}/"
    if not kind.endswith(".q"):
        return path
    term = rng.choice(targets.attribute_terms if model == "nodeattribute" else targets.names)
    return path + "?" + urlencode({"q": term})


def _kind_pick(rng: random.Random, mix: dict) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


@dataclass
class Outcome:
    kind: str
    path: str
    started: float
    ended: float
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200

    @property
    def latency(self) -> float:
        return self.ended - self.started

    def describe(self) -> str:
        return f"{self.error or f'status {self.status}'} on {self.path}"


@dataclass
class Client:
    """One browser: a keep-alive connection and its cookies."""

    port: int
    cookies: dict = field(default_factory=dict)
    reconnects: int = 0

    def __post_init__(self):
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)

    def _cookie_header(self) -> dict:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        """(status, headers, body bytes); one retry on a fresh connection when the server had closed the kept one
        (as browsers do for an idempotent request). Raises on a connection error."""
        headers = {"Host": "127.0.0.1", **self._cookie_header(), **(headers or {})}
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                content = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                if attempt == 2 or method != "GET":
                    raise
                self.reconnects += 1
        for value in response.headers.get_all("Set-Cookie") or []:
            parsed = SimpleCookie()
            parsed.load(value)
            for name, morsel in parsed.items():
                self.cookies[name] = morsel.value
        return response.status, response.headers, content

    def login(self, email: str, password: str) -> None:
        status, _, content = self.request("GET", "/accounts/login/")
        match = _CSRF_INPUT.search(content.decode())
        if status != 200 or not match:
            raise RuntimeError(f"GET /accounts/login/ answered {status} without a CSRF token")
        form = urlencode({"csrfmiddlewaretoken": match.group(1), "username": email, "password": password})
        status, headers, _ = self.request("POST", "/accounts/login/", body=form,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"logging in answered {status} (Location {headers.get('Location')!r})")

    def get(self, kind: str, path: str) -> Outcome:
        started = time.perf_counter()
        try:
            status, _, _ = self.request("GET", path)
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            return Outcome(kind, path, started, time.perf_counter(), None, f"{type(exc).__name__}: {exc}")
        return Outcome(kind, path, started, time.perf_counter(), status)

    def close(self) -> None:
        self.connection.close()


def _summary(outcomes: list[Outcome]) -> dict:
    latencies = [o.latency for o in outcomes]
    return {"requests": len(outcomes), "errors": sum(not o.ok for o in outcomes),
            "p50": percentile(latencies, 50) * 1000, "p95": percentile(latencies, 95) * 1000,
            "p99": percentile(latencies, 99) * 1000}


def _load_average() -> str:
    try:
        return "/".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


# --- The benchmark ----------------------------------------------------------------------------------------------

class LoadBenchmark(Benchmark):
    name = "load.mixed"
    mix = MIX
    description = (f"{CLIENTS} logged-in clients for {DURATION_SECONDS:.0f} s (after {WARMUP_SECONDS:.0f} s) against "
                   "gunicorn in production mode on loopback: node pages, neighbourhoods, searches, admin lists")
    baseline = "capacity: cores / median server CPU (gunicorn + its PostgreSQL backends) of one request, one client"
    unit = "rows/s"
    repeat = 1
    warmup = 0

    def setup(self, context: Context) -> None:
        self.say = context.say
        self.cores = len(os.sched_getaffinity(0))
        self.load_before = _load_average()
        self.targets = self._targets_choose()
        self.password = secrets.token_urlsafe(24)
        self._user_ensure()
        self.directory = Path(tempfile.mkdtemp(prefix="kgsite-load-"))
        self.process = None
        self.port = self._free_port()
        env = self._server_environment()
        self.say(f"  collectstatic into {self.directory / 'static'} ...")
        try:
            subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
                           cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=600)
            self.server_config = self._config_read(env)
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        self.stdout = open(self.directory / "access.log", "wb")  # noqa: SIM115 (closed in teardown)
        self.stderr = open(self.directory / "gunicorn.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "kgsite/gunicorn_conf.py", "kgsite.wsgi"], cwd=BASE_DIR,
            env=env, stdout=self.stdout, stderr=self.stderr, stdin=subprocess.DEVNULL, start_new_session=True)
        try:  # the harness tears down only after a set-up that returned: stop the server here on failure
            self._wait_ready()
            self.worker_pids = _children(self.process.pid)
            self.say(f"  gunicorn pid {self.process.pid} on 127.0.0.1:{self.port}: {self.server_config}, "
                     f"{len(self.worker_pids)} worker processes")
            self._static_check()
        except BaseException:
            self.teardown()
            raise
        self.load: dict | None = None
        self.single: dict | None = None

    # --- set-up helpers

    def _targets_choose(self) -> Targets:
        from django.db import connection

        rng = random.Random(42)
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(node_id), max(node_id) FROM nodes")
            low, high = cursor.fetchone()
            probe = [rng.randint(low, high) for _ in range(TYPICAL_SAMPLE * 2)]
            cursor.execute("SELECT node_id, name FROM nodes WHERE node_id = ANY(%s) AND parent_node_id IS NOT NULL "
                           "ORDER BY node_id", [probe])
            rows = cursor.fetchall()[:TYPICAL_SAMPLE]
            cursor.execute("SELECT node_id FROM nodes WHERE parent_node_id IS NULL ORDER BY node_id")
            hubs = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT min(attribute_id), max(attribute_id) FROM node_attributes")
            low, high = cursor.fetchone()
            probe = [rng.randint(low, high) for _ in range(ATTRIBUTE_SAMPLE * 3)]
            cursor.execute("SELECT attribute_key, left(attribute_value, 40) FROM node_attributes "
                           "WHERE attribute_id = ANY(%s) ORDER BY attribute_id", [probe])
            terms = []
            for key, value in cursor.fetchall():
                words = (value or "").split()
                terms.append(key if not words or len(words[0]) < 3 or rng.random() < 0.2 else words[0])
        if not rows or not hubs:
            raise RuntimeError("the bench graph has no nodes to request")
        return Targets(typical=[r[0] for r in rows], hubs=hubs, names=[r[1] for r in rows],
                       attribute_terms=terms[:ATTRIBUTE_SAMPLE] or ["status"])

    def _user_ensure(self) -> None:
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        user = user_model.objects.filter(email=LOAD_USER).first()
        if user is None:
            user = user_model.objects.create_superuser(email=LOAD_USER, password=self.password)
        else:
            user.set_password(self.password)
            user.is_active = user.is_staff = user.is_superuser = True
            user.save()

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    def _server_environment(self) -> dict:
        from django.db import connection

        url = os.environ["DATABASE_URL"]
        url += ("&" if "?" in url else "?") + f"application_name={APPLICATION_NAME}"
        env = {key: value for key, value in os.environ.items()
               if key not in ("KGSITE_WORKERS", "KGSITE_THREADS", "DJANGO_SETTINGS_MODULE")}
        multiproc = self.directory / "prometheus"
        multiproc.mkdir()
        env.update({
            "KGSITE_MODE": "production", "DEBUG": "false", "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(48), "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
            "KGSITE_STATIC_MANIFEST": "true", "STATIC_ROOT": str(self.directory / "static"),
            "KGSITE_BIND": f"127.0.0.1:{self.port}", "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
            "KGSITE_COLLECTSTATIC": "0",  # collected above, as an image collects at build time
            "PYTHONUNBUFFERED": "1",
        })
        self.database = connection.settings_dict["NAME"]
        return env

    @staticmethod
    def _config_read(env: dict) -> str:
        """The workers, threads and worker class kgsite/gunicorn_conf.py gives in ``env`` (a fresh process)."""
        code = ("import runpy; c = runpy.run_path('kgsite/gunicorn_conf.py'); "
                "print(c['workers'], c['threads'], c['worker_class'], c['keepalive'], c['max_requests'])")
        out = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                             check=True, timeout=60).stdout.split()
        return (f"{out[0]} workers × {out[1]} threads ({out[2]}), keep-alive {out[3]} s, "
                f"max_requests {out[4]}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self._log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz/web", headers={"Host": "127.0.0.1"})
                if connection.getresponse().status == 200:
                    connection.close()
                    return
                connection.close()
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"/healthz/web did not answer 200 within {START_TIMEOUT:.0f} s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            self.stderr.flush()
            return "\n".join((self.directory / "gunicorn.log").read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AttributeError):
            return ""

    def _static_check(self) -> None:
        """The login page's static files are served (200), as collected: a missing one is a bug of the site."""
        client = Client(self.port)
        try:
            _, _, content = client.request("GET", "/accounts/login/")
            links = sorted(set(_STATIC_LINK.findall(content.decode())))
            self.static_missing = []
            for link in links:
                status, _, _ = client.request("GET", link)
                if status != 200:
                    self.static_missing.append(f"{link} {status}")
            self.static_checked = len(links)
        finally:
            client.close()
        if self.static_missing:
            self.say(f"  static files not served: {', '.join(self.static_missing)}")

    # --- readings

    def _backend_pids(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = %s AND pid <> pg_backend_pid()", [APPLICATION_NAME])
            return [row[0] for row in cursor.fetchall()]

    def _cpu_read(self, backends: list[int]) -> CpuReading:
        workers: dict = {}
        for pid in _children(self.process.pid):
            workers.update(_task_seconds(pid))
        database: dict = {}
        for pid in backends:
            database.update(_task_seconds(pid))
        return CpuReading(workers, database)

    # --- the two sides

    def ours(self) -> Sample:
        clients = [Client(self.port) for _ in range(CLIENTS)]
        for client in clients:
            client.login(LOAD_USER, self.password)
        outcomes: list[list[Outcome]] = [[] for _ in clients]
        start = time.perf_counter() + 0.2
        window_start, window_end = start + WARMUP_SECONDS, start + WARMUP_SECONDS + DURATION_SECONDS
        marks = {}

        def drive(index: int) -> None:
            rng = random.Random(1000 + index)
            while time.perf_counter() < start:
                time.sleep(0.005)
            while time.perf_counter() < window_end:
                kind = _kind_pick(rng, self.mix)
                outcomes[index].append(clients[index].get(kind, request_path(kind, self.targets, rng)))

        def mark(name: str, at: float) -> None:
            time.sleep(max(0.0, at - time.perf_counter()))
            marks[name] = (time.perf_counter(), time.process_time(), self._cpu_read(self._backend_pids()),
                           machine_busy())

        threads = [threading.Thread(target=drive, args=(i,), daemon=True) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        mark("start", window_start)
        mark("end", window_end)
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
        for client in clients:
            client.close()
        counted = [o for per in outcomes for o in per if window_start <= o.ended <= window_end]
        (t0, p0, cpu0, busy0), (t1, p1, cpu1, busy1) = marks["start"], marks["end"]
        elapsed = t1 - t0
        server = cpu_delta(cpu0.workers, cpu1.workers) + cpu_delta(cpu0.backends, cpu1.backends)
        self.rows = len(counted)
        by_kind = {kind: _summary([o for o in counted if o.kind == kind]) for kind in self.mix}
        errors = [o for o in counted if not o.ok]
        distinct: dict[str, int] = {}
        for outcome in errors:
            key = outcome.describe() if outcome.status is None else f"status {outcome.status} on {outcome.kind}"
            distinct.setdefault(key, 0)
            distinct[key] += 1
        first = []
        for outcome in errors:
            if len(first) < ERRORS_SHOWN and all(outcome.kind != o.kind or outcome.status != o.status for o in first):
                first.append(outcome)
        for outcome in first:
            self.say(f"  error: {outcome.describe()}")
        self.load = {
            **_summary(counted), "seconds": elapsed, "rate": len(counted) / elapsed, "by_kind": by_kind,
            "distinct_errors": distinct, "first_errors": [o.describe() for o in first],
            "client_cpu": (p1 - p0) / elapsed,
            "server_cpu_per_request": server / max(len(counted), 1),
            "server_cpu_share": server / elapsed / self.cores,
            "others_cpu_share": (busy1[0] - busy0[0] - server - (p1 - p0)) / elapsed / self.cores,
            "steal_share": (busy1[1] - busy0[1]) / elapsed / self.cores,
            "reconnects": sum(c.reconnects for c in clients),
        }
        self.say(f"  {CLIENTS} clients: {self.load['rate']:.1f} requests/s, p50 {self.load['p50']:.0f} ms, "
                 f"p99 {self.load['p99']:.0f} ms, {self.load['errors']} errors")
        return Sample(seconds=elapsed)

    def run_baseline(self) -> Sample:
        client = Client(self.port)
        client.login(LOAD_USER, self.password)
        rng = random.Random(7)
        try:
            for _ in range(SINGLE_CLIENT_WARMUP):
                kind = _kind_pick(rng, self.mix)
                client.get(kind, request_path(kind, self.targets, rng))
            outcomes, app, database = [], [], []
            started, client0, busy0 = time.perf_counter(), time.process_time(), machine_busy()
            for _ in range(SINGLE_CLIENT_REQUESTS):
                kind = _kind_pick(rng, self.mix)
                path = request_path(kind, self.targets, rng)
                backends = self._backend_pids()
                before = self._cpu_read(backends)
                outcome = client.get(kind, path)
                after = self._cpu_read(backends)
                outcomes.append(outcome)
                app.append(cpu_delta(before.workers, after.workers))
                database.append(cpu_delta(before.backends, after.backends))
            elapsed, client1, busy1 = time.perf_counter() - started, time.process_time(), machine_busy()
        finally:
            client.close()
        total = [a + d for a, d in zip(app, database)]
        others = (busy1[0] - busy0[0] - sum(total) - (client1 - client0)) / elapsed / self.cores
        median_cpu = statistics.median(total)
        self.single = {
            **_summary(outcomes), "rate": len(outcomes) / elapsed, "cpu_median": median_cpu,
            "cpu_mean": statistics.fmean(total), "app_median": statistics.median(app),
            "db_median": statistics.median(database), "capacity": capacity(self.cores, median_cpu),
            "others_cpu_share": others,
            "capacity_mean": capacity(self.cores, statistics.fmean(total)),
            "by_kind_cpu": {kind: statistics.median([t for t, o in zip(total, outcomes) if o.kind == kind])
                            for kind in self.mix if any(o.kind == kind for o in outcomes)},
        }
        self.say(f"  one client: {self.single['rate']:.1f} requests/s, p50 {self.single['p50']:.0f} ms; CPU per "
                 f"request median {median_cpu * 1000:.1f} ms (gunicorn {self.single['app_median'] * 1000:.1f} + "
                 f"PostgreSQL {self.single['db_median'] * 1000:.1f}), mean {self.single['cpu_mean'] * 1000:.1f} ms;"
                 f" capacity {self.single['capacity']:.1f} requests/s on {self.cores} cores")
        # The time the capacity would take for the concurrent run's requests: figure = capacity, ratio = fraction.
        return Sample(seconds=max(self.rows, 1) / self.single["capacity"])

    def quality(self) -> str:
        self.load_after = _load_average()
        load, single = self.load, self.single
        fraction = load["rate"] / single["capacity"]
        verdicts = [
            f"errors {load['errors']} ({'ok' if load['errors'] == 0 else 'target 0'})",
            f"p99 {load['p99']:.0f} ms ({'ok' if load['p99'] < P99_TARGET_MS else 'over'} {P99_TARGET_MS:.0f} ms)",
            f"throughput {fraction:.0%} of capacity ({'ok' if fraction >= CAPACITY_TARGET else 'under'} "
            f"{CAPACITY_TARGET:.0%})",
            f"{fraction / max(1 - load['others_cpu_share'], 0.01):.0%} of the capacity the other processes left",
        ]
        parts = [
            "; ".join(verdicts),
            f"{CLIENTS} clients: {load['rate']:.1f} req/s, {load['requests']:,} requests in {load['seconds']:.1f} s, "
            f"p50 {load['p50']:.0f} / p95 {load['p95']:.0f} / p99 {load['p99']:.0f} ms; server CPU "
            f"{load['server_cpu_per_request'] * 1000:.1f} ms/request, {load['server_cpu_share']:.0%} of the cores; "
            f"client CPU {load['client_cpu']:.0%} of a core; {load['reconnects']} reconnects; other processes "
            f"{load['others_cpu_share']:.0%} of the cores, steal {load['steal_share']:.0%}",
            f"one client: {single['rate']:.1f} req/s, p50 {single['p50']:.0f} ms, {single['errors']} errors; "
            f"CPU/request median {single['cpu_median'] * 1000:.1f} ms (gunicorn {single['app_median'] * 1000:.1f} + "
            f"PostgreSQL {single['db_median'] * 1000:.1f}), mean {single['cpu_mean'] * 1000:.1f} ms; capacity "
            f"{self.cores} cores / median = {single['capacity']:.1f} req/s (by the mean "
            f"{single['capacity_mean']:.1f}); other processes {single['others_cpu_share']:.0%} of the cores meanwhile",
            "per kind (n, p50/p99 ms, errors, CPU ms one client): " + ", ".join(
                f"{kind} {s['requests']} {s['p50']:.0f}/{s['p99']:.0f} {s['errors']} "
                f"{single['by_kind_cpu'].get(kind, math.nan) * 1000:.0f}"
                for kind, s in load["by_kind"].items()),
            f"server: {self.server_config}",
            f"load average {self.load_before} before, {self.load_after} after",
        ]
        if load["distinct_errors"]:
            parts.append("errors: " + ", ".join(f"{key} ×{n}" for key, n in load["distinct_errors"].items()))
        if self.static_missing:
            parts.append("static files not served: " + ", ".join(self.static_missing))
        else:
            parts.append(f"{self.static_checked} static files of the login page served")
        return "; ".join(parts)

    def teardown(self) -> None:
        process = getattr(self, "process", None)
        try:
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
                except ProcessLookupError:
                    pass
        finally:
            for stream in (getattr(self, "stdout", None), getattr(self, "stderr", None)):
                if stream is not None:
                    stream.close()
            errors = self._server_errors()
            if errors:
                self.say("  gunicorn's log has errors:\n" + errors)
            shutil.rmtree(self.directory, ignore_errors=True)

    def _server_errors(self) -> str:
        """Tracebacks and ERROR lines of the server's log (a 500 under load is a bug to report)."""
        try:
            lines = (self.directory / "gunicorn.log").read_text(errors="replace").splitlines()
        except (OSError, AttributeError):
            return ""
        shown = [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line or "[ERROR]" in line
                 or "[CRITICAL]" in line]
        return "\n".join(shown[:20])


class AdminLoadBenchmark(LoadBenchmark):
    name = "load.admin"
    mix = ADMIN_MIX
    description = (f"{CLIENTS} logged-in clients for {DURATION_SECONDS:.0f} s (after {WARMUP_SECONDS:.0f} s) against "
                   "gunicorn in production mode on loopback: admin change lists of nodes, relationships and "
                   "attributes, with and without a search")


register(LoadBenchmark)
register(AdminLoadBenchmark)
