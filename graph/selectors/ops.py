"""What ``/healthz`` and ``/metrics`` read (graph/views_ops.py, docs/deployment.md). Every query is bounded: catalog
rows, index probes, counts capped with ``LIMIT``; nothing reads a whole big table.

Health checks, each ``True`` (ok) or ``False`` (failed); the reason of a failure goes to the log, never to the
answer:

* ``database``: ``SELECT 1``.
* ``extensions``: ``vector`` and ``ltree`` are installed (``pg_extension``).
* ``migrations``: no migration of the project is unapplied: the migration graph's plan to its leaf nodes against
  ``django_migrations``. Worked out once per process while it fails, and never again once it passed (migrations
  are applied before a release's processes start).
* ``worker``: the newest worker heartbeat (``worker_heartbeats``) is at most ``worker_max_age`` seconds old.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, Error, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from graph.selectors.inference import _OLDEST_PENDING_SQL, THROUGHPUT_CAP, _status_counts
from kgsite.db import EXACT_COUNT_CAP

logger = logging.getLogger(__name__)

REQUIRED_EXTENSIONS = ("ltree", "vector")
# A worker beats on every pass of its loop (every few seconds while idle); a maintenance job (a view refresh, an
# index rebuild on a big graph) can hold the loop for minutes.
DEFAULT_WORKER_MAX_AGE = 600.0
WEB_CHECKS = ("database", "extensions", "migrations")
ALL_CHECKS = (*WEB_CHECKS, "worker")

_migrations_applied = False  # the positive answer, cached for the life of the process


def worker_max_age() -> float:
    """Seconds (``KGSITE_HEALTH_WORKER_MAX_AGE``, default 600) after which a worker's heartbeat counts as stale."""
    try:
        value = float(os.environ.get("KGSITE_HEALTH_WORKER_MAX_AGE", "") or DEFAULT_WORKER_MAX_AGE)
    except ValueError:
        value = DEFAULT_WORKER_MAX_AGE
    return value if value > 0 else DEFAULT_WORKER_MAX_AGE


def forget_migration_check() -> None:
    """Check the migrations again on the next call (tests; after a migration in a running process)."""
    global _migrations_applied
    _migrations_applied = False


def migrations_applied(using: str = DEFAULT_DB_ALIAS) -> bool:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connections[using])
        _migrations_applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrations_applied


def _extensions_installed(cursor) -> bool:
    cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = ANY(%s)", [list(REQUIRED_EXTENSIONS)])
    return cursor.fetchone()[0] == len(REQUIRED_EXTENSIONS)


def newest_heartbeat_age(cursor) -> float | None:
    """Seconds since the newest worker heartbeat; None when no worker has one."""
    cursor.execute("SELECT extract(epoch FROM (now() AT TIME ZONE 'UTC') - max(beat_at))::float8 "
                   "FROM worker_heartbeats")
    age = cursor.fetchone()[0]
    return None if age is None else max(float(age), 0.0)


def _worker_alive(cursor, max_age: float) -> bool:
    age = newest_heartbeat_age(cursor)
    return age is not None and age <= max_age


def health_checks(*, worker: bool = True, using: str = DEFAULT_DB_ALIAS) -> dict[str, bool]:
    """``{check: ok}`` for the checks above (without ``worker`` when ``worker`` is False). When the database
    cannot be reached the other checks are not tried (they would each wait for it) and count as failed."""
    names = ALL_CHECKS if worker else WEB_CHECKS
    connection = connections[using]
    max_age = worker_max_age()
    probes = {
        "database": lambda cursor: cursor.execute("SELECT 1") or cursor.fetchone()[0] == 1,
        "extensions": _extensions_installed,
        "migrations": lambda cursor: migrations_applied(using),
        "worker": lambda cursor: _worker_alive(cursor, max_age),
    }
    results: dict[str, bool] = {}
    for name in names:
        if name != "database" and not results.get("database"):
            results[name] = False
            continue
        try:
            # A savepoint each (inside a transaction, a failed statement would fail every check after it).
            with transaction.atomic(using=using), connection.cursor() as cursor:
                results[name] = bool(probes[name](cursor))
        except Error as exc:
            logger.warning("health check %s failed: %s", name, exc)
            results[name] = False
        if not results[name]:
            logger.warning("health check %s: failed", name)
    return results


