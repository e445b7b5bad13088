"""Refreshing the spec's five materialized views.

A plain ``REFRESH MATERIALIZED VIEW`` of each, in one transaction. Fine for the demo graph and small
deployments; scheduled, concurrent and faster refreshes are the materialized-views issue's work.
"""

from __future__ import annotations

from django.db import connection, transaction

MATERIALIZED_VIEWS = (
    "mv_node_confidence_cache",
    "mv_relationship_strength_matrix",
    "mv_graph_connectivity_stats",
    "mv_popular_entity_rankings",
    "mv_embedding_similarity_cache",
)


def materialized_views_refresh() -> list[str]:
    with transaction.atomic(), connection.cursor() as cursor:
        for view in MATERIALIZED_VIEWS:
            cursor.execute(f"REFRESH MATERIALIZED VIEW {connection.ops.quote_name(view)}")
    return list(MATERIALIZED_VIEWS)
