"""A comparable snapshot of a database's schema, read from the PostgreSQL catalogs.

Used by the schema test (our migrations against the spec's SQL), by ``adopt_database`` (is this database the
spec's schema?) and by anyone auditing a deployment. Each catalog object becomes one entry keyed
``"<kind> <table>.<name>"`` whose value is the normalised definition, so two snapshots compare with ``diff``.
Django's own tables (``django_*``, ``auth_*``) are left out: they are not part of the spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Tables Django adds for its own machinery; never part of the spec's contract.
DJANGO_TABLE_PATTERN = r"^(django_|auth_)"

_COLUMNS_SQL = """
SELECT c.relname, a.attname,
       format_type(a.atttypid, a.atttypmod),
       a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       c.relkind
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm') AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relname !~ %(django)s
ORDER BY c.relname, a.attnum
"""

_CONSTRAINTS_SQL = """
SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid), con.condeferrable
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname !~ %(django)s AND con.contype IN ('c', 'f', 'p', 'u', 'x')
"""

_INDEXES_SQL = """
SELECT tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename !~ %(django)s
"""

_VIEWS_SQL = """
SELECT matviewname, definition FROM pg_matviews WHERE schemaname = 'public'
"""

_SEQUENCES_SQL = """
SELECT s.relname, t.relname, a.attname
FROM pg_class s
JOIN pg_namespace n ON n.oid = s.relnamespace
LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE n.nspname = 'public' AND s.relkind = 'S' AND coalesce(t.relname, '') !~ %(django)s
"""

_EXTENSIONS_SQL = "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'"

_CONFIG_SQL = """
SELECT parameter_name, parameter_value, parameter_type, description, default_value, min_value, max_value,
       requires_restart, category, updated_by
FROM system_config ORDER BY parameter_name
"""


def _normalise_sql(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


@dataclass
class CatalogSnapshot:
    entries: dict[str, object]

    def diff(self, other: CatalogSnapshot) -> dict[str, tuple[object, object]]:
        """``{key: (self's definition or None, other's definition or None)}`` for every entry that differs."""
        keys = set(self.entries) | set(other.entries)
        return {
            key: (self.entries.get(key), other.entries.get(key))
            for key in sorted(keys)
            if self.entries.get(key) != other.entries.get(key)
        }

    def tables(self) -> set[str]:
        return {key.split(" ", 1)[1].split(".", 1)[0] for key in self.entries if key.startswith("column ")}


def snapshot(cursor, *, include_config_rows: bool = True) -> CatalogSnapshot:
    """Read the catalog through a DB-API cursor (psycopg or Django's)."""
    entries: dict[str, object] = {}
    params = {"django": DJANGO_TABLE_PATTERN}

    cursor.execute(_EXTENSIONS_SQL)
    for (name,) in cursor.fetchall():
        entries[f"extension {name}"] = True

    cursor.execute(_COLUMNS_SQL, params)
    for table, column, type_, not_null, default, relkind in cursor.fetchall():
        kind = "column" if relkind == "r" else "view-column"
        entries[f"{kind} {table}.{column}"] = (type_, bool(not_null), default)

    cursor.execute(_CONSTRAINTS_SQL, params)
    for table, name, contype, definition, deferrable in cursor.fetchall():
        entries[f"constraint {table}.{name}"] = (contype, _normalise_sql(definition), bool(deferrable))

    cursor.execute(_INDEXES_SQL, params)
    for table, name, definition in cursor.fetchall():
        entries[f"index {table}.{name}"] = _normalise_sql(definition)

    cursor.execute(_VIEWS_SQL)
    for name, definition in cursor.fetchall():
        entries[f"view {name}.definition"] = _normalise_sql(definition)

    cursor.execute(_SEQUENCES_SQL, params)
    for sequence, table, column in cursor.fetchall():
        entries[f"sequence {table}.{sequence}"] = column

    if include_config_rows:
        cursor.execute("SELECT to_regclass('system_config') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute(_CONFIG_SQL)
            for row in cursor.fetchall():
                entries[f"config system_config.{row[0]}"] = tuple(row[1:])
    return CatalogSnapshot(entries)
