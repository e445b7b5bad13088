# The spec's five materialized views, with the spec's definitions and indexes verbatim (spec layer). Their
# refresh, and definitions that scale, belong to the confidence/materialized-views work. The models over them are
# unmanaged (graph/models/views.py), so the state operations below create no tables.
from django.db import migrations, models

VIEWS_SQL = """
CREATE MATERIALIZED VIEW mv_node_confidence_cache AS
SELECT
    node_id,
    name,
    node_type,
    confidence_score,
    confidence_last_updated,
    CASE
        WHEN confidence_score >= 0.8 THEN 'high'
        WHEN confidence_score >= 0.5 THEN 'medium'
        ELSE 'low'
    END as confidence_tier
FROM nodes
WHERE confidence_score IS NOT NULL;

CREATE UNIQUE INDEX idx_mv_node_confidence_cache_id ON mv_node_confidence_cache(node_id);
CREATE INDEX idx_mv_node_confidence_cache_tier ON mv_node_confidence_cache(confidence_tier, confidence_score DESC);
CREATE INDEX idx_mv_node_confidence_cache_type ON mv_node_confidence_cache(node_type, confidence_score DESC);

CREATE MATERIALIZED VIEW mv_relationship_strength_matrix AS
SELECT
    r.source_node_id,
    r.target_node_id,
    r.relationship_type,
    r.confidence_score * r.strength as weighted_strength,
    r.confidence_score,
    r.strength,
    sn.node_type as source_type,
    tn.node_type as target_type,
    r.bidirectional
FROM relationships r
JOIN nodes sn ON r.source_node_id = sn.node_id
JOIN nodes tn ON r.target_node_id = tn.node_id
WHERE r.confidence_score >= 0.3;

CREATE INDEX idx_mv_relationship_matrix_source ON mv_relationship_strength_matrix(source_node_id, weighted_strength DESC);
CREATE INDEX idx_mv_relationship_matrix_target ON mv_relationship_strength_matrix(target_node_id, weighted_strength DESC);
CREATE INDEX idx_mv_relationship_matrix_type ON mv_relationship_strength_matrix(relationship_type, weighted_strength DESC);
CREATE INDEX idx_mv_relationship_matrix_strength ON mv_relationship_strength_matrix(weighted_strength DESC);

CREATE MATERIALIZED VIEW mv_graph_connectivity_stats AS
SELECT
    node_type,
    COUNT(*) as node_count,
    AVG(confidence_score) as avg_confidence,
    COUNT(*) FILTER (WHERE confidence_score >= 0.8) as high_confidence_count,
    COUNT(*) FILTER (WHERE confidence_score < 0.3) as low_confidence_count,
    (SELECT COUNT(*) FROM relationships r WHERE r.source_node_id IN (SELECT n2.node_id FROM nodes n2 WHERE n2.node_type = nodes.node_type)) as outgoing_relationships,
    (SELECT COUNT(*) FROM relationships r WHERE r.target_node_id IN (SELECT n2.node_id FROM nodes n2 WHERE n2.node_type = nodes.node_type)) as incoming_relationships
FROM nodes
GROUP BY node_type;

CREATE INDEX idx_mv_graph_connectivity_type ON mv_graph_connectivity_stats(node_type);
CREATE INDEX idx_mv_graph_connectivity_count ON mv_graph_connectivity_stats(node_count DESC);

CREATE MATERIALIZED VIEW mv_popular_entity_rankings AS
SELECT
    n.node_id,
    n.name,
    n.node_type,
    n.confidence_score,
    COUNT(DISTINCT r1.relationship_id) as outgoing_relationship_count,
    COUNT(DISTINCT r2.relationship_id) as incoming_relationship_count,
    COUNT(DISTINCT r1.relationship_id) + COUNT(DISTINCT r2.relationship_id) as total_relationship_count,
    AVG(COALESCE(r1.confidence_score, r2.confidence_score)) as avg_relationship_confidence,
    COUNT(DISTINCT nrl.resource_id) as linked_resource_count
FROM nodes n
LEFT JOIN relationships r1 ON n.node_id = r1.source_node_id
LEFT JOIN relationships r2 ON n.node_id = r2.target_node_id
LEFT JOIN node_resource_links nrl ON n.node_id = nrl.node_id
GROUP BY n.node_id, n.name, n.node_type, n.confidence_score
HAVING COUNT(DISTINCT r1.relationship_id) + COUNT(DISTINCT r2.relationship_id) > 0;

CREATE INDEX idx_mv_popular_entities_total_rels ON mv_popular_entity_rankings(total_relationship_count DESC);
CREATE INDEX idx_mv_popular_entities_type ON mv_popular_entity_rankings(node_type, total_relationship_count DESC);
CREATE INDEX idx_mv_popular_entities_confidence ON mv_popular_entity_rankings(confidence_score DESC, total_relationship_count DESC);

CREATE MATERIALIZED VIEW mv_embedding_similarity_cache AS
SELECT
    n1.node_id as source_node_id,
    n2.node_id as target_node_id,
    n1.embedding <=> n2.embedding as similarity_distance,
    1 - (n1.embedding <=> n2.embedding) as similarity_score,
    n1.node_type as source_type,
    n2.node_type as target_type
FROM nodes n1
CROSS JOIN nodes n2
WHERE n1.node_id < n2.node_id
  AND n1.embedding IS NOT NULL
  AND n2.embedding IS NOT NULL
  AND (n1.embedding <=> n2.embedding) < 0.7; -- Only cache similar embeddings

CREATE INDEX idx_mv_similarity_cache_source ON mv_embedding_similarity_cache(source_node_id, similarity_score DESC);
CREATE INDEX idx_mv_similarity_cache_target ON mv_embedding_similarity_cache(target_node_id, similarity_score DESC);
CREATE INDEX idx_mv_similarity_cache_score ON mv_embedding_similarity_cache(similarity_score DESC);
CREATE INDEX idx_mv_similarity_cache_types ON mv_embedding_similarity_cache(source_type, target_type, similarity_score DESC);
"""

