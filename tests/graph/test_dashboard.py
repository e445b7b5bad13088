"""The dashboard's sections beyond the counts (``/``): the confidence distribution and tiers (exact, and estimated
from PostgreSQL's statistics above the cap), the inference queue, the materialized views' freshness, the vector
indexes, the configuration that needs a look, and a query count that does not grow with the graph."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config_admin.models import SystemConfig
from config_admin.selectors import config_get
from config_admin.services import config_set
from graph.models import EmbeddingQueueItem, MaterializedViewRefresh, Node, VectorIndexBuild
from graph.selectors import dashboard as dashboard_module
from graph.selectors import inference as inference_module
from graph.selectors import overview as overview_module
from graph.selectors.dashboard import confidence_estimated, confidence_exact, confidence_from_statistics
from graph.services.matviews import materialized_views_refresh
from tests.factories import InferenceQueueItemFactory, NodeFactory, UserFactory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
# Boundary scores: each tier's lower edge (0.5, 0.8) belongs to it, as in the spec's mv_node_confidence_cache.
SCORES = ["0.0000", "0.1000", "0.4999", "0.5000", "0.5000", "0.7999", "0.8000", "0.9500", "1.0000", None]
EXPECTED_BINS = [1, 1, 0, 0, 1, 2, 0, 1, 1, 2]
EXPECTED_TIERS = {"high": 3, "medium": 3, "low": 3}
MAX_QUERIES = 45


def _set_scores(nodes, scores):
    """Write confidence scores as the database's own confidence statements do (the guard lets them through)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('kgsite.confidence_writer', 'on', true)")
        for node, score in zip(nodes, scores, strict=True):
            cursor.execute("UPDATE nodes SET confidence_score = %s WHERE node_id = %s",
                           [None if score is None else Decimal(score), node.pk])
        cursor.execute("SELECT set_config('kgsite.confidence_writer', '', true)")


@pytest.fixture
def scored():
    nodes = [NodeFactory(node_type="person" if index % 2 else "topic") for index in range(len(SCORES))]
    _set_scores(nodes, SCORES)
    return nodes


def _page(client, user):
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response, response.content.decode()


def _svg(content: str, id_prefix: str) -> ET.Element:
    start = content.index(f'aria-labelledby="{id_prefix}-title')
    start = content.rindex("<svg", 0, start)
    return ET.fromstring(content[start: content.index("</svg>", start) + len("</svg>")])


def _section(content: str, section_id: str) -> str:
    start = content.index(f'id="{section_id}"')
    return content[start: content.index("</section>", start)]


def _from_id(content: str, element_id: str) -> str:
    """The text of the page from the element with ``element_id`` on (its own opening tag left out)."""
    start = content.index(f'id="{element_id}"')
    return _text(content[content.index(">", start) + 1:])


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


# --- Confidence ------------------------------------------------------------------------------------------------------

def test_exact_distribution_puts_the_boundaries_where_the_spec_view_does(scored):
    distribution = confidence_exact()
    assert distribution.counts == EXPECTED_BINS
    assert distribution.tiers == EXPECTED_TIERS
    assert distribution.unscored == 1 and not distribution.estimated
    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW mv_node_confidence_cache")
        cursor.execute("SELECT confidence_tier, count(*) FROM mv_node_confidence_cache GROUP BY 1")
        assert dict(cursor.fetchall()) == distribution.tiers


def test_page_draws_the_histogram_and_tiers_with_exact_counts(client, user, scored):
    response, content = _page(client, user)
    assert response.context["dashboard"].confidence.counts == EXPECTED_BINS
    histogram = _svg(content, "confidence-histogram")
    values = [int(rect.get("data-value")) for rect in histogram.iter(f"{SVG}rect")
              if "chart__bar" in rect.get("class", "")]
    assert values == EXPECTED_BINS
    tooltips = [group.find(f"{SVG}title").text for group in histogram.iter(f"{SVG}g")]
    assert "Confidence [0.5–0.6): 2 nodes (medium)" in tooltips
    assert "Confidence [0.8–0.9): 1 node (high)" in tooltips
    assert "Confidence [0.9–1.0]: 2 nodes (high)" in tooltips
    tiers = _svg(content, "confidence-tiers")
    assert [text.text for text in tiers.iter(f"{SVG}text") if text.get("class") == "chart__value"] == [
        "3 · 33%", "3 · 33%", "3 · 33%"]
    section = _text(_section(content, "confidence"))
    assert "exact" in section and "Counted now from the 10 nodes" in section
    assert "1 node without a score is left out" in section
    bins = _text(content[content.index('id="confidence-bins"'):content.index("</table>",
                                                                          content.index('id="confidence-bins"'))])
    assert "0.5–0.6 medium 2" in bins and "0.4–0.5 low 1" in bins and "0.8–0.9 high 1" in bins


