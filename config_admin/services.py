"""Writing configuration: the one audited path (``config_set``) and what is built on it.

Every change goes through ``config_set``: it locks the parameter's row, validates and canonicalises the value,
tells the database who acts and why (transaction-local settings ``kgsite.actor`` / ``kgsite.reason``) and updates
the row. The database triggers (migration config_admin.0003) stamp ``updated_at``/``updated_by``, write the single
``config_audit_log`` row and bump ``config_version`` in the same transaction, so the admin, the commands, other
code and plain SQL are audited alike and no change is logged twice.

The rules live here too, so that the admin, the commands and any later page or API obey the same ones: with a
``user``, a service checks that user's Django permission (``change_systemconfig`` to change values,
``delete_systemconfig`` to delete a parameter, ``apply_postgres_settings`` to run ALTER SYSTEM); without one
(``user=None``: commands, workers) the caller is trusted. The spec's default parameters are never deleted,
whoever asks (``config_deletion_refusal``).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg import sql

from config_admin import selectors
from config_admin.models import SPEC_DEFAULT_PARAMETERS, SystemConfig
from config_admin.values import (
    BAD_IMPORT_FILE,
    FORBIDDEN_CHANGE,
    MAX_IMPORT_FILE_BYTES,
    POSTGRES_APPLY_REFUSED,
    UNKNOWN_PARAMETER,
    ConfigError,
    ParameterRule,
    parse_value,
    reason_checked,
)
from kgsite.errors import require_permission
from kgsite.forms import InputRefused, json_loads_untrusted

EXPORT_FORMAT = "kgsite-config"
EXPORT_VERSION = 1

CHANGE_PERMISSION = "config_admin.change_systemconfig"
DELETE_PERMISSION = "config_admin.delete_systemconfig"
APPLY_POSTGRES_PERMISSION = "config_admin.apply_postgres_settings"


def actor_label(user=None, *, command: bool = False) -> str:
    """How the audit log names who acted: the user's email, or ``manage.py (<os user>)`` for commands."""
    if user is not None and getattr(user, "is_authenticated", False):
        return user.get_username()
    if command:
        try:
            return f"manage.py ({getpass.getuser()})"
        except Exception:  # noqa: BLE001 - no passwd entry in some containers
            return "manage.py"
    return "system"


def _unknown_parameter(name: str) -> ConfigError:
    return ConfigError(f"there is no parameter named {name!r}", code=UNKNOWN_PARAMETER, parameter=name)


def _locked_row(name: str) -> SystemConfig:
    if "\x00" in name:  # PostgreSQL text cannot hold NUL, so no parameter is named so (and the query would fail)
        raise _unknown_parameter(name)
    try:
        return SystemConfig.objects.select_for_update().get(parameter_name=name)
    except SystemConfig.DoesNotExist:
        raise _unknown_parameter(name) from None


def _say_who_and_why(actor: str, reason: str | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('kgsite.actor', %s, true), set_config('kgsite.reason', %s, true)",
            [actor.replace("\x00", ""), reason_checked(reason)],
        )


def config_set(*, name: str, value, user=None, actor: str | None = None, reason: str | None = None) -> SystemConfig:
    """Validate and store ``value`` for parameter ``name``; one audit row if the value changes, none if not."""
    require_permission(user, CHANGE_PERMISSION, "change the configuration")
    reason_checked(reason)
    with transaction.atomic():
        row = _locked_row(name)
        canonical, _typed = parse_value(ParameterRule.of(row), value)
        if canonical == row.parameter_value:
            return row
        _say_who_and_why(actor or actor_label(user), reason)
        SystemConfig.objects.filter(pk=row.pk).update(parameter_value=canonical)
        row.refresh_from_db()
        transaction.on_commit(selectors.config_cache_clear)
    return row


def config_reset(*, name: str, user=None, actor: str | None = None, reason: str | None = None) -> SystemConfig:
    """Set ``name`` back to its ``default_value`` (audited like any change)."""
    require_permission(user, CHANGE_PERMISSION, "change the configuration")
    reason_checked(reason)
    with transaction.atomic():
        row = _locked_row(name)
        return config_set(name=name, value=row.default_value, user=user, actor=actor,
                          reason=reason or "reset to default")


def config_deletion_refusal(name: str) -> str | None:
    """Why parameter ``name`` may never be deleted, or None. The admin hides its delete button by this rule."""
    if name in SPEC_DEFAULT_PARAMETERS:
        return f"{name} is one of the spec's default parameters: code reads it, so it cannot be deleted"
    return None


