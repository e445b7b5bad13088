"""The similarity cache's lookups since graph.0012: the view's own query picks the IVFFlat index, the refresh's
iterative scan gives every node its k neighbours even where the probed list is nearly empty, and the refresh's
pgvector settings end with the call. (Rows, due logic, command and admin: tests/graph/test_views.py.)"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from django.db import connection

from config_admin.services import config_set
from graph.models import Node
from graph.services.matviews import materialized_views_refresh
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db

NEIGHBOURS = 5


def scattered_nodes(count: int, seed: int) -> list[int]:
    """Nodes with random 768-d directions: nearly orthogonal to each other, spread over the IVFFlat lists."""
    vectors = np.random.default_rng(seed).standard_normal((count, 768)).astype(np.float32)
    nodes = Node.objects.bulk_create(NodeFactory.build_batch(count))
    for node, vector in zip(nodes, vectors):
        node.embedding = vector / np.linalg.norm(vector)
    Node.objects.bulk_update(nodes, ["embedding"])
    return [node.node_id for node in nodes]


def pairs_per_node() -> Counter:
    with connection.cursor() as cursor:
        cursor.execute("SELECT source_node_id, target_node_id FROM mv_embedding_similarity_cache")
        return Counter(node for pair in cursor.fetchall() for node in pair)


@pytest.fixture
def one_list_per_lookup():
    """k = 5, every pair under the cut-off, one IVFFlat list per lookup, and the index forced: the test database's
    index was built over an empty table, so 40 nodes end up a few per list."""
    config_set(name="similarity_cache_neighbours", value=str(NEIGHBOURS))
    config_set(name="similarity_cache_max_distance", value="2")
    config_set(name="similarity_cache_probes", value="1")
    ids = scattered_nodes(40, seed=3)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # 40 rows: the planner would rather sort them all
    return ids


def test_every_node_gets_its_k_neighbours_through_the_iterative_scan(one_list_per_lookup):
    materialized_views_refresh(["mv_embedding_similarity_cache"])
    counts = pairs_per_node()
    # Each node's own lookup gives k pairs with it in them (others' lookups may add more).
    assert all(counts[node_id] >= NEIGHBOURS for node_id in one_list_per_lookup), counts


def test_without_the_iterative_scan_one_list_is_not_enough(one_list_per_lookup):
    """The control: the same refresh with pgvector's defaults (what a plain REFRESH in a session gets)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL ivfflat.probes = 1")
        cursor.execute("SET LOCAL ivfflat.iterative_scan = off")
        cursor.execute("REFRESH MATERIALIZED VIEW mv_embedding_similarity_cache")
    counts = pairs_per_node()
    assert any(counts[node_id] < NEIGHBOURS for node_id in one_list_per_lookup), counts


def test_the_refresh_keeps_its_settings_to_itself(one_list_per_lookup):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL ivfflat.probes = 7")
        cursor.execute("SELECT count(*) FROM refresh_materialized_views(ARRAY['mv_embedding_similarity_cache'])")
        cursor.execute("SELECT current_setting('ivfflat.probes'), current_setting('ivfflat.iterative_scan'), "
                       "current_setting('enable_seqscan')")
        assert cursor.fetchone() == ("7", "off", "off")


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


def test_the_views_own_query_looks_neighbours_up_through_the_index():
    """No setting needed: with k read from system_config the planner would take the limit for 10% of the table
    and sort every node's distances instead (the spec's quadratic cost)."""
    scattered_nodes(3000, seed=4)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE nodes")
        cursor.execute("SELECT definition FROM pg_matviews WHERE matviewname = 'mv_embedding_similarity_cache'")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {cursor.fetchone()[0].rstrip().rstrip(';')}")
        document = cursor.fetchone()[0]
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    lookups = [node for node in plan_nodes(plan) if node.get("Alias") == "n2"]
    assert [(node["Node Type"], node.get("Index Name")) for node in lookups] == [
        ("Index Scan", "idx_nodes_embedding")]


def test_pg_prewarm_is_there_for_the_refresh_to_load_the_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_prewarm'")
        assert cursor.fetchone()[0] == 1


def test_due_says_why_a_view_is_skipped():
    from io import StringIO

    from django.core.management import call_command

    config_set(name="mv_incremental_threshold", value="100")
    config_set(name="mv_refresh_interval_hours", value="12")
    materialized_views_refresh(["mv_node_confidence_cache"])
    Node.objects.bulk_create(NodeFactory.build_batch(7))
    out = StringIO()
    call_command("refresh_views", "--due", "--only", "mv_node_confidence_cache", stdout=out)
    assert out.getvalue() == ("mv_node_confidence_cache: skipped, not due: 7 of 100 rows of its tables written since "
                              "the last refresh, refreshed 0 h ago (every 12 h)\n")


