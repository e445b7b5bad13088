"""Deleting rows the way the database does it: PostgreSQL cascades, Python only counts and reports.

Django's deletion collector mirrors ``on_delete=CASCADE`` in Python: before deleting a node it loads every
attribute, relationship, link and reference of the node (a hub of the 100k bench graph has 33,600 relationships)
to list them on the confirmation page and delete them one table at a time, while the database would cascade the
same rows itself (the spec's foreign keys are ``ON DELETE CASCADE``). The graph models therefore declare
``on_delete=DO_NOTHING`` where the database cascades, and deletion goes through this module:

* ``deletion_impact(queryset)`` reads the foreign keys that point at the table from ``pg_constraint`` and counts,
  per referencing table, the rows the delete would cascade to (following cascades further down), clear (``SET
  NULL``) or be refused by (``NO ACTION``/``RESTRICT``: the blockers, with a few examples). One indexed count
  per foreign key; nothing is loaded into Python.
* ``queryset_delete(queryset)`` runs one ``DELETE ... WHERE pk IN (<the queryset>)``; PostgreSQL cascades. A
  blocker makes it a ``DeletionBlocked`` error (``RG-DEL-001``) and nothing is deleted.

Nothing here knows the graph: it works for any model on a table whose foreign keys live in the database.
Signals (``pre_delete``/``post_delete``) do not fire for these deletes; kgsite connects none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.db import IntegrityError, connections, models, transaction
from django.db.models.expressions import RawSQL

from kgsite.errors import DomainError

DELETE_BLOCKED = "RG-DEL-001"  # rows elsewhere still refer to what would be deleted (NO ACTION / RESTRICT)
EXAMPLES = 5  # blocking rows named on the confirmation page
BLOCKER_CAP = 10_000  # blocking rows counted exactly up to this many
_MAX_DEPTH = 4  # cascades followed this far (the graph's schema needs 1)


class DeletionBlocked(DomainError):
    code = DELETE_BLOCKED


@dataclass(frozen=True)
class TableCount:
    table: str
    model: type[models.Model] | None
    rows: int

    @property
    def label(self) -> str:
        """How a person names these rows: the model's plural verbose name, else the table."""
        if self.model is None:
            return self.table
        return str(self.model._meta.verbose_name_plural if self.rows != 1 else self.model._meta.verbose_name)


@dataclass(frozen=True)
class Blocker:
    table: str
    column: str
    model: type[models.Model] | None
    rows: int  # capped at BLOCKER_CAP + 1
    examples: list[str]

    @property
    def label(self) -> str:
        return TableCount(self.table, self.model, self.rows).label

    @property
    def field_label(self) -> str:
        """The referring column as a person names it: the model field's verbose name (``parent node``)."""
        if self.model is not None:
            for model_field in self.model._meta.concrete_fields:
                if model_field.column == self.column:
                    return str(model_field.verbose_name)
        return self.column


@dataclass
class DeletionImpact:
    model: type[models.Model]
    selected: int
    cascades: list[TableCount] = field(default_factory=list)  # rows deleted in other tables
    cleared: list[TableCount] = field(default_factory=list)  # rows whose reference becomes NULL
    blockers: list[Blocker] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)

    def counts(self) -> list[TableCount]:
        """The selected rows first, then every table the delete cascades to (rows > 0)."""
        own = TableCount(self.model._meta.db_table, self.model, self.selected)
        return [own, *(count for count in self.cascades if count.rows)]


@dataclass(frozen=True)
class _ForeignKey:
    table: str  # the referencing table
    column: str
    referenced_column: str
    action: str  # pg_constraint.confdeltype: a = no action, r = restrict, c = cascade, n = set null, d = default


