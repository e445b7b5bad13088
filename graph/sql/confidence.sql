-- Confidence scores kept current by the database (docs/confidence.md), for every write path: the admin, commands,
-- imports, COPY and plain SQL.
--
--   attribute  e = confidence × source_reliability × 0.5 ^ (age of last_verified in days / half-life)
--   node       N = (0.5 × W0 + Σ weight·e) / (W0 + Σ weight)          W0: confidence_prior_weight
--   relationship R = evidence × source_reliability × (0.5 + 0.5 × √(N_source × N_target))
--                evidence: inference_confidence for auto-managed (inferred) links, else stated_confidence
--
-- nodes.confidence_score and relationships.confidence_score are derived: writes to them are replaced by the
-- formula's value. Our own set-based statements mark themselves with the transaction-local setting
-- kgsite.confidence_writer so that the row guards below do not compute the same value a second time.
--
-- Attribute writes are handled per statement (transition tables), so a COPY or an UPDATE of 100,000 attributes
-- recomputes each affected node once, in one set-based statement.

CREATE OR REPLACE FUNCTION confidence_parameters(OUT half_life_days double precision, OUT prior_weight double precision,
                                                 OUT propagation_limit integer)
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT parameter_value::double precision FROM system_config
                     WHERE parameter_name = 'confidence_half_life_days'), 365),
           coalesce((SELECT parameter_value::double precision FROM system_config
                     WHERE parameter_name = 'confidence_prior_weight'), 1),
           coalesce((SELECT parameter_value::integer FROM system_config
                     WHERE parameter_name = 'confidence_propagation_limit'), 5000)
$$;

