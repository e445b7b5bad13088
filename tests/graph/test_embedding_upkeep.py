"""The embedding queue's upkeep (docs/embeddings.md, "The queue and its triggers", "The worker"): bounded drains, two
drains at once, users' edits while the provider runs, the worker's tick, and ``run_worker`` as a real process.

* Two drains at once (two threads, two database sessions) never embed one node twice.
* A rename or an attribute change while the provider runs waits for nothing and is embedded afterwards from the
  new text; a delete waits for the batch and no deadlock occurs; a row another transaction holds stays queued (the
  drain does not spin on it) and ``embed_nodes`` comes back to it.
* The tick embeds, logs a missing provider (RG-EMBED-001) and a bug, and tries again later; ``run_worker``
  configured for a provider it cannot load keeps running inference, and a worker with one embeds the queue.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter

import numpy as np
import pytest
from django.db import connection

from config_admin.services import config_set
from graph.errors import EMBEDDING_PROVIDER_UNAVAILABLE
from graph.models import EmbeddingQueueItem, ExternalResource, Node
from graph.services.embeddings import (
    PROVIDERS,
    EmbeddingSchedule,
    HashingProvider,
    embedding_queue_drain,
    embedding_queue_process,
    embeddings_compute,
)
from tests.embedding_support import HASHING, drain, expected_vector, provenance, queued_nodes, sql, vector_of
from tests.factories import ExternalResourceFactory, NodeFactory
from tests.scratch import connect
from tests.worker_processes import query, scalar, wait_until

# --- Bounded drains ------------------------------------------------------------------------------------------------

class SlowHashing(HashingProvider):
    def embed_parts(self, parts):
        time.sleep(0.15)
        return super().embed_parts(parts)


@pytest.mark.django_db
def test_a_bounded_drain_stops_between_batches_and_leaves_the_rest_queued():
    Node.objects.bulk_create(NodeFactory.build_batch(10))
    report = embedding_queue_drain(batch_size=1, seconds=0.3, provider=SlowHashing())
    assert 1 <= report.nodes <= 4
    assert len(queued_nodes()) == 10 - report.nodes
    assert embedding_queue_drain(batch_size=1, seconds=0, provider=SlowHashing()).claimed == 0


@pytest.mark.django_db
def test_a_drain_takes_nodes_and_resources_in_turn():
    Node.objects.bulk_create(NodeFactory.build_batch(6))
    ExternalResource.objects.bulk_create(ExternalResourceFactory.build_batch(2))
    first = embedding_queue_process(batch_size=2, provider=HashingProvider())
    assert first.nodes == 2
    report = embedding_queue_drain(batch_size=2, seconds=0.01, provider=SlowHashing())
    assert (report.nodes, report.resources) == (2, 2)  # one batch of each before the bound is checked


# --- Two drains at once --------------------------------------------------------------------------------------------

WRITE_LOG_SQL = """
CREATE TABLE test_embedding_writes (node_id integer NOT NULL, backend integer NOT NULL);
CREATE FUNCTION test_embedding_write_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO test_embedding_writes VALUES (NEW.node_id, pg_backend_pid());
    RETURN NULL;
END
$$;
CREATE TRIGGER test_embedding_write_log AFTER UPDATE OF embedding ON nodes
    FOR EACH ROW WHEN (OLD.embedding IS DISTINCT FROM NEW.embedding) EXECUTE FUNCTION test_embedding_write_log();
CREATE FUNCTION test_embedding_write_stall() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.02);
    RETURN NULL;
END
$$;
CREATE TRIGGER test_embedding_write_stall AFTER UPDATE OF embedding ON nodes
    FOR EACH STATEMENT EXECUTE FUNCTION test_embedding_write_stall();
