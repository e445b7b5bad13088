"""Deleting a hub node from the admin: kgsite's database-cascade delete against Django's default collector.

The hub is the node with the most relationships. It is a root of the generated hierarchy, and a node with children
cannot be deleted (the spec's ``parent_node_id`` foreign key is NO ACTION; both admins refuse), so each run first
makes its children roots (untimed), then does what a curator does, timed: open the delete confirmation page and
confirm (POST). Each run happens inside a transaction that is rolled back afterwards, so every run deletes the
same hub with the same rows.

* **ours**: ``graph.admin.NodeAdmin`` — the confirmation counts the cascaded rows per table in SQL
  (``kgsite.deletion``), the delete is one ``DELETE`` and PostgreSQL cascades.
* **baseline**: a stock ``ModelAdmin`` with Django's default collector, as kgsite was before: the foreign keys to
  nodes and resources say ``on_delete=CASCADE`` (switched for the baseline's runs only), so the confirmation
  page loads and lists every cascaded row and the delete removes them table by table from Python.

Quality: the row counts per table that the two confirmation pages show agree.
"""

from __future__ import annotations

import re
import time

from django.contrib import admin
from django.db import connection, models, transaction
from django.urls import include, path

from bench.benchmarks.admin_changelist import AdminPageBenchmark
from bench.harness import Context, Sample, register
from graph.models import ExternalResource, Node

stock_site = admin.AdminSite(name="stock_delete_admin")
stock_site.register(Node, admin.ModelAdmin)
urlpatterns = [path("stock-admin/", stock_site.urls), path("", include("kgsite.urls"))]

_SUMMARY_ROW = re.compile(r"<li>([A-Za-z–\- ]+): ([\d,]+)</li>")


def _database_cascaded_fields() -> list[models.ForeignKey]:
    """The foreign keys to nodes and resources that kgsite leaves to the database (on_delete=DO_NOTHING)."""
    fields = []
    for target in (Node, ExternalResource):
        for relation in target._meta.related_objects:
            if relation.on_delete is models.DO_NOTHING:
                fields.append(relation.field)
    return fields


class _DjangoCollector:
    """While active, those foreign keys say CASCADE again: Django's collector loads and deletes the rows itself."""

    def __init__(self):
        self.fields = _database_cascaded_fields()

    def __enter__(self):
        for field in self.fields:
            field.remote_field.on_delete = models.CASCADE

    def __exit__(self, *exc):
        for field in self.fields:
            field.remote_field.on_delete = models.DO_NOTHING


def _hub() -> tuple[int, int]:
    """(node id, relationship count) of the node with the most relationships."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT e.node_id, count(*) FROM (
                SELECT source_node_id AS node_id FROM relationships
                UNION ALL SELECT target_node_id FROM relationships WHERE target_node_id <> source_node_id
            ) e
            GROUP BY e.node_id ORDER BY count(*) DESC, e.node_id LIMIT 1
        """)
        return cursor.fetchone()


class HubDeleteBenchmark(AdminPageBenchmark):
    urlconf = __name__
    unit = "ms"
    repeat = 5
    warmup = 1
    baseline = "stock ModelAdmin, Django's collector (on_delete=CASCADE)"

    def __init__(self, name: str, description: str):
        self.name, self.description = name, description
        self.summaries: dict[str, dict[str, str]] = {}

    def setup(self, context: Context) -> None:
        super().setup(context)
        self.hub, self.edges = _hub()
        self.collector = _DjangoCollector()
        context.say(f"{self.name}: hub node {self.hub} with {self.edges:,} relationships")
        self.description += f" (node {self.hub}, {self.edges:,} relationships)"

    def _run(self, prefix: str, side: str) -> Sample:
        url = f"/{prefix}/graph/node/{self.hub}/delete/"
        with transaction.atomic():
            Node.objects.filter(parent_node_id=self.hub).update(parent_node=None)  # untimed: children become roots
            started = time.perf_counter()
            response = self.client.get(url)
            if response.status_code != 200:
                raise AssertionError(f"GET {url} answered {response.status_code}")
            page = response.content.decode()
            response = self.client.post(url, {"post": "yes"})
            seconds = time.perf_counter() - started
            if response.status_code != 302 or Node.objects.filter(pk=self.hub).exists():
                raise AssertionError(f"POST {url} answered {response.status_code}; the hub was not deleted")
            self.summaries[side] = dict(_SUMMARY_ROW.findall(page))
            transaction.set_rollback(True)
        return Sample(seconds=seconds)

    def ours(self) -> Sample:
        return self._run("admin", "ours")

    def run_baseline(self) -> Sample:
        with self.collector:
            return self._run("stock-admin", "baseline")

    def quality(self) -> str:
        ours, stock = self.summaries.get("ours", {}), self.summaries.get("baseline", {})

        def normal(summary):
            return {name.strip().lower().rstrip("s"): count.replace(",", "") for name, count in summary.items()}

        if not ours:
            return "no summary on our page"
        same = normal(ours) == normal(stock)
        relationships = ours.get("Relationships", "0")
        return f"{'same' if same else 'DIFFERENT'} counts per table ({relationships} relationships)"


register(HubDeleteBenchmark("admin.delete.hub", "delete the largest hub from the admin: confirmation page + POST"))