def config_delete(*, name: str, user=None) -> None:
    """Delete parameter ``name`` (one added by a migration that is not the spec's). Not audited: the spec's
    ``config_audit_log.new_value`` is NOT NULL, so a deletion has no row shape there (docs/configuration.md).
    """
    require_permission(user, DELETE_PERMISSION, "delete configuration parameters")
    refusal = config_deletion_refusal(name)
    if refusal:
        raise ConfigError(refusal, code=FORBIDDEN_CHANGE, parameter=name)
    with transaction.atomic():
        row = _locked_row(name)
        row.delete()
        transaction.on_commit(selectors.config_cache_clear)


def config_export_data() -> dict:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "parameters": [
            {"name": row.parameter_name, "value": row.parameter_value, "type": row.parameter_type,
             "category": row.category}
            for row in SystemConfig.objects.order_by("category", "parameter_name")
        ],
    }


def _import_pairs(data) -> list[tuple[str, object]]:
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ConfigError(f"not a kgsite configuration file (expected \"format\": \"{EXPORT_FORMAT}\")",
                          code=BAD_IMPORT_FILE)
    if data.get("version") != EXPORT_VERSION:
        raise ConfigError(f"unsupported file version {data.get('version')!r} (expected {EXPORT_VERSION})",
                          code=BAD_IMPORT_FILE)
    parameters = data.get("parameters")
    if not isinstance(parameters, list):
        raise ConfigError("\"parameters\" must be a list", code=BAD_IMPORT_FILE)
    pairs, seen = [], set()
    for index, item in enumerate(parameters):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "value" not in item:
            raise ConfigError(f"parameters[{index}] must be an object with \"name\" and \"value\"",
                              code=BAD_IMPORT_FILE)
        if "\x00" in item["name"]:
            raise ConfigError(f"parameters[{index}]: a name cannot contain a NUL character", code=BAD_IMPORT_FILE)
        if item["name"] in seen:
            raise ConfigError(f"parameters[{index}]: {item['name']!r} appears twice", code=BAD_IMPORT_FILE)
        seen.add(item["name"])
        if not isinstance(item["value"], (str, int, float, bool)):
            raise ConfigError(f"parameters[{index}]: the value of {item['name']!r} must be a string or a number",
                              code=BAD_IMPORT_FILE)
        value = item["value"]
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((item["name"], value))
    return pairs


def config_import(*, data, user=None, actor: str | None = None, reason: str | None = None) -> list[str]:
    """Apply a file made by ``config_export_data``: all values are validated first, then set in one transaction.

    Returns the names whose value changed. Any bad entry refuses the whole file (nothing is written).
    """
    require_permission(user, CHANGE_PERMISSION, "change the configuration")
    reason_checked(reason)
    pairs = _import_pairs(data)
    rows = {row.parameter_name: row for row in SystemConfig.objects.filter(parameter_name__in=[n for n, _ in pairs])}
    for name, value in pairs:
        if name not in rows:
            raise _unknown_parameter(name)
        parse_value(ParameterRule.of(rows[name]), value)
    changed = []
    with transaction.atomic():
        for name, value in pairs:
            before = rows[name].parameter_value
            row = config_set(name=name, value=value, user=user, actor=actor, reason=reason or "import")
            if row.parameter_value != before:
                changed.append(name)
    return changed


def config_import_file(*, path: str, user=None, actor: str | None = None, reason: str | None = None) -> list[str]:
    require_permission(user, CHANGE_PERMISSION, "change the configuration")
    if "\x00" in path:
        raise ConfigError(f"cannot read {path!r}: a file name cannot contain a NUL character", code=BAD_IMPORT_FILE)
    try:
        with open(path, "rb") as handle:
            content = handle.read(MAX_IMPORT_FILE_BYTES + 1)  # never more: /dev/zero has no end
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", code=BAD_IMPORT_FILE) from exc
    return config_import(data=config_file_data(content, path), user=user, actor=actor, reason=reason)


def config_file_data(content: bytes | str, where: str):
    """The JSON of a configuration file's ``content`` (read with a cap of one byte more than allowed), or
    ``ConfigError`` (``BAD_IMPORT_FILE``): too large, not UTF-8, not JSON, or JSON no configuration is (nested
    deeper than 100 levels, numbers of thousands of digits, NaN, NUL characters)."""
    if len(content) > MAX_IMPORT_FILE_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_IMPORT_FILE_BYTES:,} bytes: not a configuration file",
                          code=BAD_IMPORT_FILE)
    try:
        return json_loads_untrusted(content)
    except InputRefused as exc:
        raise ConfigError(f"{where} is not a usable JSON file: {exc.message}", code=BAD_IMPORT_FILE) from None


