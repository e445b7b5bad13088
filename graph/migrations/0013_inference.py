"""Relationship inference (docs/inference.md, docs/schema.md "Relationship inference"): the queue's back-off column
and its partial indexes (one pending row per node, the claim order, recent completions), a record of the worker's
maintenance jobs, a hashed value key on attributes with a covering index (candidate pairs by index-only scans),
the inference parameters, and the triggers that queue nodes on every write path (graph/sql/inference.sql)."""
from pathlib import Path

from django.db import migrations, models

import kgsite.fields

# Pending duplicates (possible in an adopted spec database) would break the unique index: keep one row per node,
# the most urgent, and cancel the others.
DEDUPLICATE_PENDING_SQL = """
UPDATE relationship_inference_queue q
SET status = 'cancelled', completed_at = now(), error_message = 'duplicate of queue item ' || keep.queue_id
FROM (SELECT DISTINCT ON (node_id) node_id, queue_id FROM relationship_inference_queue WHERE status = 'pending'
      ORDER BY node_id, priority DESC NULLS LAST, queued_at, queue_id) keep
WHERE q.status = 'pending' AND q.node_id = keep.node_id AND q.queue_id <> keep.queue_id;
"""

# The attribute's (type, key, value) as one 128-bit key: equal keys are shared attributes. A stored column (not an
# index expression) so that the covering index below serves candidate pairs by index-only scans.
VALUE_KEY_SQL = """
ALTER TABLE node_attributes ADD COLUMN value_key uuid GENERATED ALWAYS AS
    (md5(attribute_type || chr(31) || attribute_key || chr(31) || attribute_value)::uuid) STORED;
CREATE INDEX idx_node_attributes_inference ON node_attributes (value_key)
    INCLUDE (node_id, weight, confidence, source_reliability);
"""
# A node has each (type, key, value) once: the admin refused a second one already (RG-ATTR-001); now every write
# path does, so that no value counts twice for a pair and imports can upsert on it. An adopted database that holds
# duplicates is refused with examples, as graph.0006 refuses a broken hierarchy.
UNIQUE_VALUE_SQL = r"""
DO $$
DECLARE
    duplicated bigint;
    examples text;
BEGIN
    SELECT count(*), string_agg(format('node %s: %s.%s = %s (%s times)', node_id, attribute_type, attribute_key,
                                       left(attribute_value, 40), copies), '; ') FILTER (WHERE rank <= 5)
      INTO duplicated, examples
    FROM (SELECT node_id, attribute_type, attribute_key, min(attribute_value) AS attribute_value,
                 count(*) AS copies, row_number() OVER (ORDER BY node_id, attribute_type, attribute_key) AS rank
          FROM node_attributes GROUP BY node_id, value_key, attribute_type, attribute_key HAVING count(*) > 1) d;
    IF duplicated > 0 THEN
        RAISE EXCEPTION 'RG-ATTR-002: % attributes appear more than once on the same node, e.g. %; delete the extra copies and migrate again',
            duplicated, examples USING ERRCODE = 'unique_violation';
    END IF;
END
$$;
CREATE UNIQUE INDEX unique_node_attribute_value ON node_attributes (node_id, value_key)
    INCLUDE (weight, confidence, source_reliability);
"""
DROP_VALUE_KEY_SQL = """
DROP INDEX IF EXISTS unique_node_attribute_value;
DROP INDEX IF EXISTS idx_node_attributes_inference;
ALTER TABLE node_attributes DROP COLUMN IF EXISTS value_key;
"""

