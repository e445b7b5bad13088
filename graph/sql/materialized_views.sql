-- The spec's materialized views, refreshed by refresh_materialized_views() (the name the spec's last line calls),
-- recorded in materialized_view_refreshes, and due by interval or by changes to their base tables (docs/schema.md,
-- "Materialized views that scale").

-- What each view is built from: refreshes count the writes to these tables.
CREATE OR REPLACE FUNCTION materialized_view_base_tables(view_name text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE view_name
        WHEN 'mv_node_confidence_cache' THEN ARRAY['nodes']
        WHEN 'mv_relationship_strength_matrix' THEN ARRAY['relationships', 'nodes']
        WHEN 'mv_graph_connectivity_stats' THEN ARRAY['nodes', 'relationships']
        WHEN 'mv_popular_entity_rankings' THEN ARRAY['nodes', 'relationships', 'node_resource_links']
        WHEN 'mv_embedding_similarity_cache' THEN ARRAY['nodes']
    END
$$;

-- Rows inserted, updated and deleted in the view's base tables so far: PostgreSQL's cumulative statistics (what
-- autovacuum decides by) plus the current transaction's own writes, not yet in them.
CREATE OR REPLACE FUNCTION materialized_view_base_changes(view_name text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del), 0)
         + coalesce((SELECT sum(x.n_tup_ins + x.n_tup_upd + x.n_tup_del) FROM pg_stat_xact_user_tables x
                     WHERE x.schemaname = current_schema()
                       AND x.relname = ANY(materialized_view_base_tables(view_name))), 0)
    FROM pg_stat_user_tables s
    WHERE s.schemaname = current_schema() AND s.relname = ANY(materialized_view_base_tables(view_name))
$$;

