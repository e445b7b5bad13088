"""The five materialized views: rows on a hand-checked graph (plain and concurrent refresh), the rankings against the
spec's own definition, the similarity cache against an exact computation, the refresh record and the due logic,
the SQL function called as the spec calls it, the command and the admin's header."""

from __future__ import annotations

import importlib
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from config_admin.services import config_set
from graph.errors import UNKNOWN_VIEW, GraphError
from graph.models import (
    EmbeddingSimilarityCache,
    GraphConnectivityStats,
    MaterializedViewRefresh,
    Node,
    NodeConfidenceCache,
    PopularEntityRanking,
    Relationship,
    RelationshipStrengthMatrix,
)
from graph.services.matviews import MATERIALIZED_VIEWS, materialized_views_due, materialized_views_refresh
from tests.factories import (
    ExternalResourceFactory,
    NodeAttributeFactory,
    NodeFactory,
    NodeResourceLinkFactory,
    RelationshipFactory,
)

pytestmark = pytest.mark.django_db


def unit(*values):
    vector = np.zeros(768, dtype=np.float32)
    vector[:len(values)] = values
    return vector / np.linalg.norm(vector)


def rows(cursor_sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(cursor_sql, params)
        return cursor.fetchall()


@pytest.fixture
def small_graph():
    """A, B, C with embeddings (A–B at cosine distance 0.2, B–C at 0.4, A–C at 1.0), D without; four
    relationships; A linked to two resources (one of them twice). The IVFFlat index was built on the test
    database's empty table, so the similarity refresh searches all its lists."""
    config_set(name="similarity_cache_probes", value="100")
    a = NodeFactory(label="a", node_type="person", embedding=unit(1, 0))
    b = NodeFactory(label="b", node_type="language", embedding=unit(0.8, 0.6))
    c = NodeFactory(label="c", node_type="language", embedding=unit(0, 1))
    d = NodeFactory(label="d", node_type="person")
    NodeAttributeFactory(node=a, confidence=Decimal("1"), source_reliability=Decimal("1"))  # A scores 0.75
    for source, target, kind, strength in ((a, b, "x", "0.5"), (a, c, "y", "1"), (b, c, "x", "1"), (c, a, "x", "1")):
        RelationshipFactory(source_node=source, target_node=target, relationship_type=kind,
                            strength=Decimal(strength), stated_confidence=Decimal("0.8"))
    first, second = ExternalResourceFactory(), ExternalResourceFactory()
    NodeResourceLinkFactory(node=a, resource=first, link_type="mentions")
    NodeResourceLinkFactory(node=a, resource=first, link_type="source")
    NodeResourceLinkFactory(node=a, resource=second)
    return {"a": a, "b": b, "c": c, "d": d}


@pytest.mark.parametrize("concurrently", [False, True])
def test_every_view_holds_the_hand_checked_rows(small_graph, concurrently):
    materialized_views_refresh()  # populated first: a concurrent refresh needs a populated view
    results = materialized_views_refresh(concurrently=concurrently)
    assert [r.view_name for r in results] == list(MATERIALIZED_VIEWS) and all(r.refreshed for r in results)
    a, b, c, d = (small_graph[k] for k in "abcd")
    ids = {a.pk: "a", b.pk: "b", c.pk: "c", d.pk: "d"}

    confidence = {ids[row.node_id]: (row.confidence_score, row.confidence_tier)
                  for row in NodeConfidenceCache.objects.filter(node_id__in=ids)}
    assert confidence == {"a": (Decimal("0.7500"), "medium"), "b": (Decimal("0.5000"), "medium"),
                          "c": (Decimal("0.5000"), "medium"), "d": (Decimal("0.5000"), "medium")}

    scores = {(ids[r.source_node_id], ids[r.target_node_id]): r.confidence_score
              for r in Relationship.objects.filter(source_node__in=ids)}
    assert scores[("a", "b")] == Decimal("0.6449")  # 0.8 × (0.5 + 0.5 × √(0.75 × 0.5))
    matrix = {(ids[r.source_node_id], ids[r.target_node_id], r.relationship_type): r.weighted_strength
              for r in RelationshipStrengthMatrix.objects.filter(source_node_id__in=ids)}
    assert matrix == {("a", "b", "x"): Decimal("0.32245"), ("a", "c", "y"): Decimal("0.6449"),
                      ("b", "c", "x"): Decimal("0.6000"), ("c", "a", "x"): Decimal("0.6449")}

    stats = {row.node_type: row for row in GraphConnectivityStats.objects.filter(node_type__in=["person", "language"])}
    assert (stats["person"].node_count, stats["person"].outgoing_relationships,
            stats["person"].incoming_relationships) == (2, 2, 1)
    assert (stats["language"].node_count, stats["language"].outgoing_relationships,
            stats["language"].incoming_relationships) == (2, 2, 3)

    rankings = {ids[r.node_id]: (r.outgoing_relationship_count, r.incoming_relationship_count,
                                 r.total_relationship_count, r.linked_resource_count, r.avg_relationship_confidence)
                for r in PopularEntityRanking.objects.filter(node_id__in=ids)}
    assert set(rankings) == {"a", "b", "c"}  # d has no relationship
    assert rankings["a"][:4] == (2, 1, 3, 2)  # two distinct resources, one linked twice
    assert rankings["b"][:4] == (1, 1, 2, 0) and rankings["c"][:4] == (1, 2, 3, 0)
    # the mean of a's three relationships (a→b, a→c, c→a), each once
    assert rankings["a"][4] == pytest.approx(Decimal("0.6449"))
    assert rankings["b"][4] == pytest.approx((scores[("a", "b")] + scores[("b", "c")]) / 2)

    pairs = {(ids[r.source_node_id], ids[r.target_node_id]): r.similarity_distance
             for r in EmbeddingSimilarityCache.objects.filter(source_node_id__in=ids)}
    assert set(pairs) == {("a", "b"), ("b", "c")}  # a–c is 1.0 apart, beyond the cut-off; d has no embedding
    assert pairs[("a", "b")] == pytest.approx(0.2, abs=1e-6) and pairs[("b", "c")] == pytest.approx(0.4, abs=1e-6)

    record = MaterializedViewRefresh.objects.get(view_name="mv_popular_entity_rankings")
    assert record.row_count == PopularEntityRanking.objects.count() and record.refreshed_concurrently is concurrently


def test_rankings_count_what_the_spec_definition_counts():
    from graph.services.generator import graph_generate

    graph_generate(nodes=400, seed=5)
    spec = importlib.import_module("graph.migrations.0011_scalable_views").SPEC_RANKINGS
    definition = spec[spec.index(" AS\n") + 4:spec.index(";")]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP VIEW spec_rankings AS {definition}")
    materialized_views_refresh(["mv_popular_entity_rankings"])
    columns = "node_id, outgoing_relationship_count, incoming_relationship_count, total_relationship_count, " \
              "linked_resource_count"
    ours = rows(f"SELECT {columns} FROM mv_popular_entity_rankings ORDER BY node_id")
    theirs = rows(f"SELECT {columns} FROM spec_rankings ORDER BY node_id")
    assert len(ours) > 300 and ours == theirs
    assert any(row[4] > 0 for row in ours) and any(row[1] > 5 for row in ours)


def test_similarity_cache_holds_each_nodes_nearest_pairs():
    from graph.services.generator import graph_generate

    graph_generate(nodes=300, seed=9)
    config_set(name="similarity_cache_probes", value="100")  # every list searched: the index finds the exact top-k
    config_set(name="similarity_cache_neighbours", value="5")
    config_set(name="similarity_cache_max_distance", value="0.8")
    materialized_views_refresh(["mv_embedding_similarity_cache"])
    nodes = list(Node.objects.exclude(embedding=None).values_list("node_id", "embedding"))
    ids = np.array([node_id for node_id, _ in nodes])
    vectors = np.array([np.asarray(embedding, dtype=np.float64) for _, embedding in nodes])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    distances = 1 - vectors @ vectors.T
    np.fill_diagonal(distances, np.inf)
    expected = set()
    for i in range(len(ids)):
        for j in np.argsort(distances[i])[:5]:
            if distances[i, j] < 0.8:
                expected.add((min(ids[i], ids[j]), max(ids[i], ids[j])))
    ours = set(EmbeddingSimilarityCache.objects.values_list("source_node_id", "target_node_id"))
    assert len(expected) > 100
    assert ours == expected


def test_the_spec_calls_the_refresh_function_with_no_arguments():
    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_materialized_views()")
    assert set(MaterializedViewRefresh.objects.values_list("view_name", flat=True)) == set(MATERIALIZED_VIEWS)
    with pytest.raises(Exception, match="RG-VIEW-001"), connection.cursor() as cursor:
        cursor.execute("SELECT refresh_materialized_views(ARRAY['mv_nope'])")


def test_unknown_views_are_refused_before_any_refresh():
    with pytest.raises(GraphError) as excinfo:
        materialized_views_refresh(["mv_node_confidence_cache", "mv_nope"])
    assert excinfo.value.code == UNKNOWN_VIEW
    assert not MaterializedViewRefresh.objects.exists()


def test_due_logic():
    config_set(name="mv_incremental_threshold", value="100")
    config_set(name="mv_refresh_interval_hours", value="24")
    assert set(materialized_views_due().values()) == {"never refreshed"}
    materialized_views_refresh()
    assert set(materialized_views_due().values()) == {None}

    NodeResourceLinkFactory.create_batch(60)  # 60 links, 60 resources, 60 nodes: below the threshold for most views
    due = materialized_views_due()
    assert due["mv_popular_entity_rankings"].startswith("120 rows of its tables written")  # nodes and links
    assert due["mv_node_confidence_cache"] is None  # 60 node rows only
    Node.objects.bulk_create(NodeFactory.build_batch(40))
    assert materialized_views_due()["mv_node_confidence_cache"].startswith("100 rows of its tables written")

    results = {r.view_name: r for r in materialized_views_refresh(due_only=True)}
    assert {name for name, r in results.items() if r.refreshed} == set(MATERIALIZED_VIEWS)
    assert set(materialized_views_due().values()) == {None}
    assert not any(r.refreshed for r in materialized_views_refresh(due_only=True))

    MaterializedViewRefresh.objects.filter(view_name="mv_graph_connectivity_stats").update(
        refreshed_at=MaterializedViewRefresh.objects.get(view_name="mv_graph_connectivity_stats").refreshed_at
        - timedelta(hours=25))
    assert materialized_views_due()["mv_graph_connectivity_stats"] == "last refreshed more than 24 hours ago"
    MaterializedViewRefresh.objects.filter(view_name="mv_node_confidence_cache").update(base_changes=10**15)
    assert materialized_views_due()["mv_node_confidence_cache"] == "the statistics were reset since the last refresh"
    refreshed = [r.view_name for r in materialized_views_refresh(due_only=True) if r.refreshed]
    assert refreshed == ["mv_node_confidence_cache", "mv_graph_connectivity_stats"]


def test_the_command_reports_each_view():
    out = StringIO()
    call_command("refresh_views", "--only", "mv_node_confidence_cache", "mv_graph_connectivity_stats", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("mv_node_confidence_cache: refreshed in ")
    assert "rows (never refreshed)" in lines[0]
    out = StringIO()
    call_command("refresh_views", "--due", "--concurrently", stdout=out)
    assert "mv_node_confidence_cache: skipped, not due" in out.getvalue()
    assert "mv_popular_entity_rankings: refreshed in " in out.getvalue()


def test_the_admin_header_says_rows_and_whether_a_refresh_is_due(admin_client_for, small_graph):
    url = reverse("admin:graph_popularentityranking_changelist")
    assert "Due for a refresh: never refreshed." in admin_client_for.get(url).content.decode()
    response = admin_client_for.post(reverse("admin:graph_popularentityranking_refresh"), follow=True)
    html = response.content.decode()
    assert "3 rows." in html and "Not due for a refresh." in html
