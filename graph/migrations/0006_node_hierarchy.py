"""Path and parent agree (docs/schema.md): refuse to start from data that breaks the rule, make paths unique and
install the triggers of graph/sql/node_hierarchy.sql."""

from pathlib import Path

from django.db import migrations, models

HIERARCHY_SQL = (Path(__file__).resolve().parent.parent / "sql" / "node_hierarchy.sql").read_text()

# An adopted database may hold nodes that break the rule; say which instead of failing on a trigger later.
CHECK_EXISTING_SQL = r"""
DO $$
DECLARE
    broken bigint;
    examples text;
BEGIN
    SELECT count(*), string_agg(format('%s (path %s, parent %s)', n.node_id, coalesce(n.path::text, 'none'),
                                       coalesce(n.parent_node_id::text, 'none')), '; ')
                     FILTER (WHERE n.rank <= 5)
      INTO broken, examples
    FROM (SELECT c.*, row_number() OVER (ORDER BY c.node_id) AS rank
          FROM nodes c LEFT JOIN nodes p ON p.node_id = c.parent_node_id
          WHERE NOT CASE
              WHEN c.parent_node_id IS NULL THEN c.path IS NULL OR nlevel(c.path) = 1
              ELSE p.path IS NOT NULL AND c.path IS NOT NULL AND nlevel(c.path) = nlevel(p.path) + 1
                   AND subpath(c.path, 0, nlevel(c.path) - 1) = p.path
          END) n;
    IF broken > 0 THEN
        RAISE EXCEPTION 'RG-NODE-009: % nodes break the rule that a path is the parent''s path plus one label (a node without a parent has at most one label), e.g. %; correct them (docs/schema.md) and migrate again',
            broken, examples USING ERRCODE = 'check_violation';
    END IF;
END
$$;
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS nodes_hierarchy_check ON nodes;
DROP TRIGGER IF EXISTS nodes_hierarchy_move ON nodes;
DROP TRIGGER IF EXISTS nodes_hierarchy_update ON nodes;
DROP TRIGGER IF EXISTS nodes_hierarchy_insert ON nodes;
DROP FUNCTION IF EXISTS nodes_hierarchy_check_inserted();
DROP FUNCTION IF EXISTS nodes_hierarchy_after_update();
DROP FUNCTION IF EXISTS nodes_hierarchy_before();
DROP FUNCTION IF EXISTS node_path_label(text, integer);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0005_deletes_cascade_in_the_database'),
    ]

    operations = [
        migrations.RunSQL(CHECK_EXISTING_SQL, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name='node',
            constraint=models.UniqueConstraint(fields=('path',), name='unique_node_path',
                                               violation_error_message='Another node already has this path.'),
        ),
        migrations.RunSQL(HIERARCHY_SQL, DROP_SQL),
    ]
