-- Duplicates and merges (docs/duplicates.md).

-- The foreign keys Django leaves to the database: a deleted node takes its candidates and judgements with it.
ALTER TABLE duplicate_candidates DROP CONSTRAINT IF EXISTS duplicate_candidates_node_low_id_fkey;
ALTER TABLE duplicate_candidates ADD CONSTRAINT duplicate_candidates_node_low_id_fkey
    FOREIGN KEY (node_low_id) REFERENCES nodes (node_id) ON DELETE CASCADE;
ALTER TABLE duplicate_candidates DROP CONSTRAINT IF EXISTS duplicate_candidates_node_high_id_fkey;
ALTER TABLE duplicate_candidates ADD CONSTRAINT duplicate_candidates_node_high_id_fkey
    FOREIGN KEY (node_high_id) REFERENCES nodes (node_id) ON DELETE CASCADE;
ALTER TABLE distinct_node_pairs DROP CONSTRAINT IF EXISTS distinct_node_pairs_node_low_id_fkey;
ALTER TABLE distinct_node_pairs ADD CONSTRAINT distinct_node_pairs_node_low_id_fkey
    FOREIGN KEY (node_low_id) REFERENCES nodes (node_id) ON DELETE CASCADE;
ALTER TABLE distinct_node_pairs DROP CONSTRAINT IF EXISTS distinct_node_pairs_node_high_id_fkey;
ALTER TABLE distinct_node_pairs ADD CONSTRAINT distinct_node_pairs_node_high_id_fkey
    FOREIGN KEY (node_high_id) REFERENCES nodes (node_id) ON DELETE CASCADE;

-- A merge moves attributes to the surviving node without changing them: the reasons of the links that move with
-- them still hold, so the move marks nothing stale (graph/services/merges.py sets kgsite.node_merge for its
-- statements). Any other change of node_id still does, as graph/sql/curation.sql describes.
CREATE OR REPLACE FUNCTION node_attributes_reasons_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('kgsite.node_merge', true) = 'on' THEN
        RETURN NULL;  -- a value A already holds: the links it supported move to A, where A's copy supports them
    END IF;
    PERFORM inference_reasons_gone(ARRAY(SELECT attribute_id FROM deleted_attributes), 'deleted');
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION node_attributes_reasons_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('kgsite.node_merge', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM inference_reasons_gone(ARRAY(
        SELECT o.attribute_id
        FROM old_attributes o JOIN new_attributes n USING (attribute_id)
        WHERE (o.node_id, o.attribute_type, o.attribute_key, o.attribute_value, o.weight, o.confidence,
               o.source_reliability)
              IS DISTINCT FROM (n.node_id, n.attribute_type, n.attribute_key, n.attribute_value, n.weight,
                                n.confidence, n.source_reliability)), 'changed');
    RETURN NULL;
END
$$;
