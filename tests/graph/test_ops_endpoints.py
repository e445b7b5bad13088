"""/healthz and /metrics (graph/views_ops.py, docs/deployment.md), against the real test database: the checks
fail for real (an unapplied migration, a stale heartbeat), the gauges follow rows created here."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from graph.choices import QueueStatus
from graph.models import InferenceQueueItem, MaterializedViewRefresh, VectorIndexBuild, WorkerHeartbeat
from graph.selectors.ops import forget_migration_check
from graph.services.heartbeat import Heartbeat
from tests.factories import NodeFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_migration_check():
    forget_migration_check()
    yield
    forget_migration_check()


@pytest.fixture
def beating_worker():
    heartbeat = Heartbeat("test-host:4242")
    assert heartbeat.beat(force=True)
    return heartbeat


def _assert_only_documented_keys(body: dict, checks: set[str]):
    assert set(body) == {"status", "checks"}
    assert set(body["checks"]) == checks
    assert set(body["checks"].values()) <= {"ok", "failed"} and body["status"] in {"ok", "failed"}


ALL = {"database", "extensions", "migrations", "worker"}


def test_healthz_is_ok_without_login_and_says_nothing_else(client, beating_worker):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    body = response.json()
    _assert_only_documented_keys(body, ALL)
    assert body == {"status": "ok", "checks": dict.fromkeys(ALL, "ok")}
    # No versions, paths, host names or server details.
    assert not re.search(r"postgres|version|/|\d|host", response.content.decode(), re.I), response.content


def test_healthz_fails_with_503_when_no_worker_beats_recently(client, beating_worker):
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(hours=1))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    _assert_only_documented_keys(body, ALL)
    assert body["status"] == "failed" and body["checks"]["worker"] == "failed"
    assert {name for name, value in body["checks"].items() if value == "ok"} == {"database", "extensions",
                                                                                 "migrations"}
    # The web process's own checks stay green: what a load balancer asks.
    web = client.get("/healthz/web")
    assert web.status_code == 200 and web.json() == {
        "status": "ok", "checks": {"database": "ok", "extensions": "ok", "migrations": "ok"}}


def test_healthz_fails_when_no_worker_ever_beat(client):
    WorkerHeartbeat.objects.all().delete()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["checks"]["worker"] == "failed"


def test_a_clean_stop_forgets_the_worker(client, beating_worker):
    assert client.get("/healthz").status_code == 200
    beating_worker.stop()
    assert not WorkerHeartbeat.objects.filter(worker="test-host:4242").exists()
    assert client.get("/healthz").status_code == 503


def test_healthz_fails_with_an_unapplied_migration(client, beating_worker):
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("DELETE FROM django_migrations WHERE app = 'graph' AND name = '0021_worker_heartbeats'")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "extensions": "ok", "migrations": "failed",
                                         "worker": "ok"}
    assert client.get("/healthz/web").status_code == 503


def test_healthz_caches_only_the_positive_migration_answer(client, beating_worker):
    with CaptureQueriesContext(connection) as first:
        assert client.get("/healthz").status_code == 200
    assert any("django_migrations" in query["sql"] for query in first.captured_queries)
    # Once passed, the migration check reads nothing again.
    with CaptureQueriesContext(connection) as second:
        assert client.get("/healthz").status_code == 200
    assert not any("django_migrations" in query["sql"] for query in second.captured_queries)
    statements = [query["sql"] for query in second.captured_queries if "SAVEPOINT" not in query["sql"]]
    assert len(statements) == 3, statements  # SELECT 1, the extensions, the newest heartbeat


def test_a_failed_migration_check_is_not_cached(client, beating_worker):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'graph' AND name = '0021_worker_heartbeats'")
    assert client.get("/healthz").status_code == 503
    with connection.cursor() as cursor:  # applied again: the next check sees it
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('graph', '0021_worker_heartbeats', "
                       "now())")
    assert client.get("/healthz").status_code == 200


def test_healthz_fails_without_an_extension(client, beating_worker):
    with connection.cursor() as cursor:  # the test's transaction is rolled back: ltree is back afterwards
        cursor.execute("UPDATE pg_extension SET extname = 'ltree_renamed_for_test' WHERE extname = 'ltree'")
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["checks"]["extensions"] == "failed"


def test_healthz_accepts_only_safe_methods(client):
    assert client.post("/healthz").status_code == 405


# --- /metrics ----------------------------------------------------------------------------------------------------

METRIC_NAMES = [
    "kgsite_http_request_duration_seconds",
    "kgsite_database_up",
    "kgsite_inference_queue_items",
    "kgsite_inference_queue_oldest_pending_age_seconds",
    "kgsite_inference_completed_last_hour",
    "kgsite_inference_failed_last_hour",
    "kgsite_embedding_queue_items",
    "kgsite_materialized_view_age_seconds",
    "kgsite_vector_index_recall_at_10",
    "kgsite_worker_heartbeat_age_seconds",
    "kgsite_workers_alive",
]


def _sample(text: str, name: str, labels: str = "") -> float:
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else r"(?:\{\})?") + r" (\S+)$"
    found = re.search(pattern, text, re.M)
    assert found, f"{name}{{{labels}}} not in\n{text}"
    return float(found[1])


def test_metrics_refuses_anonymous_without_data(client, monkeypatch):
    monkeypatch.setenv("KGSITE_METRICS_TOKEN", TOKEN)
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"kgsite_" not in response.content
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + TOKEN[:-1] + "x")
    assert wrong.status_code == 401 and b"kgsite_" not in wrong.content


def test_metrics_refuses_a_logged_in_user_without_the_permission(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/metrics")
    assert response.status_code == 403 and b"kgsite_" not in response.content


def test_metrics_token_access_is_off_when_unset_or_too_short(client, monkeypatch):
    monkeypatch.delenv("KGSITE_METRICS_TOKEN", raising=False)
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything-at-all-long-enough").status_code == 401
    monkeypatch.setenv("KGSITE_METRICS_TOKEN", "short")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer short").status_code == 401


def test_metrics_with_the_token(client, monkeypatch):
    monkeypatch.setenv("KGSITE_METRICS_TOKEN", TOKEN)
    client.get("/accounts/login/")  # one observed request at least
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text, name
    assert re.search(r'kgsite_http_request_duration_seconds_count\{method="GET",status="200",view="login"\} '
                     r'[1-9]', text), text
    assert _sample(text, "kgsite_database_up") == 1


def test_metrics_with_a_staff_login_that_has_the_permission(client):
    staff = UserFactory(email="operator@example.com", staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_metrics", content_type__app_label="graph"))
    client.force_login(staff)
    response = client.get("/metrics")
    assert response.status_code == 200 and b"kgsite_inference_queue_items" in response.content


def test_metrics_with_a_superuser_login(admin_client_for):
    assert admin_client_for.get("/metrics").status_code == 200


def test_metrics_gauges_follow_the_rows(admin_client_for):
    before = admin_client_for.get("/metrics").content.decode()
    pending_before = _sample(before, "kgsite_inference_queue_items", 'status="pending"')
    failed_before = _sample(before, "kgsite_inference_failed_last_hour")

    nodes = [NodeFactory() for _ in range(3)]  # each queued for inference by the database's trigger
    InferenceQueueItem.objects.filter(node=nodes[0], status=QueueStatus.PENDING).update(
        queued_at=timezone.now() - timedelta(hours=2))
    InferenceQueueItem.objects.create(node=nodes[1], status=QueueStatus.FAILED, completed_at=timezone.now())
    now = timezone.now()
    MaterializedViewRefresh.objects.update_or_create(
        view_name="mv_graph_connectivity_stats",
        defaults={"refreshed_at": now - timedelta(minutes=30), "duration_ms": 5, "row_count": 7})
    VectorIndexBuild.objects.create(table_name="nodes", index_name="idx_nodes_embedding_ivfflat",
                                    index_type="ivfflat", outcome="unchanged", rows=3, recall_at_10=0.25,
                                    started_at=now - timedelta(days=2), finished_at=now - timedelta(days=2))
    VectorIndexBuild.objects.create(table_name="nodes", index_name="idx_nodes_embedding_ivfflat",
                                    index_type="ivfflat", outcome="unchanged", rows=3, recall_at_10=0.975,
                                    started_at=now - timedelta(hours=1), finished_at=now - timedelta(hours=1))
    Heartbeat("gauge-host:1").beat(force=True)
    WorkerHeartbeat.objects.create(worker="dead-host:2", beat_at=now - timedelta(hours=3))

    text = admin_client_for.get("/metrics").content.decode()
    assert _sample(text, "kgsite_inference_queue_items", 'status="pending"') == pending_before + 3
    assert _sample(text, "kgsite_inference_queue_items_exact", 'status="pending"') == 1
    assert _sample(text, "kgsite_inference_failed_last_hour") == failed_before + 1
    assert 7190 <= _sample(text, "kgsite_inference_queue_oldest_pending_age_seconds") <= 7400
    assert _sample(text, "kgsite_embedding_queue_items") >= 3
    assert 1790 <= _sample(text, "kgsite_materialized_view_age_seconds", 'view="mv_graph_connectivity_stats"') <= 1900
    assert _sample(text, "kgsite_materialized_view_rows", 'view="mv_graph_connectivity_stats"') == 7
    recall = _sample(text, "kgsite_vector_index_recall_at_10", 'index="idx_nodes_embedding_ivfflat",table="nodes"')
    assert recall == 0.975  # the latest measurement, not the older one
    assert 0 <= _sample(text, "kgsite_worker_heartbeat_age_seconds") < 60
    assert _sample(text, "kgsite_workers_alive") == 1  # the dead worker's row is too old to count


# --- The heartbeat of a real run_worker --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_run_worker_beats_while_running_and_forgets_its_row_when_stopped(workers, client):
    import signal

    from tests.worker_processes import scalar, wait_until

    assert client.get("/healthz").status_code == 503  # no worker yet
    worker = workers.start("heartbeat", "run_worker")
    wait_until(lambda: scalar("SELECT count(*) FROM worker_heartbeats WHERE worker LIKE %s",
                              [f"%:{worker.pid}"]) == 1,
               timeout=60, what="the worker's heartbeat", describe=worker.describe)
    assert client.get("/healthz").status_code == 200
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, worker.describe()
    assert scalar("SELECT count(*) FROM worker_heartbeats") == 0
    assert client.get("/healthz").status_code == 503
