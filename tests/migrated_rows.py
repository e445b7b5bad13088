"""The rows migrations insert (configuration parameters, the configuration version), put back after a
transactional test's flush has emptied every table."""

from __future__ import annotations

import importlib

# The spec's 16 parameters, then the migrations that add parameters of their own (their PARAMETERS_SQL).
PARAMETER_MIGRATIONS = [importlib.import_module(name) for name in (
    "graph.migrations.0010_confidence", "graph.migrations.0011_scalable_views",
    "graph.migrations.0013_inference", "graph.migrations.0014_embeddings_and_vector_indexes",
    "graph.migrations.0015_imports_and_crawling", "graph.migrations.0016_curation",
    "graph.migrations.0017_duplicates_merges_history", "config_admin.migrations.0005_session_idle_minutes")]
SPEC_DEFAULTS = importlib.import_module("config_admin.migrations.0002_default_parameters")


def migrated_rows_restore(cursor) -> None:
    cursor.execute("SELECT count(*) FROM system_config")
    if cursor.fetchone()[0] == 0:
        cursor.execute(SPEC_DEFAULTS.DEFAULT_PARAMETERS_SQL)
        for migration in PARAMETER_MIGRATIONS:
            cursor.execute(migration.PARAMETERS_SQL)
        cursor.execute("DELETE FROM config_audit_log")
    cursor.execute("INSERT INTO config_version (id, version) VALUES (1, 1) ON CONFLICT (id) DO NOTHING")