def test_above_the_cap_the_distribution_comes_from_the_statistics(client, user, scored, monkeypatch):
    monkeypatch.setattr(overview_module, "COUNT_CAP", 5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE nodes")
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"))
    content = response.content.decode()
    assert not any("width_bucket" in query["sql"] for query in queries.captured_queries)  # no scan of nodes
    distribution = response.context["dashboard"].confidence
    assert distribution.estimated and distribution.available
    assert distribution.analyzed_at is not None
    # Ten rows: an estimate, but no more than a node off in any tier, and the NULL counted apart.
    assert distribution.unscored == 1
    for tier, count in EXPECTED_TIERS.items():
        assert abs(distribution.tiers[tier] - count) <= 1, distribution.tiers
    assert abs(sum(distribution.counts) - 9) <= 2
    section = _text(_section(content, "confidence"))
    assert "estimated" in section
    assert "Estimated from the planner's statistics of nodes.confidence_score" in section
    assert "Confidence distribution (estimated)" in content
    assert re.search(r"Confidence \[0\.5–0\.6\): ≈\d+ nodes \(medium\)", content)
    assert f"ANALYZE at {distribution.analyzed_at:%Y-%m-%d %H:%M} UTC" in section


def test_estimate_follows_the_real_distribution(db):
    """300 nodes of scattered scores: the statistics' estimate of each bin and tier is close to the truth."""
    nodes = Node.objects.bulk_create([Node(name=f"n{index}", node_type="concept") for index in range(300)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('kgsite.confidence_writer', 'on', true), setseed(0.42)")
        cursor.execute("UPDATE nodes SET confidence_score = round((random() ^ 0.7)::numeric, 4) "
                       "WHERE node_id = ANY(%s)", [[node.pk for node in nodes]])
        cursor.execute("ANALYZE nodes")
    exact, estimate = confidence_exact(), confidence_estimated()
    assert estimate.estimated and sum(exact.counts) == 300
    for real, guessed in zip(exact.counts, estimate.counts, strict=True):
        assert abs(real - guessed) <= max(4, real * 0.1), (exact.counts, estimate.counts)
    for tier in ("high", "medium", "low"):
        assert abs(exact.tiers[tier] - estimate.tiers[tier]) <= 4, (exact.tiers, estimate.tiers)


def test_without_statistics_the_page_says_how_to_get_them(client, user, scored, monkeypatch):
    monkeypatch.setattr(overview_module, "COUNT_CAP", 5)
    monkeypatch.setattr(dashboard_module, "_STATISTICS_SQL", dashboard_module._STATISTICS_SQL.replace(
        "s.attname = 'confidence_score'", "s.attname = 'no_such_column'"))
    response, content = _page(client, user)
    assert response.context["dashboard"].confidence.available is False
    assert "there are none yet" in content and "ANALYZE nodes" in content
    assert 'aria-labelledby="confidence-histogram-title' not in content


def test_estimate_from_statistics_spreads_the_histogram_and_counts_the_common_values():
    distribution = confidence_from_statistics(
        reltuples=1000, null_frac=0.1, common_values=[0.5], common_freqs=[0.4],
        histogram_bounds=[0.0, 0.25, 0.5, 0.75, 1.0])
    # 100 null, 400 at 0.5, and 4 buckets of 125 rows spread evenly over their ranges.
    assert distribution.unscored == 100
    assert distribution.counts == [50, 50, 50, 50, 50, 450, 50, 50, 50, 50]
    assert distribution.tiers == {"low": 250, "medium": 550, "high": 100}
    assert distribution.scored == 900


def test_estimate_of_points_at_the_tier_boundaries():
    distribution = confidence_from_statistics(
        reltuples=300, null_frac=0.0, common_values=[0.5, 0.8, 1.0], common_freqs=[1 / 3, 1 / 3, 1 / 3],
        histogram_bounds=None)
    assert distribution.counts == [0, 0, 0, 0, 0, 100, 0, 0, 100, 100]
    assert distribution.tiers == {"low": 0, "medium": 100, "high": 200}


# --- Inference queue -------------------------------------------------------------------------------------------------

def test_queue_states_are_counted(client, superuser):
    nodes = [NodeFactory() for _ in range(4)]  # each new node queues itself: four pending
    InferenceQueueItemFactory(node=nodes[0], status="completed")
    InferenceQueueItemFactory(node=nodes[1], status="failed", error_message="boom")
    InferenceQueueItemFactory(node=nodes[2], status="cancelled")
    response, content = _page(client, superuser)
    counts = {line.status: line.count.value for line in response.context["dashboard"].queue.counts}
    assert counts == {"pending": 4, "processing": 0, "completed": 1, "failed": 1, "cancelled": 1}
    queue = _section(content, "queue")
    assert _from_id(queue, "queue-pending").startswith("4 pending")
    assert _from_id(queue, "queue-failed").startswith("1 failed")
    changelist = reverse("admin:graph_inferencequeueitem_changelist")
    assert f'href="{changelist}?status__exact=failed"' in queue
    assert "waiting" in _text(queue)  # the oldest pending item's wait


# --- Materialized views ----------------------------------------------------------------------------------------------

def test_view_freshness_refreshed_never_refreshed_and_unpopulated(client, superuser):
    NodeFactory()
    materialized_views_refresh(["mv_graph_connectivity_stats"])
    with connection.cursor() as cursor:
        cursor.execute("REFRESH MATERIALIZED VIEW mv_popular_entity_rankings WITH NO DATA")
    response, content = _page(client, superuser)
    views = {view.name: view for view in response.context["dashboard"].views}
    assert len(views) == 5
    refreshed = views["mv_graph_connectivity_stats"]
    assert refreshed.populated and refreshed.refresh is not None and not refreshed.due
    never = views["mv_node_confidence_cache"]
    assert never.refresh is None and never.due_reason == "never refreshed"
    empty = views["mv_popular_entity_rankings"]
    assert not empty.populated and empty.due_reason == "not populated"

    row = MaterializedViewRefresh.objects.get(view_name="mv_graph_connectivity_stats")
    fresh = _from_id(content, "view-mv_graph_connectivity_stats")
    assert fresh.startswith("Graph connectivity statistics mv_graph_connectivity_stats "
                            f"{row.refreshed_at:%Y-%m-%d %H:%M} UTC")
    assert f"{row.duration_ms} ms {row.row_count} fresh" in fresh
    views_html = _section(content, "views")
    unpopulated = _from_id(views_html, "view-mv_popular_entity_rankings")
    assert "not populated cannot be read until refreshed" in unpopulated
    assert "due not populated" in unpopulated
    assert "due never refreshed" in _from_id(views_html, "view-mv_node_confidence_cache")
    assert "due for a refresh" in views_html
    assert f'href="{reverse("admin:graph_popularentityranking_changelist")}"' in views_html


# --- Vector indexes and embeddings -----------------------------------------------------------------------------------

def test_vector_index_health_and_embedding_backlog(client, superuser, settings):
    for _ in range(3):
        NodeFactory(embedded=True)
    NodeFactory()  # no embedding: it waits in the embedding queue
    VectorIndexBuild.objects.create(
        table_name="nodes", index_name="idx_nodes_embedding", index_type="ivfflat", parameters={"lists": 10},
        outcome="rebuilt", rows=3, recall_at_10=0.5, sample_queries=3, search_parameters={"probes": 1},
        triggered_by="test")
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX idx_external_resources_embedding")  # rolled back with the test
    response, content = _page(client, superuser)
    health = {item.table: item for item in response.context["dashboard"].vector_indexes}
    nodes, resources = health["nodes"], health["external_resources"]
    assert nodes.index.exists and nodes.index.valid and nodes.rows.value == 3 and nodes.rows.exact
    assert nodes.coverage_percent == 75
    assert nodes.below_target and nodes.status == "warning"
    assert not resources.index.exists and resources.status == "warning"
    section = _section(content, "vector-indexes")
    text = _text(section)
    assert "3 of 4 nodes (75%)" in text
    target = float(config_get("vector_index_target_recall"))
    assert f"Recall@10 0.500 is below the target {target:.2f}." in text
    assert "The index is missing" in text
    assert f'href="{reverse("admin:graph_vectorindexbuild_health")}"' in section
    backlog = EmbeddingQueueItem.objects.count()
    assert backlog >= 1
    assert f"Embedding queue {backlog} waiting for an embedding" in text


def test_vector_index_health_link_needs_the_view_permission(client, db):
    viewer = UserFactory(email="viewer@example.com", staff=True, permissions=["graph.view_vectorindexbuild"])
    _, content = _page(client, viewer)
    assert f'href="{reverse("admin:graph_vectorindexbuild_health")}"' in content
    other = UserFactory(email="other@example.com", staff=True)
    _, content = _page(client, other)
    assert "Index health" not in content


# --- Configuration ---------------------------------------------------------------------------------------------------

def test_configuration_shows_changed_and_restart_pending_parameters(client, superuser):
    config_set(name="inference_batch_size", value="250", actor="test")
    config_set(name="shared_buffers", value="512MB", actor="test")  # requires a restart
    response, content = _page(client, superuser)
    attention = response.context["dashboard"].config
    names = [line.row.parameter_name for line in attention.lines]
    assert "inference_batch_size" in names and "shared_buffers" in names
    assert "mv_refresh_interval_hours" not in names  # at its default and applied: nothing to look at
    assert names.index("shared_buffers") < names.index("inference_batch_size")  # restarts first
    section = _section(content, "configuration")
    changed = _from_id(section, "config-inference_batch_size")
    assert changed.startswith("inference_batch_size")
    default = SystemConfig.objects.get(parameter_name="inference_batch_size").default_value
    assert f"250 default {default}" in changed and default != "250"
    restart = _from_id(section, "config-shared_buffers")
    assert "512MB awaits a restart default 256MB" in restart
    assert "1 change takes effect only after PostgreSQL restarts" in _text(section)
    row = response.context["config_lines"][names.index("shared_buffers")]
    change_url = reverse("admin:config_admin_systemconfig_change", args=[row.item.row.pk])
    assert row.admin_url == change_url and f'href="{change_url}"' in section


def test_configuration_links_only_for_those_who_may_view_it(client, user, scored):
    config_set(name="inference_batch_size", value="250", actor="test")
    response, content = _page(client, user)
    assert all(row.admin_url is None for row in response.context["config_lines"])
    assert "inference_batch_size" in _section(content, "configuration")


# --- Cost ------------------------------------------------------------------------------------------------------------

def _queries_for_page(client, user) -> int:
    client.force_login(user)
    client.get(reverse("home"))  # the session and permission caches warm up
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("home")).status_code == 200
    return len(queries.captured_queries)


def test_query_count_does_not_grow_with_the_graph(client, staff_user, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(overview_module, "COUNT_CAP", 50)
    monkeypatch.setattr(inference_module, "COUNT_CAP", 50)
    Node.objects.bulk_create([Node(name=f"n{index}", node_type=f"type{index % 3}") for index in range(10)])
    materialized_views_refresh()
    small = _queries_for_page(client, staff_user)
    Node.objects.bulk_create([Node(name=f"m{index}", node_type=f"type{index % 12}") for index in range(190)])
    materialized_views_refresh()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE nodes")
    large = _queries_for_page(client, staff_user)  # 200 nodes: above the cap, so estimates
    assert large <= small + 4, (small, large)  # at most the planner estimates past the cap
    client.force_login(staff_user)
    with django_assert_max_num_queries(MAX_QUERIES):
        client.get(reverse("home"))
