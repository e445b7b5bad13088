"""A synthetic knowledge graph shaped like real ones, written with COPY (``manage.py generate_graph``, benchmarks).

What the graph looks like (tests/graph/test_generator.py checks it):

* **Nodes** of ten types with skewed shares. Each type has one root node (``path`` = the type's label) and a tree
  below it: node *k* of a type hangs under the earlier node ``floor(k * u**2.5)`` of that type (``u`` uniform), so a
  few categories have thousands of children and paths are typically 3–8 labels deep. A node's path is its
  parent's path plus one label made from its name; siblings with the same label get ``_2``, ``_3``, ... so paths
  are unique. Roots have no parent and a one-label path.
* **Embeddings** (768-d, unit length) = type centroid + topic centroid (the topic is the node's ancestor just below
  the root; topics of all types share 40 themes) + noise, some nodes mixed with a second topic: nearest
  neighbours mostly share the topic, and the type far more often than chance (86% of the ten nearest at 3k nodes,
  99% at 100k; chance 13%).
* **Attributes**: 5–15 per node, keys drawn without replacement from a Zipf-weighted catalogue (weights differ by
  type). Categorical values are Zipf-distributed per key (``status = active`` on a large part of the graph, a long
  tail seen once), identifiers are unique, numbers and dates are heavy-tailed, and 2% of free-text values are
  3–11 KB of varied words.
* **Relationships**: every node points to its parent, plus five edges per node whose targets are drawn with weight
  ``1 / rank**1.1`` (rank by depth: roots and top categories are the hubs, with tens of thousands of edges at
  100k nodes), half of them inside the source's type. Unique per (source, target, type), no self-loops.
* **External resources** (one per five nodes, short unique URLs, 60% with an embedding), **links** (~1.5 per
  node, popular resources linked a lot) and **references** (~0.6 per node, from and to nodes or resources).

Deterministic for a seed: every draw comes from a numpy stream seeded with (seed, purpose[, chunk]); timestamps
are spread over the three years before ``EPOCH``. On an empty database the same seed gives the same rows and ids.

Fast: the plan is numpy, rows go through binary ``COPY`` (psycopg 3). Before loading, the secondary indexes and
the foreign keys of the six tables are dropped (their definitions read from the catalog) and recreated from the
same definitions afterwards, which builds each index once by sorting instead of row by row; then ``ANALYZE``. Ids
come from the tables' sequences, reserved under an exclusive lock, so the application inserts normally afterwards.
Everything happens in one transaction: a failure leaves the database as it was. That machinery (COPY, the index
and foreign-key drop and rebuild, id blocks, COPY column lists from the models) is ``kgsite.bulk``; this module
only says what the graph looks like and makes its rows.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db import connections, transaction

from graph.errors import GRAPH_NOT_EMPTY, GRAPH_TOO_SMALL, GraphError
from graph.models import ExternalResource, Node, NodeAttribute, NodeResourceLink, Reference, Relationship
from kgsite.bulk import (
    DeferredDefinitions,
    copy_columns,
    copy_rows,
    ids_reserve,
    indexes_and_foreign_keys_drop,
    indexes_and_foreign_keys_recreate,
)

GENERATOR_VERSION = 2  # 2: sibling labels made unique (paths are unique)
DIMENSIONS = 768
CHUNK = 4096  # nodes per embedding/attribute chunk; part of the determinism contract (change => new version)
EPOCH = np.datetime64("2026-01-01T00:00:00", "s")
_SPAN_SECONDS = 3 * 365 * 86400

NODE_TYPES = (  # (type, share of nodes)
    ("concept", 0.22), ("person", 0.16), ("document", 0.12), ("organization", 0.10), ("place", 0.10),
    ("product", 0.07), ("technology", 0.07), ("event", 0.06), ("field_of_study", 0.05), ("dataset", 0.05),
)
NODE_SOURCES = (("import", 0.45), ("wikidata", 0.25), ("manual", 0.15), ("crawler", 0.10), ("api", 0.05))
RELATIONSHIP_TYPES = (
    "related_to", "part_of", "subclass_of", "instance_of", "cites", "influenced_by", "uses", "located_in",
    "member_of", "authored_by", "depends_on", "derived_from", "works_for", "same_as", "founded_by", "opposite_of",
)
_PARENT_EDGE = {"concept": "subclass_of", "field_of_study": "subclass_of", "technology": "subclass_of",
                "place": "located_in", "person": "member_of"}  # otherwise part_of
RESOURCE_TYPES = ("webpage", "article", "paper", "book", "dataset", "video", "repository", "documentation")
CRAWL_STATUSES = (("completed", 0.60), ("pending", 0.20), ("stale", 0.10), ("failed", 0.05), ("crawling", 0.05))
LINK_TYPES = ("reference", "source", "mention", "homepage", "documentation")
REFERENCE_TYPES = ("cites", "mentions", "supports", "quotes", "extends", "contradicts")
TABLES = ("nodes", "node_attributes", "relationships", "external_resources", "node_resource_links",
          "reference_tracking")

# Attribute keys: (key, attribute_type, kind), most popular first. kind: cat(egorical), id, num, date, text.
_NAMED_KEYS = (
    ("status", "classification", "cat"), ("description", "description", "text"), ("language", "property", "cat"),
    ("country", "spatial", "cat"), ("external_id", "identifier", "id"), ("category", "classification", "cat"),
    ("tag", "classification", "cat"), ("year", "temporal", "num"), ("license", "property", "cat"),
    ("wikidata_id", "identifier", "id"), ("summary", "description", "text"), ("genre", "classification", "cat"),
    ("founded", "temporal", "date"), ("region", "spatial", "cat"), ("format", "property", "cat"),
    ("citations", "statistic", "num"), ("occupation", "property", "cat"), ("industry", "classification", "cat"),
    ("published", "temporal", "date"), ("notes", "description", "text"), ("version", "property", "num"),
    ("population", "statistic", "num"), ("doi", "identifier", "id"), ("publisher", "property", "cat"),
    ("abstract", "description", "text"), ("maturity", "property", "cat"), ("employees", "statistic", "num"),
    ("updated", "temporal", "date"), ("access", "property", "cat"), ("orcid", "identifier", "id"),
)
_EXTRA_KEYS = 120  # rarer categorical keys with generated names, the catalogue's long tail
_TOP_VALUES = {
    "status": ("active", "deprecated", "draft", "archived", "under_review"),
    "language": ("english", "german", "french", "spanish", "chinese", "japanese", "russian", "portuguese"),
    "license": ("cc-by-4.0", "mit", "apache-2.0", "proprietary", "gpl-3.0", "cc0-1.0", "bsd-3-clause"),
    "access": ("public", "restricted", "private"),
    "format": ("html", "pdf", "csv", "json", "xml", "epub"),
}
_ID_PREFIX = {"external_id": "ext-", "wikidata_id": "Q", "doi": "10.5555/kg.", "orcid": "0000-0002-"}
_FUNCTION_WORDS = ("the", "of", "and", "in", "to", "a", "is", "for", "on", "with", "as", "by", "that", "from", "at")
_ONSETS = ("b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "ch", "cl", "dr",
           "gr", "kr", "pl", "pr", "sh", "st", "th", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "x", "nd", "rk")

# Embedding mixture (see the module docstring): component norms before normalisation.
_TYPE_WEIGHT, _TOPIC_WEIGHT, _NOISE, _MIX_SHARE, _MIX_WEIGHT = 0.3, 0.55, 0.95, 0.15, 0.35
_THEMES, _THEME_WEIGHT = 40, 0.6
_PARENT_BIAS = 2.5
_EDGES_PER_NODE, _EDGES_IN_TYPE, _HUB_EXPONENT = 5, 0.5, 1.1
_LONG_TEXT_SHARE = 0.02

# Random streams, one per purpose: adding a purpose never changes the others' draws.
_S_NODES, _S_CENTROIDS, _S_EMBEDDINGS, _S_ATTRIBUTES, _S_EDGES, _S_RESOURCES, _S_LINKS, _S_REFERENCES = range(1, 9)
_S_RESOURCE_EMBEDDINGS = 9

_DECIMAL_4 = np.array([Decimal(i).scaleb(-4) for i in range(10001)], dtype=object)
_DECIMAL_2 = np.array([Decimal(i).scaleb(-2) for i in range(101)], dtype=object)


def _rng(seed: int, *purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, *purpose])


def _pseudo_words(count: int) -> np.ndarray:
    """``count`` distinct pronounceable words, the same on every run (the vocabulary is not seeded by the user)."""
    rng = np.random.default_rng(20260101)
    words: dict[str, None] = dict.fromkeys(_FUNCTION_WORDS)
    while len(words) < count:
        syllables = rng.integers(2, 4)
        parts = rng.integers(0, [[len(_ONSETS), len(_VOWELS), len(_CODAS)]] * syllables)
        words.setdefault("".join(_ONSETS[o] + _VOWELS[v] + _CODAS[c] for o, v, c in parts.tolist()))
    return np.array(list(words)[:count], dtype=object)


WORDS = _pseudo_words(4096)
_KEYS = _NAMED_KEYS + tuple((f"{WORDS[100 + i]}_{WORDS[900 + i]}", "property", "cat") for i in range(_EXTRA_KEYS))
_KEY_NAMES = np.array([k for k, _, _ in _KEYS], dtype=object)
_KEY_TYPES = np.array([t for _, t, _ in _KEYS], dtype=object)
_KEY_KINDS = np.array([kind for _, _, kind in _KEYS])


def _key_log_weights() -> np.ndarray:
    """Per node type, log-weights over the key catalogue: Zipf by catalogue rank, reshuffled a little per type."""
    rng = np.random.default_rng(7)
    base = -1.1 * np.log(np.arange(1, len(_KEYS) + 1))
    return base[None, :] + rng.normal(0.0, 0.8, (len(NODE_TYPES), len(_KEYS)))


_KEY_LOG_WEIGHTS = _key_log_weights()
_WORD_FREQUENCIES = 1.0 / np.arange(1, len(WORDS) + 1)  # Zipf's law: "the" most often, then "of", ...
_WORD_FREQUENCIES /= _WORD_FREQUENCIES.sum()


def _choice(rng: np.random.Generator, table: tuple, size: int) -> np.ndarray:
    """Indices into a ((value, share), ...) table."""
    shares = np.array([share for _, share in table])
    return rng.choice(len(table), size=size, p=shares / shares.sum())


def _zipf_choice(rng: np.random.Generator, count: int, size: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return rng.choice(count, size=size, p=weights / weights.sum())


def _timestamps(seconds_before_epoch: np.ndarray) -> np.ndarray:
    """Naive UTC datetimes (the spec's ``timestamp`` columns) as an object array."""
    return (EPOCH - seconds_before_epoch.astype("timedelta64[s]")).astype(object)


def _unit_ticks(rng: np.random.Generator, a: float, b: float, size: int) -> np.ndarray:
    """Beta(a, b) draws as ten-thousandths (0..10000), the resolution of the spec's DECIMAL(5,4) scores."""
    return np.rint(rng.beta(a, b, size) * 10000).astype(np.int64)


# --- The plan: everything but attributes and embeddings, which are made chunk by chunk ----------------------------

@dataclass
class GraphPlan:
    """A graph as arrays, independent of the database: node indices are 0-based, ids are added when writing."""

    seed: int
    node_type: np.ndarray  # index into NODE_TYPES
    parent: np.ndarray  # node index, -1 for the roots
    depth: np.ndarray
    topic: np.ndarray  # dense topic number (the ancestor just below the root)
    names: list[str]
    paths: list[str]
    type_centroids: np.ndarray
    topic_centroids: np.ndarray
    nodes_extra: dict[str, np.ndarray]
    edges: dict[str, np.ndarray]
    resources: dict[str, np.ndarray]
    links: dict[str, np.ndarray]
    references: dict[str, np.ndarray]

    @property
    def nodes(self) -> int:
        return len(self.node_type)

    @property
    def chunks(self) -> int:
        return -(-self.nodes // CHUNK)


def _check_size(nodes: int) -> None:
    if nodes < len(NODE_TYPES):
        raise GraphError(f"a generated graph needs at least {len(NODE_TYPES)} nodes (one root per type); got {nodes}",
                         code=GRAPH_TOO_SMALL, nodes=nodes)


def graph_plan_build(*, nodes: int, seed: int = 0, root_suffix: str = "") -> GraphPlan:
    """The graph's nodes, hierarchy, edges, resources, links and references (no database access).

    Paths are unique: a root's path is its type's label plus ``root_suffix``, a node's path is its parent's path
    plus its own label, and a label that a sibling already has gets the first free ``_<n>`` (n ≥ 2) appended.
    """
    _check_size(nodes)
    rng = _rng(seed, _S_NODES)
    node_type = np.concatenate([np.arange(len(NODE_TYPES)), _choice(rng, NODE_TYPES, nodes - len(NODE_TYPES))])
    parent = np.full(nodes, -1, dtype=np.int64)
    for t in range(len(NODE_TYPES)):
        members = np.flatnonzero(node_type == t)
        k = np.arange(1, len(members))
        parent[members[1:]] = members[np.floor(k * rng.random(len(k)) ** _PARENT_BIAS).astype(np.int64)]
    names = _node_names(rng, node_type)
    labels = [name.lower().replace(" ", "_").replace(".", "").replace("-", "_") for name in names]
    depth = np.zeros(nodes, dtype=np.int64)
    topic = np.arange(nodes)
    paths = [NODE_TYPES[t][0] + root_suffix for t in node_type[: len(NODE_TYPES)]] + [""] * (nodes - len(NODE_TYPES))
    taken = set(paths[: len(NODE_TYPES)])
    next_suffix: dict[str, int] = {}  # path -> the suffix number to try first when it is taken again
    parent_list, depth_list, topic_list = parent.tolist(), depth.tolist(), topic.tolist()
    for i in range(len(NODE_TYPES), nodes):  # parents come first: one pass fills depth, topic and path
        p = parent_list[i]
        depth_list[i] = depth_list[p] + 1
        topic_list[i] = i if depth_list[i] == 1 else topic_list[p]
        path = f"{paths[p]}.{labels[i]}"
        if path in taken:  # a sibling has this label already
            base, n = path, next_suffix.get(path, 2)
            while (path := f"{base}_{n}") in taken:
                n += 1
            next_suffix[base] = n + 1
        taken.add(path)
        paths[i] = path
    depth, (topic_ids, topic) = np.array(depth_list), np.unique(np.array(topic_list), return_inverse=True)
    centroids = _rng(seed, _S_CENTROIDS)
    type_centroids = _unit_rows(centroids.standard_normal((len(NODE_TYPES), DIMENSIONS), dtype=np.float32))
    # Topics of different types share themes (physics: concepts, people, documents), so types overlap a little.
    themes = _unit_rows(centroids.standard_normal((_THEMES, DIMENSIONS), dtype=np.float32))
    theme_of_topic = _zipf_choice(centroids, _THEMES, len(topic_ids))
    topic_centroids = _unit_rows(
        _THEME_WEIGHT * themes[theme_of_topic]
        + (1 - _THEME_WEIGHT) * _unit_rows(centroids.standard_normal((len(topic_ids), DIMENSIONS), dtype=np.float32))
    )
    plan = GraphPlan(
        seed=seed, node_type=node_type, parent=parent, depth=depth, topic=topic, names=names, paths=paths,
        type_centroids=type_centroids, topic_centroids=topic_centroids, nodes_extra=_node_extras(rng, nodes),
        edges={}, resources={}, links={}, references={},
    )
    plan.edges = _plan_edges(plan, _rng(seed, _S_EDGES))
    plan.resources = _plan_resources(plan, _rng(seed, _S_RESOURCES))
    plan.links = _plan_links(plan, _rng(seed, _S_LINKS))
    plan.references = _plan_references(plan, _rng(seed, _S_REFERENCES))
    return plan


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _node_names(rng: np.random.Generator, node_type: np.ndarray) -> list[str]:
    n = len(node_type)
    first, second = WORDS[rng.integers(len(_FUNCTION_WORDS), len(WORDS), (2, n))]
    suffixes = {"organization": (" Institute", " Labs", " Foundation", " University", " Group", " Society"),
                "place": ("", " City", " Valley", " River", " Island", " Bay"),
                "event": (" Conference", " Summit", " Festival", " War", " Expedition"),
                "dataset": (" Corpus", " Dataset", " Benchmark", " Survey"),
                "product": (" Pro", "", " 2", " X", " Studio")}
    pick = rng.integers(0, 6, n)
    names = []
    for i, (t, a, b) in enumerate(zip(node_type.tolist(), first.tolist(), second.tolist())):
        kind = NODE_TYPES[t][0]
        if i < len(NODE_TYPES):
            names.append(kind.replace("_", " ").title())
        elif kind == "person":
            names.append(f"{a.title()} {b.title()}")
        elif kind == "document":
            names.append(f"On the {a.title()} of {b.title()}")
        elif kind in suffixes:
            options = suffixes[kind]
            names.append(f"{a.title()}{options[pick[i] % len(options)]}")
        else:
            names.append(f"{a} {b}")
    return names


def _node_extras(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    created = rng.integers(0, _SPAN_SECONDS, n)
    return {
        "attributes": 5 + rng.binomial(10, 0.45, n),
        "source": _choice(rng, NODE_SOURCES, n),
        "confidence": _unit_ticks(rng, 5.0, 2.0, n),
        "created": created,
        "updated": created - rng.integers(0, created + 1),
        "confidence_updated": created - rng.integers(0, created + 1),
        "alias": np.where(rng.random(n) < 0.25, rng.integers(len(_FUNCTION_WORDS), len(WORDS), n), -1),
    }


def _hub_weights(plan: GraphPlan, members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Target weights 1/rank**exponent over ``members``, ranked by depth (random among equals): roots are hubs."""
    order = np.lexsort((rng.random(len(members)), plan.depth[members]))
    weights = np.empty(len(members))
    weights[order] = 1.0 / np.arange(1, len(members) + 1) ** _HUB_EXPONENT
    return weights / weights.sum()


def _plan_edges(plan: GraphPlan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = plan.nodes
    children = np.flatnonzero(plan.parent >= 0)
    parent_kind = np.array([RELATIONSHIP_TYPES.index(_PARENT_EDGE.get(kind, "part_of")) for kind, _ in NODE_TYPES])
    m = _EDGES_PER_NODE * n
    source_weights = 1.0 / np.arange(1, n + 1) ** 0.6  # mildly skewed out-degree
    source = rng.permutation(n)[rng.choice(n, size=m, p=source_weights / source_weights.sum())]
    target = rng.choice(n, size=m, p=_hub_weights(plan, np.arange(n), rng))
    in_type = rng.random(m) < _EDGES_IN_TYPE
    for t in range(len(NODE_TYPES)):
        members = np.flatnonzero(plan.node_type == t)
        chosen = np.flatnonzero(in_type & (plan.node_type[source] == t))
        target[chosen] = members[rng.choice(len(members), size=len(chosen), p=_hub_weights(plan, members, rng))]
    kind = _zipf_choice(rng, len(RELATIONSHIP_TYPES), m, 1.2)
    source = np.concatenate([children, source])
    target = np.concatenate([plan.parent[children], target])
    kind = np.concatenate([parent_kind[plan.node_type[children]], kind])
    key = (source * n + target) * len(RELATIONSHIP_TYPES) + kind
    _, first = np.unique(key, return_index=True)
    keep = np.sort(first[source[first] != target[first]])
    source, target, kind = source[keep], target[keep], kind[keep]
    e = len(keep)
    inferred = rng.random(e) < 0.08
    created = rng.integers(0, _SPAN_SECONDS, e)
    return {
        "source": source, "target": target, "kind": kind, "strength": _unit_ticks(rng, 4.0, 2.0, e),
        "confidence": _unit_ticks(rng, 5.0, 2.0, e), "bidirectional": rng.random(e) < 0.08,
        "source_kind": np.where(inferred, len(NODE_SOURCES), _choice(rng, NODE_SOURCES, e)),
        "inferred": inferred, "shared": np.where(inferred, rng.integers(1, 12, e), 0),
        "inference_confidence": _unit_ticks(rng, 3.0, 2.0, e), "created": created,
        "updated": created - rng.integers(0, created + 1), "reliability": _unit_ticks(rng, 9.0, 1.0, e),
    }


def _plan_resources(plan: GraphPlan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    r = max(1, plan.nodes // 5)
    status = _choice(rng, CRAWL_STATUSES, r)
    created = rng.integers(0, _SPAN_SECONDS, r)
    return {
        "domain": _zipf_choice(rng, 400, r), "kind": _zipf_choice(rng, len(RESOURCE_TYPES), r, 0.8),
        "title": rng.integers(len(_FUNCTION_WORDS), len(WORDS), (r, 3)), "status": status,
        "embedded": status == 0, "anchor": rng.integers(0, plan.nodes, r), "hash": rng.integers(0, 2**63, (r, 4)),
        "created": created, "crawled": created - rng.integers(0, created + 1),
        "description": np.where(rng.random(r) < 0.7, rng.integers(6, 30, r), 0),
    }


def _plan_links(plan: GraphPlan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    r = len(plan.resources["domain"])
    m = int(1.5 * plan.nodes)
    node = rng.integers(0, plan.nodes, m)
    resource = rng.permutation(r)[_zipf_choice(rng, r, m, 0.9)]
    kind = _zipf_choice(rng, len(LINK_TYPES), m)
    _, first = np.unique((node * r + resource) * len(LINK_TYPES) + kind, return_index=True)
    keep = np.sort(first)
    k = len(keep)
    return {"node": node[keep], "resource": resource[keep], "kind": kind[keep],
            "confidence": _unit_ticks(rng, 4.0, 2.0, k), "created": rng.integers(0, _SPAN_SECONDS, k),
            "context": np.where(rng.random(k) < 0.6, rng.integers(4, 14, k), 0)}


def _plan_references(plan: GraphPlan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    m = max(1, int(0.6 * plan.nodes))
    r = len(plan.resources["domain"])
    from_resource = rng.random(m) < 0.15
    to_resource = rng.random(m) < 0.4
    source = np.where(from_resource, rng.integers(0, r, m), rng.integers(0, plan.nodes, m))
    target_node = rng.choice(plan.nodes, size=m, p=_hub_weights(plan, np.arange(plan.nodes), rng))
    target = np.where(to_resource, rng.integers(0, r, m), target_node)
    same = ~from_resource & ~to_resource & (source == target)
    target[same] = (target[same] + 1) % plan.nodes
    return {"from_resource": from_resource, "to_resource": to_resource, "source": source, "target": target,
            "kind": _zipf_choice(rng, len(REFERENCE_TYPES), m), "page": np.where(rng.random(m) < 0.4,
                                                                                 rng.integers(1, 900, m), 0),
            "section": np.where(rng.random(m) < 0.3, rng.integers(1, 20, m), 0),
            "quote": np.where(rng.random(m) < 0.2, rng.integers(8, 50, m), 0),
            "created": rng.integers(0, _SPAN_SECONDS, m)}


# --- Chunked parts: embeddings and attributes -----------------------------------------------------------------------

def node_embeddings(plan: GraphPlan, chunk: int) -> np.ndarray:
    """The unit-length float32 embeddings of nodes ``chunk * CHUNK`` up to the next chunk."""
    lo, hi = chunk * CHUNK, min(plan.nodes, (chunk + 1) * CHUNK)
    rng = _rng(plan.seed, _S_EMBEDDINGS, chunk)
    return _mixture(rng, plan, plan.node_type[lo:hi], plan.topic[lo:hi])


def _mixture(rng: np.random.Generator, plan: GraphPlan, types: np.ndarray, topics: np.ndarray) -> np.ndarray:
    m = len(types)
    vectors = _TYPE_WEIGHT * plan.type_centroids[types] + _TOPIC_WEIGHT * plan.topic_centroids[topics]
    mixed = np.flatnonzero(rng.random(m) < _MIX_SHARE)
    vectors[mixed] += _MIX_WEIGHT * plan.topic_centroids[rng.integers(0, len(plan.topic_centroids), len(mixed))]
    vectors += rng.standard_normal((m, DIMENSIONS), dtype=np.float32) * np.float32(_NOISE / np.sqrt(DIMENSIONS))
    return _unit_rows(vectors).astype(np.float32)


def _text(rng: np.random.Generator, lengths: np.ndarray) -> list[str]:
    """Sentences of ``lengths`` words; word frequencies follow Zipf's law like natural text."""
    words = WORDS[rng.choice(len(WORDS), size=int(lengths.sum()), p=_WORD_FREQUENCIES)].tolist()
    out, start = [], 0
    for length in lengths.tolist():
        text = " ".join(words[start:start + length])
        out.append(text[:1].upper() + text[1:] + ".")
        start += length
    return out


def _categorical(keys: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The value of rank ``r`` for key ``k``: the key's known top values first, then generated words."""
    codes, inverse = np.unique(keys * (1 << 32) + ranks, return_inverse=True)
    values = []
    for code in codes.tolist():
        key, rank = divmod(code, 1 << 32)
        top = _TOP_VALUES.get(_KEY_NAMES[key], ())
        if rank <= len(top):
            values.append(top[rank - 1])
        elif rank <= len(WORDS):
            values.append(WORDS[(rank + 131 * key) % len(WORDS)])
        else:
            values.append(f"{WORDS[rank % len(WORDS)]} {WORDS[(rank // len(WORDS) + key) % len(WORDS)]}")
    return np.array(values, dtype=object)[inverse]


def attribute_chunk(plan: GraphPlan, chunk: int, node_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Attribute rows of the nodes in ``chunk``; ``node_ids`` are the ids of all nodes (identifiers use them)."""
    lo, hi = chunk * CHUNK, min(plan.nodes, (chunk + 1) * CHUNK)
    rng = _rng(plan.seed, _S_ATTRIBUTES, chunk)
    m = hi - lo
    counts = plan.nodes_extra["attributes"][lo:hi]
    # Keys without replacement, weighted by the node's type (Gumbel top-k): no node has "status" twice.
    scores = _KEY_LOG_WEIGHTS[plan.node_type[lo:hi]] + rng.gumbel(size=(m, len(_KEYS)))
    top = np.argsort(-scores, axis=1)[:, :15]
    keys = top[np.arange(15)[None, :] < counts[:, None]]
    owner = np.repeat(np.arange(lo, hi), counts)
    rows = len(keys)
    kinds = _KEY_KINDS[keys]
    values = np.empty(rows, dtype=object)
    cat = np.flatnonzero(kinds == "cat")
    values[cat] = _categorical(keys[cat], np.minimum(rng.zipf(1.6, len(cat)), 1 << 30))
    ident = np.flatnonzero(kinds == "id")
    values[ident] = [f"{_ID_PREFIX[_KEY_NAMES[k]]}{node_id}" for k, node_id in
                     zip(keys[ident].tolist(), node_ids[owner[ident]].tolist())]
    num = np.flatnonzero(kinds == "num")
    values[num] = _numbers(rng, _KEY_NAMES[keys[num]])
    date = np.flatnonzero(kinds == "date")
    days = (EPOCH.astype("datetime64[D]") - rng.integers(0, 200 * 365, len(date)).astype("timedelta64[D]"))
    values[date] = days.astype(str).astype(object)
    text = np.flatnonzero(kinds == "text")
    long = rng.random(len(text)) < _LONG_TEXT_SHARE
    values[text] = _text(rng, np.where(long, rng.integers(520, 1600, len(text)), rng.integers(6, 40, len(text))))
    created = plan.nodes_extra["created"][owner] - rng.integers(0, 86400, rows)
    return {
        "node": owner, "attribute_type": _KEY_TYPES[keys], "attribute_key": _KEY_NAMES[keys], "value": values,
        "weight": rng.integers(10, 101, rows), "confidence": _unit_ticks(rng, 5.0, 2.0, rows),
        "reliability": np.array([10000, 9500, 9000, 8000, 6000])[rng.choice(5, rows, p=[.4, .25, .2, .1, .05])],
        "created": np.maximum(created, 0), "verified": np.maximum(created - rng.integers(0, _SPAN_SECONDS, rows), 0),
    }


def _numbers(rng: np.random.Generator, keys: np.ndarray) -> np.ndarray:
    n = len(keys)
    year = (1850 + 175 * rng.beta(5.0, 1.5, n)).astype(np.int64).astype(str).astype(object)
    heavy = np.rint(rng.lognormal(8.0, 2.2, n)).astype(np.int64).astype(str).astype(object)
    cited = np.minimum(rng.zipf(1.8, n), 10**6).astype(str).astype(object)
    version = (rng.integers(0, 12, n).astype(str).astype(object) + "." + rng.integers(0, 30, n).astype(str)
               .astype(object) + "." + rng.integers(0, 9, n).astype(str).astype(object))
    return np.select([keys == "year", keys == "citations", keys == "version"], [year, cited, version], heavy)


# --- Writing: rows in COPY column order --------------------------------------------------------------------------

@dataclass(frozen=True)
class IdBase:
    """The first id of each table's reserved block: row i of the plan gets ``base + i``."""

    node: int = 1
    attribute: int = 1
    relationship: int = 1
    resource: int = 1
    link: int = 1
    reference: int = 1


_NODE_TYPE_NAMES = np.array([t for t, _ in NODE_TYPES], dtype=object)
_RELATIONSHIP_TYPE_NAMES = np.array(RELATIONSHIP_TYPES, dtype=object)
_RELATIONSHIP_SOURCES = np.array([s for s, _ in NODE_SOURCES] + ["inference"], dtype=object)
_DOMAINS = np.array([f"www.{WORDS[300 + i]}.example" for i in range(400)], dtype=object)
_NODE_SOURCE_NAMES = np.array([s for s, _ in NODE_SOURCES], dtype=object)
_ROWS_PER_BATCH = 65536
# The COPY columns of each table: the model's columns in order, without those left to their database defaults.
# The row makers below yield values in this order (tests/graph/test_generator.py checks the lengths).
_LEFT_TO_DEFAULTS = (
    # embedding_model left out (NULL): generated vectors count as supplied, so the embedder keeps them.
    # external_key left out (NULL): generated nodes are exported and imported as node-<id> (docs/import-format.md).
    (Node, ("created_by", "embedding_model", "external_key")),
    (NodeAttribute, ("created_by", "metadata")),
    # stated_confidence left out: the database takes a COPY's confidence_score as the stated confidence.
    (Relationship, ("metadata", "created_by", "stated_confidence", "stale_since", "review_impact",
                    "review_skipped_at")),
    (ExternalResource, ("metadata", "created_by", "embedding_model", "crawl_error", "crawl_failures", "next_crawl_at")),
    (NodeResourceLink, ("created_by",)),
    (Reference, ("context", "created_by")),
)
COLUMNS: dict[str, tuple[str, ...]] = {
    model._meta.db_table: tuple(copy_columns(model, exclude=omitted)) for model, omitted in _LEFT_TO_DEFAULTS
}
NODE_COLUMNS = COLUMNS["nodes"]
ATTRIBUTE_COLUMNS = COLUMNS["node_attributes"]


def node_rows(plan: GraphPlan, ids: IdBase, chunk: int) -> Iterator[tuple]:
    """Rows of ``nodes`` (``NODE_COLUMNS``) for one chunk: plain Python values, embeddings as numpy rows."""
    lo, hi = chunk * CHUNK, min(plan.nodes, (chunk + 1) * CHUNK)
    extra = plan.nodes_extra
    parents = plan.parent[lo:hi]
    alias = extra["alias"][lo:hi].tolist()
    metadata = [{"aliases": [WORDS[a].title()]} if a >= 0 else {} for a in alias]
    return zip(
        (ids.node + np.arange(lo, hi)).tolist(), plan.names[lo:hi],
        _NODE_TYPE_NAMES[plan.node_type[lo:hi]].tolist(), plan.paths[lo:hi],
        [None if p < 0 else p + ids.node for p in parents.tolist()],
        node_embeddings(plan, chunk), metadata, _DECIMAL_4[extra["confidence"][lo:hi]].tolist(),
        _timestamps(extra["confidence_updated"][lo:hi]).tolist(), _timestamps(extra["created"][lo:hi]).tolist(),
        _timestamps(extra["updated"][lo:hi]).tolist(),
        _NODE_SOURCE_NAMES[extra["source"][lo:hi]].tolist(),
    )


def attribute_rows(plan: GraphPlan, ids: IdBase, chunk: int) -> Iterator[tuple]:
    """Rows of ``node_attributes`` (``ATTRIBUTE_COLUMNS``) for the nodes of one chunk."""
    a = attribute_chunk(plan, chunk, ids.node + np.arange(plan.nodes))
    first = ids.attribute + int(plan.nodes_extra["attributes"][: chunk * CHUNK].sum())
    return zip(
        range(first, first + len(a["node"])), (a["node"] + ids.node).tolist(),
        a["attribute_type"].tolist(), a["attribute_key"].tolist(), a["value"].tolist(),
        _DECIMAL_2[a["weight"]].tolist(), _DECIMAL_4[a["confidence"]].tolist(), _DECIMAL_4[a["reliability"]].tolist(),
        _timestamps(a["verified"]).tolist(), _timestamps(a["created"]).tolist(),
    )


def _batches(count: int, size: int = _ROWS_PER_BATCH) -> Iterator[tuple[int, int]]:
    return ((lo, min(count, lo + size)) for lo in range(0, count, size))


def _optional(values: list, present: list) -> list:
    return [value if keep else None for value, keep in zip(values, present)]


def relationship_rows(plan: GraphPlan, ids: IdBase, lo: int, hi: int) -> Iterator[tuple]:
    e = {name: column[lo:hi] for name, column in plan.edges.items()}
    inferred = e["inferred"].tolist()
    updated = _timestamps(e["updated"]).tolist()
    return zip(
        range(ids.relationship + lo, ids.relationship + hi), (e["source"] + ids.node).tolist(),
        (e["target"] + ids.node).tolist(), _RELATIONSHIP_TYPE_NAMES[e["kind"]].tolist(),
        _DECIMAL_4[e["strength"]].tolist(), _DECIMAL_4[e["confidence"]].tolist(), updated,
        e["bidirectional"].tolist(), _timestamps(e["created"]).tolist(), updated,
        _RELATIONSHIP_SOURCES[e["source_kind"]].tolist(), inferred, e["shared"].tolist(),
        _optional(_DECIMAL_4[e["inference_confidence"]].tolist(), inferred), _optional(updated, inferred),
        _DECIMAL_4[e["reliability"]].tolist(),
    )


def resource_rows(plan: GraphPlan, ids: IdBase, chunk: int) -> Iterator[tuple]:
    lo, hi = chunk * CHUNK, min(len(plan.resources["domain"]), (chunk + 1) * CHUNK)
    r = {name: column[lo:hi] for name, column in plan.resources.items()}
    rng = _rng(plan.seed, _S_RESOURCE_EMBEDDINGS, chunk)
    embeddings = _mixture(rng, plan, plan.node_type[r["anchor"]], plan.topic[r["anchor"]])
    embedded = r["embedded"].tolist()
    kinds = [RESOURCE_TYPES[k] for k in r["kind"].tolist()]
    resource_ids = range(ids.resource + lo, ids.resource + hi)
    titles = [" ".join(words).title() for words in WORDS[r["title"]].tolist()]
    described = r["description"] > 0
    descriptions = np.full(hi - lo, None, dtype=object)
    descriptions[described] = _text(rng, r["description"][described])
    crawled = _timestamps(r["crawled"]).tolist()
    statuses = [CRAWL_STATUSES[s][0] for s in r["status"].tolist()]
    return zip(
        resource_ids,
        [f"https://{domain}/{kind}/{rid}-{title.split()[0].lower()}"
         for domain, kind, rid, title in zip(_DOMAINS[r["domain"]].tolist(), kinds, resource_ids, titles)],
        titles, descriptions.tolist(), kinds, _optional(list(embeddings), embedded),
        _optional(["".join(f"{part:016x}" for part in row) for row in r["hash"].tolist()], embedded),
        _optional(crawled, [s in ("completed", "stale", "failed") for s in statuses]), statuses,
        _timestamps(r["created"]).tolist(), crawled,
    )


def link_rows(plan: GraphPlan, ids: IdBase, lo: int, hi: int) -> Iterator[tuple]:
    k = {name: column[lo:hi] for name, column in plan.links.items()}
    rng = _rng(plan.seed, _S_LINKS, 1000 + lo // _ROWS_PER_BATCH)
    contexts = np.full(hi - lo, None, dtype=object)
    contexts[k["context"] > 0] = _text(rng, k["context"][k["context"] > 0])
    return zip(
        range(ids.link + lo, ids.link + hi), (k["node"] + ids.node).tolist(), (k["resource"] + ids.resource).tolist(),
        [LINK_TYPES[t] for t in k["kind"].tolist()], _DECIMAL_4[k["confidence"]].tolist(), contexts.tolist(),
        _timestamps(k["created"]).tolist(),
    )


def reference_rows(plan: GraphPlan, ids: IdBase, lo: int, hi: int) -> Iterator[tuple]:
    f = {name: column[lo:hi] for name, column in plan.references.items()}
    rng = _rng(plan.seed, _S_REFERENCES, 1000 + lo // _ROWS_PER_BATCH)
    quotes = np.full(hi - lo, None, dtype=object)
    quotes[f["quote"] > 0] = _text(rng, f["quote"][f["quote"] > 0])
    from_resource, to_resource = f["from_resource"].tolist(), f["to_resource"].tolist()
    source, target = f["source"].tolist(), f["target"].tolist()
    return zip(
        range(ids.reference + lo, ids.reference + hi),
        [None if r else s + ids.node for s, r in zip(source, from_resource)],
        [s + ids.resource if r else None for s, r in zip(source, from_resource)],
        [None if r else t + ids.node for t, r in zip(target, to_resource)],
        [t + ids.resource if r else None for t, r in zip(target, to_resource)],
        [REFERENCE_TYPES[t] for t in f["kind"].tolist()], [p or None for p in f["page"].tolist()],
        [f"{s}. {WORDS[40 + s].title()}" if s else None for s in f["section"].tolist()], quotes.tolist(),
        _timestamps(f["created"]).tolist(),
    )


def plan_counts(plan: GraphPlan) -> dict[str, int]:
    """Rows per table that writing ``plan`` produces."""
    return {
        "nodes": plan.nodes, "node_attributes": int(plan.nodes_extra["attributes"].sum()),
        "relationships": len(plan.edges["source"]), "external_resources": len(plan.resources["domain"]),
        "node_resource_links": len(plan.links["node"]), "reference_tracking": len(plan.references["source"]),
    }


def table_rows(plan: GraphPlan, ids: IdBase, table: str) -> Iterator[Iterable[tuple]]:
    """The rows of ``table`` in COPY column order, in batches."""
    counts = plan_counts(plan)
    if table == "nodes":
        return (node_rows(plan, ids, chunk) for chunk in range(plan.chunks))
    if table == "node_attributes":
        return (attribute_rows(plan, ids, chunk) for chunk in range(plan.chunks))
    if table == "external_resources":
        return (resource_rows(plan, ids, chunk) for chunk in range(-(-counts[table] // CHUNK)))
    make = {"relationships": relationship_rows, "node_resource_links": link_rows,
            "reference_tracking": reference_rows}[table]
    return (make(plan, ids, lo, hi) for lo, hi in _batches(counts[table]))


# --- The service -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GenerationReport:
    seed: int
    counts: dict[str, int]
    seconds: float
    phases: dict[str, float]
    indexes_rebuilt: bool

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def nodes_per_second(self) -> float:
        return self.counts["nodes"] / self.seconds if self.seconds else 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        tables = ", ".join(f"{count:,} {table}" for table, count in self.counts.items())
        phases = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.phases.items())
        return (f"Generated {tables} (seed {self.seed}) in {self.seconds:.1f}s: {self.nodes_per_second:,.0f} "
                f"nodes/s, {self.rows_per_second:,.0f} rows/s [{phases}]")


def _reserve_ids(cursor, counts: dict[str, int]) -> IdBase:
    """Takes a block of ids from each table's sequence (the tables are locked, so the block is ours)."""
    bases = {}
    for name, table in zip(("node", "attribute", "relationship", "resource", "link", "reference"), TABLES):
        if counts[table]:
            bases[name] = ids_reserve(cursor, table=table, column=COLUMNS[table][0], count=counts[table])
    return IdBase(**bases)


def _free_root_suffix(cursor) -> str:
    """``""`` when no path starts with a root label of ours, else the first ``_<n>`` (n ≥ 2) that makes the ten root
    labels new: every path of the appended graph then differs from every path present.
    """
    for n in itertools.count(1):
        suffix = f"_{n}" if n > 1 else ""
        roots = [f"{name}{suffix}" for name, _ in NODE_TYPES]
        cursor.execute("SELECT EXISTS (SELECT 1 FROM nodes WHERE path <@ ANY(%s::ltree[]))", [roots])
        if not cursor.fetchone()[0]:
            return suffix
    raise AssertionError("unreachable")


def graph_generate(*, nodes: int, seed: int = 0, append: bool = False, using: str = "default",
                   progress: Callable[[str], None] | None = None) -> GenerationReport:
    """Writes a synthetic graph of ``nodes`` nodes (see the module docstring) in one transaction.

    Refuses (``GraphError``: ``GRAPH_TOO_SMALL`` under ten nodes, ``GRAPH_NOT_EMPTY`` when the graph already has
    nodes, unless ``append``). When appending, the roots' labels get the first suffix ``_<n>`` that no path present
    starts with, so paths stay unique. When the new rows are many compared with those present, the six tables'
    secondary indexes and foreign keys are dropped for the load and recreated afterwards (``kgsite.bulk``); the
    tables are locked (ACCESS EXCLUSIVE) until the transaction ends either way.
    """
    _check_size(nodes)
    say = progress or (lambda message: None)
    started = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = phases.get(name, 0.0) + now - since
        return now

    with transaction.atomic(using=using):
        with connections[using].connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE")
            existing = cursor.execute("SELECT count(*) FROM nodes").fetchone()[0]
            if existing and not append:
                raise GraphError(f"the graph already has {existing:,} nodes; append explicitly (--append)",
                                 code=GRAPH_NOT_EMPTY, nodes=existing)
            root_suffix = _free_root_suffix(cursor) if existing else ""
            mark = lap("prepare", started)
            plan = graph_plan_build(nodes=nodes, seed=seed, root_suffix=root_suffix)
            counts = plan_counts(plan)
            mark = lap("plan", mark)
            rebuild = existing < 4 * nodes
            cursor.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))")
            if cursor.fetchone()[0] < 1 << 30:
                cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")  # index builds sort in memory
            ids = _reserve_ids(cursor, counts)
            deferred = indexes_and_foreign_keys_drop(cursor, TABLES) if rebuild else DeferredDefinitions()
            mark = lap("prepare", mark)
            for table in TABLES:
                say(f"{table}: writing {counts[table]:,} rows")
                copy_rows(cursor, table, COLUMNS[table], table_rows(plan, ids, table))
                mark = lap(table, mark)
            # The attributes went in before the relationships, so each relationship was scored from its nodes' final
            # scores: the nodes the attribute COPY noted for carrying over (docs/confidence.md) need nothing more.
            cursor.execute("DELETE FROM confidence_pending_nodes WHERE queued_by = pg_current_xact_id()")
            if rebuild:
                say(f"recreating {len(deferred.indexes)} indexes and {len(deferred.foreign_keys)} foreign keys")
                indexes_and_foreign_keys_recreate(cursor, deferred)
                mark = lap("indexes", mark)
            cursor.execute(f"ANALYZE {', '.join(TABLES)}")
            lap("analyze", mark)
    return GenerationReport(seed=seed, counts=counts, seconds=time.perf_counter() - started, phases=phases,
                            indexes_rebuilt=rebuild)
