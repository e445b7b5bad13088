"""Embeddings and vector indexes (docs/embeddings.md, docs/vector-indexes.md, docs/schema.md "Embeddings and vector
indexes"): who made each vector (``embedding_model``), the queue of rows waiting for a provider-made vector and the
triggers that fill it on every write path (graph/sql/embeddings.sql), full-text indexes for hybrid search, the
record of the vector-index optimiser's runs, and the parameters of search and index management."""
from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

import kgsite.fields

# The queue's keys cascade in the database, like the spec's (graph.0002): deleting a node or resource, by any path,
# deletes its queue row.
QUEUE_KEYS_SQL = """
ALTER TABLE embedding_queue ADD CONSTRAINT embedding_queue_node_id_fkey
    FOREIGN KEY (node_id) REFERENCES nodes (node_id) ON DELETE CASCADE;
ALTER TABLE embedding_queue ADD CONSTRAINT embedding_queue_resource_id_fkey
    FOREIGN KEY (resource_id) REFERENCES external_resources (resource_id) ON DELETE CASCADE;
"""
DROP_QUEUE_KEYS_SQL = """
ALTER TABLE embedding_queue DROP CONSTRAINT IF EXISTS embedding_queue_node_id_fkey;
ALTER TABLE embedding_queue DROP CONSTRAINT IF EXISTS embedding_queue_resource_id_fkey;
"""
EMBEDDINGS_SQL = (Path(__file__).resolve().parent.parent / "sql" / "embeddings.sql").read_text()
DROP_EMBEDDINGS_SQL = """
DROP TRIGGER IF EXISTS nodes_embedding_supplied ON nodes;
DROP TRIGGER IF EXISTS nodes_embedding_inserted ON nodes;
DROP TRIGGER IF EXISTS nodes_embedding_changed ON nodes;
DROP TRIGGER IF EXISTS node_attributes_embedding_insert ON node_attributes;
DROP TRIGGER IF EXISTS node_attributes_embedding_update ON node_attributes;
DROP TRIGGER IF EXISTS node_attributes_embedding_delete ON node_attributes;
DROP TRIGGER IF EXISTS resources_embedding_supplied ON external_resources;
DROP TRIGGER IF EXISTS resources_embedding_inserted ON external_resources;
DROP TRIGGER IF EXISTS resources_embedding_changed ON external_resources;
DROP FUNCTION IF EXISTS embedding_enqueue_nodes(integer[]), embedding_mark_supplied(), nodes_embedding_inserted(),
    nodes_embedding_changed(), node_attributes_embedding_changed(), node_attributes_embedding_updated(),
    resources_embedding_inserted(), resources_embedding_changed();
"""
# Rows without a vector get one from the worker, as new rows do. Vectors already present (an adopted database,
# generated graphs) count as user-supplied: the embedder never overwrites them.
QUEUE_MISSING_SQL = """
INSERT INTO embedding_queue (node_id) SELECT node_id FROM nodes WHERE embedding IS NULL ORDER BY node_id;
INSERT INTO embedding_queue (resource_id) SELECT resource_id FROM external_resources WHERE embedding IS NULL
    ORDER BY resource_id;
"""

# Hybrid search's full-text side (graph/selectors/similarity.py writes the same expressions). The 'simple'
# configuration: names and titles are in many languages and full of codes; no stemming, no stop words.
FULL_TEXT_SQL = """
CREATE INDEX idx_nodes_name_fts ON nodes USING gin (to_tsvector('simple', name));
CREATE INDEX idx_external_resources_fts ON external_resources USING gin
    (to_tsvector('simple', coalesce(title, '') || ' ' || left(coalesce(description, ''), 4000)));
"""
DROP_FULL_TEXT_SQL = "DROP INDEX IF EXISTS idx_nodes_name_fts; DROP INDEX IF EXISTS idx_external_resources_fts;"

