"""The background workers' heartbeats (``worker_heartbeats``, docs/deployment.md and docs/schema.md, "Operations"),
read by ``/healthz`` and ``/metrics``, and the permission ``graph.view_metrics`` that ``/metrics`` asks of a
logged-in user."""

from django.db import migrations, models

import kgsite.fields


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0020_rebuild_vector_index_permission'),
    ]

    operations = [
        migrations.CreateModel(
            name='WorkerHeartbeat',
            fields=[
                ('worker', models.CharField(help_text='host:pid of the run_worker process.', max_length=255, primary_key=True, serialize=False)),
                ('started_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now())),
                ('beat_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), help_text="The last pass of the worker's loop.")),
            ],
            options={
                'verbose_name': 'worker heartbeat',
                'db_table': 'worker_heartbeats',
                'ordering': ['-beat_at'],
                'permissions': [('view_metrics', 'Can read the Prometheus metrics')],
                'indexes': [models.Index(fields=['-beat_at'], name='idx_worker_heartbeats_beat')],
            },
        ),
    ]
