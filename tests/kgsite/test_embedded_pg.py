"""The embedded PostgreSQL server: started once, shared by processes, recovered after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from kgsite import embedded_pg

pytestmark = pytest.mark.slow
BASE_DIR = Path(__file__).resolve().parents[2]

PRINT_PID = "import sys; from kgsite.embedded_pg import ensure_server; print(ensure_server(sys.argv[1]).pid)"


def run_python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=BASE_DIR, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "pgdata"
    yield path
    embedded_pg.stop_server(path, mode="immediate")


def test_processes_starting_at_once_share_one_server(data_dir):
    first, second = run_python(PRINT_PID, str(data_dir)), run_python(PRINT_PID, str(data_dir))
    (out1, err1), (out2, err2) = first.communicate(timeout=180), second.communicate(timeout=180)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert out1.strip() == out2.strip() == str(embedded_pg.running_server(data_dir).pid)
    assert (err1 + err2).count("creating a PostgreSQL cluster") == 1
    assert (err1 + err2).count("starting PostgreSQL") == 1

    # A later process reuses the running server without starting anything.
    third = run_python(PRINT_PID, str(data_dir))
    out3, err3 = third.communicate(timeout=60)
    assert out3.strip() == out1.strip()
    assert "starting" not in err3


def test_running_server_is_found_without_lock_or_subprocess(data_dir, monkeypatch):
    info = embedded_pg.ensure_server(data_dir)

    def forbidden(*args, **kwargs):
        raise AssertionError("the fast path must not lock or start anything")

    monkeypatch.setattr(embedded_pg, "_start_lock", forbidden)
    monkeypatch.setattr(embedded_pg, "_start", forbidden)
    assert embedded_pg.ensure_server(data_dir) == info


def test_data_survives_a_crash_and_the_stale_pid_file_is_reported(data_dir, capfd):
    info = embedded_pg.ensure_server(data_dir, database="crashtest")
    with psycopg.connect(**info.connection_params("crashtest"), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('before the crash')")
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while embedded_pg._pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert embedded_pg.running_server(data_dir) is None
    assert (data_dir / "postmaster.pid").exists()  # left behind by the crash

    capfd.readouterr()
    restarted = embedded_pg.ensure_server(data_dir, database="crashtest")
    assert restarted.pid != info.pid
    assert "stale" in capfd.readouterr().err
    with psycopg.connect(**restarted.connection_params("crashtest")) as conn:
        assert conn.execute("SELECT value FROM kept").fetchone() == ("before the crash",)


def test_pid_file_naming_another_live_program_is_recovered(data_dir, capfd):
    embedded_pg.ensure_server(data_dir)
    embedded_pg.stop_server(data_dir)
    pid_file = data_dir / "postmaster.pid"
    # A pid file whose pid is alive but is not a postgres (this test process): PostgreSQL alone would refuse.
    lines = [str(os.getpid()), str(data_dir), "0", "5432", str(data_dir), "", "0 0", "ready"]
    pid_file.write_text("\n".join(lines) + "\n")
    capfd.readouterr()
    info = embedded_pg.ensure_server(data_dir)
    assert info.pid != os.getpid()
    assert "belongs to another program" in capfd.readouterr().err


def test_a_non_empty_directory_that_is_not_a_cluster_is_refused(tmp_path):
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")
    with pytest.raises(embedded_pg.EmbeddedServerError, match="holds no PostgreSQL cluster"):
        embedded_pg.ensure_server(data_dir)
    assert (data_dir / "notes.txt").read_text() == "mine"


def test_long_data_dir_gets_a_short_socket_directory(tmp_path):
    deep = tmp_path.joinpath(*["a_rather_long_directory_name"] * 4, "pgdata")
    assert embedded_pg.socket_dir(deep) != deep
    assert len(str(embedded_pg.socket_dir(deep) / ".s.PGSQL.5432")) < 100


def test_embedded_pg_command_reports_the_server_in_use():
    from io import StringIO

    from django.conf import settings
    from django.core.management import CommandError, call_command

    out = StringIO()
    if not settings.KGSITE_EMBEDDED_POSTGRES:  # DATABASE_URL is set: the command says so instead of guessing
        with pytest.raises(CommandError, match="RG-PG-003: DATABASE_URL is set"):
            call_command("embedded_pg", "status", stdout=out)
    else:
        info = embedded_pg.running_server(settings.KGSITE_DATA_DIR)
        call_command("embedded_pg", "status", stdout=out)
        assert f"running: pid {info.pid}" in out.getvalue()
        out = StringIO()
        call_command("embedded_pg", "url", stdout=out)
        assert out.getvalue().startswith("postgresql://postgres@/")
