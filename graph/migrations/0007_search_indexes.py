"""Indexes behind the admin's searches (docs/schema.md, "Search indexes").

* ``pg_trgm`` trigram GIN indexes serve ``ILIKE '%term%'`` for terms of three characters or more: node names,
  attribute values and keys (values are unbounded TEXT; a GIN index accepts any length), resource titles and URLs.
* btree indexes on ``lower(name)`` (``text_pattern_ops``) serve exact and prefix matches of any length, 1- and
  2-character terms included (trigrams cannot), and ``(length(name), lower(name))`` gives the autocomplete its
  "exact, then prefix, shortest first" order without sorting every match.

Plain ``CREATE INDEX`` (not ``CONCURRENTLY``): the migration stays atomic (``adopt_database`` applies the kgsite
layer in one transaction). At a million nodes it locks writes to the four tables for a few minutes (build times in
docs/schema.md).
"""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("graph", "0006_node_hierarchy")]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION IF NOT EXISTS pg_trgm
        migrations.AddIndex(
            model_name="node",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["name"], name="idx_nodes_name_trgm", opclasses=["gin_trgm_ops"]),
        ),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Lower("name"), name="text_pattern_ops"),
                name="idx_nodes_name_lower"),
        ),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(
                django.db.models.functions.text.Length("name"),
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Lower("name"), name="text_pattern_ops"),
                name="idx_nodes_name_length"),
        ),
        migrations.AddIndex(
            model_name="nodeattribute",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["attribute_value"], name="idx_node_attributes_value_trgm", opclasses=["gin_trgm_ops"]),
        ),
        migrations.AddIndex(
            model_name="nodeattribute",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["attribute_key"], name="idx_node_attributes_key_trgm", opclasses=["gin_trgm_ops"]),
        ),
        migrations.AddIndex(
            model_name="externalresource",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["title"], name="idx_external_resources_title_trgm", opclasses=["gin_trgm_ops"]),
        ),
        migrations.AddIndex(
            model_name="externalresource",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["url"], name="idx_external_resources_url_trgm", opclasses=["gin_trgm_ops"]),
        ),
        migrations.AddIndex(
            model_name="externalresource",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Left(django.db.models.functions.text.Lower("title"), 100),
                    name="text_pattern_ops"),
                name="idx_external_resources_title_lower"),
        ),
    ]