-- Nodes whose new score has not reached their relationships yet. Each transaction that changes node scores notes
-- the nodes here (queued_by: the transaction); when it commits, confidence_pending_carry() re-scores their
-- relationships in one set-based statement and removes the notes, unless the nodes have more than
-- confidence_propagation_limit relationships in all: then the notes stay, for confidence_pending_propagate()
-- (recalculate_confidence runs it first). A note whose transaction has committed is such a deferred one. So a
-- transaction of many statements (a bulk_create in batches, a loop of saves) carries its nodes over once.
CREATE TABLE IF NOT EXISTS confidence_pending_nodes (
    node_id integer PRIMARY KEY,
    queued_at timestamptz NOT NULL DEFAULT now(),
    queued_by xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS confidence_pending_nodes_queued_by ON confidence_pending_nodes (queued_by);

-- An attribute's effective confidence: what its stated confidence is worth today. NULLs take the columns'
-- defaults (confidence 0.5, reliability 1.0); a verification in the future counts as today; no date, no decay.
CREATE OR REPLACE FUNCTION attribute_effective_confidence(
    confidence numeric, source_reliability numeric, verified_at timestamptz, as_of timestamptz,
    half_life_days double precision
) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(confidence, 0.5)::double precision * coalesce(source_reliability, 1.0)::double precision
         * power(0.5::double precision,
                 coalesce(greatest(extract(epoch FROM as_of - verified_at)::double precision, 0), 0)
                 / 86400.0 / half_life_days)
$$;

-- A node's score from the sums over its attributes (Σ weight·e and Σ weight): a weighted mean pulled towards the
-- prior 0.5 by the prior weight W0. No attributes (or only weight 0, with W0 = 0): 0.5.
CREATE OR REPLACE FUNCTION node_confidence(weighted_sum double precision, weight_sum double precision,
                                           prior_weight double precision) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN prior_weight + weight_sum <= 0 THEN 0.5000
                ELSE round(least(1.0, greatest(0.0,
                         (0.5 * prior_weight + weighted_sum) / (prior_weight + weight_sum)))::numeric, 4)
           END
$$;

CREATE OR REPLACE FUNCTION relationship_confidence(evidence numeric, source_reliability numeric,
                                                   source_node_confidence numeric, target_node_confidence numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(least(1.0, greatest(0.0,
        coalesce(evidence, 0.5)::double precision * coalesce(source_reliability, 1.0)::double precision
        * (0.5 + 0.5 * sqrt(coalesce(source_node_confidence, 0.5)::double precision
                            * coalesce(target_node_confidence, 0.5)::double precision))))::numeric, 4)
$$;

CREATE OR REPLACE FUNCTION relationship_evidence(auto_managed boolean, inference_confidence numeric,
                                                 stated_confidence numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN auto_managed THEN coalesce(inference_confidence, stated_confidence)
                ELSE stated_confidence END
$$;

-- The relationships of these nodes, either end (at most ``up_to`` + 1 of them when ``up_to`` is given). EXECUTE
-- plans with the array's actual size, so a large set gets a hash join and a small one index lookups.
CREATE OR REPLACE FUNCTION relationships_of_nodes(node_ids integer[], up_to integer DEFAULT NULL) RETURNS integer[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    found integer[];
BEGIN
    EXECUTE $sql$
        SELECT ARRAY(
            SELECT r.relationship_id FROM relationships r JOIN unnest($1::integer[]) AS c(node_id)
                ON r.source_node_id = c.node_id
            UNION
            SELECT r.relationship_id FROM relationships r JOIN unnest($1::integer[]) AS c(node_id)
                ON r.target_node_id = c.node_id
            LIMIT $2 + 1)
    $sql$ INTO found USING node_ids, up_to;
    RETURN found;
END
$$;

-- Recompute the scores of the relationships with these ids (all of them with every_row, else only those whose
-- score changes), stamping confidence_last_updated. Returns how many rows changed score.
CREATE OR REPLACE FUNCTION relationships_confidence_refresh(relationship_ids integer[], every_row boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    previous text := current_setting('kgsite.confidence_writer', true);
    changed integer;
BEGIN
    IF coalesce(cardinality(relationship_ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM set_config('kgsite.confidence_writer', 'on', true);
    -- EXECUTE plans with the array's actual size, so a large set gets a hash join and a small one index lookups.
    EXECUTE $sql$
        WITH scores AS (
            SELECT r.relationship_id, r.confidence_score AS old_score,
                   relationship_confidence(
                       relationship_evidence(r.auto_managed, r.inference_confidence, r.stated_confidence),
                       r.source_reliability, s.confidence_score, t.confidence_score) AS score
            FROM unnest($1::integer[]) AS wanted(relationship_id)
            JOIN relationships r USING (relationship_id)
            JOIN nodes s ON s.node_id = r.source_node_id
            JOIN nodes t ON t.node_id = r.target_node_id
        ), written AS (
            UPDATE relationships r
            SET confidence_score = scores.score, confidence_last_updated = now()
            FROM scores
            WHERE r.relationship_id = scores.relationship_id
              AND ($2 OR r.confidence_score IS DISTINCT FROM scores.score)
            RETURNING scores.old_score IS DISTINCT FROM scores.score AS score_changed
        )
        SELECT count(*) FILTER (WHERE score_changed) FROM written
    $sql$ INTO changed USING relationship_ids, every_row;
    PERFORM set_config('kgsite.confidence_writer', coalesce(previous, ''), true);
    RETURN changed;
END
$$;

-- Recompute the scores of these nodes from their attributes and stamp confidence_last_updated on each; note the
-- nodes whose score changed in confidence_pending_nodes, whose trigger carries them on to their relationships at
-- commit. Returns (nodes recomputed, nodes whose score changed).
CREATE OR REPLACE FUNCTION nodes_confidence_refresh(node_ids integer[], OUT nodes_recomputed integer,
                                                    OUT nodes_changed integer)
LANGUAGE plpgsql AS $$
DECLARE
    previous text := current_setting('kgsite.confidence_writer', true);
    parameters record;
    changed_ids integer[];
BEGIN
    nodes_recomputed := 0;
    nodes_changed := 0;
    IF coalesce(cardinality(node_ids), 0) = 0 THEN
        RETURN;
    END IF;
    SELECT * INTO parameters FROM confidence_parameters();
    PERFORM set_config('kgsite.confidence_writer', 'on', true);
    EXECUTE $sql$
        WITH wanted AS (
            SELECT DISTINCT node_id FROM unnest($1::integer[]) AS ids(node_id)
        ), sums AS (
            SELECT a.node_id,
                   sum(coalesce(a.weight, 1.0)::double precision * attribute_effective_confidence(
                       a.confidence, a.source_reliability, coalesce(a.last_verified, a.created_at), now(), $2))
                       AS weighted_sum,
                   sum(coalesce(a.weight, 1.0)::double precision) AS weight_sum
            FROM node_attributes a JOIN wanted USING (node_id)
            GROUP BY a.node_id
        ), scores AS (
            SELECT n.node_id, n.confidence_score AS old_score,
                   node_confidence(coalesce(sums.weighted_sum, 0), coalesce(sums.weight_sum, 0), $3) AS score
            FROM wanted JOIN nodes n USING (node_id) LEFT JOIN sums USING (node_id)
        ), written AS (
            UPDATE nodes n
            SET confidence_score = scores.score, confidence_last_updated = now()
            FROM scores
            WHERE n.node_id = scores.node_id
            RETURNING n.node_id, scores.old_score IS DISTINCT FROM scores.score AS score_changed
        )
        SELECT count(*)::integer, coalesce(array_agg(node_id) FILTER (WHERE score_changed), '{}') FROM written
    $sql$ INTO nodes_recomputed, changed_ids USING node_ids, parameters.half_life_days, parameters.prior_weight;
    nodes_changed := cardinality(changed_ids);
    IF nodes_changed > 0 THEN
        INSERT INTO confidence_pending_nodes AS p (node_id)
        SELECT node_id FROM unnest(changed_ids) AS c(node_id) ORDER BY node_id
        ON CONFLICT (node_id) DO UPDATE SET queued_by = excluded.queued_by, queued_at = excluded.queued_at
            WHERE p.queued_by <> excluded.queued_by;
        PERFORM set_config('kgsite.confidence_carried', '', true);  -- new notes: the next carry call has work
    END IF;
    PERFORM set_config('kgsite.confidence_writer', coalesce(previous, ''), true);
END
$$;

-- At commit (a deferred constraint trigger, called once per noted row: the first call does the work and says so
-- in a transaction-local setting, the others return at once), carry the scores of the nodes this transaction
-- changed on to their relationships, or leave the notes for confidence_pending_propagate() when those nodes have
-- more than confidence_propagation_limit relationships.
CREATE OR REPLACE FUNCTION confidence_pending_carry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mine integer[];
    relationship_ids integer[];
    up_to integer;
BEGIN
    IF current_setting('kgsite.confidence_carried', true) = 'done' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('kgsite.confidence_carried', 'done', true);
    SELECT array_agg(node_id) INTO mine FROM confidence_pending_nodes WHERE queued_by = pg_current_xact_id();
    IF mine IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT propagation_limit INTO up_to FROM confidence_parameters();
    relationship_ids := relationships_of_nodes(mine, up_to);
    IF cardinality(relationship_ids) <= up_to THEN
        PERFORM relationships_confidence_refresh(relationship_ids);
        DELETE FROM confidence_pending_nodes WHERE queued_by = pg_current_xact_id();
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS confidence_pending_carry ON confidence_pending_nodes;
CREATE CONSTRAINT TRIGGER confidence_pending_carry AFTER INSERT OR UPDATE ON confidence_pending_nodes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION confidence_pending_carry();

-- Take up to ``max_nodes`` noted nodes (SKIP LOCKED: workers never take the same ones) and re-score their
-- relationships. Returns (nodes taken, relationships whose score changed).
CREATE OR REPLACE FUNCTION confidence_pending_propagate(max_nodes integer, OUT nodes_taken integer,
                                                       OUT relationships_changed integer)
LANGUAGE plpgsql AS $$
DECLARE
    taken integer[];
BEGIN
    WITH picked AS (
        -- Not the notes this transaction has yet to carry at its commit (those it already left behind are fair game).
    SELECT node_id FROM confidence_pending_nodes
    WHERE queued_by <> pg_current_xact_id() OR current_setting('kgsite.confidence_carried', true) = 'done'
    ORDER BY node_id LIMIT max_nodes FOR UPDATE SKIP LOCKED
    ), deleted AS (
        DELETE FROM confidence_pending_nodes p USING picked WHERE p.node_id = picked.node_id RETURNING p.node_id
    )
    SELECT coalesce(array_agg(node_id), '{}') INTO taken FROM deleted;
    nodes_taken := cardinality(taken);
    relationships_changed := 0;
    IF nodes_taken > 0 THEN
        relationships_changed := relationships_confidence_refresh(relationships_of_nodes(taken));
    END IF;
END
$$;

-- --- Attribute writes: one recomputation per statement ---------------------------------------------------------

-- Inserts and deletes: the nodes of the rows in the statement's transition table (both triggers name it alike).
CREATE OR REPLACE FUNCTION node_attributes_confidence_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nodes_confidence_refresh(ARRAY(SELECT DISTINCT node_id FROM changed_attributes));
    RETURN NULL;
END
$$;

-- Only the nodes whose attributes changed in a way the formula reads (a new value alone changes nothing).
CREATE OR REPLACE FUNCTION node_attributes_confidence_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nodes_confidence_refresh(ARRAY(
        SELECT DISTINCT unnest(ARRAY[o.node_id, n.node_id])
        FROM old_attributes o FULL JOIN new_attributes n USING (attribute_id)
        WHERE (o.node_id, o.weight, o.confidence, o.source_reliability, o.last_verified, o.created_at)
              IS DISTINCT FROM (n.node_id, n.weight, n.confidence, n.source_reliability, n.last_verified, n.created_at)
    ));
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS node_attributes_confidence_insert ON node_attributes;
CREATE TRIGGER node_attributes_confidence_insert AFTER INSERT ON node_attributes
    REFERENCING NEW TABLE AS changed_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_confidence_changed();
DROP TRIGGER IF EXISTS node_attributes_confidence_update ON node_attributes;
CREATE TRIGGER node_attributes_confidence_update AFTER UPDATE ON node_attributes
    REFERENCING OLD TABLE AS old_attributes NEW TABLE AS new_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_confidence_updated();
DROP TRIGGER IF EXISTS node_attributes_confidence_delete ON node_attributes;
CREATE TRIGGER node_attributes_confidence_delete AFTER DELETE ON node_attributes
    REFERENCING OLD TABLE AS changed_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION node_attributes_confidence_changed();

-- --- Guards: the derived columns hold the formula's value whoever writes them -----------------------------------

-- A new node has no attributes yet: it starts at the prior. A write of confidence_score by anyone but our own
-- statements is replaced by the score its attributes give.
CREATE OR REPLACE FUNCTION nodes_confidence_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    parameters record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.confidence_score := 0.5000;
        NEW.confidence_last_updated := now();
        RETURN NEW;
    END IF;
    IF current_setting('kgsite.confidence_writer', true) = 'on'
       OR NEW.confidence_score IS NOT DISTINCT FROM OLD.confidence_score THEN
        RETURN NEW;
    END IF;
    SELECT * INTO parameters FROM confidence_parameters();
    SELECT node_confidence(
               coalesce(sum(coalesce(a.weight, 1.0)::double precision * attribute_effective_confidence(
                   a.confidence, a.source_reliability, coalesce(a.last_verified, a.created_at), now(),
                   parameters.half_life_days)), 0),
               coalesce(sum(coalesce(a.weight, 1.0)::double precision), 0), parameters.prior_weight)
    INTO NEW.confidence_score
    FROM node_attributes a WHERE a.node_id = NEW.node_id;
    NEW.confidence_last_updated := now();
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS nodes_confidence_guard ON nodes;
CREATE TRIGGER nodes_confidence_guard BEFORE INSERT OR UPDATE OF confidence_score ON nodes
    FOR EACH ROW EXECUTE FUNCTION nodes_confidence_guard();

-- A node whose score was replaced above carries it on to its relationships (our own statements do that
-- themselves, set-based).
CREATE OR REPLACE FUNCTION nodes_confidence_carry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM relationships_confidence_refresh(relationships_of_nodes(ARRAY[NEW.node_id]));
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS nodes_confidence_carry ON nodes;
CREATE TRIGGER nodes_confidence_carry AFTER UPDATE OF confidence_score ON nodes
    FOR EACH ROW WHEN (OLD.confidence_score IS DISTINCT FROM NEW.confidence_score
                       AND current_setting('kgsite.confidence_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION nodes_confidence_carry();

-- A relationship's score follows its evidence, reliability and nodes. An insert that leaves stated_confidence
-- out (the spec's own SQL, a COPY of the spec's columns) states its evidence in confidence_score.
CREATE OR REPLACE FUNCTION relationships_confidence_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    source_score numeric;
    target_score numeric;
    score numeric;
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('kgsite.confidence_writer', true) = 'on' THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.stated_confidence IS NULL THEN
        NEW.stated_confidence := coalesce(NEW.confidence_score, 0.5);
    END IF;
    SELECT confidence_score INTO source_score FROM nodes WHERE node_id = NEW.source_node_id;
    SELECT confidence_score INTO target_score FROM nodes WHERE node_id = NEW.target_node_id;
    score := relationship_confidence(
        relationship_evidence(NEW.auto_managed, NEW.inference_confidence, NEW.stated_confidence),
        NEW.source_reliability, source_score, target_score);
    IF TG_OP = 'INSERT' OR score IS DISTINCT FROM OLD.confidence_score THEN
        NEW.confidence_last_updated := now();
    END IF;
    NEW.confidence_score := score;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS relationships_confidence_guard ON relationships;
CREATE TRIGGER relationships_confidence_guard
    BEFORE INSERT OR UPDATE OF source_node_id, target_node_id, stated_confidence, inference_confidence,
                              source_reliability, auto_managed, confidence_score ON relationships
    FOR EACH ROW EXECUTE FUNCTION relationships_confidence_guard();
