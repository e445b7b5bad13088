"""An import killed mid-way leaves nothing behind, and running it again completes it (docs/import-format.md: one
transaction, not checkpointed batches). A real ``manage.py import_graph`` process, SIGKILLed while it writes."""

from __future__ import annotations

import os
import signal

import pytest

from bench.benchmarks.imports import import_file_write
from graph.models import ImportJob, Node, NodeAttribute, Relationship
from graph.services.import_staging import import_sources
from graph.services.imports import graph_import
from tests.worker_processes import Workers, query, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
NODES = 6_000


@pytest.fixture
def workers(tmp_path):
    harness = Workers(tmp_path)
    yield harness
    harness.stop_all()


def test_interrupted_import_leaves_nothing_and_a_rerun_completes(tmp_path, workers):
    path = tmp_path / "graph.jsonl"
    records = import_file_write(path, nodes=NODES)
    importer = workers.start("import", "import_graph", str(path), "--defer-indexes", "never")

    def writing() -> bool:  # the import's session is inside the apply phase, rows written but not committed
        return bool(query("SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND state = 'active' "
                          "AND query LIKE %s", [importer.application_name, "%INSERT INTO node_attributes%"]))

    wait_until(writing, timeout=120, interval=0.005, what="the importer to write attributes",
               describe=importer.describe)
    os.killpg(importer.pid, signal.SIGKILL)
    importer.wait(timeout=10)
    workers.wait_for_sessions_to_end()

    assert (Node.objects.count(), NodeAttribute.objects.count(), Relationship.objects.count(),
            ImportJob.objects.count()) == (0, 0, 0, 0)

    report = graph_import(sources=import_sources(paths=[path]))
    assert report.ok and report.records == records
    assert (report.counts["node"].created, report.counts["attribute"].created) == (NODES, 4 * NODES)
    assert Node.objects.count() == NODES and NodeAttribute.objects.count() == 4 * NODES
    again = graph_import(sources=import_sources(paths=[path]))
    assert sum(c.unchanged for c in again.counts.values()) == records