"""
WRITE_LOG_DROP = """
DROP TRIGGER IF EXISTS test_embedding_write_log ON nodes;
DROP TRIGGER IF EXISTS test_embedding_write_stall ON nodes;
DROP FUNCTION IF EXISTS test_embedding_write_log(), test_embedding_write_stall();
DROP TABLE IF EXISTS test_embedding_writes;
"""


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_drains_never_embed_a_node_twice():
    nodes = Node.objects.bulk_create(NodeFactory.build_batch(400))
    sql(WRITE_LOG_SQL)
    try:
        start = threading.Barrier(2)
        embedded, errors = Counter(), []

        def drain_in_a_session_of_its_own(label: str) -> None:
            try:
                start.wait(timeout=30)
                while True:
                    report = embedding_queue_process(batch_size=10, provider=HashingProvider())
                    embedded[label] += report.nodes
                    if not report.claimed:
                        return
            except Exception as exc:  # shown by the assertion below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=drain_in_a_session_of_its_own, args=(label,)) for label in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        writes = query("SELECT node_id, backend FROM test_embedding_writes")
        assert len(writes) == 400 and {node_id for node_id, _ in writes} == {node.pk for node in nodes}
        assert len({backend for _, backend in writes}) == 2  # both sessions took batches
        assert embedded["a"] > 0 and embedded["b"] > 0 and embedded["a"] + embedded["b"] == 400
        assert scalar("SELECT count(*) FROM embedding_queue") == 0
        assert scalar("SELECT count(*) FROM nodes WHERE embedding_model IS DISTINCT FROM 'hashing-v1'") == 0
    finally:
        sql(WRITE_LOG_DROP)


# --- Edits while a row is being embedded -----------------------------------------------------------------------

class GatedHashing(HashingProvider):
    """Hashing that, once it has computed a batch, waits to be released: the window in which users edit."""

    def __init__(self):
        self.computed, self.release = threading.Event(), threading.Event()

    def embed_parts(self, parts):
        vectors = super().embed_parts(parts)
        self.computed.set()
        assert self.release.wait(timeout=30)
        return vectors


def in_a_thread(function, errors: list) -> threading.Thread:
    def run():
        try:
            function()
        except Exception as exc:  # shown by the caller's assertion
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def other_session():
    session = connect(connection.settings_dict["NAME"], autocommit=True)
    session.execute("SET lock_timeout = '20s'")
    return session


@pytest.mark.django_db(transaction=True)
def test_edits_while_the_provider_runs_are_not_held_up_and_are_embedded_afterwards():
    renamed, edited, deleted, quiet = (NodeFactory(name=name) for name in ("Renamed", "Edited", "Deleted", "Quiet"))
    provider, errors = GatedHashing(), []
    drain_thread = in_a_thread(lambda: embedding_queue_process(batch_size=10, provider=provider), errors)
    assert provider.computed.wait(timeout=30)
    with other_session() as session:
        started = time.monotonic()
        session.execute("UPDATE nodes SET name = 'Renamed again' WHERE node_id = %s", [renamed.pk])
        session.execute("INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value) "
                        "VALUES (%s, 'fact', 'typing', 'static')", [edited.pk])
        assert time.monotonic() - started < 2  # neither waited for the provider
        # A delete waits for the batch (its cascade needs the queue row), then goes ahead: no deadlock.
        def delete():
            with other_session() as deleter:
                deleter.execute("DELETE FROM nodes WHERE node_id = %s", [deleted.pk])

        delete_thread = in_a_thread(delete, errors)
        time.sleep(0.3)
        provider.release.set()
        drain_thread.join(timeout=30)
        delete_thread.join(timeout=30)
    assert not errors, errors
    assert not Node.objects.filter(pk=deleted.pk).exists()
    # Only the untouched node got the vector computed before the edits; the edited ones wait for their new text.
    assert provenance(quiet) == HASHING
    assert provenance(renamed) is None and provenance(edited) is None
    assert queued_nodes() == {renamed.pk, edited.pk}
    drain()
    for node in (renamed, edited):
        assert np.array_equal(vector_of(node), expected_vector(node))


@pytest.mark.django_db(transaction=True)
def test_a_row_held_by_another_transaction_is_left_queued_by_the_drain_and_waited_for_by_embed_nodes():
    held, free = NodeFactory(), NodeFactory()
    with other_session() as session, session.transaction():
        session.execute("SELECT 1 FROM nodes WHERE node_id = %s FOR UPDATE", [held.pk])
        report = embedding_queue_drain(batch_size=10, provider=HashingProvider())
        # Skipped twice: in the first batch, and alone in the second, which ends the drain (no busy loop).
        assert (report.nodes, report.batches, report.skipped) == (1, 2, 2)
        assert queued_nodes() == {held.pk} and provenance(free) == HASHING

        errors, reports = [], []
        command = in_a_thread(lambda: reports.append(embeddings_compute(provider=HashingProvider())), errors)
        time.sleep(0.5)
        assert command.is_alive()  # waiting for the row, having written the rest
    command.join(timeout=30)
    assert not errors, errors
    assert reports[0].nodes == 2 and provenance(held) == HASHING and not queued_nodes()


# --- The worker's share -----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_worker_tick_embeds_the_queue():
    Node.objects.bulk_create(NodeFactory.build_batch(7))
    ExternalResourceFactory()
    config_set(name="embedding_batch_size", value="3")
    reports = []
    schedule = EmbeddingSchedule(report=reports.append)
    report = schedule.tick()
    assert (report.nodes, report.resources, report.batches) == (7, 1, 4)
    assert not EmbeddingQueueItem.objects.exists()
    assert reports == [report]
    assert schedule.tick().claimed == 0 and reports == [report]  # nothing embedded: nothing reported
    assert (schedule.total.nodes, schedule.total.resources, schedule.failures) == (7, 1, 0)


@pytest.mark.django_db
def test_the_worker_tick_logs_a_missing_provider_and_tries_again_later(missing_embedding_provider, settings, caplog):
    node = NodeFactory()
    schedule = EmbeddingSchedule(retry_seconds=60)
    with caplog.at_level(logging.WARNING, logger="graph.services.embeddings"):
        assert schedule.tick() is None
    [record] = caplog.records
    assert EMBEDDING_PROVIDER_UNAVAILABLE in record.getMessage() and "trying again in 60 s" in record.getMessage()
    assert schedule.failures == 1 and queued_nodes() == {node.pk}
    settings.KGSITE_EMBEDDING_PROVIDER = "hashing"
    assert schedule.tick() is None  # still waiting to retry
    schedule._retry_at = 0.0
    assert schedule.tick().nodes == 1 and provenance(node) == HASHING


class BrokenProvider(HashingProvider):
    def embed_parts(self, parts):
        raise RuntimeError("a bug in a provider")


@pytest.mark.django_db
def test_the_worker_tick_survives_a_bug_with_its_traceback_logged(monkeypatch, settings, caplog):
    monkeypatch.setitem(PROVIDERS, "broken", BrokenProvider)
    settings.KGSITE_EMBEDDING_PROVIDER = "broken"
    node = NodeFactory()
    schedule = EmbeddingSchedule()
    with caplog.at_level(logging.ERROR, logger="graph.services.embeddings"):
        assert schedule.tick() is None
    assert caplog.records[0].exc_info and "a bug in a provider" in caplog.text
    assert queued_nodes() == {node.pk} and schedule.failures == 1


@pytest.mark.slow
def test_run_worker_embeds_and_carries_on_without_its_provider(workers, monkeypatch, tmp_path):
    config_set(name="worker_poll_seconds", value="1")
    nodes = Node.objects.bulk_create(NodeFactory.build_batch(20))
    # A machine without the semantic extra, configured for it: the import of sentence_transformers fails.
    shim = tmp_path / "without_extra"
    shim.mkdir()
    (shim / "sentence_transformers.py").write_text("raise ImportError('sentence_transformers is not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(shim))
    monkeypatch.setenv("KGSITE_EMBEDDING_PROVIDER", "sentence-transformers")
    without = workers.start("without-extra", "run_worker")
    wait_until(lambda: EMBEDDING_PROVIDER_UNAVAILABLE in without.stderr, timeout=120,
               what="the worker to log that its provider is missing", describe=without.describe)
    # Inference goes on; the rows wait in the embedding queue.
    wait_until(lambda: scalar("SELECT count(*) FROM relationship_inference_queue WHERE status = 'completed'") == 20,
               timeout=60, what="inference to complete", describe=without.describe)
    assert without.running
    without.signal(signal.SIGTERM)
    assert without.wait(timeout=30) == 0, without.describe()
    assert "Traceback" not in without.stderr
    assert "1 failed attempt (see the log)" in without.stdout
    assert scalar("SELECT count(*) FROM embedding_queue") == 20

    monkeypatch.delenv("PYTHONPATH")
    monkeypatch.setenv("KGSITE_EMBEDDING_PROVIDER", "hashing")
    worker = workers.start("hashing", "run_worker")
    wait_until(lambda: scalar("SELECT count(*) FROM embedding_queue") == 0, timeout=120,
               what="the worker to embed the queue", describe=worker.describe)
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, worker.describe()
    assert "Embedded 20 nodes with hashing-v1" in worker.stdout, worker.describe()
    assert scalar("SELECT count(*) FROM nodes WHERE node_id = ANY(%s) AND embedding_model = 'hashing-v1'",
                  [[node.pk for node in nodes]]) == 20
