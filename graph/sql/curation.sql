-- Curation of inferred links (docs/curation.md): reasons that go stale with their attributes, and rejections that
-- inference cannot override. Every write path passes through these triggers: the admin, commands, imports, the
-- worker, COPY and plain SQL.

-- The foreign keys Django leaves to the database (as graph.0005 does for the spec's tables).
ALTER TABLE inference_reasons DROP CONSTRAINT IF EXISTS inference_reasons_relationship_id_fkey;
ALTER TABLE inference_reasons ADD CONSTRAINT inference_reasons_relationship_id_fkey
    FOREIGN KEY (relationship_id) REFERENCES relationships (relationship_id) ON DELETE CASCADE;
ALTER TABLE inference_rejections DROP CONSTRAINT IF EXISTS inference_rejections_source_node_id_fkey;
ALTER TABLE inference_rejections ADD CONSTRAINT inference_rejections_source_node_id_fkey
    FOREIGN KEY (source_node_id) REFERENCES nodes (node_id) ON DELETE CASCADE;
ALTER TABLE inference_rejections DROP CONSTRAINT IF EXISTS inference_rejections_target_node_id_fkey;
ALTER TABLE inference_rejections ADD CONSTRAINT inference_rejections_target_node_id_fkey
    FOREIGN KEY (target_node_id) REFERENCES nodes (node_id) ON DELETE CASCADE;

-- The reasons resting on the attributes in attribute_ids are gone (why: 'changed' or 'deleted'); their
-- relationships are stale from now. Returns how many relationships became stale. The node's inference row,
-- queued by graph/sql/inference.sql's triggers in the same statement, settles them on the next pass.
CREATE OR REPLACE FUNCTION inference_reasons_gone(attribute_ids integer[], why text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    marked integer;
BEGIN
    IF coalesce(cardinality(attribute_ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    -- EXECUTE: planned with the array's real size (index lookups for one attribute, a hash for a bulk update).
    EXECUTE $sql$
        WITH hit AS (
            UPDATE inference_reasons r SET gone_at = now(), gone_why = $2
            WHERE r.reason_id IN (SELECT reason_id FROM inference_reasons WHERE source_attribute_id = ANY($1)
                                  UNION
                                  SELECT reason_id FROM inference_reasons WHERE target_attribute_id = ANY($1))
              AND r.gone_at IS NULL
            RETURNING r.relationship_id
        )
        UPDATE relationships x SET stale_since = now()
        WHERE x.relationship_id IN (SELECT relationship_id FROM hit) AND x.stale_since IS NULL
    $sql$ USING attribute_ids, why;
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$$;

-- A merge (graph/services/merges.py sets kgsite.node_merge for its statements) moves attributes to the surviving
-- node without changing them, and deletes only values the survivor holds too: the reasons of the links that move
-- with them still hold, so the merge marks nothing stale. Any other change of node_id still does.
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

-- An update changes a reason when it changes what the rule reads (the same columns that queue the node).
-- EXECUTE: the join of the two transition tables is planned with their real sizes on every statement. A plan
-- PL/pgSQL cached for the session after a one-row update was a nested loop that took seconds on a bulk update.
CREATE OR REPLACE FUNCTION node_attributes_reasons_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('kgsite.node_merge', true) = 'on' THEN
        RETURN NULL;
    END IF;
    EXECUTE $sql$
        SELECT inference_reasons_gone(ARRAY(
            SELECT o.attribute_id
            FROM old_attributes o JOIN new_attributes n USING (attribute_id)
            WHERE (o.node_id, o.attribute_type, o.attribute_key, o.attribute_value, o.weight, o.confidence,
                   o.source_reliability)
                  IS DISTINCT FROM (n.node_id, n.attribute_type, n.attribute_key, n.attribute_value, n.weight,
                                    n.confidence, n.source_reliability)), 'changed')
    $sql$;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS node_attributes_reasons_delete ON node_attributes;
CREATE TRIGGER node_attributes_reasons_delete AFTER DELETE ON node_attributes
    REFERENCING OLD TABLE AS deleted_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_reasons_deleted();
DROP TRIGGER IF EXISTS node_attributes_reasons_update ON node_attributes;
CREATE TRIGGER node_attributes_reasons_update AFTER UPDATE ON node_attributes
    REFERENCING OLD TABLE AS old_attributes NEW TABLE AS new_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_reasons_updated();

-- Rejections stick. The inference pass leaves rejected pairs out; this is the guarantee behind it, for a pass
-- that read the rejections before a concurrent rejection committed: an auto-managed link inserted for a rejected
-- pair is deleted at the end of the inserting statement (its query sees the rejections committed by then). (The
-- rejection itself locks both nodes FOR UPDATE, which waits for any transaction still inserting a link to them:
-- see graph/services/curation.py.) A row trigger limited to auto-managed rows: a bulk load of curated
-- relationships (COPY, imports) pays nothing, where a statement trigger would store every inserted row.
CREATE OR REPLACE FUNCTION relationships_rejected_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inference_rejections j
               WHERE j.source_node_id = least(NEW.source_node_id, NEW.target_node_id)
                 AND j.target_node_id = greatest(NEW.source_node_id, NEW.target_node_id)
                 AND j.relationship_type = NEW.relationship_type) THEN
        DELETE FROM relationships WHERE relationship_id = NEW.relationship_id;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS relationships_rejected_removed ON relationships;
CREATE TRIGGER relationships_rejected_removed AFTER INSERT ON relationships
    FOR EACH ROW WHEN (NEW.auto_managed) EXECUTE FUNCTION relationships_rejected_removed();
