"""Real worker processes for the inference worker's reliability tests (tests/graph/test_inference_worker_processes.py).

* ``WorkerProcess`` runs ``python manage.py <command> ...`` against the test database (``DATABASE_URL`` from Django's
  settings, its sessions named by ``application_name``), in a session of its own so that signals reach only it;
  stdout and stderr go to files (a chatty worker never blocks on a full pipe) and ``describe()`` shows both when an
  assertion fails.
* ``Workers`` starts them and, at the end of a test, SIGKILLs those still running and waits until PostgreSQL has
  ended their sessions (the transactional test's flush would otherwise wait for their locks).
* ``graph_build`` writes a graph set-based (two statements): nodes whose attributes draw values from small pools,
  so that many pairs share two or more values and get inferred relationships. Every node is queued by the triggers.
* ``inferred_relationships`` reads the inferred relationships; ``relationships_expected`` computes those a single
  ``relationships_infer`` over every node makes, in a transaction that is rolled back.
* ``wait_until`` polls a condition with a timeout (no fixed sleeps).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.db import connection, transaction

from tests.scratch import BASE_DIR, database_url

APPLICATION_PREFIX = "kgtest-worker"
INFERRED_TYPE = "shares_attributes"  # inference_relationship_type's default

# The inference statement of one process (by its application_name) sleeps after it has written its relationships,
# before its transaction can commit.
STALL_SQL = """
CREATE FUNCTION test_inference_stall() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('application_name') = '{application}' THEN
        PERFORM pg_sleep({seconds});
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER test_inference_stall AFTER INSERT ON relationships
    FOR EACH STATEMENT EXECUTE FUNCTION test_inference_stall();
"""
STALL_DROP = """
DROP TRIGGER IF EXISTS test_inference_stall ON relationships;
DROP FUNCTION IF EXISTS test_inference_stall();
"""


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05,
               describe: Callable[[], str] | None = None):
    """``condition()`` until it is truthy (returned), or AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f"\n{describe()}" if describe else ""))
        time.sleep(interval)


def query(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def scalar(sql: str, params=None):
    return query(sql, params)[0][0]


def execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@dataclass
class WorkerProcess:
    label: str
    args: tuple[str, ...]
    directory: Path
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    @property
    def application_name(self) -> str:
        return f"{APPLICATION_PREFIX}-{self.label}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> WorkerProcess:
        url = database_url(connection.settings_dict["NAME"])
        url += ("&" if "?" in url else "?") + f"application_name={quote(self.application_name, safe='')}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
        env.update(DATABASE_URL=url, PYTHONUNBUFFERED="1")
        self.started_at = time.monotonic()
        with self._path("out").open("wb") as out, self._path("err").open("wb") as err:
            self.process = subprocess.Popen([sys.executable, "manage.py", *self.args], cwd=BASE_DIR, env=env,
                                            stdout=out, stderr=err, start_new_session=True)
        return self

    def _path(self, kind: str) -> Path:
        return self.directory / f"{self.label}.{kind}"

    def _read(self, kind: str) -> str:
        try:
            return self._path(kind).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def stdout(self) -> str:
        return self._read("out")

    @property
    def stderr(self) -> str:
        return self._read("err")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.label} did not exit within {timeout:.0f} s\n{self.describe()}") from None

    def describe(self) -> str:
        state = "running" if self.running else f"exited with {self.returncode}"
        return (f"--- {self.label} (pid {self.pid}, {state}): manage.py {' '.join(self.args)}\n"
                f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}")

    def summary(self) -> str:
        """The summary line the command prints last (``Worker host:pid: N nodes in M batches, ...``)."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("Worker ") and " nodes in " in line]
        assert lines, f"{self.label} printed no summary line\n{self.describe()}"
        return lines[-1]

    def completed_count(self) -> int:
        """The N of the summary line."""
        return int(self.summary().split(": ", 1)[1].split(" nodes", 1)[0].replace(",", ""))


@dataclass
class Workers:
    directory: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, label: str, *args: str) -> WorkerProcess:
        worker = WorkerProcess(label=label, args=args, directory=self.directory).start()
        self.started.append(worker)
        return worker

    def describe(self) -> str:
        return "\n".join(worker.describe() for worker in self.started)

    def sessions(self) -> list[tuple]:
        return query("SELECT pid, application_name, state, wait_event, left(query, 80) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND application_name LIKE %s", [APPLICATION_PREFIX + "-%"])

    def wait_for_sessions_to_end(self, timeout: float = 20.0) -> None:
        wait_until(lambda: not self.sessions(), timeout=timeout, what="the workers' database sessions to end",
                   describe=lambda: f"{self.sessions()}\n{self.describe()}")

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.running:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.process.wait(timeout=10)
        self.wait_for_sessions_to_end()


def graph_build(count: int, *, pools: tuple[int, ...], seed: int, prefix: str = "wp") -> list[int]:
    """``count`` nodes, written in one transaction; node i gets one attribute per pool,
    ``kind.k<j> = v<random value below pools[j]>`` with confidence 1.0, so a value is carried by about
    ``count / pool`` nodes. The triggers queue every node once. Returns the node ids in order."""
    rng = random.Random(seed)
    names = [f"{prefix}_{i}" for i in range(count)]
    with transaction.atomic():  # one transaction: each node is queued once, at priority 5
        return _graph_write(names, pools, rng)


def _graph_write(names: list[str], pools: tuple[int, ...], rng: random.Random) -> list[int]:
    node_ids = [row[0] for row in query(
        "INSERT INTO nodes (name, node_type, path, source) SELECT n, 'thing', n::ltree, 'test' "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS u(n, i) ORDER BY i RETURNING node_id", [names])]
    node_ids.sort()
    owners, keys, values = [], [], []
    for node_id in node_ids:
        for index, pool in enumerate(pools):
            owners.append(node_id)
            keys.append(f"k{index}")
            values.append(f"v{rng.randrange(pool)}")
    execute("INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value, weight, "
            "confidence, source_reliability) SELECT o, 'kind', k, v, 1.0, 1.0, 1.0 "
            "FROM unnest(%s::integer[], %s::text[], %s::text[]) AS u(o, k, v)", [owners, keys, values])
    return node_ids


def inferred_relationships() -> dict[tuple[int, int], tuple]:
    """(source, target) → (strength, shared_attributes_count) of every relationship of the inferred type."""
    rows = query("SELECT source_node_id, target_node_id, strength, shared_attributes_count FROM relationships "
                 "WHERE relationship_type = %s", [INFERRED_TYPE])
    return {(source, target): (strength, shared) for source, target, strength, shared in rows}


class _RollBack(Exception):
    pass


def relationships_expected(node_ids: list[int]) -> dict[tuple[int, int], tuple]:
    """What one ``relationships_infer`` over all of ``node_ids`` makes (on a graph without inferred relationships),
    computed in a transaction that is rolled back."""
    from graph.services.inference import relationships_infer

    try:
        with transaction.atomic():
            relationships_infer(node_ids=node_ids)
            expected = inferred_relationships()
            raise _RollBack
    except _RollBack:
        pass
    return expected
