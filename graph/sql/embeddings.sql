-- Embedding upkeep (docs/embeddings.md): what queues a node or resource for a provider-made vector, and who made
-- each vector.
--
-- embedding_model names the provider that made a row's vector ('hashing-v1'); empty with a vector means a user
-- supplied it (admin, import, plain SQL), and the embedder never overwrites it. The embedder marks its own writes
-- with the session setting kgsite.embedding_writer = 'provider' (graph/services/embeddings.py); any other change
-- of a vector clears embedding_model.
--
-- A row is queued when it is inserted without a vector, when the text it is embedded from changes (a node's name,
-- type, path or attributes; a resource's title, description, type or URL) and its vector is provider-made or
-- missing, or when its vector is cleared. Queueing is an INSERT ... ON CONFLICT DO NOTHING: a row waits once.

CREATE OR REPLACE FUNCTION embedding_enqueue_nodes(node_ids integer[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(node_ids), 0) = 0 THEN
        RETURN;
    END IF;
    EXECUTE $sql$
        INSERT INTO embedding_queue (node_id)
        SELECT n.node_id FROM nodes n
        WHERE n.node_id IN (SELECT DISTINCT unnest($1::integer[]))
          AND (n.embedding IS NULL OR n.embedding_model IS NOT NULL)
        ORDER BY n.node_id
        ON CONFLICT (node_id) DO NOTHING
    $sql$ USING node_ids;
END
$$;

-- Who made the vector: a change of it by anyone but the embedder makes it user-supplied. (A column list, so that
-- updates of other columns, the confidence triggers' among them, never read the vectors.)
CREATE OR REPLACE FUNCTION embedding_mark_supplied() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('kgsite.embedding_writer', true), '') <> 'provider' THEN
        NEW.embedding_model := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION nodes_embedding_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO embedding_queue (node_id)
    SELECT node_id FROM new_nodes WHERE embedding IS NULL ORDER BY node_id
    ON CONFLICT (node_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION nodes_embedding_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO embedding_queue (node_id) VALUES (NEW.node_id) ON CONFLICT (node_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION node_attributes_embedding_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM embedding_enqueue_nodes(ARRAY(SELECT DISTINCT node_id FROM changed_attributes));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION node_attributes_embedding_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM embedding_enqueue_nodes(ARRAY(
        SELECT DISTINCT unnest(ARRAY[o.node_id, n.node_id])
        FROM old_attributes o FULL JOIN new_attributes n USING (attribute_id)
        WHERE (o.node_id, o.attribute_key, o.attribute_value) IS DISTINCT FROM (n.node_id, n.attribute_key, n.attribute_value)
    ));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION resources_embedding_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO embedding_queue (resource_id)
    SELECT resource_id FROM new_resources WHERE embedding IS NULL ORDER BY resource_id
    ON CONFLICT (resource_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION resources_embedding_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO embedding_queue (resource_id) VALUES (NEW.resource_id) ON CONFLICT (resource_id) DO NOTHING;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS nodes_embedding_supplied ON nodes;
CREATE TRIGGER nodes_embedding_supplied BEFORE UPDATE OF embedding ON nodes
    FOR EACH ROW WHEN (OLD.embedding IS DISTINCT FROM NEW.embedding)
    EXECUTE FUNCTION embedding_mark_supplied();
DROP TRIGGER IF EXISTS nodes_embedding_inserted ON nodes;
CREATE TRIGGER nodes_embedding_inserted AFTER INSERT ON nodes
    REFERENCING NEW TABLE AS new_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION nodes_embedding_inserted();
DROP TRIGGER IF EXISTS nodes_embedding_changed ON nodes;
CREATE TRIGGER nodes_embedding_changed AFTER UPDATE OF name, node_type, path, embedding ON nodes
    FOR EACH ROW WHEN ((NEW.embedding IS NULL OR NEW.embedding_model IS NOT NULL) AND (
        (OLD.name, OLD.node_type, OLD.path::text) IS DISTINCT FROM (NEW.name, NEW.node_type, NEW.path::text)
        OR (OLD.embedding IS NOT NULL AND NEW.embedding IS NULL)))
    EXECUTE FUNCTION nodes_embedding_changed();

DROP TRIGGER IF EXISTS node_attributes_embedding_insert ON node_attributes;
CREATE TRIGGER node_attributes_embedding_insert AFTER INSERT ON node_attributes
    REFERENCING NEW TABLE AS changed_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_embedding_changed();
DROP TRIGGER IF EXISTS node_attributes_embedding_update ON node_attributes;
CREATE TRIGGER node_attributes_embedding_update AFTER UPDATE ON node_attributes
    REFERENCING OLD TABLE AS old_attributes NEW TABLE AS new_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_embedding_updated();
DROP TRIGGER IF EXISTS node_attributes_embedding_delete ON node_attributes;
CREATE TRIGGER node_attributes_embedding_delete AFTER DELETE ON node_attributes
    REFERENCING OLD TABLE AS changed_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_embedding_changed();

DROP TRIGGER IF EXISTS resources_embedding_supplied ON external_resources;
CREATE TRIGGER resources_embedding_supplied BEFORE UPDATE OF embedding ON external_resources
    FOR EACH ROW WHEN (OLD.embedding IS DISTINCT FROM NEW.embedding)
    EXECUTE FUNCTION embedding_mark_supplied();
DROP TRIGGER IF EXISTS resources_embedding_inserted ON external_resources;
CREATE TRIGGER resources_embedding_inserted AFTER INSERT ON external_resources
    REFERENCING NEW TABLE AS new_resources
    FOR EACH STATEMENT EXECUTE FUNCTION resources_embedding_inserted();
DROP TRIGGER IF EXISTS resources_embedding_changed ON external_resources;
CREATE TRIGGER resources_embedding_changed AFTER UPDATE OF title, description, resource_type, url, embedding
    ON external_resources
    FOR EACH ROW WHEN ((NEW.embedding IS NULL OR NEW.embedding_model IS NOT NULL) AND (
        (OLD.title, OLD.description, OLD.resource_type, OLD.url)
            IS DISTINCT FROM (NEW.title, NEW.description, NEW.resource_type, NEW.url)
        OR (OLD.embedding IS NOT NULL AND NEW.embedding IS NULL)))
    EXECUTE FUNCTION resources_embedding_changed();
