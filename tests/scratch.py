"""Scratch databases on the test server, for tests that compare or migrate whole schemas."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from django.conf import settings
from psycopg import sql

BASE_DIR = Path(settings.BASE_DIR)


def _params(dbname: str) -> dict:
    db = settings.DATABASES["default"]
    params = {"host": db.get("HOST") or None, "port": db.get("PORT") or None, "user": db.get("USER") or None,
              "password": db.get("PASSWORD") or None}
    options = db.get("OPTIONS") or {}
    params.update({k: v for k, v in options.items() if k in {"host", "port", "user", "password", "sslmode"}})
    params["dbname"] = dbname
    return {k: v for k, v in params.items() if v not in (None, "")}


def connect(dbname: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(**_params(dbname), **kwargs)


def database_url(dbname: str) -> str:
    params = _params(dbname)
    user = quote(params.get("user", ""), safe="")
    password = quote(str(params["password"]), safe="") if params.get("password") else ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    query = {k: params[k] for k in ("host", "port", "sslmode") if k in params}
    return f"postgresql://{auth}/{dbname}?{urlencode(query)}"


@contextlib.contextmanager
def scratch_database(prefix: str = "kgsite_scratch"):
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with connect("postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with connect("postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def load_spec_sql(dbname: str) -> None:
    with connect(dbname, autocommit=True) as conn:
        conn.execute((BASE_DIR / "graph" / "sql" / "spec_schema.sql").read_text())


def manage(dbname: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``manage.py`` in a fresh process against ``dbname`` (DATABASE_URL set: no embedded server start)."""
    env = {**os.environ, "DATABASE_URL": database_url(dbname)}
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, capture_output=True, text=True,
        cwd=BASE_DIR, timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
