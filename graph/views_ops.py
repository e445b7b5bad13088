"""Operations endpoints (docs/deployment.md): ``/healthz`` for load balancers and monitors, ``/metrics`` for
Prometheus. Both are outside the login (``login_not_required``): a health check has no session, and ``/metrics``
checks its own credentials.

``/healthz`` answers ``{"status": "ok"|"failed", "checks": {"database": "ok"|"failed", "extensions": ...,
"migrations": ..., "worker": ...}}`` with 200 when every check passed, else 503; ``/healthz/web`` the same without
the worker check (the web process's own dependencies: a load balancer should not take every web server out because
the worker's machine is down). Nothing else is in the answer: no versions, paths, host names or error texts (they
go to the log, with the request id).

``/metrics`` (Prometheus text format) is given to

* a request with ``Authorization: Bearer <KGSITE_METRICS_TOKEN>`` (the environment variable; at least
  ``MIN_TOKEN_LENGTH`` characters, else token access is off and a warning is logged), compared in constant time;
* a logged-in user with the permission ``graph.view_metrics`` (superusers have it; give it to staff or a group in
  the admin).

Anyone else gets 401 (no credentials, or a wrong token; with ``WWW-Authenticate: Bearer``) or 403 (logged in,
without the permission), and no figure.
"""

from __future__ import annotations

import hmac
import logging
import os

from django.contrib.auth.decorators import login_not_required
from django.db import Error
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.core import GaugeMetricFamily

from graph.selectors.ops import health_checks, ops_snapshot, worker_max_age
from kgsite.metrics import exposition

logger = logging.getLogger(__name__)

METRICS_PERMISSION = "graph.view_metrics"
MIN_TOKEN_LENGTH = 16


def _health_response(checks: dict[str, bool]) -> JsonResponse:
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "failed",
            "checks": {name: "ok" if ok else "failed" for name, ok in checks.items()}}
    return JsonResponse(body, status=200 if healthy else 503)


@login_not_required
@never_cache
@require_safe
def healthz(request):
    return _health_response(health_checks(worker=True))


@login_not_required
@never_cache
@require_safe
def healthz_web(request):
    return _health_response(health_checks(worker=False))


def metrics_token() -> str | None:
    """The configured token, or None when token access is off (unset, or too short to be a secret)."""
    token = os.environ.get("KGSITE_METRICS_TOKEN", "")
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH:
        logger.warning("KGSITE_METRICS_TOKEN is shorter than %d characters: token access to /metrics is off",
                       MIN_TOKEN_LENGTH)
        return None
    return token


def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def metrics_refusal(request) -> HttpResponse | None:
    """None when the request may read the metrics, else the refusal (401 or 403, no figures)."""
    offered = _bearer(request)
    if offered is not None:
        token = metrics_token()
        if token is not None and hmac.compare_digest(offered.encode(), token.encode()):
            return None
        response = HttpResponse("invalid token\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="kgsite-metrics", error="invalid_token"'
        return response
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if user.is_active and user.has_perm(METRICS_PERMISSION):
            return None
        return HttpResponse("permission required\n", status=403, content_type="text/plain")
    response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="kgsite-metrics"'
    return response


class GraphCollector:
    """The database's gauges, read when scraped (graph/selectors/ops.py: bounded queries)."""

    def collect(self):
        up = GaugeMetricFamily("kgsite_database_up", "1 when the database answered the scrape's queries, else 0.")
        try:
            snapshot = ops_snapshot()
        except Error as exc:
            logger.warning("metrics: the database queries failed: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        queue = GaugeMetricFamily(
            "kgsite_inference_queue_items",
            "Items in relationship_inference_queue by status: exact up to 10,000, the planner's estimate beyond.",
            labels=["status"])
        exact = GaugeMetricFamily("kgsite_inference_queue_items_exact",
                                  "1 when kgsite_inference_queue_items of the status is an exact count.",
                                  labels=["status"])
        for status, (count, is_exact) in snapshot.queue.items():
            queue.add_metric([status], count)
            exact.add_metric([status], 1 if is_exact else 0)
        yield queue
        yield exact
        yield GaugeMetricFamily("kgsite_inference_queue_oldest_pending_age_seconds",
                                "How long the oldest pending inference item has waited (0 when none waits).",
                                value=snapshot.oldest_pending_age)
        yield GaugeMetricFamily("kgsite_inference_completed_last_hour",
                                "Inference items completed in the last hour (counted up to 100,001).",
                                value=snapshot.completed_last_hour)
        yield GaugeMetricFamily("kgsite_inference_failed_last_hour",
                                "Inference items that failed for good in the last hour (counted up to 100,001).",
                                value=snapshot.failed_last_hour)
        yield GaugeMetricFamily("kgsite_embedding_queue_items",
                                "Nodes and resources waiting for an embedding (counted up to 10,001).",
                                value=snapshot.embedding_queue)

        age = GaugeMetricFamily("kgsite_materialized_view_age_seconds",
                                "Seconds since the materialized view was last refreshed.", labels=["view"])
        rows = GaugeMetricFamily("kgsite_materialized_view_rows", "Rows of the materialized view at its last "
                                 "refresh.", labels=["view"])
        for view, seconds, count in snapshot.views:
            age.add_metric([view], seconds)
            if count is not None:
                rows.add_metric([view], count)
        yield age
        yield rows

        recall = GaugeMetricFamily("kgsite_vector_index_recall_at_10",
                                   "The latest recall@10 optimize_vector_index measured for the table's index.",
                                   labels=["table", "index"])
        measured = GaugeMetricFamily("kgsite_vector_index_recall_measured_timestamp_seconds",
                                     "When that recall was measured (Unix time).", labels=["table", "index"])
        for table, index, value, at in snapshot.recall:
            recall.add_metric([table, index], value)
            measured.add_metric([table, index], at)
        yield recall
        yield measured

        heartbeat = GaugeMetricFamily("kgsite_worker_heartbeat_age_seconds",
                                      "Seconds since the newest run_worker heartbeat (absent when no worker beat).")
        if snapshot.heartbeat_age is not None:
            heartbeat.add_metric([], snapshot.heartbeat_age)
        yield heartbeat
        yield GaugeMetricFamily("kgsite_workers_alive",
                                f"Workers whose heartbeat is at most {worker_max_age():g} s old.",
                                value=snapshot.workers_alive)


@login_not_required
@never_cache
@require_safe
def metrics(request):
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    body, content_type = exposition([GraphCollector()])
    return HttpResponse(body, content_type=content_type)