PARAMETERS = (
    "inference_min_shared_attributes", "inference_confidence_threshold", "inference_max_value_nodes",
    "inference_rarity_weight", "inference_relationship_type", "inference_lease_seconds",
    "inference_retry_delay_seconds", "inference_queue_retention_days", "inference_cleanup_interval_hours",
    "worker_poll_seconds", "worker_maintenance_interval_seconds",
)
PARAMETERS_SQL = """
INSERT INTO system_config (parameter_name, parameter_value, parameter_type, description, default_value,
                           min_value, max_value, requires_restart, category) VALUES
('inference_min_shared_attributes', '2', 'integer',
 'Fewest shared attributes (same type, key and value) two nodes need before inference scores the pair',
 '2', '1', '100', false, 'inference'),
('inference_confidence_threshold', '0.5', 'float',
 'Lowest inference score (0 to 1) for which an inferred relationship is created or kept',
 '0.5', '0.0', '1.0', false, 'inference'),
('inference_max_value_nodes', '500', 'integer',
 'Values carried by more nodes than this are skipped as too common to link anything (and bound the work per node)',
 '500', '2', '1000000', false, 'inference'),
('inference_rarity_weight', '1.0', 'float',
 'How much the rarity of a shared value counts: 0 ignores it, 1 scales each contribution by its rarity',
 '1.0', '0.0', '1.0', false, 'inference'),
('inference_relationship_type', 'shares_attributes', 'text',
 'relationship_type of the relationships inference creates',
 'shares_attributes', NULL, NULL, false, 'inference'),
('inference_lease_seconds', '300', 'integer',
 'How long a worker may hold a claimed batch; after that its items are rescued and processed again',
 '300', '10', '86400', false, 'inference'),
('inference_retry_delay_seconds', '30', 'integer',
 'Back-off before the first retry of a failed item; each further retry waits twice as long',
 '30', '1', '86400', false, 'inference'),
('inference_queue_retention_days', '7', 'integer',
 'Completed, failed and cancelled queue items older than this are deleted by cleanup_relationships',
 '7', '1', '3650', false, 'inference'),
('inference_cleanup_interval_hours', '24', 'integer',
 'Hours between the cleanup runs of run_worker (cleanup_relationships)',
 '24', '1', '720', false, 'inference'),
('worker_poll_seconds', '2', 'integer',
 'Seconds an idle worker waits before looking at the inference queue again',
 '2', '1', '3600', false, 'processing'),
('worker_maintenance_interval_seconds', '60', 'integer',
 'Seconds between the checks of run_worker for maintenance that is due (views, stale confidence, cleanup)',
 '60', '5', '86400', false, 'processing');
"""
REMOVE_PARAMETERS_SQL = "DELETE FROM system_config WHERE parameter_name IN ({});".format(
    ", ".join(f"'{name}'" for name in PARAMETERS))

INFERENCE_SQL = (Path(__file__).resolve().parent.parent / "sql" / "inference.sql").read_text()
DROP_SQL = """
DROP TRIGGER IF EXISTS nodes_inference_enqueue ON nodes;
DROP TRIGGER IF EXISTS node_attributes_inference_insert ON node_attributes;
DROP TRIGGER IF EXISTS node_attributes_inference_update ON node_attributes;
DROP TRIGGER IF EXISTS node_attributes_inference_delete ON node_attributes;
DROP FUNCTION IF EXISTS nodes_inference_enqueue(), node_attributes_inference_changed(),
    node_attributes_inference_updated(), inference_enqueue(integer[], integer);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0012_similarity_cache_through_the_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='MaintenanceRun',
            fields=[
                ('job', models.CharField(max_length=50, primary_key=True, serialize=False)),
                ('last_started_at', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
                ('last_finished_at', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
                ('last_succeeded', models.BooleanField(blank=True, null=True)),
                ('last_result', models.TextField(blank=True, default='')),
                ('last_worker', models.TextField(blank=True, default='')),
                ('runs', models.IntegerField(default=0)),
            ],
            options={
                'db_table': 'maintenance_runs',
                'ordering': ['job'],
            },
        ),
        migrations.AddField(
            model_name='inferencequeueitem',
            name='run_after',
            field=kgsite.fields.UTCDateTimeField(blank=True, help_text='A retried item is not claimed before this time.', null=True),
        ),
        migrations.AlterField(
            model_name='inferencequeueitem',
            name='estimated_completion',
            field=kgsite.fields.UTCDateTimeField(blank=True, help_text="While processing: the end of the worker's lease. A worker that has not finished by then is taken to have died, and the item is rescued.", null=True),
        ),
        migrations.AddIndex(
            model_name='inferencequeueitem',
            index=models.Index(models.OrderBy(models.F('priority'), descending=True, nulls_last=True), models.F('queued_at'), models.F('queue_id'), condition=models.Q(('status', 'pending')), name='idx_inference_queue_claim'),
        ),
        migrations.AddIndex(
            model_name='inferencequeueitem',
            index=models.Index(condition=models.Q(('status__in', ['completed', 'failed', 'cancelled'])), fields=['completed_at'], name='idx_inference_queue_completed'),
        ),
        migrations.RunSQL(DEDUPLICATE_PENDING_SQL, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name='inferencequeueitem',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'pending')), fields=('node',), name='unique_pending_inference_node', violation_error_message='This node is already waiting for inference.'),
        ),
        migrations.RunSQL(VALUE_KEY_SQL + UNIQUE_VALUE_SQL, DROP_VALUE_KEY_SQL),
        migrations.RunSQL(PARAMETERS_SQL, REMOVE_PARAMETERS_SQL),
        migrations.RunSQL(INFERENCE_SQL, DROP_SQL),
    ]
