# The spec's system_config and config_audit_log tables, exactly (spec layer).

import django.utils.timezone
from django.db import migrations, models

import kgsite.fields


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='ConfigAuditLog',
            fields=[
                ('log_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('parameter_name', models.TextField()),
                ('old_value', models.TextField(blank=True, null=True)),
                ('new_value', models.TextField()),
                ('updated_by', models.TextField()),
                ('updated_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, null=True)),
                ('requires_restart', models.BooleanField(db_default=False, default=False, null=True)),
            ],
            options={
                'verbose_name': 'configuration change',
                'db_table': 'config_audit_log',
                'ordering': ['-updated_at', '-log_id'],
                'indexes': [models.Index(fields=['parameter_name'], name='idx_config_audit_log_parameter'), models.Index(fields=['-updated_at'], name='idx_config_audit_log_timestamp')],
            },
        ),
        migrations.CreateModel(
            name='SystemConfig',
            fields=[
                ('config_id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('parameter_name', models.CharField(max_length=100)),
                ('parameter_value', models.TextField()),
                ('parameter_type', models.CharField(choices=[('integer', 'Integer'), ('float', 'Float'), ('text', 'Text'), ('boolean', 'Boolean')], max_length=20)),
                ('description', models.TextField()),
                ('default_value', models.TextField()),
                ('min_value', models.TextField(blank=True, null=True)),
                ('max_value', models.TextField(blank=True, null=True)),
                ('requires_restart', models.BooleanField(db_default=False, default=False, null=True)),
                ('category', models.CharField(max_length=50)),
                ('created_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, editable=False, null=True)),
                ('updated_at', kgsite.fields.UTCDateTimeField(auto_now=True, db_default=kgsite.fields.Now(), null=True)),
                ('updated_by', models.TextField(blank=True, db_default='system', default='system', null=True)),
            ],
            options={
                'verbose_name': 'configuration parameter',
                'db_table': 'system_config',
                'ordering': ['category', 'parameter_name'],
                'indexes': [models.Index(fields=['parameter_name'], name='idx_system_config_name'), models.Index(fields=['category'], name='idx_system_config_category')],
                'constraints': [models.UniqueConstraint(fields=('parameter_name',), name='system_config_parameter_name_key', violation_error_message='A parameter with this name already exists.'), models.CheckConstraint(condition=models.Q(('parameter_type__in', ['integer', 'float', 'text', 'boolean'])), name='system_config_parameter_type_check', violation_error_message='Parameter type must be one of: integer, float, text, boolean.')],
            },
        ),
    ]
