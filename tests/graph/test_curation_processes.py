"""Rejections stick with real processes (docs/curation.md): rejected links never come back from workers
re-inferring their nodes, a full inference pass, cleanup or an import of the same facts, and a rejection made while
a worker is re-scoring the link waits for it and wins. The processes are ``manage.py`` commands against the test
database (tests/worker_processes.py)."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection

from graph.models import InferenceRejection, Node
from graph.services.curation import review_accept, review_reject
from graph.services.inference import inference_queue, relationships_infer
from tests.factories import UserFactory
from tests.worker_processes import (
    INFERRED_TYPE,
    STALL_DROP,
    STALL_SQL,
    Workers,
    execute,
    graph_build,
    query,
    scalar,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def workers(transactional_db, tmp_path):
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        print(started.describe())
        try:
            started.stop_all()
        finally:
            execute(STALL_DROP)


@pytest.fixture
def curator(transactional_db):
    return UserFactory(email="curator@example.com", permissions=["graph.review_relationship"])


def inferred_pairs() -> set[tuple[int, int]]:
    return set(query("SELECT source_node_id, target_node_id FROM relationships WHERE relationship_type = %s",
                     [INFERRED_TYPE]))


def run(workers: Workers, label: str, *args: str, timeout: float = 180) -> str:
    process = workers.start(label, *args)
    assert process.wait(timeout=timeout) == 0, process.describe()
    assert "Traceback" not in process.stderr, process.describe()
    return process.stdout


def test_rejected_links_never_return_from_workers_a_full_pass_cleanup_or_an_import(workers, curator, tmp_path):
    node_ids = graph_build(300, pools=(15, 15, 15), seed=31, prefix="cur")
    run(workers, "drain", "run_inference", "--batch-size", "50")
    before = inferred_pairs()
    assert len(before) > 300
    # A tenth of the links rejected, another tenth accepted.
    rows = query("SELECT relationship_id, source_node_id, target_node_id FROM relationships "
                 "WHERE relationship_type = %s ORDER BY relationship_id", [INFERRED_TYPE])
    rejected_rows, accepted_rows = rows[::10], rows[5::10]
    assert review_reject([r[0] for r in rejected_rows], user=curator, reason="noise").decided == len(rejected_rows)
    assert review_accept([r[0] for r in accepted_rows], user=curator).decided == len(accepted_rows)
    rejected = {(r[1], r[2]) for r in rejected_rows}

    # Every node queued again and processed by two workers at once; then a full pass; then cleanup.
    run(workers, "queue", "queue_inference", "--all", "--priority", "9")
    both = [workers.start(f"worker{i}", "run_inference", "--batch-size", "20") for i in range(2)]
    for worker in both:
        assert worker.wait(timeout=180) == 0, worker.describe()
    assert not rejected & inferred_pairs()
    relationships_infer(node_ids=node_ids)
    run(workers, "cleanup", "cleanup_relationships")
    assert not rejected & inferred_pairs()
    assert inferred_pairs() == before - rejected  # the rest is as it was, accepted ones included
    assert scalar("SELECT count(*) FROM relationships WHERE relationship_type = %s AND NOT auto_managed",
                  [INFERRED_TYPE]) == len(accepted_rows)

    # An import stating the rejected facts (exported keys node-<id>) leaves them out and says so.
    path = tmp_path / "same-facts.jsonl"
    path.write_text("".join(json.dumps({"kind": "relationship", "source": f"node-{a}", "target": f"node-{b}",
                                        "type": INFERRED_TYPE}) + "\n" for a, b in sorted(rejected)))
    out = run(workers, "import", "import_graph", str(path))
    assert f"{len(rejected):,} left out as rejected by a curator" in out
    assert not rejected & inferred_pairs()
    assert InferenceRejection.objects.count() == len(rejected)
    assert Node.objects.count() == 300


def test_a_rejection_made_while_a_worker_re_scores_the_link_waits_for_it_and_wins(workers, curator):
    graph_build(40, pools=(4, 4, 4), seed=32, prefix="race")
    relationships_infer(node_ids=list(Node.objects.values_list("pk", flat=True)))
    link_id, source, target = query("SELECT relationship_id, source_node_id, target_node_id FROM relationships "
                                    "WHERE relationship_type = %s ORDER BY relationship_id LIMIT 1",
                                    [INFERRED_TYPE])[0]
    execute("DELETE FROM relationship_inference_queue")
    inference_queue(node_ids=[source, target], priority=10)
    # The worker's inference statement sleeps after writing (its upsert holds the link's row lock).
    label = "stalled"
    execute(STALL_SQL.format(application=f"kgtest-worker-{label}", seconds=3))
    worker = workers.start(label, "run_inference", "--once")
    wait_until(lambda: scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                              "AND wait_event = 'PgSleep'", [f"kgtest-worker-{label}"]),
               timeout=60, what="the worker to stall inside its inference statement", describe=worker.describe)

    outcome = {}

    def reject():  # in a thread of its own: it waits for the worker's transaction
        try:
            outcome["result"] = review_reject([link_id], user=curator, reason="a race")
        finally:
            connection.close()

    rejecting = threading.Thread(target=reject)
    rejecting.start()
    rejecting.join(timeout=60)
    assert not rejecting.is_alive()
    assert worker.wait(timeout=60) == 0, worker.describe()
    assert outcome["result"].decided == 1
    assert (source, target) not in inferred_pairs()

    execute(STALL_DROP)
    inference_queue(node_ids=[source, target], priority=10)
    run(workers, "again", "run_inference")
    assert (source, target) not in inferred_pairs()
