# The spec's foreign keys, with PostgreSQL's default names and the spec's ON DELETE rules (spec layer).
# Django 5.2 cannot declare ON DELETE CASCADE in the database and makes its own keys DEFERRABLE; the models
# therefore say db_constraint=False and the constraints live here, exactly as the spec's SQL creates them.
from django.db import migrations

# (table, column, referenced table, referenced column, ON DELETE clause)
FOREIGN_KEYS = [
    ("nodes", "parent_node_id", "nodes", "node_id", ""),
    ("nodes", "created_by", "users", "id", ""),
    ("node_attributes", "node_id", "nodes", "node_id", " ON DELETE CASCADE"),
    ("node_attributes", "created_by", "users", "id", ""),
    ("relationships", "source_node_id", "nodes", "node_id", " ON DELETE CASCADE"),
    ("relationships", "target_node_id", "nodes", "node_id", " ON DELETE CASCADE"),
    ("relationships", "created_by", "users", "id", ""),
    ("relationship_inference_queue", "node_id", "nodes", "node_id", " ON DELETE CASCADE"),
    ("external_resources", "created_by", "users", "id", ""),
    ("node_resource_links", "node_id", "nodes", "node_id", " ON DELETE CASCADE"),
    ("node_resource_links", "resource_id", "external_resources", "resource_id", " ON DELETE CASCADE"),
    ("node_resource_links", "created_by", "users", "id", ""),
    ("reference_tracking", "source_node_id", "nodes", "node_id", " ON DELETE CASCADE"),
    ("reference_tracking", "source_resource_id", "external_resources", "resource_id", " ON DELETE CASCADE"),
    ("reference_tracking", "target_node_id", "nodes", "node_id", " ON DELETE CASCADE"),
    ("reference_tracking", "target_resource_id", "external_resources", "resource_id", " ON DELETE CASCADE"),
    ("reference_tracking", "created_by", "users", "id", ""),
]

ADD_SQL = [
    f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fkey FOREIGN KEY ({column}) "
    f"REFERENCES {ref_table}({ref_column}){on_delete};"
    for table, column, ref_table, ref_column, on_delete in FOREIGN_KEYS
]
DROP_SQL = [
    f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_fkey;"
    for table, column, _ref_table, _ref_column, _on_delete in reversed(FOREIGN_KEYS)
]


class Migration(migrations.Migration):

    dependencies = [
        ('graph', '0001_initial'),
    ]

    operations = [
        migrations.RunSQL("\n".join(ADD_SQL), "\n".join(DROP_SQL)),
    ]
