"""The exploration pages (issue 12): the node page and the 2-hop neighbourhood of the largest hub and of a typical
node, served through Django's test client with the whole middleware stack, logged in as a superuser.

* **Node page** ``/nodes/<id>/``. Baseline: the admin's change form of the same node (``/admin/graph/node/<id>/
  change/``), what a curator had before: it shows the node and its attribute inline, not its relationships.
* **Neighbourhood** ``/nodes/<id>/neighbourhood/?depth=2`` (default cap of 100 nodes: traversal, layout, SVG and
  tables). Baseline: the straightforward SQL a hand-written tool would run, a recursive CTE that walks every edge
  to depth 2 (``UNION`` dedupes node and depth) and keeps the strongest 100 nodes; the query alone, not a page.

The hub is the node with the most relationships (both directions); the typical node the one with the median number
of relationships among nodes that have any (seed-42 sample of 2,000). Quality: the median and 95th percentile of
our page views, the number of nodes shown, the queries one page view makes.

``python -m bench --scale 100k --only exploration`` runs them (about two minutes).
"""

from __future__ import annotations

import random
import re
import statistics

from django.db import connection

from bench.benchmarks.admin_changelist import PageViewBenchmark
from bench.harness import Context, register

_NODE_ROW = re.compile(r'<tr data-node-id="(\d+)"')
TYPICAL_SAMPLE = 2_000

_NAIVE_NEIGHBOURHOOD = """
WITH RECURSIVE edges AS NOT MATERIALIZED (
    SELECT source_node_id AS here, target_node_id AS other, (confidence_score * strength)::float8 AS weight
    FROM relationships
    UNION ALL
    SELECT target_node_id, source_node_id, (confidence_score * strength)::float8 FROM relationships
), walk(node_id, depth, weight) AS (
    SELECT %(centre)s::int, 0, 1.0::float8
  UNION
    SELECT e.other, w.depth + 1, e.weight FROM walk w JOIN edges e ON e.here = w.node_id WHERE w.depth < %(depth)s
)
SELECT node_id, min(depth) AS depth, max(weight) AS weight FROM walk GROUP BY node_id
ORDER BY min(depth), max(weight) DESC LIMIT %(limit)s
"""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _chosen_nodes() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT node_id FROM (
                SELECT source_node_id AS node_id FROM relationships
                UNION ALL SELECT target_node_id FROM relationships) AS ends
            GROUP BY node_id ORDER BY count(*) DESC, node_id LIMIT 1""")
        hub = cursor.fetchone()[0]
        cursor.execute("SELECT node_id FROM nodes ORDER BY node_id")
        ids = [row[0] for row in cursor.fetchall()]
        sample = random.Random(42).sample(ids, min(TYPICAL_SAMPLE, len(ids)))
        cursor.execute("""
            SELECT id, (SELECT count(*) FROM relationships WHERE source_node_id = id)
                     + (SELECT count(*) FROM relationships WHERE target_node_id = id) AS degree
            FROM unnest(%s::int[]) AS id""", [sample])
        degrees = sorted((degree, node_id) for node_id, degree in cursor.fetchall() if degree > 0)
    typical = degrees[len(degrees) // 2][1]
    return {"hub": hub, "typical": typical}


def _degree(node_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM relationships WHERE source_node_id = %s) "
                       "+ (SELECT count(*) FROM relationships WHERE target_node_id = %s)", [node_id, node_id])
        return cursor.fetchone()[0]


class ExplorationPage(PageViewBenchmark):
    unit = "ms"
    repeat = 21
    warmup = 3

    def __init__(self, name: str, description: str, which: str, page: str):
        self.name, self.description, self.which, self.page = name, description, which, page
        self.baseline = ("the admin change form of the node" if page == "node"
                         else "recursive CTE to depth 2, strongest 100 (SQL only)")
        self.timings: list[float] = []
        self.shown: int | None = None

    def setup(self, context: Context) -> None:
        super().setup(context)
        chosen = context.extra.get("exploration_nodes")
        if chosen is None:
            chosen = context.extra["exploration_nodes"] = _chosen_nodes()
        self.node_id = chosen[self.which]
        self.degree = _degree(self.node_id)
        if self.page == "node":
            self.urls = {"ours": f"/nodes/{self.node_id}/", "baseline": f"/admin/graph/node/{self.node_id}/change/"}
        else:
            self.urls = {"ours": f"/nodes/{self.node_id}/neighbourhood/?depth=2"}

    def run_baseline(self) -> None:
        if self.page == "node":
            self._view("baseline")
            return
        with connection.cursor() as cursor:
            cursor.execute(_NAIVE_NEIGHBOURHOOD, {"centre": self.node_id, "depth": 2, "limit": 100})
            cursor.fetchall()

    def queries(self, side: str) -> int | None:
        if side == "baseline" and self.page != "node":
            return 1
        return super().queries(side)

    def after_each(self, side: str, final: bool) -> None:
        if final and side == "ours":
            self.shown = len(_NODE_ROW.findall(self._view("ours"))) if self.page == "neighbourhood" else None

    def quality(self) -> str:
        parts = [f"node {self.node_id} with {self.degree:,} relationships"]
        if self.page == "neighbourhood" and self.shown is not None:
            parts.append(f"{self.shown} nodes shown")
        return "; ".join(parts)


class _Timed(ExplorationPage):
    """Keeps every timed call of ours, for the p95 in the quality column."""

    def ours(self) -> None:
        import time

        started = time.perf_counter()
        super().ours()
        self.timings.append(time.perf_counter() - started)

    def quality(self) -> str:
        timed = self.timings[self.warmup:] or self.timings
        text = super().quality()
        if timed:
            text += f"; ours median {statistics.median(timed) * 1000:.1f} ms, p95 {_p95(timed) * 1000:.1f} ms"
        return text


for which, label in (("hub", "the largest hub"), ("typical", "a typical node")):
    register(_Timed(f"exploration.node_page.{which}", f"the node page of {label}", which, "node"))
    register(_Timed(f"exploration.neighbourhood.{which}", f"the 2-hop neighbourhood of {label} (cap 100)",
                    which, "neighbourhood"))