@dataclass
class OpsSnapshot:
    """The gauges of ``/metrics``, read at scrape time."""

    queue: dict[str, tuple[int, bool]] = field(default_factory=dict)  # status -> (count, exact)
    oldest_pending_age: float = 0.0  # seconds; 0 when nothing waits
    completed_last_hour: int = 0  # capped at THROUGHPUT_CAP + 1
    failed_last_hour: int = 0
    embedding_queue: int = 0  # capped at EXACT_COUNT_CAP + 1
    views: list[tuple[str, float, int | None]] = field(default_factory=list)  # (view, age seconds, rows)
    recall: list[tuple[str, str, float, float]] = field(default_factory=list)  # (table, index, recall, at epoch)
    heartbeat_age: float | None = None
    workers_alive: int = 0


_SNAPSHOT_SQL = f"""
SELECT
    coalesce(extract(epoch FROM (now() AT TIME ZONE 'UTC') - (
        SELECT queued_at FROM relationship_inference_queue WHERE queue_id = ({_OLDEST_PENDING_SQL})))::float8, 0),
    (SELECT count(*) FROM (SELECT 1 FROM relationship_inference_queue
                           WHERE status = 'completed' AND completed_at >= now() AT TIME ZONE 'UTC' - interval '1 hour'
                           LIMIT %(throughput_cap)s) AS c),
    (SELECT count(*) FROM (SELECT 1 FROM relationship_inference_queue
                           WHERE status = 'failed' AND completed_at >= now() AT TIME ZONE 'UTC' - interval '1 hour'
                           LIMIT %(throughput_cap)s) AS f),
    (SELECT count(*) FROM (SELECT 1 FROM embedding_queue LIMIT %(count_cap)s) AS e),
    (SELECT count(*) FROM worker_heartbeats
     WHERE beat_at >= (now() AT TIME ZONE 'UTC') - make_interval(secs => %(max_age)s))
"""

_VIEWS_SQL = """
SELECT view_name, greatest(extract(epoch FROM (now() AT TIME ZONE 'UTC') - refreshed_at)::float8, 0), row_count
FROM materialized_view_refreshes ORDER BY view_name
"""

# The latest measured recall of each table's index (vector_index_builds, written by optimize_vector_index).
_RECALL_SQL = """
SELECT DISTINCT ON (table_name) table_name, index_name, recall_at_10,
       extract(epoch FROM coalesce(finished_at, started_at) AT TIME ZONE 'UTC')::float8
FROM vector_index_builds
WHERE recall_at_10 IS NOT NULL
ORDER BY table_name, started_at DESC, id DESC
"""


def ops_snapshot(using: str = DEFAULT_DB_ALIAS) -> OpsSnapshot:
    snapshot = OpsSnapshot()
    snapshot.queue = {line.status: (line.count.value, line.count.exact) for line in _status_counts(EXACT_COUNT_CAP)}
    with connections[using].cursor() as cursor:
        cursor.execute(_SNAPSHOT_SQL, {"throughput_cap": THROUGHPUT_CAP + 1, "count_cap": EXACT_COUNT_CAP + 1,
                                       "max_age": worker_max_age()})
        (snapshot.oldest_pending_age, snapshot.completed_last_hour, snapshot.failed_last_hour,
         snapshot.embedding_queue, snapshot.workers_alive) = cursor.fetchone()
        cursor.execute(_VIEWS_SQL)
        snapshot.views = [(name, float(age), rows) for name, age, rows in cursor.fetchall()]
        cursor.execute(_RECALL_SQL)
        snapshot.recall = [(table, index, float(recall), float(at)) for table, index, recall, at in cursor.fetchall()]
        snapshot.heartbeat_age = newest_heartbeat_age(cursor)
    return snapshot

