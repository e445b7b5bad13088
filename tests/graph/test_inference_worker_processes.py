"""The inference worker's reliability, with real processes (issue 10, "Done when"; docs/inference.md, "The worker").

* Four ``run_inference`` processes on 5,000 queued nodes: each queue row is claimed once and completed once (a
  test-only trigger logs every update of the queue), the work is spread, no relationship is duplicated (nor
  reversed) and the relationships are those of one ``relationships_infer`` over every node.
* A worker SIGKILLed in the middle of a batch (a test-only trigger holds its batch's statement in ``pg_sleep``)
  has written nothing; its rows are rescued by another worker once the lease has run out, and completed.
* A node whose inference always fails (a test-only trigger refuses its relationships) is retried after 1 s, then
  2 s, and ends ``failed`` after ``max_retries`` with the trigger's message; the rest of its batch completes.
* SIGTERM: the batch in hand is finished and committed, the worker prints its summary and exits 0; the rest of
  the queue is left pending for the next worker.
* In process, the claim's semantics: rows locked by one claim are skipped by another, the order and ``run_after``
  are honoured, expired leases are given back, a row of a node queued again meanwhile is cancelled.

The test-only tables, functions and triggers are created by each test and dropped at its end (the ``harness``
fixture), after its processes have been stopped and their database sessions have ended.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import connection

from config_admin.services import config_set
from graph.services.inference_worker import batch_process, queue_claim, queue_fail, queue_rescue_expired
from tests.scratch import connect
from tests.worker_processes import (
    APPLICATION_PREFIX,
    INFERRED_TYPE,
    STALL_DROP,
    STALL_SQL,
    Workers,
    execute,
    graph_build,
    inferred_relationships,
    query,
    relationships_expected,
    scalar,
    wait_until,
)

HOST = socket.gethostname()

# Every update of a queue row, as the worker's transaction saw it (now() is that transaction's start).
QUEUE_LOG_SQL = """
CREATE TABLE test_queue_transitions (
    transition_id bigserial PRIMARY KEY,
    queue_id integer NOT NULL,
    node_id integer NOT NULL,
    old_status text,
    new_status text,
    batch_id text,
    processing_node text,
    retry_count integer,
    error_message text,
    run_after timestamp,
    started_at timestamp,
    old_estimated_completion timestamp,
    txn_time timestamp NOT NULL,
    application_name text
);
CREATE FUNCTION test_queue_transition_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO test_queue_transitions (queue_id, node_id, old_status, new_status, batch_id, processing_node,
        retry_count, error_message, run_after, started_at, old_estimated_completion, txn_time, application_name)
    VALUES (NEW.queue_id, NEW.node_id, OLD.status, NEW.status, NEW.batch_id, NEW.processing_node, NEW.retry_count,
        NEW.error_message, NEW.run_after, NEW.started_at, OLD.estimated_completion, now()::timestamp,
        current_setting('application_name'));
    RETURN NULL;
END
$$;
CREATE TRIGGER test_queue_transition_log AFTER UPDATE ON relationship_inference_queue
    FOR EACH ROW EXECUTE FUNCTION test_queue_transition_log();
"""
QUEUE_LOG_DROP = """
DROP TRIGGER IF EXISTS test_queue_transition_log ON relationship_inference_queue;
DROP FUNCTION IF EXISTS test_queue_transition_log();
DROP TABLE IF EXISTS test_queue_transitions;
"""

REFUSAL = "test refusal: node {node} takes no relationships"
# Any relationship written with one end on node {node} fails, however it is written.
REFUSE_SQL = """
CREATE FUNCTION test_inference_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{message}';
END
$$;
CREATE TRIGGER test_inference_refuse BEFORE INSERT OR UPDATE ON relationships
    FOR EACH ROW WHEN (NEW.source_node_id = {node} OR NEW.target_node_id = {node})
    EXECUTE FUNCTION test_inference_refuse();
