"""Taking over a database created from the spec's SQL (``manage.py adopt_database``).

The migrations are layered: ``SPEC_BASELINE`` creates exactly the spec's schema (tables, indexes, constraints,
foreign keys, views, default configuration rows); later migrations add kgsite's documented deviations
(docs/schema.md). Adopting a spec database therefore means: check that it holds every table and column of the
baseline, record the baseline migrations as applied, and run the rest — all in one transaction, so a failure
leaves the database exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.management import call_command
from django.db import connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from kgsite.errors import DomainError

SPEC_BASELINE = [
    ("kgsite", "0001_initial"),
    ("config_admin", "0001_initial"),
    ("config_admin", "0002_default_parameters"),
    ("graph", "0001_initial"),
    ("graph", "0002_spec_foreign_keys"),
    ("graph", "0003_materialized_views"),
]
OUR_APPS = {"kgsite", "graph", "config_admin"}

# Codes (docs/errors.md).
ALREADY_MANAGED = "RG-ADOPT-001"  # kgsite's migrations are already recorded: migrate instead
NOT_SPEC_SCHEMA = "RG-ADOPT-002"  # tables, columns or views of the spec's schema are missing


class AdoptionError(DomainError):
    """The database cannot be adopted (``ALREADY_MANAGED`` or ``NOT_SPEC_SCHEMA``)."""

    code = NOT_SPEC_SCHEMA


@dataclass
class AdoptionReport:
    recorded: list[str] = field(default_factory=list)
    rows_before: dict[str, int] = field(default_factory=dict)


def _baseline_state(connection):
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    return loader.project_state(SPEC_BASELINE, at_end=True)


def missing_spec_objects(using: str = "default") -> list[str]:
    """Tables and columns of the spec's schema that the database lacks (empty when it can be adopted)."""
    connection = connections[using]
    state = _baseline_state(connection)
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor, include_views=True))
        missing = []
        for model_state in state.models.values():
            if not model_state.options.get("managed", True):
                continue
            table = model_state.options["db_table"]
            if table not in tables:
                missing.append(f"table {table}")
                continue
            columns = {c.name for c in connection.introspection.get_table_description(cursor, table)}
            model = state.apps.get_model(model_state.app_label, model_state.name)
            for model_field in model._meta.local_concrete_fields:
                if model_field.column not in columns:
                    missing.append(f"column {table}.{model_field.column}")
        for view in ("mv_node_confidence_cache", "mv_relationship_strength_matrix", "mv_graph_connectivity_stats",
                     "mv_popular_entity_rankings", "mv_embedding_similarity_cache"):
            cursor.execute("SELECT 1 FROM pg_matviews WHERE matviewname = %s", [view])
            if cursor.fetchone() is None:
                missing.append(f"materialized view {view}")
    return sorted(missing)


def database_adopt(*, using: str = "default", verbosity: int = 1, stdout=None) -> AdoptionReport:
    connection = connections[using]
    recorder = MigrationRecorder(connection)
    if recorder.has_table():
        ours = sorted(f"{app}.{name}" for app, name in recorder.applied_migrations() if app in OUR_APPS)
        if ours:
            raise AdoptionError(
                f"this database is already managed by kgsite ({len(ours)} migrations applied); "
                "run `python manage.py migrate` instead",
                code=ALREADY_MANAGED, applied=len(ours),
            )
    missing = missing_spec_objects(using)
    if missing:
        raise AdoptionError(
            "this database does not hold the spec's schema; missing: " + ", ".join(missing[:20])
            + (f" and {len(missing) - 20} more" if len(missing) > 20 else ""),
            code=NOT_SPEC_SCHEMA, missing=missing,
        )
    report = AdoptionReport()
    with connection.cursor() as cursor:
        for table in ("nodes", "node_attributes", "relationships", "users", "system_config"):
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            report.rows_before[table] = cursor.fetchone()[0]
    with transaction.atomic(using=using):
        recorder.ensure_schema()
        for app, name in SPEC_BASELINE:
            recorder.record_applied(app, name)
            report.recorded.append(f"{app}.{name}")
        call_command("migrate", database=using, verbosity=verbosity, interactive=False,
                     **({"stdout": stdout} if stdout is not None else {}))
    return report
