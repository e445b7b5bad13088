"""Reading configuration: the typed, per-process cached accessor, and the overview the admin shows.

Cache (``config_get``): all parameters are read at once and kept per process with the ``config_version`` they
were read at. At most every ``KGSITE_CONFIG_CHECK_SECONDS`` (default 1 s) a call compares that version with the
database's (one primary-key read); values are reloaded only when it changed. A change made by any process, or by
plain SQL, is therefore seen everywhere within that interval; the writing process clears its own cache on commit.
The version is bumped by a trigger inside the writing transaction, so a reader never sees the new version before
the new values.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import connection

from config_admin.models import ConfigAuditLog, ConfigVersion, SystemConfig
from config_admin.values import (
    UNKNOWN_PARAMETER,
    ConfigError,
    ParameterRule,
    memory_bytes_or_none,
    parse_value,
    typed_value,
)

POSTGRES_CATEGORY = "performance"

_lock = threading.Lock()
_cache: dict = {"version": None, "values": {}, "checked_at": float("-inf")}


def config_cache_clear() -> None:
    with _lock:
        _cache.update(version=None, values={}, checked_at=float("-inf"))


def _check_seconds() -> float:
    return float(getattr(settings, "KGSITE_CONFIG_CHECK_SECONDS", 1.0))


def config_version_current() -> int | None:
    """The database's ``config_version`` (None before migration config_admin.0003 made its row)."""
    return ConfigVersion.objects.filter(pk=1).values_list("version", flat=True).first()


def _load_values() -> dict:
    values = {}
    for row in SystemConfig.objects.all():
        rule = ParameterRule.of(row)
        try:
            values[row.parameter_name] = typed_value(rule, row.parameter_value)
        except ValueError:  # a value written by plain SQL that does not parse: fall back to the default
            values[row.parameter_name] = typed_value(rule, parse_value(rule, row.default_value)[0])
    return values


def config_get(name: str):
    """The typed value of parameter ``name`` (int, float, bool or str), from the per-process cache."""
    now = time.monotonic()
    with _lock:
        if now - _cache["checked_at"] >= _check_seconds():
            version = config_version_current()
            if version is None or version != _cache["version"]:
                _cache["values"] = _load_values()
                _cache["version"] = version
            _cache["checked_at"] = now
        values = _cache["values"]
    try:
        return values[name]
    except KeyError:
        raise ConfigError(f"there is no parameter named {name!r}", code=UNKNOWN_PARAMETER, parameter=name) from None


# --- PostgreSQL's running settings ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RunningSetting:
    value: str  # current_setting(): as PostgreSQL shows it, with its unit (e.g. "256MB")
    pending_restart: bool
    context: str  # "postmaster" = needs a restart


def postgres_backed_parameters() -> list[SystemConfig]:
    """Parameters of the performance category that are real PostgreSQL settings."""
    rows = list(SystemConfig.objects.filter(category=POSTGRES_CATEGORY).order_by("parameter_name"))
    known = postgres_running_settings([row.parameter_name for row in rows])
    return [row for row in rows if row.parameter_name in known]


def _running_settings_query(cursor, names: list[str]) -> dict[str, RunningSetting]:
    cursor.execute(
        "SELECT name, current_setting(name), pending_restart, context FROM pg_settings WHERE name = ANY(%s)",
        [list(names)],
    )
    return {name: RunningSetting(value, bool(pending), context) for name, value, pending, context in cursor.fetchall()}


def postgres_running_settings(names: list[str], *, fresh_connection: bool = False) -> dict[str, RunningSetting]:
    """What PostgreSQL runs with. ``fresh_connection`` reads from a new backend (sees a reload at once)."""
    if not names:
        return {}
    if not fresh_connection:
        with connection.cursor() as cursor:
            return _running_settings_query(cursor, names)
    params = connection.get_connection_params()
    time.sleep(0.2)  # pg_reload_conf() only signals the postmaster; let it reread the files
    with psycopg.connect(**params) as conn, conn.cursor() as cursor:
        return _running_settings_query(cursor, names)


def _same_setting(stored: str, running: str) -> bool:
    stored_bytes, running_bytes = memory_bytes_or_none(stored), memory_bytes_or_none(running)
    if stored_bytes is not None or running_bytes is not None:
        return stored_bytes == running_bytes
    try:
        return float(stored) == float(running)
    except ValueError:
        return stored.strip() == running.strip()


# --- The admin's overview -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParameterLine:
    row: SystemConfig
    kind: str
    range_text: str
    differs_from_default: bool
    restart_pending: bool  # changed since PostgreSQL (re)started, and the parameter needs a restart
    running: RunningSetting | None  # for PostgreSQL-backed parameters
    running_differs: bool


@dataclass(frozen=True)
class CategoryGroup:
    category: str
    lines: list[ParameterLine]


def changed_since_server_start() -> set[str]:
    """Parameters whose value was changed (not created) after PostgreSQL last started."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT parameter_name FROM config_audit_log "
            "WHERE old_value IS NOT NULL AND updated_at > (pg_postmaster_start_time() AT TIME ZONE 'UTC')"
        )
        return {name for (name,) in cursor.fetchall()}


def config_categories() -> list[str]:
    return list(SystemConfig.objects.order_by("category").values_list("category", flat=True).distinct())


def config_audit_entries(*, name: str):
    """The audit log of one parameter, newest first (a queryset: the caller paginates)."""
    return ConfigAuditLog.objects.filter(parameter_name=name).order_by("-updated_at", "-log_id")


def parameters_overview(*, category: str | None = None) -> list[CategoryGroup]:
    if category and "\x00" in category:  # PostgreSQL text cannot hold NUL: no category has it
        return []
    rows = SystemConfig.objects.order_by("category", "parameter_name")
    if category:
        rows = rows.filter(category=category)
    rows = list(rows)
    changed = changed_since_server_start()
    running = postgres_running_settings([r.parameter_name for r in rows if r.category == POSTGRES_CATEGORY])
    groups: dict[str, list[ParameterLine]] = {}
    for row in rows:
        rule = ParameterRule.of(row)
        try:
            default_canonical = parse_value(rule, row.default_value)[0]
        except ConfigError:
            default_canonical = row.default_value
        running_setting = running.get(row.parameter_name)
        groups.setdefault(row.category, []).append(ParameterLine(
            row=row,
            kind=rule.kind,
            range_text=rule.range_text(),
            differs_from_default=row.parameter_value != default_canonical,
            restart_pending=bool(row.requires_restart and row.parameter_name in changed),
            running=running_setting,
            running_differs=bool(running_setting and not _same_setting(row.parameter_value, running_setting.value)),
        ))
    return [CategoryGroup(category, lines) for category, lines in groups.items()]
