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

-- The reason triggers skip a merge's statements (kgsite.node_merge): graph/sql/curation.sql.
