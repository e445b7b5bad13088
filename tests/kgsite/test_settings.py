"""Importing the settings starts no database; the embedded server starts on the first connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgsite import embedded_pg

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SETUP = "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'kgsite.settings'; django.setup()"


def _run(code: str, data_dir: Path, **extra_env) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "KGSITE_MODE"}}
    env.update(KGSITE_DATA_DIR=str(data_dir), **extra_env)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=BASE_DIR, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.slow
def test_django_setup_starts_no_server(tmp_path):
    data_dir = tmp_path / "pgdata"
    result = _run(SETUP + "; from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
                  data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "kgsite.backends.embedded"
    assert not data_dir.exists(), "initdb ran while importing the settings"
    assert embedded_pg.running_server(data_dir) is None
    assert "starting PostgreSQL" not in result.stderr


@pytest.mark.slow
def test_commands_that_need_no_database_start_none(tmp_path):
    data_dir = tmp_path / "pgdata"
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "KGSITE_MODE"}}
    env.update(KGSITE_DATA_DIR=str(data_dir), STATIC_ROOT=str(tmp_path / "static"))
    for args in (["check"], ["collectstatic", "--noinput"], ["help", "migrate"]):
        result = subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=BASE_DIR, capture_output=True,
                                text=True, timeout=300, check=False)
        assert result.returncode == 0, (args, result.stderr)
    assert not data_dir.exists()


@pytest.mark.slow
def test_the_first_connection_starts_the_embedded_server(tmp_path):
    data_dir = tmp_path / "pgdata"
    try:
        result = _run(SETUP + "; from django.db import connection; connection.ensure_connection();"
                      "print(connection.cursor().execute('SELECT current_database()').fetchone()[0])", data_dir)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "kgsite"
        assert embedded_pg.running_server(data_dir) is not None
    finally:
        embedded_pg.stop_server(data_dir, mode="immediate")


def test_production_without_database_url_refuses_to_start(tmp_path):
    result = _run(SETUP, tmp_path / "pgdata", KGSITE_MODE="production", SECRET_KEY="a-long-and-varied-key-" * 3,
                  ALLOWED_HOSTS="kg.example.org")
    assert result.returncode != 0
    assert "DATABASE_URL must be set when KGSITE_MODE=production" in result.stderr
    assert not (tmp_path / "pgdata").exists()
