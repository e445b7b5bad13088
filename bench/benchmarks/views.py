"""Refreshing the two materialized views the spec defines in ways that do not scale, ours against the spec's.

``mv_embedding_similarity_cache``: the spec cross-joins every pair of nodes; ours looks up each node's nearest
neighbours through the IVFFlat index (docs/schema.md, "Materialized views that scale"). ``mv_popular_entity_rankings``:
the spec joins outgoing edges, incoming edges and resource links before counting; ours counts each on its own.

The spec's definitions are created, under the names ``bench_spec_similarity`` and ``bench_spec_rankings``, in the
bench database for the run and dropped afterwards. **Ours**: ``refresh_materialized_views(ARRAY[view])`` (what
``refresh_views --only`` runs, with its record). **Baseline**: ``REFRESH MATERIALIZED VIEW`` of the spec's
definition. The baseline only runs at 10k: at 100k the spec's similarity view would compute 5 × 10⁹ distances.
Quality: for the similarity cache, the share of each node's top-k pairs of the spec's view (k =
``similarity_cache_neighbours``) that ours holds; for the rankings, whether every count equals the spec's.
"""

from __future__ import annotations

import importlib

from django.db import connection, transaction

from bench.harness import Benchmark, Context, register

_SPEC = importlib.import_module("graph.migrations.0011_scalable_views")


def _definition(create_statement: str) -> str:
    """The SELECT of one of the spec's CREATE MATERIALIZED VIEW statements."""
    return create_statement[create_statement.index(" AS\n") + 4:create_statement.index(";")]


class ViewRefresh(Benchmark):
    unit = "ms"
    baseline = "REFRESH MATERIALIZED VIEW of the spec's definition"

    def __init__(self, view: str, spec_name: str, spec_sql: str, description: str, repeat: int):
        self.view, self.spec_name, self.spec_sql = view, spec_name, spec_sql
        self.name = f"views.{view.removeprefix('mv_')}"
        self.description = description
        self.repeat, self.warmup = repeat, 0

    def baseline_runs(self, context: Context) -> bool:
        return context.scale == "10k"

    def setup(self, context: Context) -> None:
        self.context = context
        with connection.cursor() as cursor:
            cursor.execute(f"DROP MATERIALIZED VIEW IF EXISTS {self.spec_name}")
            if self.baseline_runs(context):
                cursor.execute(f"CREATE MATERIALIZED VIEW {self.spec_name} AS {_definition(self.spec_sql)} "
                               "WITH NO DATA")

    def teardown(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP MATERIALIZED VIEW IF EXISTS {self.spec_name}")

    def ours(self) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM refresh_materialized_views(ARRAY[%s])", [self.view])

    def run_baseline(self) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"REFRESH MATERIALIZED VIEW {self.spec_name}")

    def _value(self, query: str):
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchone()


class SimilarityRefresh(ViewRefresh):
    def quality(self) -> str:
        ours = self._value("SELECT count(*) FROM mv_embedding_similarity_cache")[0]
        if not self.baseline_runs(self.context):
            return f"{ours:,} pairs; the spec's definition not run at this scale"
        share, nodes, complete = self._value("""
            WITH k AS (SELECT parameter_value::integer AS k FROM system_config
                       WHERE parameter_name = 'similarity_cache_neighbours'),
            ends AS (SELECT source_node_id AS node_id, source_node_id, target_node_id, similarity_distance
                     FROM bench_spec_similarity
                     UNION ALL
                     SELECT target_node_id, source_node_id, target_node_id, similarity_distance
                     FROM bench_spec_similarity),
            ranked AS (SELECT *, row_number() OVER (PARTITION BY node_id ORDER BY similarity_distance) AS rank
                       FROM ends),
            top AS (SELECT r.node_id, EXISTS (SELECT 1 FROM mv_embedding_similarity_cache m
                                              WHERE m.source_node_id = r.source_node_id
                                                AND m.target_node_id = r.target_node_id) AS found
                    FROM ranked r, k WHERE r.rank <= k.k),
            per_node AS (SELECT node_id, avg(found::integer) AS share FROM top GROUP BY node_id)
            SELECT (SELECT avg(found::integer) FROM top), count(*), count(*) FILTER (WHERE share >= 0.95)
            FROM per_node
        """)
        spec = self._value("SELECT count(*) FROM bench_spec_similarity")[0]
        return (f"ours holds {share:.1%} of each node's top-k spec pairs; {complete:,} of {nodes:,} nodes ≥ 95%; "
                f"{ours:,} pairs vs the spec's {spec:,} (all under the cut-off)")


class RankingsRefresh(ViewRefresh):
    def quality(self) -> str:
        ours = self._value("SELECT count(*) FROM mv_popular_entity_rankings")[0]
        if not self.baseline_runs(self.context):
            return f"{ours:,} nodes ranked; the spec's definition not run at this scale"
        columns = ("node_id, outgoing_relationship_count, incoming_relationship_count, total_relationship_count, "
                   "linked_resource_count")
        differing = self._value(f"""
            SELECT count(*) FROM ((SELECT {columns} FROM mv_popular_entity_rankings
                                   EXCEPT SELECT {columns} FROM bench_spec_rankings)
                                  UNION ALL (SELECT {columns} FROM bench_spec_rankings
                                             EXCEPT SELECT {columns} FROM mv_popular_entity_rankings)) d""")[0]
        return f"{ours:,} nodes ranked; counts equal to the spec's" if not differing else \
            f"{differing:,} rows differ from the spec's counts"


register(SimilarityRefresh(
    "mv_embedding_similarity_cache", "bench_spec_similarity", _SPEC.SPEC_SIMILARITY,
    "refresh of the similarity cache: k nearest neighbours per node through the IVFFlat index vs the spec's "
    "cross join of every pair", repeat=1))
register(RankingsRefresh(
    "mv_popular_entity_rankings", "bench_spec_rankings", _SPEC.SPEC_RANKINGS,
    "refresh of the popular-entity rankings: three separate aggregates vs the spec's triple join", repeat=3))
