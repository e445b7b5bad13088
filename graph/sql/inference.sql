-- Relationship inference: what queues a node (docs/inference.md, "What queues a node").
--
-- Every write path queues: the admin, commands, imports, COPY and plain SQL. The triggers are statement-level with
-- transition tables, so a COPY of a million attributes queues each of its nodes once, in one set-based INSERT.
--
-- At most one pending row per node (unique_pending_inference_node): a node queued again while a row is pending
-- raises that row's priority by one (up to 10, or to the priority asked for if higher) when the row was queued by
-- an earlier transaction; a node being processed gets a new pending row, since the worker may have read the node
-- before the change.

CREATE OR REPLACE FUNCTION inference_enqueue(node_ids integer[], wanted_priority integer DEFAULT 5)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    IF coalesce(cardinality(node_ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    -- EXECUTE plans with the array's actual size (a hash join for a COPY's nodes, index lookups for one node).
    -- Only nodes that still exist: an attribute deleted by its node's cascade queues nothing.
    EXECUTE $sql$
        INSERT INTO relationship_inference_queue AS q (node_id, priority)
        SELECT n.node_id, least(10, greatest(1, $2))
        FROM (SELECT DISTINCT node_id FROM unnest($1::integer[]) AS c(node_id)) AS c
        JOIN nodes n ON n.node_id = c.node_id
        ORDER BY n.node_id
        ON CONFLICT (node_id) WHERE status = 'pending' DO UPDATE
        SET priority = least(10, greatest(
                excluded.priority,
                q.priority + CASE WHEN q.queued_at < now() THEN 1 ELSE 0 END))
        WHERE q.priority IS DISTINCT FROM least(10, greatest(
                excluded.priority,
                q.priority + CASE WHEN q.queued_at < now() THEN 1 ELSE 0 END))
    $sql$ USING node_ids, wanted_priority;
    GET DIAGNOSTICS queued = ROW_COUNT;
    RETURN queued;
END
$$;

-- New nodes.
CREATE OR REPLACE FUNCTION nodes_inference_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM inference_enqueue(ARRAY(SELECT node_id FROM new_nodes));
    RETURN NULL;
END
$$;

-- Inserted and deleted attributes: their nodes (both triggers name the transition table alike).
CREATE OR REPLACE FUNCTION node_attributes_inference_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM inference_enqueue(ARRAY(SELECT DISTINCT node_id FROM changed_attributes));
    RETURN NULL;
END
$$;

-- Updated attributes: the nodes on both sides of a change the inference reads (node, type, key, value, weight,
-- confidence, source reliability). A new last_verified alone queues nothing.
CREATE OR REPLACE FUNCTION node_attributes_inference_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM inference_enqueue(ARRAY(
        SELECT DISTINCT unnest(ARRAY[o.node_id, n.node_id])
        FROM old_attributes o FULL JOIN new_attributes n USING (attribute_id)
        WHERE (o.node_id, o.attribute_type, o.attribute_key, o.attribute_value, o.weight, o.confidence,
               o.source_reliability)
              IS DISTINCT FROM (n.node_id, n.attribute_type, n.attribute_key, n.attribute_value, n.weight,
                                n.confidence, n.source_reliability)
    ));
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS nodes_inference_enqueue ON nodes;
CREATE TRIGGER nodes_inference_enqueue AFTER INSERT ON nodes
    REFERENCING NEW TABLE AS new_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION nodes_inference_enqueue();
DROP TRIGGER IF EXISTS node_attributes_inference_insert ON node_attributes;
CREATE TRIGGER node_attributes_inference_insert AFTER INSERT ON node_attributes
    REFERENCING NEW TABLE AS changed_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_inference_changed();
DROP TRIGGER IF EXISTS node_attributes_inference_update ON node_attributes;
CREATE TRIGGER node_attributes_inference_update AFTER UPDATE ON node_attributes
    REFERENCING OLD TABLE AS old_attributes NEW TABLE AS new_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_inference_updated();
DROP TRIGGER IF EXISTS node_attributes_inference_delete ON node_attributes;
CREATE TRIGGER node_attributes_inference_delete AFTER DELETE ON node_attributes
    REFERENCING OLD TABLE AS changed_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_inference_changed();
