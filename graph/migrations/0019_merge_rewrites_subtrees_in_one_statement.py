"""The hierarchy triggers stand aside for a statement that rewrites whole subtrees itself (``kgsite.hierarchy_rewrite``:
a merge moving the merged node's children, and its undo), so that moving 400 children is one statement
(graph/sql/node_hierarchy.sql, docs/duplicates.md); the spec's duplicate of unique_relationship's index goes
(docs/schema.md, "Catalog differences")."""

from pathlib import Path

from django.db import migrations

# Idempotent (CREATE OR REPLACE, DROP TRIGGER IF EXISTS). Going back leaves the functions as they are: without the
# setting they behave exactly as before.
HIERARCHY_SQL = (Path(__file__).resolve().parent.parent / "sql" / "node_hierarchy.sql").read_text()


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0018_history_triggers_planned_per_statement'),
    ]

    operations = [
        migrations.RunSQL(HIERARCHY_SQL, migrations.RunSQL.noop),
        # The spec's idx_relationships_composite indexes exactly what unique_relationship's index does.
        migrations.RemoveIndex(
            model_name='relationship',
            name='idx_relationships_composite',
        ),
    ]
