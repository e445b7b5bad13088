"""Helpers of the embedding tests (tests/graph/test_embeddings.py, tests/graph/test_embedding_upkeep.py): what is
queued, who made a row's vector, the vector the hashing provider makes of a row's text. The fixtures they share
(``missing_embedding_provider``, the provider cache cleared around each test) are in tests/graph/conftest.py."""

from __future__ import annotations

import numpy as np
from django.db import connection

from graph.models import EmbeddingQueueItem, Node
from graph.services import embeddings
from graph.services.embeddings import (
    DIMENSIONS,
    HashingProvider,
    embedding_queue_drain,
    embedding_sources,
    sources_embed,
)

HASHING = "hashing-v1"
MISSING = "missing-extra"  # a provider key whose import fails (the `missing_embedding_provider` fixture)


def cosine(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def queued_nodes() -> set[int]:
    return set(EmbeddingQueueItem.objects.filter(node__isnull=False).values_list("node_id", flat=True))


def queued_resources() -> set[int]:
    return set(EmbeddingQueueItem.objects.filter(resource__isnull=False).values_list("resource_id", flat=True))


def provenance(node: Node) -> str | None:
    return Node.objects.values_list("embedding_model", flat=True).get(pk=node.pk)


def vector_of(node: Node) -> np.ndarray | None:
    vector = Node.objects.values_list("embedding", flat=True).get(pk=node.pk)
    return None if vector is None else np.asarray(vector, dtype=np.float32)


def expected_vector(node: Node) -> np.ndarray:
    return sources_embed(embedding_sources(ids=[node.pk]), HashingProvider())[0]


def random_unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIMENSIONS).astype(np.float32)
    return vector / np.linalg.norm(vector)


def sql(statement: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def provider_write(node: Node, vector: np.ndarray, model: str) -> None:
    """Write ``vector`` as a provider named ``model`` would (what an older provider left behind)."""
    sql("SELECT set_config('kgsite.embedding_writer', 'provider', true)")
    sql("UPDATE nodes SET embedding = %s::vector, embedding_model = %s WHERE node_id = %s",
        [embeddings.vector_literal(vector), model, node.pk])
    sql("SELECT set_config('kgsite.embedding_writer', '', true)")


def drain() -> embeddings.EmbedReport:
    return embedding_queue_drain(batch_size=50, provider=HashingProvider())