-- Why the view is due for a refresh, or NULL: not populated, never refreshed, mv_refresh_interval_hours passed, at least
-- mv_incremental_threshold rows of its base tables written since, or the statistics were reset since.
CREATE OR REPLACE FUNCTION materialized_view_due(view_name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    last record;
    hours integer := coalesce((SELECT parameter_value::integer FROM system_config
                               WHERE parameter_name = 'mv_refresh_interval_hours'), 24);
    threshold integer := coalesce((SELECT parameter_value::integer FROM system_config
                                   WHERE parameter_name = 'mv_incremental_threshold'), 1000);
    changes bigint;
BEGIN
    -- Created (or redefined by a migration) WITH NO DATA: reading it fails until a refresh fills it.
    IF NOT coalesce((SELECT m.ispopulated FROM pg_matviews m
                     WHERE m.matviewname = materialized_view_due.view_name AND m.schemaname = current_schema()),
                    true) THEN
        RETURN 'not populated';
    END IF;
    SELECT * INTO last FROM materialized_view_refreshes r WHERE r.view_name = materialized_view_due.view_name;
    IF NOT FOUND THEN
        RETURN 'never refreshed';
    END IF;
    IF last.refreshed_at < now() - make_interval(hours => hours) THEN
        RETURN format('last refreshed more than %s hours ago', hours);
    END IF;
    IF last.base_changes IS NULL THEN
        RETURN 'no change count recorded';
    END IF;
    changes := materialized_view_base_changes(view_name) - last.base_changes;
    IF changes < 0 THEN
        RETURN 'the statistics were reset since the last refresh';
    END IF;
    IF changes >= threshold THEN
        RETURN format('%s rows of its tables written since the last refresh (threshold %s)', changes, threshold);
    END IF;
    RETURN NULL;
END
$$;

-- Refresh the asked-for views (default all five, in dependency order), concurrently if asked and possible, only
-- the due ones with due_only; one at a time per view (advisory lock); each refresh recorded.
-- The SET clauses scope the pgvector settings the similarity refresh makes (set_config(..., true) below) to this
-- call: the caller's transaction keeps its own.
CREATE OR REPLACE FUNCTION refresh_materialized_views(
    views text[] DEFAULT NULL, concurrent boolean DEFAULT false, due_only boolean DEFAULT false,
    refreshed_by integer DEFAULT NULL
) RETURNS TABLE (view_name text, refreshed boolean, reason text, duration_ms integer, row_count bigint)
LANGUAGE plpgsql
SET ivfflat.probes = 1
SET ivfflat.iterative_scan = off
AS $$
DECLARE
    all_views constant text[] := ARRAY['mv_node_confidence_cache', 'mv_relationship_strength_matrix',
        'mv_graph_connectivity_stats', 'mv_popular_entity_rankings', 'mv_embedding_similarity_cache'];
    unknown text[];
    name text;
    started timestamptz;
    how text;
    changes_before bigint;
    vector_index regclass;
BEGIN
    unknown := ARRAY(SELECT u FROM unnest(views) u WHERE u <> ALL(all_views));
    IF cardinality(unknown) > 0 THEN
        RAISE EXCEPTION 'RG-VIEW-001: no materialized view named %; the views are %',
            array_to_string(unknown, ', '), array_to_string(all_views, ', ') USING ERRCODE = '22023';
    END IF;
    FOREACH name IN ARRAY all_views LOOP
        CONTINUE WHEN views IS NOT NULL AND name <> ALL(views);
        PERFORM pg_advisory_xact_lock(hashtext('kgsite.refresh:' || name));
        view_name := name;
        reason := materialized_view_due(name);
        IF due_only AND reason IS NULL THEN
            refreshed := false; duration_ms := NULL;
            -- Why not: how far the view is from each of the two limits.
            SELECT format('not due: %s of %s rows of its tables written since the last refresh, refreshed %s h ago '
                          '(every %s h)',
                          materialized_view_base_changes(name) - r.base_changes,
                          coalesce((SELECT parameter_value FROM system_config
                                    WHERE parameter_name = 'mv_incremental_threshold'), '1000'),
                          greatest(floor(extract(epoch FROM clock_timestamp() - r.refreshed_at) / 3600), 0),
                          coalesce((SELECT parameter_value FROM system_config
                                    WHERE parameter_name = 'mv_refresh_interval_hours'), '24'))
            INTO reason FROM materialized_view_refreshes r WHERE r.view_name = name;
            row_count := (SELECT r.row_count FROM materialized_view_refreshes r WHERE r.view_name = name);
            RETURN NEXT;
            CONTINUE;
        END IF;
        started := clock_timestamp();
        IF name = 'mv_embedding_similarity_cache' THEN
            -- Nearest neighbours through the IVFFlat index (the view's inner LIMIT is a constant, so the planner
            -- chooses the index itself): similarity_cache_probes lists per lookup, and pgvector 0.8's iterative
            -- scan probes further lists whenever those hold fewer than k other nodes, so every node gets its k.
            PERFORM set_config('ivfflat.probes', coalesce((SELECT parameter_value FROM system_config
                WHERE parameter_name = 'similarity_cache_probes'), '3'), true);
            PERFORM set_config('ivfflat.iterative_scan', 'relaxed_order', true);
            -- IVFFlat scans read their lists through a small ring of buffers, so without this each of the N
            -- lookups copies its lists in from the operating system again: load the index into shared buffers
            -- once (pg_prewarm, when installed and the index takes at most half of shared_buffers).
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm') THEN
                FOR vector_index IN
                    SELECT i.indexrelid::regclass FROM pg_index i
                    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
                    WHERE i.indrelid = 'nodes'::regclass AND am.amname = 'ivfflat'
                      AND pg_relation_size(i.indexrelid) * 2 <= (SELECT setting::bigint * pg_size_bytes(unit)
                                                               FROM pg_settings WHERE pg_settings.name = 'shared_buffers')
                LOOP
                    EXECUTE 'SELECT pg_prewarm($1)' USING vector_index;
                END LOOP;
            END IF;
        END IF;
        how := CASE WHEN concurrent AND (SELECT ispopulated FROM pg_matviews m
                                           WHERE m.matviewname = name AND m.schemaname = current_schema())
                    THEN 'CONCURRENTLY ' ELSE '' END;
        -- Counted before the refresh: a write committed while it runs may be missing from the view, so it counts
        -- towards the next refresh rather than being taken as seen.
        changes_before := materialized_view_base_changes(name);
        EXECUTE format('REFRESH MATERIALIZED VIEW %s%I', how, name);
        duration_ms := round(extract(epoch FROM clock_timestamp() - started) * 1000);
        EXECUTE format('SELECT count(*) FROM %I', name) INTO row_count;
        INSERT INTO materialized_view_refreshes AS r
            (view_name, refreshed_at, duration_ms, refreshed_by_id, row_count, base_changes, refreshed_concurrently)
        VALUES (name, clock_timestamp(), duration_ms, refreshed_by, row_count, changes_before, how <> '')
        ON CONFLICT ON CONSTRAINT materialized_view_refreshes_pkey DO UPDATE SET
            refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms,
            refreshed_by_id = excluded.refreshed_by_id, row_count = excluded.row_count,
            base_changes = excluded.base_changes, refreshed_concurrently = excluded.refreshed_concurrently;
        refreshed := true;
        reason := coalesce(reason, 'asked for');
        RETURN NEXT;
    END LOOP;
END
$$;
