"""Refreshing the spec's five materialized views, recording each refresh, and saying which are due.

The work is the SQL function ``refresh_materialized_views(views, concurrent, due_only, refreshed_by)``
(graph/sql/materialized_views.sql, the name the spec's own SQL calls): it refreshes in dependency order, one
refresh of a view at a time (advisory lock), concurrently when asked and the view is populated, and records when,
how long, how many rows and the write count of the view's base tables in ``materialized_view_refreshes``. A view is
due when never refreshed, when ``mv_refresh_interval_hours`` have passed, or when ``mv_incremental_threshold`` rows
of its base tables were written since (docs/schema.md, "Materialized views that scale").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction

from graph.errors import UNKNOWN_VIEW, VIEW_TOO_LARGE_FOR_REQUEST, GraphError
from graph.models import MaterializedViewRefresh, Node
from kgsite.db import capped_count
from kgsite.errors import require_permission

MATERIALIZED_VIEWS = (
    "mv_node_confidence_cache",
    "mv_relationship_strength_matrix",
    "mv_graph_connectivity_stats",
    "mv_popular_entity_rankings",
    "mv_embedding_similarity_cache",
)
REFRESH_PERMISSION = "graph.refresh_materialized_views"
# Nodes with an embedding above which a web request does not refresh the similarity cache: a few seconds at this
# size, about 15 minutes at 100k (docs/benchmarks.md), far beyond gunicorn's worker timeout, which would kill the
# request and roll the refresh back. `refresh_views` runs it instead.
REQUEST_REFRESH_LIMIT = 20_000
SLOW_VIEWS = ("mv_embedding_similarity_cache",)


@dataclass(frozen=True)
class ViewRefresh:
    view_name: str
    refreshed: bool
    reason: str  # why it was refreshed (due reason, "asked for") or why not ("not due")
    duration_ms: int | None
    row_count: int | None


def _check_names(views: Iterable[str] | None) -> list[str] | None:
    if views is None:
        return None
    names = list(views)
    unknown = [name for name in names if name not in MATERIALIZED_VIEWS]
    if unknown:
        raise GraphError(
            f"no materialized view named {', '.join(map(repr, unknown))}; "
            f"the views are {', '.join(MATERIALIZED_VIEWS)}",
            code=UNKNOWN_VIEW, views=unknown,
        )
    return names


def materialized_view_request_refusal(name: str) -> GraphError | None:
    """Why ``name`` is not refreshed inside a web request (``RG-VIEW-002``), or None when it may be.

    Reads at most ``REQUEST_REFRESH_LIMIT + 1`` rows of ``nodes``, never the whole table."""
    if name not in SLOW_VIEWS:
        return None
    embedded = capped_count(Node.objects.filter(embedding__isnull=False), REQUEST_REFRESH_LIMIT)
    if embedded <= REQUEST_REFRESH_LIMIT:
        return None
    return GraphError(
        f"{name} covers more than {REQUEST_REFRESH_LIMIT:,} nodes with an embedding: its refresh takes minutes, "
        f"longer than a web request may run. Run `python manage.py refresh_views --only {name}` on the server",
        code=VIEW_TOO_LARGE_FOR_REQUEST, view=name,
    )


def materialized_views_refresh(views: Iterable[str] | None = None, *, user=None, concurrently: bool = False,
                               due_only: bool = False, in_request: bool = False) -> list[ViewRefresh]:
    """Refresh ``views`` (default: all five) in one transaction and record each refresh.

    ``user`` None is a trusted caller (commands, quickstart); a user needs ``graph.refresh_materialized_views``.
    ``due_only`` skips the views that are not due (reported with ``refreshed`` False). ``in_request`` refuses
    (``RG-VIEW-002``) a view too large to refresh within a web request's time limit.
    """
    require_permission(user, REFRESH_PERMISSION, "refresh the materialized views")
    names = _check_names(views)
    if in_request:
        for name in names if names is not None else MATERIALIZED_VIEWS:
            refusal = materialized_view_request_refusal(name)
            if refusal is not None:
                raise refusal
    refreshed_by = user.pk if user is not None and user.pk else None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT view_name, refreshed, reason, duration_ms, row_count FROM refresh_materialized_views("
            "%s::text[], %s, %s, %s)", [names, concurrently, due_only, refreshed_by])
        return [ViewRefresh(*row) for row in cursor.fetchall()]


def materialized_view_refreshes() -> dict[str, MaterializedViewRefresh]:
    """The last refresh of each view that has been refreshed since kgsite started recording, by view name."""
    return {row.view_name: row for row in MaterializedViewRefresh.objects.select_related("refreshed_by")}


def materialized_views_populated() -> dict[str, bool]:
    """Whether each view holds rows to read: one a migration created or redefined ``WITH NO DATA`` cannot be read
    (PostgreSQL refuses) until a refresh fills it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT matviewname, ispopulated FROM pg_matviews "
                       "WHERE schemaname = current_schema() AND matviewname = ANY(%s)", [list(MATERIALIZED_VIEWS)])
        return dict(cursor.fetchall())


def materialized_views_due() -> dict[str, str | None]:
    """Each view's reason to be refreshed now, or None when it is not due."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, materialized_view_due(name) FROM unnest(%s::text[]) AS name",
                       [list(MATERIALIZED_VIEWS)])
        return dict(cursor.fetchall())