PARAMETERS = (
    "vector_index_hnsw", "ivfflat_probes_nodes", "ivfflat_probes_external_resources", "hnsw_m",
    "hnsw_ef_construction", "hnsw_ef_search", "vector_index_target_recall", "vector_index_significant_change",
    "vector_index_check_interval_hours", "embedding_batch_size",
)
PARAMETERS_SQL = """
INSERT INTO system_config (parameter_name, parameter_value, parameter_type, description, default_value,
                           min_value, max_value, requires_restart, category) VALUES
('vector_index_hnsw', 'false', 'boolean',
 'Build HNSW vector indexes instead of IVFFlat (better speed at the same recall; slower to build)',
 'false', NULL, NULL, false, 'vector_index'),
('ivfflat_probes_nodes', '10', 'integer',
 'IVFFlat lists searched per query on nodes (ivfflat.probes); the optimiser sets it from the measured recall',
 '10', '1', '10000', false, 'vector_index'),
('ivfflat_probes_external_resources', '7', 'integer',
 'IVFFlat lists searched per query on external_resources (ivfflat.probes)',
 '7', '1', '10000', false, 'vector_index'),
('hnsw_m', '16', 'integer', 'HNSW build parameter m (connections per layer)', '16', '2', '100', false,
 'vector_index'),
('hnsw_ef_construction', '64', 'integer', 'HNSW build parameter ef_construction (candidate list while building)',
 '64', '4', '1000', false, 'vector_index'),
('hnsw_ef_search', '40', 'integer',
 'HNSW candidate list per query (hnsw.ef_search); the optimiser sets it from the measured recall',
 '40', '1', '1000', false, 'vector_index'),
('vector_index_target_recall', '0.95', 'float',
 'Recall@10 against exact search that the optimiser tunes probes / ef_search to reach',
 '0.95', '0.5', '1.0', false, 'vector_index'),
('vector_index_significant_change', '0.25', 'float',
 'Relative change of the recommended IVFFlat lists (0.25 = 25%) that counts as significant and triggers a rebuild',
 '0.25', '0.0', '10.0', false, 'vector_index'),
('vector_index_check_interval_hours', '24', 'integer',
 'Hours between the vector-index checks of run_worker (optimize_vector_index for both tables)',
 '24', '1', '720', false, 'vector_index'),
('embedding_batch_size', '256', 'integer',
 'Nodes or resources embedded per transaction by run_worker and embed_nodes',
 '256', '1', '10000', false, 'processing');
"""
REMOVE_PARAMETERS_SQL = "DELETE FROM system_config WHERE parameter_name IN ({});".format(
    ", ".join(f"'{name}'" for name in PARAMETERS))


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0013_inference'),
    ]

    operations = [
        migrations.AddField(
            model_name='externalresource',
            name='embedding_model',
            field=models.CharField(blank=True, editable=False, max_length=100, null=True),
        ),
        migrations.AddField(
            model_name='node',
            name='embedding_model',
            field=models.CharField(blank=True, editable=False, max_length=100, null=True),
        ),
        migrations.CreateModel(
            name='VectorIndexBuild',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('table_name', models.CharField(choices=[('nodes', 'Nodes'), ('external_resources', 'External resources')], max_length=50)),
                ('index_name', models.CharField(max_length=63)),
                ('index_type', models.CharField(choices=[('ivfflat', 'IVFFlat'), ('hnsw', 'HNSW')], max_length=10)),
                ('parameters', models.JSONField(blank=True, default=dict, help_text="Build parameters: {'lists': 100} for IVFFlat, {'m': 16, 'ef_construction': 64} for HNSW.")),
                ('search_parameters', models.JSONField(blank=True, default=dict, help_text='Query-time parameters the recall was measured with (probes, ef_search).')),
                ('outcome', models.CharField(choices=[('rebuilt', 'Rebuilt'), ('unchanged', 'No rebuild needed'), ('dry_run', 'Dry run (nothing changed)'), ('failed', 'Failed')], max_length=20)),
                ('reason', models.TextField(blank=True, default='')),
                ('rows', models.BigIntegerField(help_text='Rows with an embedding when the run looked.')),
                ('rows_at_last_build', models.BigIntegerField(blank=True, null=True)),
                ('started_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now())),
                ('finished_at', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
                ('build_seconds', models.FloatField(blank=True, null=True)),
                ('sample_queries', models.IntegerField(blank=True, null=True)),
                ('recall_at_10', models.FloatField(blank=True, null=True)),
                ('latency_ms_median', models.FloatField(blank=True, null=True)),
                ('latency_ms_p95', models.FloatField(blank=True, null=True)),
                ('exact_latency_ms_median', models.FloatField(blank=True, null=True)),
                ('triggered_by', models.TextField(blank=True, default='')),
            ],
            options={
                'verbose_name': 'vector index run',
                'db_table': 'vector_index_builds',
                'ordering': ['-started_at', '-id'],
                'indexes': [models.Index(fields=['table_name', '-started_at'], name='idx_vector_index_builds_table')],
                'constraints': [models.CheckConstraint(condition=models.Q(('table_name__in', ['nodes', 'external_resources'])), name='vector_index_builds_table_check', violation_error_message='Table name must be one of: nodes, external_resources.'), models.CheckConstraint(condition=models.Q(('index_type__in', ['ivfflat', 'hnsw'])), name='vector_index_builds_type_check', violation_error_message='Index type must be one of: ivfflat, hnsw.'), models.CheckConstraint(condition=models.Q(('outcome__in', ['rebuilt', 'unchanged', 'dry_run', 'failed'])), name='vector_index_builds_outcome_check', violation_error_message='Outcome must be one of: rebuilt, unchanged, dry_run, failed.')],
            },
        ),
        migrations.CreateModel(
            name='EmbeddingQueueItem',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('queued_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now())),
                ('node', models.OneToOneField(blank=True, db_column='node_id', db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='embedding_queue_item', to='graph.node')),
                ('resource', models.OneToOneField(blank=True, db_column='resource_id', db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='embedding_queue_item', to='graph.externalresource')),
            ],
            options={
                'verbose_name': 'embedding queue item',
                'db_table': 'embedding_queue',
                'ordering': ['id'],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('node__isnull', False), ('resource__isnull', True)), models.Q(('node__isnull', True), ('resource__isnull', False)), _connector='OR'), name='embedding_queue_one_target', violation_error_message='A queue item names either a node or an external resource.')],
            },
        ),
        migrations.RunSQL(QUEUE_KEYS_SQL, DROP_QUEUE_KEYS_SQL),
        migrations.RunSQL(EMBEDDINGS_SQL, DROP_EMBEDDINGS_SQL),
        migrations.RunSQL(QUEUE_MISSING_SQL, migrations.RunSQL.noop),
        migrations.RunSQL(FULL_TEXT_SQL, DROP_FULL_TEXT_SQL),
        migrations.RunSQL(PARAMETERS_SQL, REMOVE_PARAMETERS_SQL),
    ]
