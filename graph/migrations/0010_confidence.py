"""Confidence scores kept current by the database (docs/confidence.md): relationships get the confidence their
source states (``stated_confidence``, taken from ``confidence_score`` for the rows present), three configuration
parameters, the functions and triggers of graph/sql/confidence.sql, every score recomputed, and the table that
records ``recalculate_confidence`` runs."""

from decimal import Decimal
from pathlib import Path

import django.core.validators
from django.conf import settings
from django.db import migrations, models

import kgsite.fields

STATED_CONFIDENCE_SQL = """
ALTER TABLE relationships ADD COLUMN stated_confidence numeric(5,4);
UPDATE relationships SET stated_confidence = coalesce(confidence_score, 0.5);
ALTER TABLE relationships ALTER COLUMN stated_confidence SET NOT NULL;
"""

# Backwards: the stated figure goes back where the spec keeps a relationship's confidence.
UNSTATE_SQL = """
UPDATE relationships SET confidence_score = stated_confidence;
ALTER TABLE relationships DROP COLUMN stated_confidence;
"""

PARAMETERS = ("confidence_half_life_days", "confidence_prior_weight", "confidence_stale_hours",
              "confidence_propagation_limit")
PARAMETERS_SQL = """
INSERT INTO system_config (parameter_name, parameter_value, parameter_type, description, default_value,
                           min_value, max_value, requires_restart, category) VALUES
('confidence_half_life_days', '365', 'integer',
 'Days after which an attribute verification counts half as much (recency decay of attribute confidence)',
 '365', '1', '36500', false, 'confidence'),
('confidence_prior_weight', '1.0', 'float',
 'Weight of the prior 0.5 in a node confidence score: how many attributes a node needs before its own evidence dominates',
 '1.0', '0.0', '100.0', false, 'confidence'),
('confidence_stale_hours', '24', 'integer',
 'Scores computed longer ago than this are stale (recalculate_confidence --stale-only)',
 '24', '1', '8760', false, 'confidence'),
('confidence_propagation_limit', '5000', 'integer',
 'Most relationships re-scored in the transaction that changes their nodes; beyond it recalculate_confidence does it',
 '5000', '0', '1000000', false, 'confidence');
"""
REMOVE_PARAMETERS_SQL = "DELETE FROM system_config WHERE parameter_name IN ({});".format(
    ", ".join(f"'{name}'" for name in PARAMETERS))

