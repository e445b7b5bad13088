"""The similarity selector (issue 11, item 2; docs/search.md) on graphs whose nearest neighbours are known because
their vectors are made by hand:

* every mode (approximate, exact, hybrid) finds the known nearest nodes in order, leaves out the query node and the
  nodes without an embedding, and reports each hit's similarity (1 - cosine distance) and vector rank;
* the filters: node type, minimum confidence (scores come from attributes, docs/confidence.md), subtree; external
  resources by resource type, and their refusal of the node-only filters;
* the threshold (default ``vector_similarity_threshold``) drops and counts the nearest rows below it;
* hybrid fusion on a case where text and vector disagree: the order is reciprocal rank fusion's (k = 60);
* a filtered approximate search through the IVFFlat index returns ``limit`` rows at 1% selectivity (2,000 nodes,
  20 in one subtree or of one type), the same rows as an exact search;
* the selector's own refusals (RG-SEARCH-001 / -002) for any caller.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from config_admin.services import config_set
from graph.choices import SearchMode
from graph.errors import SEARCH_BAD_FILTER, SEARCH_BAD_QUERY, GraphError
from graph.models import Node
from graph.selectors.similarity import MAX_LIMIT, RRF_K, SimilarityQuery, similarity_search
from kgsite.bulk import copy_rows
from tests.factories import ExternalResourceFactory, NodeAttributeFactory, NodeFactory

pytestmark = pytest.mark.django_db

DIMENSIONS = 768


def vector_at(similarity: float, axis: int = 1) -> np.ndarray:
    """A unit vector whose cosine similarity to ``QUERY`` (the first axis) is ``similarity``; the rest of its
    length lies along ``axis``, so vectors on different axes differ from each other too."""
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[0] = similarity
    vector[axis] = math.sqrt(max(0.0, 1.0 - similarity * similarity))
    return vector


QUERY = vector_at(1.0)


def search(**options):
    return similarity_search(query=SimilarityQuery(vector=options.pop("vector", QUERY), **options))


def names(result) -> list[str]:
    return [hit.name for hit in result.hits]


@pytest.fixture
def small_graph():
    """Seven nodes at known similarities to QUERY, in two subtrees, of two types; one without an embedding.

    science (topic, 0.95) ─ science.physics (topic, 0.90) ─ science.physics.optics (person, 0.80)
    arts (topic, 0.60) ─ arts.music (person, 0.50)
    misc (person, 0.20), opposite (person, -0.70), pending (person, no embedding)

    "Physics" has two attributes of confidence 1.0 (score 0.8333), "Optics" one (0.75); the rest score 0.5.
    """
    science = NodeFactory(label="science", name="Science", node_type="topic", embedding=vector_at(0.95, 1))
    physics = NodeFactory(label="physics", parent=science, name="Physics", node_type="topic",
                          embedding=vector_at(0.90, 2))
    optics = NodeFactory(label="optics", parent=physics, name="Optics", node_type="person",
                         embedding=vector_at(0.80, 3))
    arts = NodeFactory(label="arts", name="Arts", node_type="topic", embedding=vector_at(0.60, 4))
    NodeFactory(label="music", parent=arts, name="Music", node_type="person", embedding=vector_at(0.50, 5))
    NodeFactory(label="misc", name="Misc", node_type="person", embedding=vector_at(0.20, 6))
    NodeFactory(label="opposite", name="Opposite", node_type="person", embedding=vector_at(-0.70, 7))
    NodeFactory(label="pending", name="Pending", node_type="person")
    for node, count in ((physics, 2), (optics, 1)):
        for _ in range(count):
            NodeAttributeFactory(node=node, confidence=Decimal("1.0"), source_reliability=Decimal("1.0"))
    return {node.name: node for node in Node.objects.all()}


@pytest.mark.parametrize("mode", [SearchMode.APPROXIMATE, SearchMode.EXACT])
def test_vector_modes_find_the_known_nearest_nodes_in_order(small_graph, mode):
    result = search(mode=mode, threshold=-1.0, limit=10)
    assert names(result) == ["Science", "Physics", "Optics", "Arts", "Music", "Misc", "Opposite"]
    assert [hit.vector_rank for hit in result.hits] == [1, 2, 3, 4, 5, 6, 7]
    expected = [0.95, 0.90, 0.80, 0.60, 0.50, 0.20, -0.70]
    assert [hit.similarity for hit in result.hits] == pytest.approx(expected, abs=1e-5)
    science = result.hits[0]
    assert (science.kind, science.path, science.confidence) == ("topic", "science", Decimal("0.5"))
    assert result.dropped_below_threshold == 0 and result.milliseconds > 0


def test_limit_and_the_query_node_left_out(small_graph):
    result = search(mode=SearchMode.EXACT, exclude_id=small_graph["Science"].node_id, limit=2)
    assert names(result) == ["Physics", "Optics"]


def test_threshold_drops_and_counts_the_nearest_below_it(small_graph):
    result = search(mode=SearchMode.EXACT, threshold=0.85, limit=5)
    assert names(result) == ["Science", "Physics"]
    assert result.dropped_below_threshold == 3  # Optics, Arts, Music: among the 5 nearest, below 0.85
    assert result.threshold == 0.85


def test_the_default_threshold_is_the_configured_one(small_graph):
    assert names(search(mode=SearchMode.EXACT)) == ["Science", "Physics", "Optics", "Arts", "Music"]  # 0.3
    config_set(name="vector_similarity_threshold", value="0.7", reason="test")
    result = search(mode=SearchMode.EXACT)
    assert result.threshold == pytest.approx(0.7)
    assert names(result) == ["Science", "Physics", "Optics"]
    assert result.dropped_below_threshold == 4  # Arts, Music, Misc, Opposite


@pytest.mark.parametrize("mode", [SearchMode.APPROXIMATE, SearchMode.EXACT])
def test_filters(small_graph, mode):
    everything = {"mode": mode, "threshold": -1.0}
    assert names(search(node_type="person", **everything)) == ["Optics", "Music", "Misc", "Opposite"]
    assert names(search(subtree="science", **everything)) == ["Science", "Physics", "Optics"]
    assert names(search(subtree="science.physics", **everything)) == ["Physics", "Optics"]
    assert names(search(min_confidence=Decimal("0.75"), **everything)) == ["Physics", "Optics"]
    assert names(search(min_confidence=Decimal("0.8"), **everything)) == ["Physics"]
    assert names(search(node_type="person", subtree="science", **everything)) == ["Optics"]
    assert names(search(node_type="unknown", **everything)) == []


def test_confidence_scores_come_from_the_attributes(small_graph):
    scores = {hit.name: hit.confidence for hit in search(mode=SearchMode.EXACT, threshold=-1.0).hits}
    assert scores["Physics"] == Decimal("0.8333")
    assert scores["Optics"] == Decimal("0.7500")
    assert scores["Science"] == Decimal("0.5000")


def test_hybrid_fuses_text_and_vector_ranks_by_reciprocal_rank_fusion():
    """Vector order: Aardvark, Zebra, Zebra stripes (Lone zebra is below the threshold); full-text order for "zebra
    stripes": Zebra stripes (both words), then Zebra and Lone zebra (one word each; the lower id first). They
    disagree; the fused order follows Σ 1 / (60 + rank)."""
    aardvark = NodeFactory(name="Aardvark", embedding=vector_at(0.99, 1))
    zebra = NodeFactory(name="Zebra", embedding=vector_at(0.90, 2))
    stripes = NodeFactory(name="Zebra stripes", embedding=vector_at(0.80, 3))
    lone = NodeFactory(name="Lone zebra", embedding=vector_at(0.0, 4))
    NodeFactory(name="Unrelated", embedding=vector_at(-0.5, 5))

    result = search(mode=SearchMode.HYBRID, text="zebra stripes", limit=10)

    ranks = {hit.name: (hit.vector_rank, hit.text_rank) for hit in result.hits}
    assert ranks == {"Aardvark": (1, None), "Zebra": (2, 2), "Zebra stripes": (3, 1), "Lone zebra": (None, 3)}

    def rrf(*ranks):
        return sum(1 / (RRF_K + rank) for rank in ranks if rank is not None)

    expected = sorted(ranks, key=lambda name: -rrf(*ranks[name]))
    assert names(result) == expected == ["Zebra stripes", "Zebra", "Aardvark", "Lone zebra"]
    assert [hit.score for hit in result.hits] == pytest.approx([rrf(*ranks[name]) for name in expected])
    # A hit found by text only still shows its cosine similarity; the vector list dropped it and "Unrelated".
    assert result.hits[-1].similarity == pytest.approx(0.0, abs=1e-6)
    assert result.dropped_below_threshold == 2
    assert {aardvark.pk, zebra.pk, stripes.pk, lone.pk} == {hit.id for hit in result.hits}


def test_hybrid_without_words_is_refused(small_graph):
    with pytest.raises(GraphError) as caught:
        search(mode=SearchMode.HYBRID, text="  ")
    assert caught.value.code == SEARCH_BAD_QUERY


def test_external_resources_are_searched_by_their_own_embeddings():
    near = ExternalResourceFactory(title="Near", resource_type="paper", embedding=vector_at(0.9, 1))
    ExternalResourceFactory(title="Middle", resource_type="website", embedding=vector_at(0.6, 2))
    ExternalResourceFactory(title="Far", resource_type="paper", embedding=vector_at(0.1, 3))
    NodeFactory(name="A node", embedding=vector_at(0.99, 4))  # nodes are not resources

    result = search(target="resources", mode=SearchMode.EXACT, threshold=0.0)
    assert names(result) == ["Near", "Middle", "Far"]
    assert result.hits[0].url == near.url and result.hits[0].kind == "paper" and result.hits[0].path is None
    assert names(search(target="resources", node_type="paper", threshold=0.0)) == ["Near", "Far"]
    for refused in ({"subtree": "science"}, {"min_confidence": Decimal("0.5")}):
        with pytest.raises(GraphError) as caught:
            search(target="resources", **refused)
        assert caught.value.code == SEARCH_BAD_FILTER


@pytest.mark.parametrize(("options", "code"), [
    ({"limit": 0}, SEARCH_BAD_FILTER),
    ({"limit": MAX_LIMIT + 1}, SEARCH_BAD_FILTER),
    ({"limit": 10**9}, SEARCH_BAD_FILTER),
    ({"threshold": 1.5}, SEARCH_BAD_FILTER),
    ({"min_confidence": Decimal("1.01")}, SEARCH_BAD_FILTER),
    ({"subtree": "science..physics"}, SEARCH_BAD_FILTER),
    ({"subtree": "science physics"}, SEARCH_BAD_FILTER),
    ({"mode": "fuzzy"}, SEARCH_BAD_QUERY),
    ({"target": "relationships"}, SEARCH_BAD_QUERY),
])
def test_the_selector_refuses_a_bad_query_from_any_caller(options, code):
    with pytest.raises(GraphError) as caught:
        search(**options)
    assert caught.value.code == code


# --- Filtered approximate search through the index ---------------------------------------------------------

BIG = 2_000
RARE = 20  # 1% of BIG


@pytest.fixture
def big_graph():
    """2,000 nodes with random unit vectors: 20 below the node "cluster" (which has no vector), 20 others of the
    type "rare", the rest of type "common", loaded by COPY (the ORM's text form of 2,000 vectors takes seconds).
    Then the IVFFlat index (lists = 100) is rebuilt on them, as after a load, and the statistics are updated."""
    generator = np.random.default_rng(11)
    vectors = generator.normal(size=(BIG, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cluster = NodeFactory(label="cluster", name="Cluster", node_type="common")
    rows = []
    for index, vector in enumerate(vectors):
        if index < RARE:
            rows.append((f"Member {index}", "common", f"cluster.member_{index}", cluster.node_id, vector))
        else:
            rows.append((f"Other {index}", "rare" if index < 2 * RARE else "common", f"other_{index}", None, vector))
    with connection.cursor() as cursor:
        copy_rows(cursor.connection.cursor(), "nodes", ["name", "node_type", "path", "parent_node_id", "embedding"],
                  [rows])
        cursor.execute("REINDEX INDEX idx_nodes_embedding")
        cursor.execute("ANALYZE nodes")
    yield generator
    # ANALYZE writes pg_class's row estimate in place: the test's rollback would leave "2,000 nodes" behind, and
    # later tests' tiny graphs would be planned as big ones (through an index whose centroids are the empty
    # table's). Empty the table and analyze again first, so the estimate that survives is the truth.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE nodes CASCADE")
        cursor.execute("ANALYZE nodes")


def _force_the_vector_index(cursor) -> None:
    """At 2,000 rows PostgreSQL could as well sort the 20 filtered rows; without sorts the only way to the
    ``ORDER BY embedding <=> q`` order is the vector index, which is the path under test."""
    cursor.execute("SET LOCAL enable_sort = off")
    cursor.execute("SET LOCAL enable_seqscan = off")


@pytest.mark.parametrize("through_index", [True, False], ids=["vector-index", "planner-choice"])
@pytest.mark.parametrize("selective", [{"subtree": "cluster"}, {"node_type": "rare"}], ids=["subtree", "type"])
def test_filtered_approximate_search_returns_limit_rows_at_one_percent(big_graph, selective, through_index):
    queries = big_graph.normal(size=(5, DIMENSIONS)).astype(np.float32)
    if through_index:
        with connection.cursor() as cursor:
            _force_the_vector_index(cursor)
            where = "path <@ 'cluster'" if "subtree" in selective else "node_type = 'rare'"
            cursor.execute(f"EXPLAIN SELECT node_id FROM nodes WHERE {where} ORDER BY embedding <=> %s::vector "
                           "LIMIT 10", [str(queries[0].tolist())])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "idx_nodes_embedding" in plan, plan
    for query in queries:
        result = search(vector=query, mode=SearchMode.APPROXIMATE, threshold=-1.0, limit=10, **selective)
        assert len(result.hits) == 10
        # Through the index, pgvector 0.8's iterative scan went on until 10 rows passed the filter: no fallback.
        assert not result.fell_back_to_exact
        if "subtree" in selective:
            assert all(hit.path.startswith("cluster.") for hit in result.hits)
        else:
            assert all(hit.kind == "rare" for hit in result.hits)
        # Re-sorted by exact distance, with the true similarities.
        similarities = [hit.similarity for hit in result.hits]
        assert similarities == sorted(similarities, reverse=True)
        stored = dict(Node.objects.filter(pk__in=[hit.id for hit in result.hits]).values_list("pk", "embedding"))
        unit_query = query / np.linalg.norm(query)
        assert similarities == pytest.approx([float(np.dot(stored[hit.id], unit_query)) for hit in result.hits],
                                             abs=1e-5)


def test_filtered_approximate_search_asks_for_more_rows_than_match(big_graph):
    """All 20 matches when 50 are asked for (the index scan runs out of matches; so does the exact search)."""
    with connection.cursor() as cursor:
        _force_the_vector_index(cursor)
    result = search(vector=big_graph.normal(size=DIMENSIONS).astype(np.float32), subtree="cluster",
                    threshold=-1.0, limit=50)
    assert len(result.hits) == RARE
