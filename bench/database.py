"""The benchmark databases: ``kgsite_bench_<scale>`` on the server kgsite uses, generated once and then reused.

Before Django is set up (the runner points ``DATABASE_URL`` at the bench database first): ``server_url`` finds
the server (``DATABASE_URL``, else the embedded server, started if needed), ``database_create_if_missing`` and
``database_migrate`` (``manage.py migrate`` in a subprocess, as tests/scratch.py does) prepare the database.

After ``django.setup()``: ``bench_graph_ensure`` generates the graph with a fixed seed unless the database's
comment (``COMMENT ON DATABASE``, JSON) says it already holds this scale, seed and generator version.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
SEED = 42
_LIBPQ_SCHEMES = ("postgresql", "postgres")


def server_url() -> str:
    """The URL of kgsite's server: ``DATABASE_URL`` (also from ``.env``), else the embedded server's."""
    if (BASE_DIR / ".env").is_file():
        import environ

        environ.Env.read_env(BASE_DIR / ".env")  # like kgsite.settings; never overrides the environment
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from kgsite.embedded_pg import ensure_server

    data_dir = Path(os.environ.get("KGSITE_DATA_DIR") or BASE_DIR / "var" / "pgdata").expanduser().resolve()
    return ensure_server(data_dir).url()


def database_url(server: str, dbname: str) -> str:
    """``server`` with its database replaced by ``dbname`` (and a scheme libpq understands)."""
    parts = urlsplit(server)
    scheme = parts.scheme if parts.scheme in _LIBPQ_SCHEMES else "postgresql"
    return urlunsplit(parts._replace(scheme=scheme, path="/" + dbname))


def database_name(scale: str) -> str:
    return f"kgsite_bench_{scale}"


def database_create_if_missing(server: str, dbname: str) -> bool:
    """True if the database had to be created."""
    with psycopg.connect(database_url(server, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return True


def database_drop(server: str, dbname: str) -> None:
    with psycopg.connect(database_url(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def database_migrate(url: str) -> None:
    """``manage.py migrate`` against ``url`` in a fresh process (no embedded-server start, no settings reuse)."""
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "migrate", "--noinput", "-v", "0"],
        env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, cwd=BASE_DIR, timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py migrate failed on {url}:\n{result.stdout}\n{result.stderr}")


# --- After django.setup() ------------------------------------------------------------------------------------------

def _fingerprint_read(cursor) -> dict | None:
    cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()")
    text = cursor.fetchone()[0]
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _fingerprint_write(fingerprint: dict) -> None:
    from django.db import connection

    with connection.connection.cursor() as cursor:
        dbname = cursor.execute("SELECT current_database()").fetchone()[0]
        cursor.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(dbname), sql.Literal(json.dumps(fingerprint, sort_keys=True))))


def bench_graph_ensure(*, scale: str, seed: int = SEED, regenerate: bool = False, say=print) -> dict:
    """The database's graph description; generates the graph first unless it matches scale, seed and version."""
    from django.db import connection

    from graph.services.generator import GENERATOR_VERSION, TABLES, graph_generate

    want = {"nodes": SCALES[scale], "scale": scale, "seed": seed, "generator": GENERATOR_VERSION}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext('kgsite.bench.generate'))")  # two runners, one generation
        try:
            have = _fingerprint_read(cursor)
            if have and not regenerate and all(have.get(key) == value for key, value in want.items()):
                return have
            say(f"Generating the {scale} graph (seed {seed}) into {connection.settings_dict['NAME']} ...")
            cursor.execute(f"TRUNCATE {', '.join(TABLES)}, relationship_inference_queue RESTART IDENTITY CASCADE")
            report = graph_generate(nodes=want["nodes"], seed=seed, progress=lambda m: say(f"  {m}"))
            say(report.summary())
            started = time.perf_counter()
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")  # visibility map: steady-state plans
            fingerprint = {
                **want, "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "seconds": round(report.seconds, 2), "nodes_per_second": round(report.nodes_per_second),
                "rows_per_second": round(report.rows_per_second), "rows": report.rows, "counts": report.counts,
                "phases": {name: round(seconds, 2) for name, seconds in report.phases.items()},
                "vacuum_seconds": round(time.perf_counter() - started, 2),
            }
            _fingerprint_write(fingerprint)
            return fingerprint
        finally:
            cursor.execute("SELECT pg_advisory_unlock(hashtext('kgsite.bench.generate'))")


def scratch_database_attach(server: str, dbname: str, alias: str) -> None:
    """A fresh database ``dbname`` (dropped first if left over), migrated, reachable as Django's ``alias``."""
    from django.db import connections

    database_drop(server, dbname)
    database_create_if_missing(server, dbname)
    database_migrate(database_url(server, dbname))
    connections.settings[alias] = {**connections.settings["default"], "NAME": dbname}


def scratch_database_detach(server: str, dbname: str, alias: str) -> None:
    """Close ``alias``, forget it and drop its database."""
    from django.db import connections

    if alias in connections.settings:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
    database_drop(server, dbname)
