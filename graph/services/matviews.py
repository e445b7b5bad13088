"""Refreshing the spec's five materialized views, and recording when each was refreshed.

A plain ``REFRESH MATERIALIZED VIEW`` of each asked-for view, in one transaction, with the time it was refreshed,
how long it took and who asked, kept in ``materialized_view_refreshes`` (shown by the admin and the home page).
Scheduled, concurrent and faster refreshes are the materialized-views issue's work.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from graph.errors import UNKNOWN_VIEW, GraphError
from graph.models import MaterializedViewRefresh
from kgsite.errors import require_permission

MATERIALIZED_VIEWS = (
    "mv_node_confidence_cache",
    "mv_relationship_strength_matrix",
    "mv_graph_connectivity_stats",
    "mv_popular_entity_rankings",
    "mv_embedding_similarity_cache",
)
REFRESH_PERMISSION = "graph.refresh_materialized_views"


def materialized_views_refresh(views: Iterable[str] | None = None, *, user=None) -> list[str]:
    """Refresh ``views`` (default: all five) in one transaction and record each refresh; returns their names.

    ``user`` None is a trusted caller (commands, quickstart); a user needs ``graph.refresh_materialized_views``.
    """
    require_permission(user, REFRESH_PERMISSION, "refresh the materialized views")
    names = list(MATERIALIZED_VIEWS if views is None else views)
    unknown = [name for name in names if name not in MATERIALIZED_VIEWS]
    if unknown:
        raise GraphError(
            f"no materialized view named {', '.join(map(repr, unknown))}; "
            f"the views are {', '.join(MATERIALIZED_VIEWS)}",
            code=UNKNOWN_VIEW, views=unknown,
        )
    refreshed_by = user if user is not None and user.pk else None
    with transaction.atomic(), connection.cursor() as cursor:
        for name in names:
            started = time.perf_counter()
            cursor.execute(f"REFRESH MATERIALIZED VIEW {connection.ops.quote_name(name)}")
            MaterializedViewRefresh.objects.update_or_create(
                view_name=name,
                defaults={"refreshed_at": timezone.now(), "refreshed_by": refreshed_by,
                          "duration_ms": round((time.perf_counter() - started) * 1000)},
            )
    return names


def materialized_view_refreshes() -> dict[str, MaterializedViewRefresh]:
    """The last refresh of each view that has been refreshed since kgsite started recording, by view name."""
    return {row.view_name: row for row in MaterializedViewRefresh.objects.select_related("refreshed_by")}
