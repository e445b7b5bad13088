"""Vector-index management (graph/services/vector_index.py, docs/vector-indexes.md): the recommended parameters,
the optimiser's decisions, the concurrent rebuild and its clean-up, the recall it measures and tunes, the audited
configuration changes, the advisory lock, the command, the worker's job and the admin's Index health page.

Rebuilds use CREATE INDEX CONCURRENTLY, which cannot run inside a transaction: those tests are transactional
(``django_db(transaction=True)``, tables flushed at the end). ``spec_vector_indexes`` puts the spec's IVFFlat
indexes back after every test, because other tests compare the indexes with the spec.
"""

from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import psycopg
import pytest
from django.core.management import ManagementUtility, call_command
from django.db import connection, connections
from django.db.transaction import TransactionManagementError
from django.urls import reverse
from django.utils import timezone

from config_admin.models import ConfigAuditLog, SystemConfig
from config_admin.selectors import config_get, config_version_current
from config_admin.services import config_set
from graph.choices import VectorIndexOutcome
from graph.errors import VECTOR_INDEX_BAD_OPTION, VECTOR_INDEX_BUSY, GraphError
from graph.models import MaintenanceRun, VectorIndexBuild
from graph.services import maintenance, vector_index
from graph.services.vector_index import (
    LISTS_MAX,
    LISTS_MIN,
    SAMPLE_QUERIES,
    index_state,
    vector_index_optimize,
    vector_index_plan,
    vector_index_recommend,
    vector_index_status,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ACTOR = "optimize_vector_index (test)"
SPEC_INDEXES = {
    "nodes": ("idx_nodes_embedding", 100),
    "external_resources": ("idx_external_resources_embedding", 50),
}
HEALTH_URL = reverse("admin:graph_vectorindexbuild_health")
REBUILD_URL = reverse("admin:graph_vectorindexbuild_rebuild")
RUNS_URL = reverse("admin:graph_vectorindexbuild_changelist")
transactional = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fewer_queries(monkeypatch):
    """Tests that run the optimiser several times measure 20 queries each (the default 50 is tested once)."""
    monkeypatch.setattr(vector_index, "SAMPLE_QUERIES", 20)


@pytest.fixture(autouse=True)
def spec_vector_indexes(request, migrated_data):
    """After the test: the spec's ``idx_nodes_embedding`` (ivfflat, lists=100) and
    ``idx_external_resources_embedding`` (lists=50), and no ``*_new`` left over.

    After a transactional test (whose DDL is not rolled back) the tables are emptied first and both indexes built
    again, as a fresh migration builds them: IVFFlat fixes its centroids at build time, and centroids computed
    from this test's random vectors would mislead the approximate searches of later tests. (The flush that
    follows a transactional test empties the tables anyway.)"""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction"))
    with connection.cursor() as cursor:
        if transactional:
            cursor.execute("TRUNCATE nodes, external_resources CASCADE")
        for table, (name, lists) in SPEC_INDEXES.items():
            cursor.execute(f"DROP INDEX IF EXISTS {name}_new")
            state = index_state(table)
            if not transactional and state.index_type == "ivfflat" and state.parameters == {"lists": lists} \
                    and state.valid:
                continue
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
            cursor.execute(f"CREATE INDEX {name} ON {table} USING ivfflat (embedding vector_cosine_ops) "
                           f"WITH (lists = {lists})")


def unit_vectors(count: int, seed: int) -> np.ndarray:
    """Random directions: a hard case for IVFFlat (no clusters), so a few probes miss neighbours."""
    vectors = np.random.default_rng(seed).standard_normal((count, 768)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def literals(vectors: np.ndarray) -> list[str]:
    return ["[" + ",".join(f"{x:.6g}" for x in row) + "]" for row in vectors]


def nodes_with_vectors(count: int, *, seed: int = 1, prefix: str = "v") -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO nodes (name, node_type, path, embedding) "
            "SELECT %s || i, 'concept', (%s || i)::ltree, e::vector "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS u(e, i)",
            [prefix, prefix, literals(unit_vectors(count, seed))])


def resources_with_vectors(count: int, *, seed: int = 2) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO external_resources (url, title, embedding) "
            "SELECT 'https://example.com/r' || i, 'resource ' || i, e::vector "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS u(e, i)", [literals(unit_vectors(count, seed))])


def index_recreate(table: str, lists: int) -> None:
    """Inside the test's transaction (rolled back after it): the table's index with ``lists`` lists."""
    name = SPEC_INDEXES[table][0]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {name}")
        cursor.execute(f"CREATE INDEX {name} ON {table} USING ivfflat (embedding vector_cosine_ops) "
                       f"WITH (lists = {lists})")


def audit(name: str) -> list[ConfigAuditLog]:
    """The changes of ``name`` made by anyone but the migrations (the test database's first rows)."""
    return list(ConfigAuditLog.objects.filter(parameter_name=name, old_value__isnull=False).order_by("log_id"))


@contextmanager
def nodes_locked_elsewhere():
    """Another session holds the nodes table's optimiser lock (as a running ``optimize_vector_index`` would).
    Unlocked explicitly: a closed connection's backend may release its locks a moment after the client has gone."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('kgsite.vector_index.nodes'))")
        try:
            yield
        finally:
            other.execute("SELECT pg_advisory_unlock(hashtext('kgsite.vector_index.nodes'))")


def database_state():
    with connection.cursor() as cursor:
        cursor.execute("SELECT string_agg(parameter_name || '=' || parameter_value, ',' ORDER BY parameter_name) "
                       "FROM system_config")
        config = cursor.fetchone()[0]
    return (config, ConfigAuditLog.objects.count(), config_version_current(), VectorIndexBuild.objects.count(),
            index_state("nodes").definition, index_state("external_resources").definition,
            index_state("nodes", "idx_nodes_embedding_new").exists)


# --- The recommendation --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rows", "lists", "probes"), [
    (0, 10, 3),
    (9_999, 10, 3),  # rows / 1000 below the minimum of 10
    (12_345, 12, 3),
    (100_000, 100, 10),
    (999_999, 999, 32),
    (1_000_000, 1_000, 32),  # the two formulas meet at 1M: 1M / 1000 = sqrt(1M)
    (1_000_001, 1_000, 32),  # sqrt beyond
    (4_000_000, 2_000, 45),
    (50_000_000, 7_071, 84),
    (10**9, 10_000, 100),  # sqrt(1e9) = 31,623, clamped to the parameter's maximum
])
def test_ivfflat_recommendation(rows, lists, probes):
    assert vector_index_recommend(rows=rows, index_type="ivfflat") == {
        "index_type": "ivfflat", "lists": lists, "probes": probes}


def test_the_lists_bounds_are_the_parameters_range():
    for name in ("ivfflat_lists_nodes", "ivfflat_lists_external_resources"):
        row = SystemConfig.objects.get(parameter_name=name)
        assert (int(row.min_value), int(row.max_value)) == (LISTS_MIN, LISTS_MAX)


def test_hnsw_recommendation_comes_from_configuration():
    config_set(name="hnsw_m", value="24", actor=ACTOR)
    assert vector_index_recommend(rows=5_000_000, index_type="hnsw") == {
        "index_type": "hnsw", "m": 24, "ef_construction": 64, "ef_search": 40}


@pytest.mark.parametrize(("rows", "index_type"), [(-1, "ivfflat"), (10, "btree"), (10, None), ("10", "ivfflat"),
                                                  (True, "ivfflat")])
def test_recommendation_refuses_bad_input(rows, index_type):
    with pytest.raises(GraphError) as excinfo:
        vector_index_recommend(rows=rows, index_type=index_type)
    assert excinfo.value.code == VECTOR_INDEX_BAD_OPTION


@pytest.mark.parametrize("call", [
    lambda: vector_index_optimize(table="relationships", actor=ACTOR),
    lambda: vector_index_optimize(table="nodes", index_type="btree", actor=ACTOR),
    lambda: vector_index_status(table="nodes; DROP TABLE nodes"),
])
def test_unknown_tables_and_types_are_refused(call):
    with pytest.raises(GraphError) as excinfo:
        call()
    assert excinfo.value.code == VECTOR_INDEX_BAD_OPTION


def test_hnsw_parameters_pgvector_cannot_build_are_refused():
    nodes_with_vectors(20)
    config_set(name="hnsw_m", value="48", actor=ACTOR)  # ef_construction 64 < 2 × 48
    with pytest.raises(GraphError) as excinfo:
        vector_index_plan(table="nodes", index_type="hnsw")
    assert excinfo.value.code == VECTOR_INDEX_BAD_OPTION and "at least twice hnsw_m" in excinfo.value.message


# --- The status ----------------------------------------------------------------------------------------------------

def test_status_of_a_new_database():
    status = vector_index_status(table="nodes")
    index = status.index
    assert (index.name, index.exists, index.index_type, index.parameters, index.valid) == (
        "idx_nodes_embedding", True, "ivfflat", {"lists": 100}, True)
    assert index.size_bytes > 0 and "USING ivfflat (embedding vector_cosine_ops)" in index.definition
    assert (status.rows.value, status.rows.exact) == (0, True)
    assert status.configured == {"lists": 100} and status.configured_type == "ivfflat"
    assert (status.search_parameter, status.search_value) == ("ivfflat_probes_nodes", 10)
    assert status.last_build is None and status.last_run is None and status.rows_at_last_build is None
    assert vector_index_status(table="external_resources").index.parameters == {"lists": 50}


def test_status_counts_rows_with_an_embedding_and_estimates_past_the_cap(monkeypatch):
    nodes_with_vectors(30)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO nodes (name, node_type, path) VALUES ('bare', 'concept', 'bare')")
    assert vector_index_status(table="nodes").rows.value == 30
    monkeypatch.setattr(vector_index, "STATUS_COUNT_CAP", 10)
    rows = vector_index_status(table="nodes").rows
    assert not rows.exact and rows.value >= 11 and str(rows).startswith("≈")
    assert vector_index_status(table="nodes", exact_rows=True).rows.value == 30


# --- The decisions -------------------------------------------------------------------------------------------------

def test_a_small_change_is_not_rebuilt_but_its_recall_is_measured():
    nodes_with_vectors(1_200)
    index_recreate("nodes", 10)
    config_set(name="ivfflat_lists_nodes", value="10", actor=ACTOR)
    config_set(name="vector_index_rebuild_threshold", value="1000", actor=ACTOR)
    VectorIndexBuild.objects.create(table_name="nodes", index_name="idx_nodes_embedding", index_type="ivfflat",
                                    parameters={"lists": 10}, outcome=VectorIndexOutcome.REBUILT, rows=1_150,
                                    started_at=timezone.now() - timedelta(days=1))
    before = index_state("nodes").definition

    build = vector_index_optimize(table="nodes", actor=ACTOR)

    assert build.pk and build.outcome == VectorIndexOutcome.UNCHANGED
    assert not build.plan.rebuild
    assert "a change of 0%, within vector_index_significant_change (25%)" in build.reason
    assert "rows changed by +50 since the last build (1,150 → 1,200 rows), within" in build.reason
    assert index_state("nodes").definition == before
    assert (build.rows, build.rows_at_last_build, build.build_seconds) == (1_200, 1_150, None)
    assert (build.index_type, build.parameters) == ("ivfflat", {"lists": 10})
    assert build.sample_queries == SAMPLE_QUERIES and 0 < build.recall_at_10 <= 1
    assert build.latency_ms_median > 0 and build.exact_latency_ms_median > 0
    assert build.search_parameters == {"probes": config_get("ivfflat_probes_nodes")}


def test_the_index_built_with_other_lists_than_configured_is_rebuilt():
    nodes_with_vectors(200)
    config_set(name="ivfflat_lists_nodes", value="10", actor=ACTOR)  # the index keeps the spec's 100
    plan = vector_index_plan(table="nodes")
    assert plan.rebuild
    assert "the index was built with lists=100 but the configuration says 10" in plan.reasons


def test_a_significant_change_of_lists_is_a_rebuild_and_a_small_one_is_not():
    nodes_with_vectors(200)
    config_set(name="ivfflat_lists_nodes", value="12", actor=ACTOR)
    index_recreate("nodes", 12)
    plan = vector_index_plan(table="nodes")  # 10 recommended vs 12: a change of 17%
    assert not plan.rebuild and plan.reasons == []
    config_set(name="vector_index_significant_change", value="0.1", actor=ACTOR)
    plan = vector_index_plan(table="nodes")
    assert plan.rebuild
    assert plan.reasons == ["recommended lists 10 for 200 rows vs configured 12: a change of 17%, more than "
                            "vector_index_significant_change (10%)"]
    assert plan.config_changes == {"ivfflat_lists_nodes": (12, 10), "ivfflat_probes_nodes": (10, 3)}


def test_an_empty_table_is_left_alone():
    before = index_state("nodes").definition
    build = vector_index_optimize(table="nodes", force=True, actor=ACTOR)
    assert build.outcome == VectorIndexOutcome.UNCHANGED and build.rows == 0
    assert build.reason.startswith("no rebuild: no rows with an embedding: nothing to index or measure")
    assert build.recall_at_10 is None and build.sample_queries is None
    assert index_state("nodes").definition == before
    assert not audit("ivfflat_lists_nodes")


def test_a_dry_run_changes_nothing():
    nodes_with_vectors(1_200)
    before = database_state()

    build = vector_index_optimize(table="nodes", dry_run=True, force=True, index_type="hnsw", actor=ACTOR)

    assert build.pk is None and build.outcome == VectorIndexOutcome.DRY_RUN
    assert build.plan.rebuild and build.reason.startswith("rebuild: forced; type change")
    assert build.plan.config_changes == {"vector_index_hnsw": ("false", "true")}
    assert database_state() == before


def test_a_rebuild_refuses_to_run_inside_a_transaction():
    nodes_with_vectors(100)
    before = database_state()
    with pytest.raises(TransactionManagementError):
        vector_index_optimize(table="nodes", force=True, actor=ACTOR)
    assert database_state() == before


def test_a_run_holding_the_tables_lock_refuses_another():
    nodes_with_vectors(20)
    with nodes_locked_elsewhere():
        with pytest.raises(GraphError) as excinfo:
            vector_index_optimize(table="nodes", actor=ACTOR)
        assert excinfo.value.code == VECTOR_INDEX_BUSY and "another optimiser run" in excinfo.value.message
        # The other table has its own lock.
        assert vector_index_optimize(table="external_resources", actor=ACTOR).outcome == "unchanged"
    assert VectorIndexBuild.objects.filter(table_name="nodes").count() == 0
    # Released: the next run goes ahead.
    assert vector_index_optimize(table="nodes", dry_run=True, actor=ACTOR).outcome == VectorIndexOutcome.DRY_RUN


# --- Rebuilds (autocommit) -----------------------------------------------------------------------------------------

@transactional
def test_the_first_run_resizes_the_spec_index_audits_the_configuration_and_records_the_run():
    nodes_with_vectors(1_200)

    build = vector_index_optimize(table="nodes", actor=ACTOR)

    state = index_state("nodes")
    assert (state.name, state.index_type, state.parameters, state.valid) == (
        "idx_nodes_embedding", "ivfflat", {"lists": 10}, True)
    assert not index_state("nodes", "idx_nodes_embedding_new").exists
    assert build.outcome == VectorIndexOutcome.REBUILT
    assert "recommended lists 10 for 1,200 rows vs configured 100: a change of 90%" in build.reason
    assert build.plan.checks == ["rows changed by +1,200 with no build recorded (1,200 rows vs nothing), within "
                                 "vector_index_rebuild_threshold (10,000)"]
    assert (build.table_name, build.index_name, build.index_type, build.parameters) == (
        "nodes", "idx_nodes_embedding", "ivfflat", {"lists": 10})
    assert (build.rows, build.rows_at_last_build, build.triggered_by) == (1_200, None, ACTOR)
    assert build.build_seconds > 0 and build.finished_at >= build.started_at
    assert build.sample_queries == SAMPLE_QUERIES
    assert build.recall_at_10 >= config_get("vector_index_target_recall")
    assert build.latency_ms_median > 0 and build.latency_ms_p95 >= build.latency_ms_median
    assert build.exact_latency_ms_median > 0 and build.exact_latency_ms_p95 >= build.exact_latency_ms_median
    assert build.search_parameters == {"probes": config_get("ivfflat_probes_nodes")}
    assert VectorIndexBuild.objects.get(pk=build.pk).recall_at_10 == build.recall_at_10

    (lists,) = audit("ivfflat_lists_nodes")
    assert (lists.old_value, lists.new_value, lists.updated_by) == ("100", "10", ACTOR)
    assert lists.reason.startswith("optimize_vector_index: nodes: rebuild: recommended lists 10")
    probes = audit("ivfflat_probes_nodes")
    assert (probes[0].old_value, probes[0].new_value, probes[0].updated_by) == ("10", "3", ACTOR)
    assert config_get("ivfflat_lists_nodes") == 10

    # Nothing changed since: the next run measures again and leaves the index alone.
    again = vector_index_optimize(table="nodes", actor=ACTOR)
    assert again.outcome == VectorIndexOutcome.UNCHANGED and again.rows_at_last_build == 1_200
    assert index_state("nodes").definition == state.definition


@transactional
def test_recall_below_the_target_raises_probes_step_by_step():
    nodes_with_vectors(1_200)
    config_set(name="vector_index_target_recall", value="1.0", actor=ACTOR)

    build = vector_index_optimize(table="nodes", actor=ACTOR)

    # probes 3 → 6 (→ 10, its bound: all ten lists, as good as exact) until recall@10 is 1.0.
    steps = [(row.old_value, row.new_value) for row in audit("ivfflat_probes_nodes")]
    assert steps in ([("10", "3"), ("3", "6")], [("10", "3"), ("3", "6"), ("6", "10")]), steps
    assert build.recall_at_10 == 1.0
    assert build.search_parameters == {"probes": int(steps[-1][1])} == {"probes": config_get("ivfflat_probes_nodes")}
    assert "below the target 1.00" in audit("ivfflat_probes_nodes")[1].reason
    assert build.tuning[0].startswith("probes 3 → 6 (recall@10 0.")
    assert "; probes 3 → 6 (recall@10 0." in build.reason


@transactional
def test_after_a_rebuild_a_setting_above_what_the_target_needs_is_lowered(fewer_queries):
    # Ten tight clusters far apart: the query's own list holds all its neighbours, so one probe is enough.
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((10, 768))
    vectors = np.repeat(centres, 120, axis=0) + 0.01 * rng.standard_normal((1_200, 768))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO nodes (name, node_type, path, embedding) SELECT 'c' || i, 'concept', "
                       "('c' || i)::ltree, e::vector FROM unnest(%s::text[]) WITH ORDINALITY AS u(e, i)",
                       [literals(vectors)])

    build = vector_index_optimize(table="nodes", actor=ACTOR)

    assert build.outcome == VectorIndexOutcome.REBUILT
    steps = [(row.old_value, row.new_value) for row in audit("ivfflat_probes_nodes")]
    assert steps[0] == ("10", "3") and steps[-1][1] == "1", steps  # sqrt(10 lists), then halved while it holds
    assert build.search_parameters == {"probes": 1} and build.recall_at_10 >= 0.96
    assert "still meets the target 0.95" in audit("ivfflat_probes_nodes")[-1].reason
    # Without a rebuild the setting is never lowered: the next run leaves it.
    again = vector_index_optimize(table="nodes", actor=ACTOR)
    assert again.outcome == VectorIndexOutcome.UNCHANGED and config_get("ivfflat_probes_nodes") == 1


@pytest.mark.slow
@transactional
def test_growth_past_the_threshold_rebuilds_and_a_small_growth_does_not(fewer_queries):
    config_set(name="vector_index_rebuild_threshold", value="1000", actor=ACTOR)
    nodes_with_vectors(1_200, seed=1, prefix="a")
    assert vector_index_optimize(table="nodes", actor=ACTOR).outcome == VectorIndexOutcome.REBUILT

    nodes_with_vectors(50, seed=2, prefix="b")
    small = vector_index_optimize(table="nodes", actor=ACTOR)
    assert small.outcome == VectorIndexOutcome.UNCHANGED
    assert "rows changed by +50 since the last build (1,200 → 1,250 rows), within" in small.reason

    nodes_with_vectors(1_001, seed=3, prefix="c")
    grown = vector_index_optimize(table="nodes", actor=ACTOR)
    assert grown.outcome == VectorIndexOutcome.REBUILT
    assert grown.plan.reasons == [
        "rows changed by +1,051 since the last build (1,200 → 2,251 rows), more than "
        "vector_index_rebuild_threshold (1,000): IVFFlat's centroids no longer fit the data"]
    assert (grown.rows, grown.rows_at_last_build) == (2_251, 1_200)
    assert index_state("nodes").parameters == {"lists": 10}


@pytest.mark.slow
@transactional
def test_a_type_change_builds_hnsw_under_the_spec_name_and_stores_the_choice(fewer_queries):
    nodes_with_vectors(1_200)
    resources_with_vectors(30)

    build = vector_index_optimize(table="nodes", index_type="hnsw", actor=ACTOR)

    state = index_state("nodes")
    assert (state.name, state.index_type, state.parameters, state.valid) == (
        "idx_nodes_embedding", "hnsw", {"m": 16, "ef_construction": 64}, True)
    assert "USING hnsw (embedding vector_cosine_ops) WITH (m='16', ef_construction='64')" in state.definition
    assert build.outcome == VectorIndexOutcome.REBUILT and build.index_type == "hnsw"
    assert "type change: the index is ivfflat, hnsw is asked for" in build.reason
    assert build.parameters == {"m": 16, "ef_construction": 64}
    assert build.search_parameters == {"ef_search": config_get("hnsw_ef_search")}
    assert build.recall_at_10 >= 0.95
    (choice,) = audit("vector_index_hnsw")
    assert (choice.old_value, choice.new_value, choice.updated_by) == ("false", "true", ACTOR)

    # The configuration now says HNSW: the next run (the worker's) keeps it, and converts the other table.
    assert vector_index_optimize(table="nodes", actor=ACTOR).outcome == VectorIndexOutcome.UNCHANGED
    other = vector_index_optimize(table="external_resources", actor=ACTOR)
    assert other.outcome == VectorIndexOutcome.REBUILT and index_state("external_resources").index_type == "hnsw"


@transactional
def test_a_failed_build_is_recorded_cleaned_up_and_repaired_by_the_next_run(monkeypatch):
    nodes_with_vectors(300)
    before = index_state("nodes").definition
    # A build that fails half-way leaves an INVALID index behind, as a real failed CREATE INDEX CONCURRENTLY does.
    monkeypatch.setattr(vector_index, "_index_ddl",
                        lambda **kw: f"CREATE UNIQUE INDEX CONCURRENTLY {kw['name']} ON nodes (node_type)")

    build = vector_index_optimize(table="nodes", actor=ACTOR)

    assert build.outcome == VectorIndexOutcome.FAILED and build.pk
    assert "the build failed: could not create unique index" in build.reason
    assert "dropped idx_nodes_embedding_new (INVALID)" in build.reason
    assert not index_state("nodes", "idx_nodes_embedding_new").exists
    assert index_state("nodes").definition == before  # the old index serves on
    assert build.recall_at_10 is None

    monkeypatch.undo()
    repaired = vector_index_optimize(table="nodes", actor=ACTOR)
    assert repaired.outcome == VectorIndexOutcome.REBUILT
    assert "the index was built with lists=100 but the configuration says 10" in repaired.reason
    assert index_state("nodes").parameters == {"lists": 10}


@transactional
def test_an_interrupted_swap_is_finished_and_a_leftover_build_dropped(fewer_queries):
    nodes_with_vectors(300)
    with connection.cursor() as cursor:  # as if a run died between DROP INDEX and the rename
        cursor.execute("CREATE INDEX idx_nodes_embedding_new ON nodes USING ivfflat (embedding vector_cosine_ops) "
                       "WITH (lists = 10)")
        cursor.execute("DROP INDEX idx_nodes_embedding")
    config_set(name="ivfflat_lists_nodes", value="10", actor=ACTOR)
    finished = vector_index_optimize(table="nodes", actor=ACTOR)
    assert finished.reason.startswith("finished an interrupted swap (idx_nodes_embedding_new renamed to "
                                      "idx_nodes_embedding)")
    assert index_state("nodes").parameters == {"lists": 10}

    with connection.cursor() as cursor:  # a build beside a healthy index, as if a run died while building
        cursor.execute("CREATE INDEX idx_nodes_embedding_new ON nodes USING ivfflat (embedding vector_cosine_ops) "
                       "WITH (lists = 20)")
    dropped = vector_index_optimize(table="nodes", actor=ACTOR)
    assert dropped.reason.startswith("dropped idx_nodes_embedding_new, left by an interrupted or failed build")
    assert not index_state("nodes", "idx_nodes_embedding_new").exists


# --- The command ---------------------------------------------------------------------------------------------------

def test_the_command_dry_run_prints_the_plan_of_both_tables():
    nodes_with_vectors(1_200)
    before = database_state()
    out = io.StringIO()
    call_command("optimize_vector_index", "--dry-run", stdout=out)
    text = out.getvalue()
    assert database_state() == before
    for expected in ("nodes (idx_nodes_embedding)", "  rows with an embedding: 1,200 (no build recorded)",
                     "  index now: ivfflat lists=100, ", "; ivfflat_probes_nodes = 10",
                     "  recommended: ivfflat lists=10, probes=3",
                     "  decision: rebuild: recommended lists 10 for 1,200 rows vs configured 100",
                     "  would set ivfflat_lists_nodes: 100 → 10", "  would set ivfflat_probes_nodes: 10 → 3",
                     "external_resources (idx_external_resources_embedding)",
                     "  decision: no rebuild: no rows with an embedding",
                     "  dry run: nothing was changed or recorded"):
        assert expected in text, (expected, text)


@transactional
def test_the_command_rebuilds_and_reports_recall_and_latency():
    nodes_with_vectors(1_200)
    out = io.StringIO()
    call_command("optimize_vector_index", "--table", "nodes", stdout=out)
    text = out.getvalue()
    assert "external_resources" not in text
    for expected in ("  set ivfflat_lists_nodes: 100 → 10", "  rebuilt in ", ": ivfflat lists=10",
                     f"  recall@10: {VectorIndexBuild.objects.get().recall_at_10:.3f} over 50 queries with probes=",
                     "(target 0.95)", "  latency: approximate median ", "; exact median ", "× faster)"):
        assert expected in text, (expected, text)
    assert VectorIndexBuild.objects.get().triggered_by.startswith("manage.py")


def run_command(monkeypatch, capsys, *args) -> tuple[int, str]:
    monkeypatch.setattr(connections, "close_all", lambda: None)  # keep the test's connection
    with pytest.raises(SystemExit) as excinfo:
        ManagementUtility(["manage.py", "optimize_vector_index", *args]).execute()
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return excinfo.value.code, err


@pytest.mark.parametrize("args", [("--table", "relationships"), ("--type", "btree"), ("--table",), ("extra",),
                                  ("--dry-run=yes",)])
def test_the_command_refuses_bad_arguments(monkeypatch, capsys, args):
    before = database_state()
    code, err = run_command(monkeypatch, capsys, *args)
    assert code == 2 and "RG-CMD-001: " in err, err
    assert database_state() == before


def test_the_command_says_when_another_run_holds_the_lock(monkeypatch, capsys):
    with nodes_locked_elsewhere():
        code, err = run_command(monkeypatch, capsys, "--table", "nodes")
    assert code == 1 and err.startswith("RG-VIDX-002: another optimiser run is working on nodes"), err


# --- The worker ----------------------------------------------------------------------------------------------------

def vector_job():
    (job,) = [job for job in maintenance.JOBS if job.name == "optimize_vector_index"]
    return job


def test_the_worker_checks_every_vector_index_check_interval_hours():
    job = vector_job()
    assert job.due(None)
    recent = MaintenanceRun(job=job.name, last_started_at=timezone.now() - timedelta(hours=23))
    assert not job.due(recent)
    assert job.due(MaintenanceRun(job=job.name, last_started_at=timezone.now() - timedelta(hours=25)))
    config_set(name="vector_index_check_interval_hours", value="12", actor=ACTOR)
    assert job.due(recent)


@transactional
def test_the_worker_runs_both_tables_as_itself(fewer_queries):
    nodes_with_vectors(1_200)
    outcome = maintenance.maintenance_job_run(vector_job(), worker="worker-1:42")
    assert outcome.ran and outcome.succeeded, outcome
    assert outcome.result.startswith("nodes: rebuilt (ivfflat lists=10), recall@10 ")
    assert "; external_resources: no rebuild needed (ivfflat lists=50)" in outcome.result
    assert set(VectorIndexBuild.objects.values_list("triggered_by", flat=True)) == {"run_worker worker-1:42"}
    assert audit("ivfflat_lists_nodes")[0].updated_by == "run_worker worker-1:42"
    assert not vector_job().due(MaintenanceRun.objects.get(job="optimize_vector_index"))


@transactional
def test_a_failed_rebuild_makes_the_workers_run_a_failure(monkeypatch):
    nodes_with_vectors(300)
    monkeypatch.setattr(vector_index, "_index_ddl",
                        lambda **kw: f"CREATE UNIQUE INDEX CONCURRENTLY {kw['name']} ON nodes (node_type)")
    outcome = maintenance.maintenance_job_run(vector_job(), worker="worker-1:42")
    assert outcome.ran and outcome.succeeded is False
    assert outcome.result.startswith("RG-VIDX-003: FAILED nodes: ")
    assert "external_resources: " in outcome.result  # the other table was still looked at
    run = MaintenanceRun.objects.get(job="optimize_vector_index")
    assert run.last_succeeded is False and "RG-VIDX-003" in run.last_result


def test_the_worker_skips_a_table_another_run_holds():
    with nodes_locked_elsewhere():
        result = vector_job().run("worker-1:42")
    assert result.startswith("nodes: skipped, another optimiser run is working on nodes")
    assert "external_resources: no rebuild needed" in result


# --- The admin -----------------------------------------------------------------------------------------------------

def test_index_health_for_a_superuser_has_a_rebuild_button_per_index(admin_client_for):
    nodes_with_vectors(40)
    VectorIndexBuild.objects.create(
        table_name="nodes", index_name="idx_nodes_embedding", index_type="ivfflat", parameters={"lists": 100},
        search_parameters={"probes": 10}, outcome=VectorIndexOutcome.UNCHANGED, rows=40, sample_queries=40,
        recall_at_10=0.5, latency_ms_median=1.5, latency_ms_p95=2.5, exact_latency_ms_median=6.0,
        reason="no rebuild: <b>tested</b>", triggered_by="someone")
    response = admin_client_for.get(HEALTH_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('type="submit" class="button">Rebuild now</button>') == 2
    assert page.count('name="csrfmiddlewaretoken"') >= 2
    assert 'name="table" value="nodes"' in page and 'name="table" value="external_resources"' in page
    for expected in ("<code>idx_nodes_embedding</code> on nodes", "ivfflat lists=100", ">valid<",
                     "40 now;", "no build recorded", "ivfflat lists=100; target recall 0.95",
                     "<code>ivfflat_probes_nodes</code> = 10", "(ivfflat.probes of every search)",
                     "<strong>0.500</strong>", "below the target", "with probes=10 over 40 queries",
                     "median 1.5 ms, p95 2.5 ms", "median 6.0 ms (the index is 4.0× faster)",
                     "by someone", "no rebuild: &lt;b&gt;tested&lt;/b&gt;", "not measured yet",
                     "well under a second", "python manage.py optimize_vector_index"):
        assert expected in page, expected


def test_index_health_without_superuser_has_no_button_and_a_post_is_refused(client):
    staff = UserFactory(staff=True, permissions=["graph.view_vectorindexbuild"])
    client.force_login(staff)
    response = client.get(HEALTH_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Rebuild now</button>" not in page and "Only superusers can rebuild" in page
    before = database_state()
    assert client.post(REBUILD_URL, {"table": "nodes"}).status_code == 403
    assert database_state() == before


def test_index_health_needs_the_view_permission(client):
    client.force_login(UserFactory(staff=True))
    assert client.get(HEALTH_URL).status_code == 403
    assert client.post(REBUILD_URL, {"table": "nodes"}).status_code == 403


def test_rebuild_now_answers_post_only_and_knows_its_tables(admin_client_for):
    assert admin_client_for.get(REBUILD_URL).status_code == 405
    assert admin_client_for.post(REBUILD_URL, {"table": "relationships"}).status_code == 400
    assert admin_client_for.post(REBUILD_URL, {}).status_code == 400
    assert VectorIndexBuild.objects.count() == 0


@transactional
def test_rebuild_now_runs_the_optimiser_with_force(client, superuser):
    nodes_with_vectors(200)
    client.force_login(superuser)
    response = client.post(REBUILD_URL, {"table": "nodes"}, follow=True)
    assert response.redirect_chain == [(HEALTH_URL, 302)]
    build = VectorIndexBuild.objects.get()
    assert (build.outcome, build.triggered_by) == (VectorIndexOutcome.REBUILT, superuser.email)
    assert build.reason.startswith("rebuild: forced")
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("Rebuilt idx_nodes_embedding in ") and "recall@10" in message
    # An empty table: nothing to rebuild, and the page says why.
    response = client.post(REBUILD_URL, {"table": "external_resources"}, follow=True)
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("Not rebuilt: no rebuild: no rows with an embedding")


def test_rebuild_now_when_another_run_holds_the_lock(admin_client_for):
    with nodes_locked_elsewhere():
        response = admin_client_for.post(REBUILD_URL, {"table": "nodes"}, follow=True)
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("Not rebuilt: another optimiser run is working on nodes") and "RG-VIDX-002" in message


def test_the_runs_list_is_read_only_and_leads_to_index_health(admin_client_for):
    build = VectorIndexBuild.objects.create(
        table_name="nodes", index_name="idx_nodes_embedding", index_type="ivfflat", parameters={"lists": 10},
        search_parameters={"probes": 3}, outcome=VectorIndexOutcome.REBUILT, rows=1_200, build_seconds=0.25,
        recall_at_10=0.97, latency_ms_median=0.8, latency_ms_p95=1.2, exact_latency_ms_median=4.0,
        triggered_by="manage.py (test)")
    response = admin_client_for.get(RUNS_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="{HEALTH_URL}"' in page and "Index health" in page
    for expected in ('<td class="field-table_name">Nodes</td>', "IVFFlat lists=10", "0.970 (probes=3)",
                     "0.8 ms / 1.2 ms (4.0 ms)", "0.25 s",
                     "<code>idx_nodes_embedding</code>: ivfflat lists=100"):
        assert expected in page, expected
    assert reverse("admin:graph_vectorindexbuild_add") not in page
    change = admin_client_for.get(reverse("admin:graph_vectorindexbuild_change", args=[build.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()


def test_the_page_says_what_the_worker_did_last():
    MaintenanceRun.objects.create(job="optimize_vector_index", last_started_at=timezone.now(),
                                  last_worker="worker-9:1", last_succeeded=True, last_result="ok", runs=1)
    client = _superuser_client()
    page = client.get(HEALTH_URL).content.decode()
    assert "the worker last checked" in page and "(worker-9:1)" in page and "every 24 hours" in page


def _superuser_client():
    from django.test import Client

    client = Client()
    client.force_login(UserFactory(superuser=True))
    return client


def test_command_output_goes_to_stdout_only(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["manage.py"])
    call_command("optimize_vector_index", "--dry-run", "--table", "external_resources")
    out, err = capsys.readouterr()
    assert out.startswith("external_resources (idx_external_resources_embedding)") and err == ""