def test_an_unpopulated_view_is_due_listed_empty_and_filled_by_refresh_views(admin_client_for):
    from io import StringIO

    from django.core.management import call_command
    from django.urls import reverse

    config_set(name="similarity_cache_max_distance", value="2")  # random directions are about 1 apart
    scattered_nodes(4, seed=5)
    materialized_views_refresh()
    with connection.cursor() as cursor:
        # What graph.0012 leaves on a large graph (and any CREATE ... WITH NO DATA).
        cursor.execute("REFRESH MATERIALIZED VIEW mv_embedding_similarity_cache WITH NO DATA")
        cursor.execute("REFRESH MATERIALIZED VIEW mv_relationship_strength_matrix WITH NO DATA")  # it has a filter
    from graph.services.matviews import materialized_views_due

    assert materialized_views_due()["mv_embedding_similarity_cache"] == "not populated"
    for model in ("embeddingsimilaritycache", "relationshipstrengthmatrix"):
        page = admin_client_for.get(reverse(f"admin:graph_{model}_changelist"), {"q": "node"})
        assert page.status_code == 200
        assert "Not populated: the view was created or redefined without its rows" in page.content.decode()
    out = StringIO()
    call_command("refresh_views", "--due", "--only", "mv_embedding_similarity_cache", stdout=out)
    assert "rows (not populated)" in out.getvalue()
    page = admin_client_for.get(reverse("admin:graph_embeddingsimilaritycache_changelist")).content.decode()
    assert "Not populated" not in page
    assert "6 embedding similarity cache (view)" in page  # 4 nodes: all 6 pairs


def test_graph_0012_leaves_the_view_of_a_large_graph_unpopulated():
    import importlib

    migration = importlib.import_module("graph.migrations.0012_similarity_cache_through_the_index")
    scattered_nodes(3, seed=6)
    materialized_views_refresh(["mv_embedding_similarity_cache"])
    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW mv_embedding_similarity_cache WITH NO DATA")
        cursor.execute(migration.FILL_SQL.replace(f"> {migration.FILL_LIMIT}", "> 2"))  # 3 nodes is "large"
        cursor.execute("SELECT ispopulated FROM pg_matviews WHERE matviewname = 'mv_embedding_similarity_cache'")
        assert cursor.fetchone()[0] is False
        cursor.execute(migration.FILL_SQL)  # 3 nodes under the real limit: filled
        cursor.execute("SELECT ispopulated FROM pg_matviews WHERE matviewname = 'mv_embedding_similarity_cache'")
        assert cursor.fetchone()[0] is True
    from graph.models import MaterializedViewRefresh

    assert not MaterializedViewRefresh.objects.filter(view_name="mv_embedding_similarity_cache").exists()


def test_the_admin_does_not_refresh_a_large_similarity_cache_inside_a_request(admin_client_for, monkeypatch):
    """Above REQUEST_REFRESH_LIMIT nodes with an embedding the refresh takes minutes (beyond gunicorn's timeout): the
    page names the command instead of a button, and a POST is refused with RG-VIEW-002, leaving the view as it was.
    The other views still refresh from the page."""
    from django.urls import reverse

    from graph.models import MaterializedViewRefresh
    from graph.services import matviews

    config_set(name="similarity_cache_max_distance", value="2")
    scattered_nodes(3, seed=7)
    monkeypatch.setattr(matviews, "REQUEST_REFRESH_LIMIT", 3)
    url = reverse("admin:graph_embeddingsimilaritycache_changelist")
    assert "Refresh now" in admin_client_for.get(url).content.decode()  # 3 nodes: not over the limit
    scattered_nodes(1, seed=8)
    page = admin_client_for.get(url).content.decode()
    assert "Refresh now" not in page
    assert "python manage.py refresh_views --only mv_embedding_similarity_cache" in page
    response = admin_client_for.post(reverse("admin:graph_embeddingsimilaritycache_refresh"), follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "Not refreshed:" in html and "(RG-VIEW-002)" in html
    assert not MaterializedViewRefresh.objects.filter(view_name="mv_embedding_similarity_cache").exists()
    ranking = admin_client_for.post(reverse("admin:graph_popularentityranking_refresh"), follow=True)
    assert "Refreshed popular entity rankings" in ranking.content.decode()
    # Commands are not web requests: refresh_views refreshes it whatever its size.
    assert materialized_views_refresh(["mv_embedding_similarity_cache"])[0].row_count == 6
