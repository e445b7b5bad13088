"""Counting rows without a full ``COUNT(*)`` on tables that can hold millions of rows.

* ``table_row_estimate``: the planner's estimate (``pg_class.reltuples``, kept by autovacuum/ANALYZE), O(1).
* ``capped_count``: an exact count up to a cap (``SELECT count(*) FROM (... LIMIT cap + 1)``), O(cap).
* ``row_count``: what pages show: exact while a table is small, the estimate once it is big.
* ``filtered_row_count``: the same for a filtered queryset, with the planner's estimate (EXPLAIN, not run).
* ``EstimatedCountPaginator``: Django's paginator with ``count`` from the above, for the admin at a million rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db import DatabaseError, connections, models
from django.utils.functional import cached_property

from kgsite.errors import DomainError

EXACT_COUNT_CAP = 10_000


@dataclass(frozen=True)
class RowCount:
    value: int
    exact: bool

    def __str__(self):
        return f"{self.value:,}" if self.exact else f"≈{self.value:,}"


def table_row_estimate(table: str, using: str = "default") -> int | None:
    """The planner's row estimate for ``table``; None if the table has never been analysed or vacuumed."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


def capped_count(queryset: models.QuerySet, cap: int = EXACT_COUNT_CAP) -> int:
    """``min(queryset.count(), cap + 1)`` reading at most ``cap + 1`` rows."""
    return queryset.order_by()[: cap + 1].count()


def row_count(model: type[models.Model], cap: int = EXACT_COUNT_CAP, using: str = "default") -> RowCount:
    """Exact when the table holds at most ``cap`` rows, else the planner's estimate (marked ≈ when shown)."""
    exact = capped_count(model._default_manager.using(using).all(), cap)
    if exact <= cap:
        return RowCount(exact, True)
    estimate = table_row_estimate(model._meta.db_table, using)
    return RowCount(max(estimate or 0, cap + 1), False)


def planner_row_estimate(queryset: models.QuerySet) -> int | None:
    """The planner's estimate of how many rows ``queryset`` returns (EXPLAIN: planned, not executed)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (LookupError, TypeError, ValueError):
        return None


def filtered_row_count(queryset: models.QuerySet, cap: int = EXACT_COUNT_CAP) -> RowCount:
    """Like ``kgsite.db.row_count`` for a filtered queryset: exact up to ``cap``, else the planner's estimate."""
    exact = capped_count(queryset, cap)
    if exact <= cap:
        return RowCount(exact, True)
    return RowCount(max(planner_row_estimate(queryset) or 0, cap + 1), False)



def with_known_count(queryset: models.QuerySet, count: int) -> models.QuerySet:
    """``queryset`` marked as holding exactly ``count`` rows (its caller just read them), so that
    ``EstimatedCountPaginator`` need not count them again. The mark holds while the query's filters are the ones it
    was made with (reordering keeps it); any further filter voids it."""
    queryset.query.kgsite_known_count = (count, queryset.query.where.clone())
    return queryset


def known_count(queryset: models.QuerySet) -> int | None:
    mark = getattr(queryset.query, "kgsite_known_count", None)
    if mark is None or mark[1] != queryset.query.where:
        return None
    return mark[0]


class EstimatedCountPaginator(Paginator):
    """A paginator whose ``count`` never scans a big table.

    Unfiltered querysets over a big table use the planner's estimate; filtered ones are counted exactly up to
    ``EXACT_COUNT_CAP`` and then reported as "more than the cap", which keeps the page links usable.
    """

    cap = EXACT_COUNT_CAP

    @cached_property
    def count(self):
        queryset = self.object_list
        if not isinstance(queryset, models.QuerySet):
            return super().count
        known = known_count(queryset)
        if known is not None:
            return known
        exact = capped_count(queryset, self.cap)
        if exact <= self.cap:
            return exact
        if not queryset.query.where:
            estimate = table_row_estimate(queryset.model._meta.db_table, queryset.db)
            if estimate:
                return max(estimate, exact)
        return exact


_CODED_MESSAGE = re.compile(r"^(?P<code>RG-[A-Z]+-\d{3}): (?P<message>.*)$", re.DOTALL)


def domain_error_from_database(exc: DatabaseError, error_class: type[DomainError] = DomainError) -> DomainError | None:
    """The ``DomainError`` a trigger raised as ``RAISE EXCEPTION 'RG-...: message'``, or None for any other error.

    Database rules that Python cannot bypass (triggers) speak the same codes as the services; this turns their
    message back into the error the edges know how to show.
    """
    cause = exc.__cause__ or exc
    diag = getattr(cause, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(cause)
    match = _CODED_MESSAGE.match(primary.strip())
    if match is None:
        return None
    return error_class(match["message"], code=match["code"], column=getattr(diag, "column_name", None))
