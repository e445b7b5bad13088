"""Prometheus metrics of the web processes (docs/deployment.md, "Metrics").

``REQUEST_DURATION`` is observed by ``kgsite.request_id.RequestIdMiddleware`` for every request: seconds until the
response was returned (a streamed body's transfer is not included), labelled by the URL pattern's view name (never
the path: a bounded set), the method (the usual ones, else ``other``) and the status code.

``exposition(collectors)`` renders everything for ``/metrics``: in **multiprocess mode** (the environment variable
``PROMETHEUS_MULTIPROC_DIR`` names a writable directory, set before the processes start) the counters of every
gunicorn worker are read from that directory and summed, so whichever worker answers the scrape reports the whole
server; without it, this process's own. The ``collectors`` given (gauges worked out from the database at scrape
time) are added in the answering process only.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest, multiprocess

REQUEST_DURATION = Histogram(
    "kgsite_http_request_duration_seconds",
    "Time to answer an HTTP request, by view, method and status.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def request_observe(*, view: str, method: str, status: int, seconds: float) -> None:
    REQUEST_DURATION.labels(view=view, method=method if method in METHODS else "other",
                            status=str(status)).observe(seconds)


class _Forward:
    """A registry's metrics, collected into another registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


def exposition(collectors=()) -> tuple[bytes, str]:
    """The text exposition format of this server's metrics plus ``collectors``, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