"""
REFUSE_DROP = """
DROP TRIGGER IF EXISTS test_inference_refuse ON relationships;
DROP FUNCTION IF EXISTS test_inference_refuse();
"""


@dataclass
class Harness:
    workers: Workers
    cleanups: list[str] = field(default_factory=list)

    def install(self, create_sql: str, drop_sql: str) -> None:
        self.cleanups.append(drop_sql)
        execute(create_sql)

    def start(self, label: str, *args: str):
        return self.workers.start(label, *args)


@pytest.fixture
def harness(transactional_db, tmp_path):
    harness = Harness(Workers(tmp_path))
    try:
        yield harness
    finally:
        print(harness.workers.describe())  # shown with a failure ("Captured stdout teardown")
        try:
            harness.workers.stop_all()
        finally:
            for drop_sql in reversed(harness.cleanups):
                execute(drop_sql)


def identity(worker) -> str:
    """What the worker writes into ``processing_node`` (host:pid; manage.py runs in the process we started)."""
    return f"{HOST}:{worker.pid}"


def status_counts() -> dict[str, int]:
    return dict(query("SELECT status, count(*) FROM relationship_inference_queue GROUP BY status"))


def transitions() -> dict[int, list[dict]]:
    """queue_id → its logged updates that changed the status, in order."""
    columns = ("old_status", "new_status", "batch_id", "processing_node", "retry_count", "error_message",
               "run_after", "started_at", "old_estimated_completion", "txn_time", "application_name")
    rows = query(f"SELECT queue_id, {', '.join(columns)} FROM test_queue_transitions "
                 "WHERE old_status IS DISTINCT FROM new_status ORDER BY transition_id")
    found = defaultdict(list)
    for queue_id, *values in rows:
        found[queue_id].append(dict(zip(columns, values, strict=True)))
    return found


def steps(row_transitions: list[dict]) -> list[tuple[str, str]]:
    return [(t["old_status"], t["new_status"]) for t in row_transitions]


def batch_lines(worker) -> list[str]:
    return [line for line in worker.stdout.splitlines() if line.startswith("batch ")]


def assert_no_duplicate_relationships() -> None:
    duplicated = query("SELECT source_node_id, target_node_id, relationship_type, count(*) FROM relationships "
                       "GROUP BY 1, 2, 3 HAVING count(*) > 1")
    assert not duplicated, duplicated[:5]
    reversed_pairs = query("SELECT a.source_node_id, a.target_node_id FROM relationships a JOIN relationships b "
                           "ON b.source_node_id = a.target_node_id AND b.target_node_id = a.source_node_id "
                           "AND b.relationship_type = a.relationship_type WHERE a.relationship_type = %s",
                           [INFERRED_TYPE])
    assert not reversed_pairs, reversed_pairs[:5]
    assert scalar("SELECT count(*) FROM relationships WHERE relationship_type = %s "
                  "AND source_node_id >= target_node_id", [INFERRED_TYPE]) == 0


def assert_relationships_equal(actual: dict, expected: dict) -> None:
    missing, extra = expected.keys() - actual.keys(), actual.keys() - expected.keys()
    changed = {pair: (actual[pair], expected[pair]) for pair in actual.keys() & expected.keys()
               if actual[pair] != expected[pair]}
    assert not (missing or extra or changed), (
        f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} extra (e.g. {sorted(extra)[:3]}), "
        f"{len(changed)} with other values (e.g. {sorted(changed.items())[:3]})")


# --- Four workers, 5,000 nodes -----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_four_workers_process_each_of_5000_queued_nodes_exactly_once(harness):
    # Three attributes per node, each value carried by about 50 nodes: ~3,700 pairs share two values and are
    # linked; a pair's two nodes mostly fall into batches of different workers, which upsert the same pair.
    node_ids = graph_build(5000, pools=(100, 100, 100), seed=10)
    assert status_counts() == {"pending": 5000}
    expected = relationships_expected(node_ids)
    assert len(expected) > 2000
    harness.install(QUEUE_LOG_SQL, QUEUE_LOG_DROP)

    workers = [harness.start(f"worker{i}", "run_inference", "--batch-size", "50", "-v", "2") for i in range(4)]
    for worker in workers:
        assert worker.wait(timeout=180) == 0, worker.describe()
        assert "Traceback" not in worker.stderr and "failed" not in worker.stderr, worker.describe()

    # None lost, none twice: every row went pending → processing → completed once, in one batch of one worker.
    assert status_counts() == {"completed": 5000}
    logged = transitions()
    assert len(logged) == 5000
    irregular = {queue_id: row for queue_id, row in logged.items()
                 if steps(row) != [("pending", "processing"), ("processing", "completed")]
                 or row[0]["batch_id"] != row[1]["batch_id"] or row[0]["processing_node"] != row[1]["processing_node"]}
    assert not irregular, list(irregular.items())[:3]
    assert scalar("SELECT count(*) FROM relationship_inference_queue WHERE retry_count <> 0 "
                  "OR error_message IS NOT NULL") == 0
    batches = query("SELECT batch_id, count(DISTINCT processing_node), count(*) FROM relationship_inference_queue "
                    "GROUP BY batch_id")
    assert all(workers_of_batch == 1 and 1 <= size <= 50 for _, workers_of_batch, size in batches), batches
    assert len(batches) >= 100

    # Spread over the workers, and each worker's summary counts what it completed.
    by_worker = dict(query("SELECT processing_node, count(*) FROM relationship_inference_queue GROUP BY 1"))
    assert set(by_worker) <= {identity(worker) for worker in workers}, by_worker
    assert len(by_worker) > 1, by_worker
    for worker in workers:
        assert worker.completed_count() == by_worker.get(identity(worker), 0), worker.describe()
        assert len(batch_lines(worker)) == len({row[0]["batch_id"] for row in logged.values()
                                                if row[0]["processing_node"] == identity(worker)})

    # Workers really contended: hundreds of linked pairs have their two nodes completed by different workers.
    done_by = dict(query("SELECT node_id, processing_node FROM relationship_inference_queue"))
    assert sum(done_by[a] != done_by[b] for a, b in expected) > len(expected) // 10

    assert_no_duplicate_relationships()
    assert_relationships_equal(inferred_relationships(), expected)


# --- SIGKILL in the middle of a batch ------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_is_rescued_after_its_lease_and_completed_by_another(harness):
    node_ids = graph_build(100, pools=(10, 10, 10), seed=20)
    expected = relationships_expected(node_ids)
    assert len(expected) > 100
    config_set(name="inference_lease_seconds", value="10")  # the parameter's minimum (graph.0013)
    config_set(name="worker_poll_seconds", value="1")
    harness.install(QUEUE_LOG_SQL, QUEUE_LOG_DROP)
    victim_application = f"{APPLICATION_PREFIX}-victim"
    harness.install(STALL_SQL.format(application=victim_application, seconds=120), STALL_DROP)

    victim = harness.start("victim", "run_inference", "--once", "--batch-size", "100")
    assert victim.application_name == victim_application

    # Its inference statement has written its relationships (it holds a transaction id) and sleeps before commit.
    def victim_sleeping():
        return query("SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity "
                     "WHERE application_name = %s AND wait_event = 'PgSleep'", [victim_application])

    [(_, wrote)] = wait_until(victim_sleeping, timeout=60, what="the victim's batch to be in its inference",
                              describe=victim.describe)
    assert wrote
    held = query("SELECT DISTINCT status, batch_id, processing_node, retry_count FROM relationship_inference_queue")
    assert len(held) == 1, held
    [(status, victim_batch, holder, retries)] = held
    assert (status, holder, retries) == ("processing", identity(victim), 0)

    os.killpg(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=10) == -signal.SIGKILL

    # The server notices the dead client (client_connection_check_interval, 2 s) and rolls its batch back: nothing
    # of it was committed, and its rows are still held by its batch.
    wait_until(lambda: not query("SELECT 1 FROM pg_stat_activity WHERE application_name = %s",
                                 [victim_application]),
               timeout=15, what="PostgreSQL to end the killed worker's session")
    assert scalar("SELECT count(*) FROM relationships") == 0
    assert scalar("SELECT bool_and(status = 'processing' AND batch_id = %s) FROM relationship_inference_queue",
                  [victim_batch])

    # Another worker, started before the lease runs out (almost always), gives the rows back only after it.
    rescuer = harness.start("rescuer", "run_inference", "--loop", "--batch-size", "25", "-v", "2")
    wait_until(lambda: status_counts() == {"completed": 100}, timeout=60,
               what="the rescuer to complete the killed worker's rows",
               describe=lambda: f"{status_counts()}\n{harness.workers.describe()}")
    rescuer.signal(signal.SIGTERM)
    assert rescuer.wait(timeout=15) == 0, rescuer.describe()
    assert "Traceback" not in rescuer.stderr, rescuer.describe()

    rows = query("SELECT status, retry_count, error_message, processing_node, estimated_completion "
                 "FROM relationship_inference_queue")
    # Completion clears the rescue's message; retry_count keeps the count of the rescue.
    assert set(rows) == {("completed", 1, None, identity(rescuer), None)}
    logged = transitions()
    assert len(logged) == 100
    for queue_id, row in logged.items():
        assert steps(row) == [("pending", "processing"), ("processing", "pending"), ("pending", "processing"),
                              ("processing", "completed")], (queue_id, row)
        claimed, rescued, reclaimed, completed = row
        assert (claimed["batch_id"], claimed["processing_node"]) == (victim_batch, identity(victim))
        # Rescued by the other worker, not before the end of the lease, counted as a retry, with the reason.
        assert rescued["application_name"] == rescuer.application_name
        assert rescued["txn_time"] >= rescued["old_estimated_completion"]
        assert rescued["old_estimated_completion"] - claimed["txn_time"] == timedelta(seconds=10)
        assert rescued["retry_count"] == 1
        assert rescued["error_message"].startswith("rescued: the worker holding it")
        assert reclaimed["processing_node"] == completed["processing_node"] == identity(rescuer)
        assert reclaimed["batch_id"] == completed["batch_id"] != victim_batch
        assert reclaimed["retry_count"] == 1 and completed["error_message"] is None
    assert "100 rescued from stopped workers" in rescuer.summary(), rescuer.describe()
    assert rescuer.completed_count() == 100

    assert_no_duplicate_relationships()
    assert_relationships_equal(inferred_relationships(), expected)


# --- A node that always fails ----------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_node_that_always_fails_ends_failed_after_max_retries_and_its_batch_completes(harness):
    node_ids = graph_build(40, pools=(4, 4, 4), seed=30)
    expected = relationships_expected(node_ids)
    bad = next(node for node in node_ids if any(node in pair for pair in expected))
    partners = {a if b == bad else b for a, b in expected if bad in (a, b)}
    # The bad node's partners were inferred earlier (their rows are done): only the bad node's own inference
    # writes relationships touching it, so only its row fails.
    execute("UPDATE relationship_inference_queue SET status = 'completed', completed_at = now() "
            "WHERE node_id = ANY(%s)", [sorted(partners)])
    queued = [node for node in node_ids if node not in partners]
    config_set(name="inference_retry_delay_seconds", value="1")
    config_set(name="worker_poll_seconds", value="1")
    harness.install(QUEUE_LOG_SQL, QUEUE_LOG_DROP)
    message = REFUSAL.format(node=bad)
    harness.install(REFUSE_SQL.format(message=message, node=bad), REFUSE_DROP)
    bad_row = scalar("SELECT queue_id FROM relationship_inference_queue WHERE node_id = %s", [bad])

    worker = harness.start("looper", "run_inference", "--loop", "--batch-size", "100", "-v", "2")
    wait_until(lambda: status_counts() == {"completed": len(node_ids) - 1, "failed": 1}, timeout=60,
               what="the bad node to fail and every other node to complete",
               describe=lambda: f"{status_counts()}\n{worker.describe()}")
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, worker.describe()

    [(status, retries, max_retries, error, completed_at)] = query(
        "SELECT status, retry_count, max_retries, error_message, completed_at FROM relationship_inference_queue "
        "WHERE node_id = %s", [bad])
    assert (status, retries, max_retries) == ("failed", 3, 3)
    assert message in error
    assert completed_at is not None

    logged = transitions()
    # The rest of its batch completed at the first attempt (node by node after the batch failed), once each.
    assert set(logged) == set(scalar("SELECT array_agg(queue_id) FROM relationship_inference_queue "
                                     "WHERE node_id = ANY(%s)", [queued]))
    for queue_id, row in logged.items():
        if queue_id != bad_row:
            assert steps(row) == [("pending", "processing"), ("processing", "completed")], (queue_id, row)
    assert scalar("SELECT count(*) FROM relationship_inference_queue WHERE node_id <> %s "
                  "AND (retry_count <> 0 OR error_message IS NOT NULL)", [bad]) == 0
    first_batch = logged[bad_row][0]["batch_id"]
    assert scalar("SELECT count(*) FROM test_queue_transitions WHERE batch_id = %s AND new_status = 'completed'",
                  [first_batch]) == len(queued) - 1

    # Three attempts; back-off 1 s after the first failure, 2 s after the second; never claimed before run_after.
    row = logged[bad_row]
    assert steps(row) == [("pending", "processing"), ("processing", "pending")] * 2 + [
        ("pending", "processing"), ("processing", "failed")]
    claims, give_backs = row[0::2], row[1::2]
    assert [g["retry_count"] for g in give_backs] == [1, 2, 3]
    assert all(message in g["error_message"] for g in give_backs)
    assert [g["run_after"] - g["txn_time"] for g in give_backs[:2]] == [timedelta(seconds=1), timedelta(seconds=2)]
    assert claims[1]["started_at"] >= give_backs[0]["run_after"]
    assert claims[2]["started_at"] >= give_backs[1]["run_after"]
    assert len({c["batch_id"] for c in claims}) == 3

    lines = batch_lines(worker)
    assert len(lines) == 3, worker.describe()
    assert f": {len(queued) - 1}/{len(queued)} nodes" in lines[0] and "1 to retry, 0 failed" in lines[0]
    assert ": 0/1 nodes" in lines[1] and "1 to retry, 0 failed" in lines[1]
    assert ": 0/1 nodes" in lines[2] and "0 to retry, 1 failed" in lines[2]
    assert "2 to retry, 1 failed" in worker.summary()
    assert message in worker.stderr  # the warnings name the node's error

    # Nothing touches the bad node; every other processed node has its relationships.
    actual = inferred_relationships()
    assert not [pair for pair in actual if bad in pair]
    processed = set(queued) - {bad}
    assert_relationships_equal(actual, {pair: value for pair, value in expected.items()
                                        if bad not in pair and processed & set(pair)})


# --- SIGTERM ------------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("command", [("run_inference", "--loop"), ("run_worker",)], ids=["run_inference", "run_worker"])
def test_sigterm_finishes_the_batch_in_hand_then_exits_cleanly(harness, command):
    total = 150
    graph_build(total, pools=(10, 10, 10), seed=40)
    harness.install(QUEUE_LOG_SQL, QUEUE_LOG_DROP)
    slow_application = f"{APPLICATION_PREFIX}-slow"
    harness.install(STALL_SQL.format(application=slow_application, seconds=0.3), STALL_DROP)  # ~0.3 s per batch

    worker = harness.start("slow", *command, "--batch-size", "10", "-v", "2")
    wait_until(lambda: len(batch_lines(worker)) >= 3, timeout=60, what="three batches", describe=worker.describe)
    in_hand = wait_until(lambda: query("SELECT DISTINCT batch_id FROM relationship_inference_queue "
                                       "WHERE status = 'processing'"),
                         timeout=10, what="a batch in hand", describe=worker.describe)
    sent = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0, worker.describe()
    assert time.monotonic() - sent < 5, worker.describe()
    assert "Traceback" not in worker.stderr, worker.describe()

    # It finished and committed the batch in hand, printed one line per batch and its summary, and took no more.
    assert worker.stdout.splitlines()[-1] == worker.summary()
    summary_batches = int(worker.summary().split(" nodes in ", 1)[1].split(" batches", 1)[0])
    assert len(batch_lines(worker)) == summary_batches
    done = worker.completed_count()
    counts = status_counts()
    assert counts == {"completed": done, "pending": total - done}, counts
    assert 0 < done < total
    assert scalar("SELECT bool_and(status = 'completed') FROM relationship_inference_queue WHERE batch_id = %s",
                  [in_hand[0][0]])
    logged = transitions()
    assert len(logged) == done
    assert all(steps(row) == [("pending", "processing"), ("processing", "completed")] for row in logged.values())
    assert scalar("SELECT count(*) FROM relationship_inference_queue WHERE status = 'pending' "
                  "AND (batch_id IS NOT NULL OR started_at IS NOT NULL OR retry_count <> 0)") == 0

    # The next worker takes the rest.
    successor = harness.start("successor", "run_inference", "--batch-size", "25")
    assert successor.wait(timeout=60) == 0, successor.describe()
    assert successor.completed_count() == total - done
    assert status_counts() == {"completed": total}


# --- The claim, in process ------------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_the_rows_another_claim_holds_locked():
    graph_build(10, pools=(2,), seed=1)
    everything = [row[0] for row in query("SELECT queue_id FROM relationship_inference_queue ORDER BY queue_id")]
    with connect(connection.settings_dict["NAME"]) as other:  # its transaction holds the locks until rollback
        locked = [row[0] for row in other.execute(
            "SELECT queue_id FROM relationship_inference_queue ORDER BY queue_id LIMIT 4 FOR UPDATE").fetchall()]
        first = queue_claim(batch_size=100, worker="test:1", lease_seconds=60)
        assert [item.queue_id for item in first.items] == everything[4:]
        assert queue_claim(batch_size=100, worker="test:2", lease_seconds=60).items == []
        other.rollback()
    second = queue_claim(batch_size=100, worker="test:2", lease_seconds=60)
    assert [item.queue_id for item in second.items] == locked
    assert dict(query("SELECT processing_node, count(*) FROM relationship_inference_queue GROUP BY 1")) == {
        "test:1": 6, "test:2": 4}


@pytest.mark.django_db
def test_a_claim_takes_the_most_urgent_rows_that_are_due():
    node_ids = graph_build(5, pools=(2,), seed=2)
    execute("UPDATE relationship_inference_queue SET priority = 9 WHERE node_id = ANY(%s)", [node_ids[3:]])
    execute("UPDATE relationship_inference_queue SET run_after = now() + interval '1 hour' WHERE node_id = %s",
            [node_ids[4]])
    batch = queue_claim(batch_size=2, worker="test:1", lease_seconds=60)
    assert batch.node_ids == [node_ids[0], node_ids[3]]  # priority 9 first (the other is not due), then the oldest
    [(started, lease)] = query("SELECT DISTINCT started_at, estimated_completion - started_at "
                               "FROM relationship_inference_queue WHERE batch_id = %s", [batch.batch_id])
    assert lease == timedelta(seconds=60)


@pytest.mark.django_db
def test_rescue_gives_back_the_rows_whose_lease_ran_out():
    graph_build(3, pools=(2,), seed=3)
    dead = queue_claim(batch_size=10, worker="dead:1", lease_seconds=60)
    expired, exhausted, alive = dead.items
    execute("UPDATE relationship_inference_queue SET estimated_completion = now() - interval '1 second' "
            "WHERE queue_id = ANY(%s)", [[expired.queue_id, exhausted.queue_id]])
    execute("UPDATE relationship_inference_queue SET retry_count = 2 WHERE queue_id = %s", [exhausted.queue_id])

    assert sorted(queue_rescue_expired()) == [(expired.queue_id, "pending"), (exhausted.queue_id, "failed")]
    rows = {queue_id: rest for queue_id, *rest in query(
        "SELECT queue_id, status, retry_count, left(error_message, 9), estimated_completion IS NULL, "
        "run_after <= now(), completed_at IS NOT NULL FROM relationship_inference_queue")}
    assert rows[expired.queue_id] == ["pending", 1, "rescued: ", True, True, False]
    assert rows[exhausted.queue_id] == ["failed", 3, "rescued: ", True, True, True]
    assert rows[alive.queue_id] == ["processing", 0, None, False, None, False]
    assert queue_rescue_expired() == []

    # Another worker takes the rescued row at once (the lease was the wait); the dead worker's batch, should it
    # come back, completes only the row it still holds.
    taken = queue_claim(batch_size=10, worker="alive:2", lease_seconds=60)
    assert taken.items == [expired]
    batch_process(dead)
    assert dict(query("SELECT queue_id, status FROM relationship_inference_queue")) == {
        expired.queue_id: "processing", exhausted.queue_id: "failed", alive.queue_id: "completed"}
    assert scalar("SELECT batch_id FROM relationship_inference_queue WHERE queue_id = %s",
                  [expired.queue_id]) == taken.batch_id


@pytest.mark.django_db
def test_a_worker_that_outlived_its_lease_does_not_count_rows_it_no_longer_holds():
    graph_build(2, pools=(2,), seed=4)
    dead = queue_claim(batch_size=10, worker="dead:1", lease_seconds=60)
    execute("UPDATE relationship_inference_queue SET estimated_completion = now() - interval '1 second'")
    queue_rescue_expired()
    queue_claim(batch_size=10, worker="alive:2", lease_seconds=60)
    outcome = batch_process(dead)
    assert status_counts() == {"processing": 2}
    assert outcome.completed == 0


@pytest.mark.django_db
def test_a_row_given_back_after_its_node_was_queued_again_is_cancelled():
    node_ids = graph_build(2, pools=(2,), seed=5)
    batch = queue_claim(batch_size=10, worker="test:1", lease_seconds=60)
    failing, expiring = batch.items
    # Both nodes change while their batch is in hand: the triggers queue each again (a new pending row each).
    execute("UPDATE node_attributes SET attribute_value = 'changed' WHERE node_id = ANY(%s)", [node_ids])
    newer = dict(query("SELECT node_id, queue_id FROM relationship_inference_queue WHERE status = 'pending'"))
    assert set(newer) == set(node_ids)

    assert queue_fail(batch=batch, item=failing, error="boom") == "cancelled"
    execute("UPDATE relationship_inference_queue SET estimated_completion = now() - interval '1 second' "
            "WHERE queue_id = %s", [expiring.queue_id])
    assert queue_rescue_expired() == [(expiring.queue_id, "cancelled")]

    rows = {queue_id: rest for queue_id, *rest in query(
        "SELECT queue_id, status, retry_count, left(error_message, 9), completed_at IS NOT NULL "
        "FROM relationship_inference_queue")}
    assert rows[failing.queue_id] == ["cancelled", 1, "boom", True]
    assert rows[expiring.queue_id] == ["cancelled", 1, "rescued: ", True]
    assert {rows[newer[node]][0] for node in node_ids} == {"pending"}
    assert Counter(status for status, *_ in rows.values()) == {"cancelled": 2, "pending": 2}
