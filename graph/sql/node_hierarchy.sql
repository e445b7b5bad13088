-- The node hierarchy rule (docs/schema.md, "Path and parent agree"), enforced for every write path:
--   * a node with a parent has the parent's path plus exactly one label;
--   * a node without a parent has a one-label path (a root of the hierarchy) or no path;
--   * paths are unique (constraint unique_node_path);
--   * no node is its own ancestor.
-- What a writer leaves out is derived: set only parent_node_id and the path follows (the node keeps its label; a
-- new child without a path gets a label made from its name); set only the path and the parent follows (the node
-- at the path minus its last label). Moving a node rewrites its descendants' paths in the same statement.
-- Refusals carry RG-NODE codes (graph/errors.py) with SQLSTATE 23514 (check_violation).
-- A statement that rewrites whole subtrees itself, set-based and right by construction (a merge moving the merged
-- node's children with their subtrees, and its undo: graph/services/merges.py), sets kgsite.hierarchy_rewrite for
-- that statement; the row triggers stand aside, so that 400 children are one statement instead of 400 subtree
-- updates. The unique path constraint still holds it to account.

CREATE OR REPLACE FUNCTION node_path_label(name text, node_id integer) RETURNS ltree
LANGUAGE sql IMMUTABLE AS $$
    SELECT text2ltree(coalesce(
        nullif(left(trim(both '_' from regexp_replace(lower(name), '[^a-z0-9_]+', '_', 'g')), 200), ''),
        'node_' || node_id))
$$;

CREATE OR REPLACE FUNCTION nodes_hierarchy_before() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    parent_path ltree;
    found_parent integer;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF current_setting('kgsite.hierarchy_rewrite', true) = 'on' THEN
            RETURN NEW;
        END IF;
        IF pg_trigger_depth() > 1 AND NEW.parent_node_id IS NOT DISTINCT FROM OLD.parent_node_id THEN
            RETURN NEW;  -- a descendant's path rewritten by nodes_hierarchy_after_update: right by construction
        END IF;
        IF NEW.parent_node_id IS DISTINCT FROM OLD.parent_node_id AND NEW.path IS NOT DISTINCT FROM OLD.path THEN
            -- Moved by parent: the node keeps its own label.
            NEW.path := CASE WHEN OLD.path IS NULL THEN NULL ELSE subpath(OLD.path, -1) END;
        ELSIF NEW.path IS DISTINCT FROM OLD.path AND NEW.parent_node_id IS NOT DISTINCT FROM OLD.parent_node_id THEN
            -- Moved by path: the parent follows the path.
            NEW.parent_node_id := NULL;
        END IF;
    END IF;

    IF NEW.parent_node_id IS NOT NULL THEN
        SELECT path INTO parent_path FROM nodes WHERE node_id = NEW.parent_node_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'RG-NODE-006: parent node % does not exist', NEW.parent_node_id
                USING ERRCODE = 'check_violation', COLUMN = 'parent_node_id';
        END IF;
        IF parent_path IS NULL THEN
            RAISE EXCEPTION 'RG-NODE-003: parent node % has no path; give it a path before adding children',
                NEW.parent_node_id USING ERRCODE = 'check_violation', COLUMN = 'parent_node_id';
        END IF;
        IF NEW.path IS NULL THEN
            NEW.path := parent_path || node_path_label(NEW.name, NEW.node_id);
        ELSIF nlevel(NEW.path) = 1 THEN
            NEW.path := parent_path || NEW.path;
        ELSIF nlevel(NEW.path) <> nlevel(parent_path) + 1 OR subpath(NEW.path, 0, nlevel(NEW.path) - 1) <> parent_path
        THEN
            RAISE EXCEPTION 'RG-NODE-001: path % does not agree with the parent''s path %: a child''s path is its parent''s path plus one label',
                NEW.path, parent_path USING ERRCODE = 'check_violation', COLUMN = 'path';
        END IF;
    ELSIF NEW.path IS NOT NULL AND nlevel(NEW.path) > 1 THEN
        SELECT node_id INTO found_parent FROM nodes WHERE path = subpath(NEW.path, 0, nlevel(NEW.path) - 1);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'RG-NODE-005: no node has the path %, so % cannot be placed under it; create that node first or use a one-label path',
                subpath(NEW.path, 0, nlevel(NEW.path) - 1), NEW.path USING ERRCODE = 'check_violation', COLUMN = 'path';
        END IF;
        NEW.parent_node_id := found_parent;
        parent_path := subpath(NEW.path, 0, nlevel(NEW.path) - 1);
    ELSIF TG_OP = 'UPDATE' AND NEW.path IS NULL AND OLD.path IS NOT NULL
          AND EXISTS (SELECT 1 FROM nodes WHERE parent_node_id = NEW.node_id) THEN
        RAISE EXCEPTION 'RG-NODE-003: node % has children, so it needs a path', NEW.node_id
            USING ERRCODE = 'check_violation', COLUMN = 'path';
    END IF;

    IF TG_OP = 'UPDATE' AND parent_path IS NOT NULL AND OLD.path IS NOT NULL AND parent_path <@ OLD.path THEN
        RAISE EXCEPTION 'RG-NODE-004: node % cannot move under % (%): that is the node itself or one of its descendants',
            NEW.node_id, NEW.parent_node_id, parent_path USING ERRCODE = 'check_violation', COLUMN = 'parent_node_id';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION nodes_hierarchy_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 OR OLD.path IS NULL OR NEW.path IS NULL
       OR current_setting('kgsite.hierarchy_rewrite', true) = 'on' THEN
        RETURN NULL;
    END IF;
    UPDATE nodes SET path = NEW.path || subpath(path, nlevel(OLD.path))
    WHERE path <@ OLD.path AND node_id <> NEW.node_id;
    RETURN NULL;
END
$$;

-- Inserts in bulk (COPY of a million generated nodes, the importer) are checked once per statement, set-based;
-- only rows that need something derived go through the row trigger (its WHEN clause is evaluated in C).
CREATE OR REPLACE FUNCTION nodes_hierarchy_check_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.node_id, n.path, n.parent_node_id, p.path AS parent_path INTO bad
    FROM inserted_nodes n LEFT JOIN nodes p ON p.node_id = n.parent_node_id
    WHERE NOT CASE
        WHEN n.parent_node_id IS NULL THEN n.path IS NULL OR nlevel(n.path) = 1
        ELSE p.path IS NOT NULL AND n.path IS NOT NULL AND nlevel(n.path) = nlevel(p.path) + 1
             AND subpath(n.path, 0, nlevel(n.path) - 1) = p.path
    END
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'RG-NODE-001: node % has path % but its parent % has path %: a child''s path is its parent''s path plus one label, a node without a parent has at most one label',
            bad.node_id, coalesce(bad.path::text, 'NULL'), coalesce(bad.parent_node_id::text, 'NULL'),
            coalesce(bad.parent_path::text, 'NULL') USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS nodes_hierarchy_insert ON nodes;
CREATE TRIGGER nodes_hierarchy_insert BEFORE INSERT ON nodes FOR EACH ROW
    WHEN ((NEW.parent_node_id IS NOT NULL AND (NEW.path IS NULL OR nlevel(NEW.path) = 1))
          OR (NEW.parent_node_id IS NULL AND nlevel(NEW.path) > 1))
    EXECUTE FUNCTION nodes_hierarchy_before();
DROP TRIGGER IF EXISTS nodes_hierarchy_update ON nodes;
CREATE TRIGGER nodes_hierarchy_update BEFORE UPDATE OF path, parent_node_id ON nodes FOR EACH ROW
    WHEN (OLD.path IS DISTINCT FROM NEW.path OR OLD.parent_node_id IS DISTINCT FROM NEW.parent_node_id)
    EXECUTE FUNCTION nodes_hierarchy_before();
DROP TRIGGER IF EXISTS nodes_hierarchy_move ON nodes;
CREATE TRIGGER nodes_hierarchy_move AFTER UPDATE OF path, parent_node_id ON nodes FOR EACH ROW
    WHEN (OLD.path IS DISTINCT FROM NEW.path)
    EXECUTE FUNCTION nodes_hierarchy_after_update();
DROP TRIGGER IF EXISTS nodes_hierarchy_check ON nodes;
CREATE TRIGGER nodes_hierarchy_check AFTER INSERT ON nodes REFERENCING NEW TABLE AS inserted_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION nodes_hierarchy_check_inserted();
