"""The similarity cache chooses the IVFFlat index by itself and uses pgvector 0.8's iterative scans; its refresh
loads the index into shared buffers first (docs/schema.md, "Materialized views that scale").

- The view's nearest-neighbour lookup had ``LIMIT <k from system_config>``: a limit the planner cannot see, which it
  takes as 10% of the table, so it preferred a sequential scan and a sort per node (the spec's quadratic cost)
  unless the refresh turned sequential scans off. The lookup is now ``LIMIT 100`` (the largest
  ``similarity_cache_neighbours`` allows, a constant: the planner picks the index) inside ``LIMIT k``, of which
  the executor reads only k rows. A plain ``REFRESH MATERIALIZED VIEW`` uses the index too.
- ``refresh_materialized_views()`` turns on ``ivfflat.iterative_scan`` (every node gets its k neighbours even
  where the probed lists hold fewer, as on an index built over an empty table), loads the IVFFlat index with
  ``pg_prewarm`` when it fits in half of ``shared_buffers`` (IVFFlat scans read through a small buffer ring, so
  each lookup otherwise copies its lists in from the operating system again), scopes its pgvector settings to
  the call, and records the base tables' write count from before the refresh.
- ``pg_prewarm`` is created when the server has it and the role may create it; otherwise the refresh only skips
  the preloading.
"""
import importlib
from pathlib import Path

from django.db import migrations

_0011 = importlib.import_module("graph.migrations.0011_scalable_views")

PREWARM_SQL = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_prewarm;
EXCEPTION WHEN undefined_file OR insufficient_privilege OR feature_not_supported THEN
    RAISE NOTICE 'pg_prewarm is not available (%): refreshes of mv_embedding_similarity_cache will not preload '
                 'the IVFFlat index', SQLERRM;
END
$$;
"""
DROP_PREWARM_SQL = "DROP EXTENSION IF EXISTS pg_prewarm;"

SIMILARITY_SQL = """
DROP MATERIALIZED VIEW mv_embedding_similarity_cache;
CREATE MATERIALIZED VIEW mv_embedding_similarity_cache AS
WITH settings AS (
    SELECT coalesce((SELECT parameter_value::integer FROM system_config
                     WHERE parameter_name = 'similarity_cache_neighbours'), 10) AS neighbours,
           coalesce((SELECT parameter_value::double precision FROM system_config
                     WHERE parameter_name = 'similarity_cache_max_distance'), 0.7) AS max_distance
), pairs AS (
    SELECT least(n1.node_id, nearest.node_id) AS source_node_id, greatest(n1.node_id, nearest.node_id) AS target_node_id,
           min(nearest.distance) AS distance
    FROM settings, nodes n1
    CROSS JOIN LATERAL (
        SELECT candidates.node_id, candidates.distance
        FROM (
            SELECT n2.node_id, n1.embedding <=> n2.embedding AS distance
            FROM nodes n2
            WHERE n2.embedding IS NOT NULL AND n2.node_id <> n1.node_id
            ORDER BY n2.embedding <=> n1.embedding
            LIMIT 100
        ) AS candidates
        LIMIT settings.neighbours
    ) AS nearest
    WHERE n1.embedding IS NOT NULL AND nearest.distance < settings.max_distance
    GROUP BY 1, 2
)
SELECT
    p.source_node_id,
    p.target_node_id,
    p.distance AS similarity_distance,
    1 - p.distance AS similarity_score,
    s.node_type AS source_type,
    t.node_type AS target_type
FROM pairs p
JOIN nodes s ON s.node_id = p.source_node_id
JOIN nodes t ON t.node_id = p.target_node_id
WITH NO DATA;

CREATE UNIQUE INDEX idx_mv_similarity_cache_pair ON mv_embedding_similarity_cache(source_node_id, target_node_id);
CREATE INDEX idx_mv_similarity_cache_source ON mv_embedding_similarity_cache(source_node_id, similarity_score DESC);
CREATE INDEX idx_mv_similarity_cache_target ON mv_embedding_similarity_cache(target_node_id, similarity_score DESC);
CREATE INDEX idx_mv_similarity_cache_score ON mv_embedding_similarity_cache(similarity_score DESC);
CREATE INDEX idx_mv_similarity_cache_types ON mv_embedding_similarity_cache(source_type, target_type, similarity_score DESC);
"""
# Back to graph.0011's definition (its DROP of the view included).
PREVIOUS_SIMILARITY_SQL = _0011.VIEWS_SQL[
    _0011.VIEWS_SQL.index("DROP MATERIALIZED VIEW mv_embedding_similarity_cache;"):
    _0011.VIEWS_SQL.index("CREATE UNIQUE INDEX idx_mv_relationship_matrix_key")
]

# CREATE OR REPLACE of the refresh functions; going back keeps this version (it refreshes graph.0011's view too).
REFRESH_SQL = (Path(__file__).resolve().parent.parent / "sql" / "materialized_views.sql").read_text()

# The view was created empty. Fill it with the settings a refresh uses (restored afterwards) on a graph small
# enough for the migration to stay short; a larger one (about 15 minutes at 100k nodes on the machine of
# docs/benchmarks.md, hours at a million with the spec's lists = 100) is left unpopulated, its old record dropped:
# it is then due ("not populated") and the admin lists no rows until `refresh_views` fills it. Not recorded, as
# graph.0011 did not record its fill: the view stays "never refreshed" for the due logic.
FILL_LIMIT = 20_000  # nodes with an embedding: a few seconds
FILL_SQL = """
DO $$
DECLARE
    -- NULL, or '' for a placeholder left by an earlier SET LOCAL, when pgvector is not loaded in this session yet
    probes text := nullif(current_setting('ivfflat.probes', true), '');
    iterative text := nullif(current_setting('ivfflat.iterative_scan', true), '');
    embedded bigint := (SELECT count(*) FROM nodes WHERE embedding IS NOT NULL);
BEGIN
    IF embedded > FILL_LIMIT THEN
        DELETE FROM materialized_view_refreshes WHERE view_name = 'mv_embedding_similarity_cache';
        RAISE NOTICE 'mv_embedding_similarity_cache is left unpopulated (% nodes with an embedding): run '
                     '`python manage.py refresh_views --only mv_embedding_similarity_cache`', embedded;
        RETURN;
    END IF;
    PERFORM set_config('ivfflat.probes', coalesce((SELECT parameter_value FROM system_config
        WHERE parameter_name = 'similarity_cache_probes'), '3'), true);
    PERFORM set_config('ivfflat.iterative_scan', 'relaxed_order', true);
    REFRESH MATERIALIZED VIEW mv_embedding_similarity_cache;
    PERFORM set_config('ivfflat.probes', coalesce(probes, '1'), true);
    PERFORM set_config('ivfflat.iterative_scan', coalesce(iterative, 'off'), true);
END
$$;
""".replace("FILL_LIMIT", str(FILL_LIMIT))


class Migration(migrations.Migration):

    dependencies = [
        ("graph", "0011_scalable_views"),
    ]

    operations = [
        migrations.RunSQL(PREWARM_SQL, DROP_PREWARM_SQL),
        migrations.RunSQL(SIMILARITY_SQL, PREVIOUS_SIMILARITY_SQL),
        migrations.RunSQL(REFRESH_SQL, migrations.RunSQL.noop),
        migrations.RunSQL(FILL_SQL, migrations.RunSQL.noop),
    ]
