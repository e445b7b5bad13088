# The spec's 16 default configuration parameters, inserted by the spec's own statement (spec layer).
from django.db import migrations

DEFAULT_PARAMETERS_SQL = """
INSERT INTO system_config (parameter_name, parameter_value, parameter_type, description, default_value, min_value, max_value, requires_restart, category) VALUES

-- Vector Index Configuration
('vector_embedding_dimension', '768', 'integer', 'Default vector embedding dimension for new indexes', '768', '64', '4096', false, 'vector_index'),
('ivfflat_lists_nodes', '100', 'integer', 'IVFFlat lists parameter for nodes table vector index', '100', '10', '10000', false, 'vector_index'),
('ivfflat_lists_external_resources', '50', 'integer', 'IVFFlat lists parameter for external_resources table vector index', '50', '10', '10000', false, 'vector_index'),
('vector_index_rebuild_threshold', '10000', 'integer', 'Row count threshold for automatic vector index parameter recalculation', '10000', '1000', '1000000', false, 'vector_index'),
('vector_similarity_threshold', '0.3', 'float', 'Default similarity threshold for vector searches', '0.3', '0.0', '1.0', false, 'vector_index'),

-- Database Performance Configuration
('maintenance_work_mem', '256MB', 'text', 'Memory used for maintenance operations like index creation', '256MB', '64MB', '2GB', true, 'performance'),
('effective_cache_size', '4GB', 'text', 'Estimate of memory available for disk caching', '4GB', '1GB', '64GB', true, 'performance'),
('shared_buffers', '256MB', 'text', 'Amount of memory for shared buffer cache', '256MB', '128MB', '8GB', true, 'performance'),
('work_mem', '4MB', 'text', 'Memory used for query operations before spilling to disk', '4MB', '1MB', '1GB', false, 'performance'),
('random_page_cost', '1.1', 'float', 'Cost estimate for non-sequential disk page fetch', '1.1', '0.1', '4.0', false, 'performance'),

-- Inference and Processing Configuration
('inference_batch_size', '100', 'integer', 'Default batch size for relationship inference processing', '100', '10', '1000', false, 'inference'),
('confidence_threshold_cleanup', '0.1', 'float', 'Minimum confidence threshold for relationship cleanup', '0.1', '0.0', '0.5', false, 'inference'),
('max_inference_age_days', '30', 'integer', 'Maximum age in days for cached inference results', '30', '1', '365', false, 'inference'),
('parallel_workers', '4', 'integer', 'Number of parallel workers for background processing', '4', '1', '16', false, 'processing'),

-- Materialized View Configuration
('mv_refresh_interval_hours', '24', 'integer', 'Hours between materialized view refreshes', '24', '1', '168', false, 'materialized_views'),
('mv_incremental_threshold', '1000', 'integer', 'Row change threshold for incremental vs full refresh', '1000', '100', '100000', false, 'materialized_views');
"""

DEFAULT_PARAMETER_NAMES = ['vector_embedding_dimension', 'ivfflat_lists_nodes', 'ivfflat_lists_external_resources', 'vector_index_rebuild_threshold', 'vector_similarity_threshold', 'maintenance_work_mem', 'effective_cache_size', 'shared_buffers', 'work_mem', 'random_page_cost', 'inference_batch_size', 'confidence_threshold_cleanup', 'max_inference_age_days', 'parallel_workers', 'mv_refresh_interval_hours', 'mv_incremental_threshold']

DELETE_SQL = "DELETE FROM system_config WHERE parameter_name IN ({});".format(", ".join(
    f"'{name}'" for name in DEFAULT_PARAMETER_NAMES
))


class Migration(migrations.Migration):

    dependencies = [
        ('config_admin', '0001_initial'),
    ]

    operations = [
        migrations.RunSQL(DEFAULT_PARAMETERS_SQL, DELETE_SQL),
    ]
