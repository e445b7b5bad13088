# Deviation from the spec (docs/schema.md): its btree indexes on the unbounded TEXT attribute_value refuse any
# value longer than about 2.7 KB ("index row size exceeds btree version 4 maximum"). A hash index serves equality
# on values of any length; the composite index keys on md5(attribute_value).
import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0003_materialized_views'),
    ]

    operations = [
        migrations.RemoveIndex(model_name='nodeattribute', name='idx_node_attributes_value'),
        migrations.RemoveIndex(model_name='nodeattribute', name='idx_node_attributes_composite'),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=django.contrib.postgres.indexes.HashIndex(fields=['attribute_value'], name='idx_node_attributes_value'),
        ),
        migrations.AddIndex(
            model_name='nodeattribute',
            index=models.Index(models.F('attribute_type'), models.F('attribute_key'), django.db.models.functions.text.MD5('attribute_value'), name='idx_node_attributes_composite'),
        ),
    ]
