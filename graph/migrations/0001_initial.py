# The spec's graph tables, exactly as rustygpt-tables.md defines them, with its indexes and CHECK/UNIQUE
# constraints (spec layer: adopt_database records 0001-0003 as applied). Foreign keys: 0002. Views: 0003.

from decimal import Decimal

import django.contrib.postgres.indexes
import django.contrib.postgres.operations
import django.core.validators
import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
import django_ltree.fields
import pgvector.django
import pgvector.django.indexes
from django.conf import settings
from django.db import migrations, models

import kgsite.fields
import kgsite.lookups  # noqa: F401  (registers __ne)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('kgsite', '0001_initial'),
    ]

    operations = [
        django.contrib.postgres.operations.CreateExtension('ltree'),
        pgvector.django.VectorExtension(),
        migrations.CreateModel(
            name='ExternalResource',
            fields=[
                ('resource_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('url', models.TextField(validators=[django.core.validators.URLValidator(), django.core.validators.MaxLengthValidator(2048)])),
                ('title', models.TextField(blank=True, null=True)),
                ('description', models.TextField(blank=True, null=True)),
                ('resource_type', models.CharField(blank=True, max_length=50, null=True)),
                ('embedding', kgsite.fields.Vector768Field(blank=True, null=True)),
                ('content_hash', models.CharField(blank=True, max_length=64, null=True)),
                ('last_crawled', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
                ('crawl_status', models.CharField(blank=True, choices=[('pending', 'Pending'), ('crawling', 'Crawling'), ('completed', 'Completed'), ('failed', 'Failed'), ('stale', 'Stale')], db_default='pending', default='pending', max_length=20, null=True)),
                ('metadata', models.JSONField(blank=True, db_default=models.Value({}, models.JSONField()), default=dict, null=True)),
                ('created_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, editable=False, null=True)),
                ('updated_at', kgsite.fields.UTCDateTimeField(auto_now=True, db_default=kgsite.fields.Now(), null=True)),
                ('created_by', models.ForeignKey(blank=True, db_column='created_by', db_constraint=False, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'external_resources',
                'ordering': ['-resource_id'],
            },
        ),
        migrations.CreateModel(
            name='Node',
            fields=[
                ('node_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=255)),
                ('node_type', models.CharField(max_length=50)),
                ('path', django_ltree.fields.PathField(blank=True, help_text='ltree path, labels separated by dots: science.physics.optics', null=True)),
                ('parent_node', models.ForeignKey(blank=True, db_column='parent_node_id', db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='children', to='graph.node')),
                ('embedding', kgsite.fields.Vector768Field(blank=True, null=True)),
                ('metadata', models.JSONField(blank=True, db_default=models.Value({}, models.JSONField()), default=dict, null=True)),
                ('confidence_score', models.DecimalField(blank=True, db_default=Decimal('0.5'), decimal_places=4, default=Decimal('0.5'), max_digits=5, null=True)),
                ('confidence_last_updated', kgsite.fields.UTCDateTimeField(blank=True, db_default=kgsite.fields.Now(), default=django.utils.timezone.now, null=True)),
                ('created_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, editable=False, null=True)),
                ('updated_at', kgsite.fields.UTCDateTimeField(auto_now=True, db_default=kgsite.fields.Now(), null=True)),
                ('created_by', models.ForeignKey(blank=True, db_column='created_by', db_constraint=False, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('source', models.CharField(blank=True, db_default='manual', default='manual', max_length=50, null=True)),
            ],
            options={
                'db_table': 'nodes',
                'ordering': ['-node_id'],
            },
        ),
        migrations.CreateModel(
            name='InferenceQueueItem',
            fields=[
                ('queue_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('node', models.ForeignKey(db_column='node_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='inference_queue_items', to='graph.node')),
                ('priority', models.IntegerField(blank=True, db_default=5, default=5, null=True)),
                ('batch_id', models.TextField(blank=True, null=True)),
                ('status', models.CharField(blank=True, choices=[('pending', 'Pending'), ('processing', 'Processing'), ('completed', 'Completed'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_default='pending', default='pending', max_length=20, null=True)),
                ('retry_count', models.IntegerField(blank=True, db_default=0, default=0, null=True)),
                ('max_retries', models.IntegerField(blank=True, db_default=3, default=3, null=True)),
                ('error_message', models.TextField(blank=True, null=True)),
                ('queued_at', kgsite.fields.UTCDateTimeField(blank=True, db_default=kgsite.fields.Now(), default=django.utils.timezone.now, null=True)),
                ('started_at', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
                ('completed_at', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
                ('processing_node', models.TextField(blank=True, null=True)),
                ('estimated_completion', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'inference queue item',
                'db_table': 'relationship_inference_queue',
                'ordering': ['-priority', 'queued_at'],
            },
        ),
        migrations.CreateModel(
            name='NodeAttribute',
            fields=[
                ('attribute_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('node', models.ForeignKey(db_column='node_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attributes', to='graph.node')),
                ('attribute_type', models.CharField(max_length=100)),
                ('attribute_key', models.CharField(max_length=255)),
                ('attribute_value', models.TextField()),
                ('weight', models.DecimalField(blank=True, db_default=Decimal('1.0'), decimal_places=2, default=Decimal('1.0'), max_digits=3, null=True)),
                ('confidence', models.DecimalField(blank=True, db_default=Decimal('0.5'), decimal_places=4, default=Decimal('0.5'), max_digits=5, null=True)),
                ('source_reliability', models.DecimalField(blank=True, db_default=Decimal('1.0'), decimal_places=4, default=Decimal('1.0'), max_digits=5, null=True)),
                ('last_verified', kgsite.fields.UTCDateTimeField(blank=True, db_default=kgsite.fields.Now(), default=django.utils.timezone.now, null=True)),
                ('created_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, editable=False, null=True)),
                ('created_by', models.ForeignKey(blank=True, db_column='created_by', db_constraint=False, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('metadata', models.JSONField(blank=True, db_default=models.Value({}, models.JSONField()), default=dict, null=True)),
            ],
            options={
                'db_table': 'node_attributes',
                'ordering': ['attribute_type', 'attribute_key'],
            },
        ),
        migrations.CreateModel(
            name='NodeResourceLink',
            fields=[
                ('link_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('node', models.ForeignKey(db_column='node_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='resource_links', to='graph.node')),
                ('resource', models.ForeignKey(db_column='resource_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='node_links', to='graph.externalresource')),
                ('link_type', models.CharField(blank=True, db_default='reference', default='reference', max_length=50, null=True)),
                ('confidence', models.DecimalField(blank=True, db_default=Decimal('0.5'), decimal_places=4, default=Decimal('0.5'), max_digits=5, null=True)),
                ('context', models.TextField(blank=True, null=True)),
                ('created_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, editable=False, null=True)),
                ('created_by', models.ForeignKey(blank=True, db_column='created_by', db_constraint=False, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'node–resource link',
                'db_table': 'node_resource_links',
                'ordering': ['-link_id'],
            },
        ),
        migrations.CreateModel(
            name='Reference',
            fields=[
                ('reference_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('source_node', models.ForeignKey(blank=True, db_column='source_node_id', db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='references_made', to='graph.node')),
                ('source_resource', models.ForeignKey(blank=True, db_column='source_resource_id', db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='references_made', to='graph.externalresource')),
                ('target_node', models.ForeignKey(blank=True, db_column='target_node_id', db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='references_received', to='graph.node')),
                ('target_resource', models.ForeignKey(blank=True, db_column='target_resource_id', db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='references_received', to='graph.externalresource')),
                ('reference_type', models.CharField(max_length=50)),
                ('page_number', models.IntegerField(blank=True, null=True)),
                ('section', models.TextField(blank=True, null=True)),
                ('quote', models.TextField(blank=True, null=True)),
                ('context', models.JSONField(blank=True, db_default=models.Value({}, models.JSONField()), default=dict, null=True)),
                ('created_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, editable=False, null=True)),
                ('created_by', models.ForeignKey(blank=True, db_column='created_by', db_constraint=False, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'reference_tracking',
                'ordering': ['-reference_id'],
            },
        ),
        migrations.CreateModel(
            name='Relationship',
            fields=[
                ('relationship_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('source_node', models.ForeignKey(db_column='source_node_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='outgoing_relationships', to='graph.node')),
                ('target_node', models.ForeignKey(db_column='target_node_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='incoming_relationships', to='graph.node')),
                ('relationship_type', models.CharField(max_length=100)),
                ('strength', models.DecimalField(blank=True, db_default=Decimal('1.0'), decimal_places=4, default=Decimal('1.0'), max_digits=5, null=True)),
                ('confidence_score', models.DecimalField(blank=True, db_default=Decimal('0.5'), decimal_places=4, default=Decimal('0.5'), max_digits=5, null=True)),
                ('confidence_last_updated', kgsite.fields.UTCDateTimeField(blank=True, db_default=kgsite.fields.Now(), default=django.utils.timezone.now, null=True)),
                ('bidirectional', models.BooleanField(db_default=False, default=False, null=True)),
                ('metadata', models.JSONField(blank=True, db_default=models.Value({}, models.JSONField()), default=dict, null=True)),
                ('created_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, editable=False, null=True)),
                ('updated_at', kgsite.fields.UTCDateTimeField(auto_now=True, db_default=kgsite.fields.Now(), null=True)),
                ('created_by', models.ForeignKey(blank=True, db_column='created_by', db_constraint=False, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('source', models.CharField(blank=True, db_default='manual', default='manual', max_length=50, null=True)),
                ('auto_managed', models.BooleanField(db_default=False, default=False, null=True)),
                ('shared_attributes_count', models.IntegerField(blank=True, db_default=0, default=0, null=True)),
                ('inference_confidence', models.DecimalField(blank=True, decimal_places=4, max_digits=5, null=True)),
                ('last_inference_update', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
                ('source_reliability', models.DecimalField(blank=True, db_default=Decimal('1.0'), decimal_places=4, default=Decimal('1.0'), max_digits=5, null=True)),
            ],
            options={
                'db_table': 'relationships',
                'ordering': ['-relationship_id'],
            },
        ),
        migrations.AddIndex(
            model_name='externalresource',
            index=models.Index(fields=['url'], name='idx_external_resources_url'),
        ),
        migrations.AddIndex(
            model_name='externalresource',
            index=models.Index(fields=['resource_type'], name='idx_external_resources_type'),
        ),
        migrations.AddIndex(
            model_name='externalresource',
            index=models.Index(fields=['crawl_status'], name='idx_external_resources_status'),
        ),
        migrations.AddIndex(
            model_name='externalresource',
            index=models.Index(fields=['-last_crawled'], name='idx_external_resources_crawled'),
        ),
        migrations.AddIndex(
            model_name='externalresource',
            index=models.Index(fields=['content_hash'], name='idx_external_resources_hash'),
        ),
        migrations.AddIndex(
            model_name='externalresource',
            index=pgvector.django.indexes.IvfflatIndex(fields=['embedding'], lists=50, name='idx_external_resources_embedding', opclasses=['vector_cosine_ops']),
        ),
        migrations.AddConstraint(
            model_name='externalresource',
            constraint=models.UniqueConstraint(fields=('url',), name='external_resources_url_key', violation_error_message='An external resource with this URL already exists.'),
        ),
        migrations.AddConstraint(
            model_name='externalresource',
            constraint=models.CheckConstraint(condition=models.Q(('crawl_status__in', ['pending', 'crawling', 'completed', 'failed', 'stale'])), name='valid_crawl_status', violation_error_message='Crawl status must be one of: pending, crawling, completed, failed, stale.'),
        ),
        migrations.AddIndex(
            model_name='node',
            index=models.Index(fields=['node_type'], name='idx_nodes_type'),
        ),
        migrations.AddIndex(
            model_name='node',
            index=django.contrib.postgres.indexes.GistIndex(fields=['path'], name='idx_nodes_path'),
        ),
        migrations.AddIndex(
            model_name='node',
            index=models.Index(fields=['parent_node'], name='idx_nodes_parent'),
        ),
        migrations.AddIndex(
            model_name='node',
            index=models.Index(fields=['-confidence_score'], name='idx_nodes_confidence'),
        ),
        migrations.AddIndex(
            model_name='node',
            index=models.Index(fields=['confidence_last_updated'], name='idx_nodes_confidence_updated'),
        ),
        migrations.AddIndex(
            model_name='node',
            index=models.Index(fields=['-created_at'], name='idx_nodes_created'),
        ),
        migrations.AddIndex(
            model_name='node',
            index=models.Index(fields=['source'], name='idx_nodes_source'),
        ),
        migrations.AddIndex(
            model_name='node',
            index=pgvector.django.indexes.IvfflatIndex(fields=['embedding'], lists=100, name='idx_nodes_embedding', opclasses=['vector_cosine_ops']),
        ),
        migrations.AddConstraint(
            model_name='node',
            constraint=models.CheckConstraint(condition=models.Q(('confidence_score__gte', Decimal('0.0')), ('confidence_score__lte', Decimal('1.0'))), name='valid_confidence_score', violation_error_message='Confidence score must be between 0 and 1.'),
        ),
        migrations.AddIndex(
            model_name='inferencequeueitem',
            index=models.Index(fields=['status'], name='idx_inference_queue_status'),
        ),
        migrations.AddIndex(
            model_name='inferencequeueitem',
            index=models.Index(fields=['-priority', 'queued_at'], name='idx_inference_queue_priority'),
        ),
        migrations.AddIndex(
            model_name='inferencequeueitem',
            index=models.Index(fields=['node'], name='idx_inference_queue_node'),
        ),
        migrations.AddIndex(
            model_name='inferencequeueitem',
            index=models.Index(fields=['batch_id'], name='idx_inference_queue_batch'),
        ),
        migrations.AddIndex(
            model_name='inferencequeueitem',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['status', '-priority'], name='idx_inference_queue_processing'),
        ),
        migrations.AddIndex(
            model_name='inferencequeueitem',
            index=models.Index(fields=['retry_count', 'max_retries'], name='idx_inference_queue_retry'),
        ),
        migrations.AddConstraint(
            model_name='inferencequeueitem',
            constraint=models.CheckConstraint(condition=models.Q(('priority__gte', 1), ('priority__lte', 10)), name='valid_priority', violation_error_message='Priority must be between 1 and 10.'),
        ),
        migrations.AddConstraint(
            model_name='inferencequeueitem',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'processing', 'completed', 'failed', 'cancelled'])), name='valid_status', violation_error_message='Status must be one of: pending, processing, completed, failed, cancelled.'),
        ),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=models.Index(fields=['node'], name='idx_node_attributes_node'),
        ),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=models.Index(fields=['attribute_type'], name='idx_node_attributes_type'),
        ),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=models.Index(fields=['attribute_key'], name='idx_node_attributes_key'),
        ),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=models.Index(fields=['attribute_value'], name='idx_node_attributes_value'),
        ),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=models.Index(fields=['-confidence'], name='idx_node_attributes_confidence'),
        ),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=models.Index(fields=['attribute_type', 'attribute_key', 'attribute_value'], name='idx_node_attributes_composite'),
        ),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=models.Index(fields=['-last_verified'], name='idx_node_attributes_verified'),
        ),
        migrations.AddConstraint(
            model_name='nodeattribute',
            constraint=models.CheckConstraint(condition=models.Q(('weight__gte', Decimal('0.0')), ('weight__lte', Decimal('1.0'))), name='valid_weight', violation_error_message='Weight must be between 0 and 1.'),
        ),
        migrations.AddConstraint(
            model_name='nodeattribute',
            constraint=models.CheckConstraint(condition=models.Q(('confidence__gte', Decimal('0.0')), ('confidence__lte', Decimal('1.0'))), name='valid_confidence', violation_error_message='Confidence must be between 0 and 1.'),
        ),
        migrations.AddConstraint(
            model_name='nodeattribute',
            constraint=models.CheckConstraint(condition=models.Q(('source_reliability__gte', Decimal('0.0')), ('source_reliability__lte', Decimal('1.0'))), name='valid_source_reliability', violation_error_message='Source reliability must be between 0 and 1.'),
        ),
        migrations.AddIndex(
            model_name='noderesourcelink',
            index=models.Index(fields=['node'], name='idx_node_resource_links_node'),
        ),
        migrations.AddIndex(
            model_name='noderesourcelink',
            index=models.Index(fields=['resource'], name='idx_node_resource_links_resource'),
        ),
        migrations.AddIndex(
            model_name='noderesourcelink',
            index=models.Index(fields=['link_type'], name='idx_node_resource_links_type'),
        ),
        migrations.AddIndex(
            model_name='noderesourcelink',
            index=models.Index(fields=['-confidence'], name='idx_node_resource_links_confidence'),
        ),
        migrations.AddConstraint(
            model_name='noderesourcelink',
            constraint=models.CheckConstraint(condition=models.Q(('confidence__gte', Decimal('0.0')), ('confidence__lte', Decimal('1.0'))), name='valid_confidence', violation_error_message='Confidence must be between 0 and 1.'),
        ),
        migrations.AddConstraint(
            model_name='noderesourcelink',
            constraint=models.UniqueConstraint(fields=('node', 'resource', 'link_type'), name='unique_node_resource_link', violation_error_message='This node is already linked to this resource with this link type.'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(fields=['source_node'], name='idx_reference_tracking_source_node'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(fields=['source_resource'], name='idx_reference_tracking_source_resource'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(fields=['target_node'], name='idx_reference_tracking_target_node'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(fields=['target_resource'], name='idx_reference_tracking_target_resource'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(fields=['reference_type'], name='idx_reference_tracking_type'),
        ),
        migrations.AddConstraint(
            model_name='reference',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('source_node__isnull', False), ('source_resource__isnull', True)), models.Q(('source_node__isnull', True), ('source_resource__isnull', False)), _connector='OR'), name='valid_reference_source', violation_error_message='A reference has exactly one source: a node or a resource, not both.'),
        ),
        migrations.AddConstraint(
            model_name='reference',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('target_node__isnull', False), ('target_resource__isnull', True)), models.Q(('target_node__isnull', True), ('target_resource__isnull', False)), _connector='OR'), name='valid_reference_target', violation_error_message='A reference has exactly one target: a node or a resource, not both.'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['source_node'], name='idx_relationships_source'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['target_node'], name='idx_relationships_target'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['relationship_type'], name='idx_relationships_type'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['-confidence_score'], name='idx_relationships_confidence'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['confidence_last_updated'], name='idx_relationships_confidence_updated'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['-strength'], name='idx_relationships_strength'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['bidirectional'], name='idx_relationships_bidirectional'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['source'], name='idx_relationships_source_type'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['auto_managed'], name='idx_relationships_auto_managed'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['last_inference_update'], name='idx_relationships_inference_updated'),
        ),
        migrations.AddIndex(
            model_name='relationship',
            index=models.Index(fields=['source_node', 'target_node', 'relationship_type'], name='idx_relationships_composite'),
        ),
        migrations.AddConstraint(
            model_name='relationship',
            constraint=models.CheckConstraint(condition=models.Q(('strength__gte', Decimal('0.0')), ('strength__lte', Decimal('1.0'))), name='valid_strength', violation_error_message='Strength must be between 0 and 1.'),
        ),
        migrations.AddConstraint(
            model_name='relationship',
            constraint=models.CheckConstraint(condition=models.Q(('confidence_score__gte', Decimal('0.0')), ('confidence_score__lte', Decimal('1.0'))), name='valid_confidence_score', violation_error_message='Confidence score must be between 0 and 1.'),
        ),
        migrations.AddConstraint(
            model_name='relationship',
            constraint=models.CheckConstraint(condition=models.Q(('inference_confidence__isnull', True), models.Q(('inference_confidence__gte', Decimal('0.0')), ('inference_confidence__lte', Decimal('1.0'))), _connector='OR'), name='valid_inference_confidence', violation_error_message='Inference confidence must be between 0 and 1.'),
        ),
        migrations.AddConstraint(
            model_name='relationship',
            constraint=models.CheckConstraint(condition=models.Q(('source_reliability__gte', Decimal('0.0')), ('source_reliability__lte', Decimal('1.0'))), name='valid_source_reliability', violation_error_message='Source reliability must be between 0 and 1.'),
        ),
        migrations.AddConstraint(
            model_name='relationship',
            constraint=models.CheckConstraint(condition=models.Q(('source_node__ne', models.F('target_node'))), name='no_self_reference', violation_error_message='A relationship cannot connect a node to itself.'),
        ),
        migrations.AddConstraint(
            model_name='relationship',
            constraint=models.UniqueConstraint(fields=('source_node', 'target_node', 'relationship_type'), name='unique_relationship', violation_error_message='A relationship of this type between these two nodes already exists.'),
        ),
    ]