DROP_VIEWS_SQL = """
DROP MATERIALIZED VIEW IF EXISTS mv_embedding_similarity_cache;
DROP MATERIALIZED VIEW IF EXISTS mv_popular_entity_rankings;
DROP MATERIALIZED VIEW IF EXISTS mv_graph_connectivity_stats;
DROP MATERIALIZED VIEW IF EXISTS mv_relationship_strength_matrix;
DROP MATERIALIZED VIEW IF EXISTS mv_node_confidence_cache;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0002_spec_foreign_keys'),
    ]

    operations = [
        migrations.RunSQL(VIEWS_SQL, DROP_VIEWS_SQL),
        migrations.CreateModel(
            name='EmbeddingSimilarityCache',
            fields=[
                ('source_node_id', models.IntegerField(primary_key=True, serialize=False)),
                ('target_node_id', models.IntegerField()),
                ('similarity_distance', models.FloatField()),
                ('similarity_score', models.FloatField()),
                ('source_type', models.CharField(max_length=50)),
                ('target_type', models.CharField(max_length=50)),
            ],
            options={
                'verbose_name': 'embedding similarity (view)',
                'verbose_name_plural': 'embedding similarity cache (view)',
                'db_table': 'mv_embedding_similarity_cache',
                'abstract': False,
                'managed': False,
            },
        ),
        migrations.CreateModel(
            name='GraphConnectivityStats',
            fields=[
                ('node_type', models.CharField(max_length=50, primary_key=True, serialize=False)),
                ('node_count', models.BigIntegerField()),
                ('avg_confidence', models.DecimalField(decimal_places=20, max_digits=30, null=True)),
                ('high_confidence_count', models.BigIntegerField()),
                ('low_confidence_count', models.BigIntegerField()),
                ('outgoing_relationships', models.BigIntegerField()),
                ('incoming_relationships', models.BigIntegerField()),
            ],
            options={
                'verbose_name': 'graph connectivity (view)',
                'verbose_name_plural': 'graph connectivity statistics (view)',
                'db_table': 'mv_graph_connectivity_stats',
                'abstract': False,
                'managed': False,
            },
        ),
        migrations.CreateModel(
            name='NodeConfidenceCache',
            fields=[
                ('node_id', models.IntegerField(primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=255)),
                ('node_type', models.CharField(max_length=50)),
                ('confidence_score', models.DecimalField(decimal_places=4, max_digits=5, null=True)),
                ('confidence_last_updated', models.DateTimeField(null=True)),
                ('confidence_tier', models.TextField()),
            ],
            options={
                'verbose_name': 'node confidence (view)',
                'verbose_name_plural': 'node confidence (view)',
                'db_table': 'mv_node_confidence_cache',
                'abstract': False,
                'managed': False,
            },
        ),
        migrations.CreateModel(
            name='PopularEntityRanking',
            fields=[
                ('node_id', models.IntegerField(primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=255)),
                ('node_type', models.CharField(max_length=50)),
                ('confidence_score', models.DecimalField(decimal_places=4, max_digits=5, null=True)),
                ('outgoing_relationship_count', models.BigIntegerField()),
                ('incoming_relationship_count', models.BigIntegerField()),
                ('total_relationship_count', models.BigIntegerField()),
                ('avg_relationship_confidence', models.DecimalField(decimal_places=20, max_digits=30, null=True)),
                ('linked_resource_count', models.BigIntegerField()),
            ],
            options={
                'verbose_name': 'popular entity (view)',
                'verbose_name_plural': 'popular entity rankings (view)',
                'db_table': 'mv_popular_entity_rankings',
                'abstract': False,
                'managed': False,
            },
        ),
        migrations.CreateModel(
            name='RelationshipStrengthMatrix',
            fields=[
                ('source_node_id', models.IntegerField(primary_key=True, serialize=False)),
                ('target_node_id', models.IntegerField()),
                ('relationship_type', models.CharField(max_length=100)),
                ('weighted_strength', models.DecimalField(decimal_places=8, max_digits=12, null=True)),
                ('confidence_score', models.DecimalField(decimal_places=4, max_digits=5, null=True)),
                ('strength', models.DecimalField(decimal_places=4, max_digits=5, null=True)),
                ('source_type', models.CharField(max_length=50)),
                ('target_type', models.CharField(max_length=50)),
                ('bidirectional', models.BooleanField(null=True)),
            ],
            options={
                'verbose_name': 'relationship strength (view)',
                'verbose_name_plural': 'relationship strength matrix (view)',
                'db_table': 'mv_relationship_strength_matrix',
                'abstract': False,
                'managed': False,
            },
        ),
    ]