# --- PostgreSQL's own settings ------------------------------------------------------------------------------

def _auto_conf_settings(names: list[str]) -> dict[str, str] | None:
    """What postgresql.auto.conf sets for ``names`` now (absent: not set there); None when the role may not read
    ``pg_file_settings`` (then ALTER SYSTEM is refused too, before anything is written)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE %s AND name = ANY(%s) "
                           "ORDER BY seqno", ["%postgresql.auto.conf", names])
            return dict(cursor.fetchall())
    except DatabaseError:
        return None


def _auto_conf_restore(names: list[str], before: dict[str, str] | None) -> None:
    if before is None:
        return
    with connection.cursor() as cursor:
        for name in names:
            statement = (sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(before[name]))
                         if name in before else sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
            cursor.execute(statement.as_string(cursor.connection))


@dataclass(frozen=True)
class PostgresApplyResult:
    name: str
    value: str
    running: str
    pending_restart: bool


def postgres_settings_apply(*, user=None, names: list[str] | None = None) -> list[PostgresApplyResult]:
    """``ALTER SYSTEM SET`` the stored values of PostgreSQL parameters (category ``performance``), then reload.

    ``names`` limits it to those parameters (each must be one PostgreSQL runs with, or ``UNKNOWN_PARAMETER``).
    A ``user`` needs the permission ``config_admin.apply_postgres_settings``. Parameters needing a restart are
    reported ``pending_restart``. ALTER SYSTEM cannot run in a transaction and needs a database superuser (or
    ``GRANT ALTER SYSTEM ON PARAMETER``); a refusal is a ConfigError (``POSTGRES_APPLY_REFUSED``), not a crash.
    """
    require_permission(user, APPLY_POSTGRES_PERMISSION, "apply the configuration to PostgreSQL")
    backed = selectors.postgres_backed_parameters()
    if names is not None:
        known = {row.parameter_name for row in backed}
        for name in names:
            if name not in known:
                raise ConfigError(
                    f"{name!r} is not a parameter PostgreSQL runs with (those are: {', '.join(sorted(known))})",
                    code=UNKNOWN_PARAMETER, parameter=name,
                )
    rows = [row for row in backed if names is None or row.parameter_name in names]
    if connection.in_atomic_block:
        raise ConfigError("PostgreSQL settings cannot be applied inside a transaction", code=POSTGRES_APPLY_REFUSED)
    for row in rows:  # a value stored before the rules were this strict (or by plain SQL) stops everything first
        try:
            parse_value(ParameterRule.of(row), row.parameter_value)
        except ConfigError as exc:
            raise ConfigError(f"nothing was applied: the stored value is refused: {exc.message}", code=exc.code,
                              parameter=row.parameter_name) from None
    before = _auto_conf_settings([row.parameter_name for row in rows])
    written = []
    try:
        with connection.cursor() as cursor:
            for row in rows:
                statement = sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    sql.Identifier(row.parameter_name), sql.Literal(row.parameter_value)
                )
                cursor.execute(statement.as_string(cursor.connection))
                written.append(row.parameter_name)
            cursor.execute("SELECT pg_reload_conf()")
    except DatabaseError as exc:
        _auto_conf_restore(written, before)  # all or nothing: what was written before the refusal is undone
        cause = exc.__cause__ or exc
        if getattr(cause, "sqlstate", None) == "42501":  # insufficient_privilege
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_user")
                role = cursor.fetchone()[0]
            raise ConfigError(
                f"the database role {role!r} may not change PostgreSQL's settings (ALTER SYSTEM needs a superuser "
                "or GRANT ALTER SYSTEM ON PARAMETER); ask a DBA to apply them",
                code=POSTGRES_APPLY_REFUSED, role=role,
            ) from exc
        raise ConfigError(f"PostgreSQL refused the settings, so none was applied: {cause}",
                          code=POSTGRES_APPLY_REFUSED) from exc
    running = selectors.postgres_running_settings([row.parameter_name for row in rows], fresh_connection=True)
    return [
        PostgresApplyResult(row.parameter_name, row.parameter_value, running[row.parameter_name].value,
                            running[row.parameter_name].pending_restart)
        for row in rows
    ]