def _foreign_keys_to(cursor, table: str) -> list[_ForeignKey]:
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, a.attname, ra.attname, c.confdeltype
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND c.confrelid = %s::regclass AND cardinality(c.conkey) = 1
        ORDER BY 1, 2
        """,
        [table],
    )
    return [_ForeignKey(*row) for row in cursor.fetchall()]


def _primary_key(cursor, table: str) -> str:
    cursor.execute(
        """
        SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = %s::regclass AND i.indisprimary
        """,
        [table],
    )
    return cursor.fetchone()[0]


def _models_by_table() -> dict[str, type[models.Model]]:
    return {model._meta.db_table: model for model in apps.get_models(include_auto_created=True)
            if not model._meta.proxy}  # a proxy shares its table with the concrete model


def _selection(queryset: models.QuerySet) -> tuple[str, list]:
    """``SELECT pk FROM ...`` of the queryset, as SQL and parameters (a sub-query; nothing is fetched)."""
    sql, params = queryset.order_by().values_list("pk").query.sql_with_params()
    return sql, list(params)


def deletion_impact(queryset: models.QuerySet) -> DeletionImpact:
    """What deleting ``queryset`` would do, table by table (see the module docstring)."""
    model = queryset.model
    connection = connections[queryset.db]
    qn = connection.ops.quote_name
    by_table = _models_by_table()
    root_sql, root_params = _selection(queryset)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({root_sql}) selected", root_params)
        impact = DeletionImpact(model=model, selected=cursor.fetchone()[0])
        # Work list: (table, SQL selecting the primary keys of its rows being deleted, params, depth).
        pending = [(model._meta.db_table, root_sql, root_params, 0)]
        cascaded: dict[str, int] = {}
        while pending:
            table, selection, params, depth = pending.pop(0)
            foreign_keys = _foreign_keys_to(cursor, table)
            table_pk = qn(_primary_key(cursor, table))
            cascades: dict[str, list[_ForeignKey]] = {}
            for fk in foreign_keys:
                if fk.action == "c":
                    cascades.setdefault(fk.table, []).append(fk)
            for fk in foreign_keys:
                matched = f"{qn(fk.column)} IN (SELECT {qn(fk.referenced_column)} FROM {qn(table)} " \
                          f"WHERE {table_pk} IN ({selection}))"
                if fk.action in ("a", "r"):
                    condition, condition_params = matched, list(params)
                    if fk.table == table:  # a self-reference: rows deleted in the same statement don't block
                        condition += f" AND {table_pk} NOT IN ({selection})"
                        condition_params += params
                    cursor.execute(
                        f"SELECT count(*) FROM (SELECT 1 FROM {qn(fk.table)} WHERE {condition} LIMIT %s) blocking",
                        [*condition_params, BLOCKER_CAP + 1],
                    )
                    rows = cursor.fetchone()[0]
                    if rows:
                        referencing = by_table.get(fk.table)
                        impact.blockers.append(Blocker(
                            fk.table, fk.column, referencing, rows,
                            _blocking_examples(referencing, condition, condition_params),
                        ))
                elif fk.action in ("n", "d"):
                    cursor.execute(f"SELECT count(*) FROM {qn(fk.table)} WHERE {matched}", params)
                    rows = cursor.fetchone()[0]
                    if rows:
                        impact.cleared.append(TableCount(fk.table, by_table.get(fk.table), rows))
            for referencing_table, fks in cascades.items():
                # One condition per table: a relationship whose source and target are both deleted counts once.
                conditions = " OR ".join(
                    f"{qn(fk.column)} IN (SELECT {qn(fk.referenced_column)} FROM {qn(table)} "
                    f"WHERE {table_pk} IN ({selection}))" for fk in fks
                )
                condition_params = list(params) * len(fks)
                cursor.execute(f"SELECT count(*) FROM {qn(referencing_table)} WHERE {conditions}", condition_params)
                cascaded[referencing_table] = cascaded.get(referencing_table, 0) + cursor.fetchone()[0]
                if depth + 1 < _MAX_DEPTH and referencing_table != table:
                    child_pk = qn(_primary_key(cursor, referencing_table))
                    pending.append((referencing_table,
                                    f"SELECT {child_pk} FROM {qn(referencing_table)} WHERE {conditions}",
                                    condition_params, depth + 1))
    impact.cascades = [TableCount(table, by_table.get(table), rows) for table, rows in cascaded.items()]
    return impact


def _blocking_examples(model, condition: str, params: list) -> list[str]:
    if model is None:
        return []
    table, pk = model._meta.db_table, model._meta.pk.column
    rows = model._default_manager.filter(pk__in=RawSQL(f'SELECT "{pk}" FROM "{table}" WHERE {condition}', params))
    return [str(row) for row in rows[:EXAMPLES]]


def queryset_delete(queryset: models.QuerySet) -> int:
    """Delete the queryset's rows in one statement and let PostgreSQL cascade; return how many were deleted.

    Refuses with ``DeletionBlocked`` (``RG-DEL-001``) when rows elsewhere still refer to them (``NO ACTION``
    foreign keys), naming the table; nothing is deleted then.
    """
    model = queryset.model
    connection = connections[queryset.db]
    qn = connection.ops.quote_name
    selection, params = _selection(queryset)
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    try:
        with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE {pk} IN ({selection})", params)
            return cursor.rowcount
    except IntegrityError as exc:
        cause = exc.__cause__
        diag = getattr(cause, "diag", None)
        referencing = getattr(diag, "table_name", None) or "another table"
        raise DeletionBlocked(
            f"cannot delete: rows in {referencing} still refer to the {model._meta.verbose_name_plural} "
            f"({getattr(diag, 'message_detail', None) or exc})", table=referencing,
        ) from exc