CONFIDENCE_SQL = (Path(__file__).resolve().parent.parent / "sql" / "confidence.sql").read_text()
DROP_SQL = """
DROP TRIGGER IF EXISTS relationships_confidence_guard ON relationships;
DROP TRIGGER IF EXISTS confidence_pending_carry ON confidence_pending_nodes;
DROP TRIGGER IF EXISTS nodes_confidence_carry ON nodes;
DROP TRIGGER IF EXISTS nodes_confidence_guard ON nodes;
DROP TRIGGER IF EXISTS node_attributes_confidence_insert ON node_attributes;
DROP TRIGGER IF EXISTS node_attributes_confidence_update ON node_attributes;
DROP TRIGGER IF EXISTS node_attributes_confidence_delete ON node_attributes;
DROP FUNCTION IF EXISTS relationships_confidence_guard(), nodes_confidence_carry(), nodes_confidence_guard(),
    node_attributes_confidence_changed(), node_attributes_confidence_updated(), relationships_of_nodes(integer[], integer),
    nodes_confidence_refresh(integer[]), relationships_confidence_refresh(integer[], boolean),
    confidence_pending_carry(), confidence_pending_propagate(integer),
    relationship_evidence(boolean, numeric, numeric), relationship_confidence(numeric, numeric, numeric, numeric),
    node_confidence(double precision, double precision, double precision),
    attribute_effective_confidence(numeric, numeric, timestamptz, timestamptz, double precision),
    confidence_parameters();
DROP TABLE IF EXISTS confidence_pending_nodes;
"""
# Every node from its attributes (carrying changes on to relationships), then every relationship from its evidence.
RECOMPUTE_SQL = """
SELECT nodes_confidence_refresh(ARRAY(SELECT node_id FROM nodes));
SELECT relationships_confidence_refresh(ARRAY(SELECT relationship_id FROM relationships), true);
DELETE FROM confidence_pending_nodes;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0009_attribute_value_search_head'),
        ('config_admin', '0004_apply_postgres_settings_permission'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ConfidenceRecalculation',
            fields=[
                ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('started_at', kgsite.fields.UTCDateTimeField()),
                ('finished_at', kgsite.fields.UTCDateTimeField(blank=True, null=True)),
                ('stale_only', models.BooleanField()),
                ('stale_before', kgsite.fields.UTCDateTimeField(blank=True, help_text='With stale_only: rows scored before this.', null=True)),
                ('batch_size', models.IntegerField()),
                ('phase', models.CharField(choices=[('nodes', 'nodes'), ('relationships', 'relationships'), ('done', 'done'), ('abandoned', 'abandoned')], default='nodes', max_length=20)),
                ('resume_after', models.IntegerField(default=0, help_text="The last id of the phase's table already done.")),
                ('nodes_recomputed', models.BigIntegerField(default=0)),
                ('nodes_changed', models.BigIntegerField(default=0)),
                ('relationships_recomputed', models.BigIntegerField(default=0)),
                ('relationships_changed', models.BigIntegerField(default=0)),
            ],
            options={
                'db_table': 'confidence_recalculations',
                'ordering': ['-id'],
                'get_latest_by': 'started_at',
            },
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(STATED_CONFIDENCE_SQL, UNSTATE_SQL)],
            state_operations=[migrations.AddField(
            model_name='relationship',
            name='stated_confidence',
            field=models.DecimalField(decimal_places=4, default=Decimal('0.5'), help_text="How sure the source of this link is, from 0 to 1. The confidence score is worked out from it, the source's reliability and the confidence of the two nodes.", max_digits=5, validators=[django.core.validators.MinValueValidator(Decimal('0.0'), 'Must be between 0 and 1.'), django.core.validators.MaxValueValidator(Decimal('1.0'), 'Must be between 0 and 1.')]),
        )]),
        migrations.AlterField(
            model_name='node',
            name='confidence_score',
            field=models.DecimalField(blank=True, db_default=Decimal('0.5'), decimal_places=4, default=Decimal('0.5'), help_text="Worked out by the database from the node's attributes (weight, confidence, source reliability, age of verification): see docs/confidence.md.", max_digits=5, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.0'), 'Must be between 0 and 1.'), django.core.validators.MaxValueValidator(Decimal('1.0'), 'Must be between 0 and 1.')]),
        ),
        migrations.AlterField(
            model_name='relationship',
            name='confidence_score',
            field=models.DecimalField(blank=True, db_default=Decimal('0.5'), decimal_places=4, default=Decimal('0.5'), help_text="Worked out by the database from the stated (or inferred) confidence, the source's reliability and the two nodes' confidence: see docs/confidence.md.", max_digits=5, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.0'), 'Must be between 0 and 1.'), django.core.validators.MaxValueValidator(Decimal('1.0'), 'Must be between 0 and 1.')]),
        ),
        migrations.AddConstraint(
            model_name='relationship',
            constraint=models.CheckConstraint(condition=models.Q(('stated_confidence__gte', Decimal('0.0')), ('stated_confidence__lte', Decimal('1.0'))), name='valid_stated_confidence', violation_error_message='Stated confidence must be between 0 and 1.'),
        ),
        migrations.RunSQL(PARAMETERS_SQL, REMOVE_PARAMETERS_SQL),
        # Score rewrites must be HOT updates (docs/schema.md): no index on the derived columns, room in each page.
        migrations.RemoveIndex(model_name='node', name='idx_nodes_confidence'),
        migrations.RemoveIndex(model_name='node', name='idx_nodes_confidence_updated'),
        migrations.RunSQL("ALTER TABLE nodes SET (fillfactor = 90);", "ALTER TABLE nodes RESET (fillfactor);"),
        migrations.RunSQL(CONFIDENCE_SQL, DROP_SQL),
        migrations.RunSQL(RECOMPUTE_SQL, migrations.RunSQL.noop),
    ]
