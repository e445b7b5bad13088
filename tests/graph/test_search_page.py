"""The similarity search page, its JSON form and the node autocomplete (issue 11, items 2 and 3; docs/search.md).

* Login required: anonymous visitors are sent to the login page (page, JSON, autocomplete).
* Searching by a node (id, exact name in any case; the node itself left out), by text (embedded by the hashing
  provider), by a pasted vector (GET, and POST for vectors too long for a URL, no CSRF token needed); the target
  resources; the filters reaching the selector; the "similar" links keeping the filters; admin links only for
  users who may view the admin page.
* Without JavaScript: an ambiguous name lists its nodes as links, an unknown name offers nodes with a name like it.
* Every bad input is a 400 with its RG code beside the field on the page and ``{"error": {"code", "message"}}`` in
  JSON; an unknown node is a 404 (RG-SEARCH-003); never a 500.
* The JSON shape; the autocomplete's JSON (at most 10, best first); the page shows no Python reprs.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from graph.services.embeddings import embedding_queue_drain
from tests.factories import ExternalResourceFactory, NodeAttributeFactory, NodeFactory, UserFactory

pytestmark = pytest.mark.django_db

DIMENSIONS = 768
SEARCH = "/search/"
RAW_PYTHON = re.compile(r"\bNone\b|Decimal\(|array\(|np\.float|<class |\{'|\[<|object at 0x|Traceback")


@pytest.fixture(autouse=True)
def hashing_provider(settings):
    settings.KGSITE_EMBEDDING_PROVIDER = "hashing"


def vector_at(similarity: float, axis: int) -> np.ndarray:
    """A unit vector at cosine ``similarity`` from the first axis (the query ``AXIS``)."""
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[0] = similarity
    vector[axis] = math.sqrt(1.0 - similarity * similarity)
    return vector


AXIS = vector_at(1.0, 1)


def vector_text(values) -> str:
    return "[" + ", ".join(str(value) for value in values) + "]"


@pytest.fixture
def graph():
    """Nodes at known similarities to AXIS; "Anchor" is on it. Two nodes are named "Mercury"."""
    languages = NodeFactory(label="languages", name="Languages", node_type="topic", embedding=vector_at(0.2, 9))
    nodes = {
        "anchor": NodeFactory(label="anchor", name="Anchor", node_type="topic", embedding=AXIS),
        "near": NodeFactory(label="near", parent=languages, name="Near", node_type="language",
                            embedding=vector_at(0.9, 2)),
        "middle": NodeFactory(label="middle", parent=languages, name="Middle", node_type="language",
                              embedding=vector_at(0.7, 3)),
        "far": NodeFactory(label="far", name="Far", node_type="person", embedding=vector_at(0.4, 4)),
        "planet": NodeFactory(label="planet", name="Mercury", node_type="planet", embedding=vector_at(0.1, 5)),
        "element": NodeFactory(label="element", name="Mercury", node_type="element", embedding=vector_at(0.1, 6)),
        "languages": languages,
    }
    NodeAttributeFactory(node=nodes["near"], confidence=Decimal("1.0"), source_reliability=Decimal("1.0"))
    return nodes


@pytest.fixture
def curator(client, user):
    client.force_login(user)
    return client


def get_json(client, **params):
    response = client.get(SEARCH, {**params, "format": "json"})
    return response.status_code, json.loads(response.content)


# --- Login -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [SEARCH, SEARCH + "?text=python&format=json", "/search/nodes/?term=py"])
def test_login_required(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_urls_and_navigation(curator):
    assert reverse("search") == SEARCH and reverse("search_nodes") == "/search/nodes/"
    response = curator.get(SEARCH)
    content = response.content.decode()
    assert response.status_code == 200
    assert f'<a href="{SEARCH}" aria-current="page">Search</a>' in content
    assert 'id="search-form"' in content and "kgsite/search.js" in content
    assert "results-heading" not in content and "errorlist" not in content  # nothing asked yet: no refusal
    assert 'href="/search/"' in curator.get(reverse("home")).content.decode()


# --- Searching ----------------------------------------------------------------------------------------------------

def test_search_by_node_id_leaves_the_node_out(curator, graph):
    status, body = get_json(curator, node=graph["anchor"].node_id, threshold="0.3")
    assert status == 200
    assert [hit["name"] for hit in body["results"]] == ["Near", "Middle", "Far"]
    assert [round(hit["similarity"], 3) for hit in body["results"]] == [0.9, 0.7, 0.4]
    assert body["query"]["node"] == {"id": graph["anchor"].node_id, "name": "Anchor", "type": "topic",
                                     "path": "anchor"}


@pytest.mark.parametrize("typed", ["Anchor", "anchor", "  ANCHOR "])
def test_search_by_exact_name_in_any_case(curator, graph, typed):
    status, body = get_json(curator, node=typed)
    assert status == 200 and body["query"]["node"]["id"] == graph["anchor"].node_id


def test_an_id_wins_over_a_name_made_of_digits(curator, graph):
    NodeFactory(name=str(graph["far"].node_id), embedding=vector_at(0.5, 7))
    status, body = get_json(curator, node=str(graph["far"].node_id))
    assert status == 200 and body["query"]["node"]["name"] == "Far"


def test_search_by_text_uses_the_embedding_provider(curator):
    for name in ("Functional programming", "Object-oriented programming", "Chemistry of metals"):
        NodeFactory(name=name, node_type="paradigm")
    embedding_queue_drain()
    status, body = get_json(curator, text="functional programming languages", limit="2")
    assert status == 200
    assert body["results"][0]["name"] == "Functional programming" and len(body["results"]) == 2
    page = curator.get(SEARCH, {"text": "functional programming"}).content.decode()
    assert "Nodes similar to" in page and "functional programming" in page


def test_search_by_pasted_vector_get_and_post(graph):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    vector = vector_text(AXIS.tolist())
    response = client.get(SEARCH, {"vector": vector, "format": "json", "limit": "1"})
    assert response.status_code == 200
    assert [hit["name"] for hit in json.loads(response.content)["results"]] == ["Anchor"]
    # A pasted vector is longer than a request line may be: the form posts it, and a search needs no CSRF token.
    response = client.post(SEARCH, {"vector": vector, "mode": "exact", "limit": "3"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "the pasted vector" in content and "Anchor" in content and "Near" in content
    response = client.post(SEARCH + "?format=json", {"vector": vector, "limit": "2"})
    assert [hit["name"] for hit in json.loads(response.content)["results"]] == ["Anchor", "Near"]


def test_filters_reach_the_selector(curator, graph):
    anchor = graph["anchor"].node_id
    by = {"node": anchor, "threshold": "-1", "mode": "exact"}
    assert [h["name"] for h in get_json(curator, **by, type="language")[1]["results"]] == ["Near", "Middle"]
    assert [h["name"] for h in get_json(curator, **by, subtree="languages")[1]["results"]] == [
        "Near", "Middle", "Languages"]
    assert [h["name"] for h in get_json(curator, **by, min_confidence="0.7")[1]["results"]] == ["Near"]
    status, body = get_json(curator, **{**by, "threshold": "0.8"}, limit="2")
    assert [h["name"] for h in body["results"]] == ["Near"] and body["dropped_below_threshold"] == 1


def test_resources_are_searched_with_resource_type(curator, graph):
    ExternalResourceFactory(title="Close paper", url="https://example.org/close", resource_type="paper",
                            embedding=vector_at(0.95, 2))
    ExternalResourceFactory(title="A site", url="https://example.org/site", resource_type="website",
                            embedding=vector_at(0.6, 3))
    status, body = get_json(curator, node=graph["anchor"].node_id, target="resources", threshold="0")
    assert status == 200
    assert [(hit["name"], hit["url"]) for hit in body["results"]] == [
        ("Close paper", "https://example.org/close"), ("A site", "https://example.org/site")]
    assert body["results"][0]["similar_url"] is None and body["results"][0]["path"] is None
    _, body = get_json(curator, node=graph["anchor"].node_id, target="resources", type="website", threshold="0")
    assert [hit["name"] for hit in body["results"]] == ["A site"]
    page = curator.get(SEARCH, {"node": graph["anchor"].node_id, "target": "resources"}).content.decode()
    assert 'href="https://example.org/close" rel="noopener noreferrer nofollow"' in page
    assert "External resources similar to" in page


def test_hybrid_mode_shows_both_ranks(curator, graph):
    status, body = get_json(curator, node=graph["anchor"].node_id, mode="hybrid")
    assert status == 200 and body["query"]["mode"] == "hybrid"
    hit = body["results"][0]
    assert hit["vector_rank"] == 1 and hit["score"] > 0
    page = curator.get(SEARCH, {"node": graph["anchor"].node_id, "mode": "hybrid"}).content.decode()
    assert "Vector rank" in page and "Text rank" in page and "Fused score" in page
    assert "Vector rank" not in curator.get(SEARCH, {"node": graph["anchor"].node_id}).content.decode()


def test_results_table_links_and_figures(client, graph, superuser):
    anchor = graph["anchor"].node_id
    near = graph["near"].node_id
    plain = UserFactory()
    client.force_login(plain)
    page = client.get(SEARCH, {"node": anchor, "type": "language"}).content.decode()
    assert f'<a href="/search/?type=language&amp;node={near}"' in page  # "similar" keeps the filters
    assert f"/admin/graph/node/{near}/change/" not in page  # may not view the admin
    assert f'<a href="/nodes/{near}/">Near</a>' in page  # the name opens the node page
    assert "0.900" in page and "0.750" in page  # similarity and confidence, 3 decimals
    assert "languages.<wbr>near" in page  # paths break at dots only
    assert "ms</li>" in page and "dropped below it" in page
    client.force_login(superuser)
    page = client.get(SEARCH, {"node": anchor}).content.decode()
    assert f'<a href="/nodes/{near}/">Near</a>' in page
    assert f'<a href="/admin/graph/node/{near}/change/" aria-label="Near in the admin">Admin</a>' in page


def test_json_shape(curator, graph):
    status, body = get_json(curator, node=graph["anchor"].node_id, limit="2")
    assert status == 200
    assert set(body) >= {"query", "results", "count", "threshold", "dropped_below_threshold",
                         "fell_back_to_exact", "milliseconds"}
    assert body["query"] == {
        "node": {"id": graph["anchor"].node_id, "name": "Anchor", "type": "topic", "path": "anchor"},
        "text": None, "vector": False, "target": "nodes", "mode": "approximate", "type": None,
        "min_confidence": None, "subtree": None, "threshold": 0.3, "limit": 2}
    assert body["count"] == 2 and isinstance(body["fell_back_to_exact"], bool)
    assert isinstance(body["milliseconds"], float) and body["milliseconds"] > 0
    hit = body["results"][0]
    assert set(hit) >= {"id", "name", "type", "path", "confidence", "similarity", "vector_rank", "text_rank",
                        "score", "url"}
    assert (hit["id"], hit["type"], hit["path"], hit["confidence"], hit["vector_rank"], hit["text_rank"]) == (
        graph["near"].node_id, "language", "languages.near", 0.75, 1, None)
    assert hit["similar_url"] == f"/search/?limit=2&node={graph['near'].node_id}"


# --- Names that resolve to several nodes, or none ------------------------------------------------------------------

def test_an_ambiguous_name_lists_its_nodes_as_links(curator, graph):
    response = curator.get(SEARCH, {"node": "mercury", "mode": "exact"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "2 nodes are named “mercury”. Choose one:" in content
    for key in ("planet", "element"):
        assert f'href="/search/?mode=exact&amp;node={graph[key].node_id}"' in content
    assert "results-heading" not in content
    status, body = get_json(curator, node="Mercury")
    assert status == 400 and body["error"]["code"] == "RG-SEARCH-001"
    assert {choice["id"] for choice in body["error"]["choices"]} == {graph["planet"].node_id,
                                                                     graph["element"].node_id}


def test_an_exact_case_match_settles_an_ambiguous_name(curator, graph):
    NodeFactory(name="MERCURY", node_type="band", embedding=vector_at(0.3, 8))
    status, body = get_json(curator, node="MERCURY")
    assert status == 200 and body["query"]["node"]["type"] == "band"


def test_an_unknown_node_is_a_404_with_names_like_it(curator, graph):
    response = curator.get(SEARCH, {"node": "Anch"})
    assert response.status_code == 404
    content = response.content.decode()
    assert "RG-SEARCH-003" in field_errors(content, "node")
    assert f'href="/search/?node={graph["anchor"].node_id}"' in content  # works without the autocomplete
    status, body = get_json(curator, node="Nowhere at all")
    assert status == 404 and body["error"]["code"] == "RG-SEARCH-003" and "Nowhere at all" in body["error"]["message"]
    status, body = get_json(curator, node="99999999")
    assert status == 404 and body["error"]["code"] == "RG-SEARCH-003"


def test_a_node_without_an_embedding(curator):
    NodeFactory(name="Not yet embedded")
    status, body = get_json(curator, node="Not yet embedded")
    assert status == 400 and body["error"]["code"] == "RG-SEARCH-004"


# --- Bad input -------------------------------------------------------------------------------------------------------

def field_errors(content: str, field: str) -> str:
    """The error list rendered beside ``field`` (Django's ``id_<field>_error``), or ""."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', content, re.S)
    return match.group(1) if match else ""


NAN_VECTOR = vector_text(["NaN"] + [0.1] * 767)
INFINITE_VECTOR = vector_text(["inf"] + [0.1] * 767)
ZERO_VECTOR = vector_text([0] * 768)
SHORT_VECTOR = vector_text([0.1] * 767)
GOOD_VECTOR = vector_text([0.1] * 768)

BAD_INPUTS = [
    ({"text": "x", "limit": str(10**9)}, "limit", "RG-SEARCH-002"),
    ({"text": "x", "limit": "0"}, "limit", "RG-SEARCH-002"),
    ({"text": "x", "limit": "201"}, "limit", "RG-SEARCH-002"),
    ({"text": "x", "limit": "ten"}, "limit", "RG-SEARCH-002"),
    ({"text": "x", "limit": "2.5"}, "limit", "RG-SEARCH-002"),
    ({"text": "x", "limit": "-3"}, "limit", "RG-SEARCH-002"),
    ({"vector": NAN_VECTOR}, "vector", "RG-VEC-003"),
    ({"vector": INFINITE_VECTOR}, "vector", "RG-VEC-003"),
    ({"vector": ZERO_VECTOR}, "vector", "RG-VEC-004"),
    ({"vector": SHORT_VECTOR}, "vector", "RG-VEC-002"),
    ({"vector": "[1, two, 3]"}, "vector", "RG-VEC-001"),
    ({"vector": ""}, "vector", "RG-VEC-002"),
    ({"text": ""}, "text", "RG-EMBED-002"),
    ({"text": "!!! ???"}, "text", "RG-EMBED-002"),
    ({"node": ""}, "node", "RG-SEARCH-001"),
    ({"text": "x", "subtree": "languages..near"}, "subtree", "RG-SEARCH-002"),
    ({"text": "x", "subtree": "a b"}, "subtree", "RG-SEARCH-002"),
    ({"text": "x", "mode": "fuzzy"}, "mode", "RG-SEARCH-001"),
    ({"text": "x", "target": "edges"}, "target", "RG-SEARCH-001"),
    ({"text": "x", "threshold": "NaN"}, "threshold", "RG-SEARCH-002"),
    ({"text": "x", "threshold": "inf"}, "threshold", "RG-SEARCH-002"),
    ({"text": "x", "threshold": "1.5"}, "threshold", "RG-SEARCH-002"),
    ({"text": "x", "min_confidence": "2"}, "min_confidence", "RG-SEARCH-002"),
    ({"text": "x", "min_confidence": "NaN"}, "min_confidence", "RG-SEARCH-002"),
    ({"text": "x", "min_confidence": "high"}, "min_confidence", "RG-SEARCH-002"),
    ({"text": "x", "type": "t" * 51}, "type", "RG-SEARCH-002"),
    ({"text": "x", "target": "resources", "subtree": "languages"}, "subtree", "RG-SEARCH-002"),
    ({"text": "x", "target": "resources", "min_confidence": "0.5"}, "min_confidence", "RG-SEARCH-002"),
    ({"vector": GOOD_VECTOR, "mode": "hybrid"}, "mode", "RG-SEARCH-001"),
    ({"text": "x", "node": "Anchor"}, None, "RG-SEARCH-001"),
    ({"text": "x", "vector": GOOD_VECTOR}, None, "RG-SEARCH-001"),
    ({"limit": "5"}, None, "RG-SEARCH-001"),
    ({"node": "", "text": "", "vector": ""}, None, "RG-SEARCH-001"),
]


@pytest.mark.parametrize(("params", "field", "code"), BAD_INPUTS,
                         ids=[f"{code}-{field}-{index}" for index, (_, field, code) in enumerate(BAD_INPUTS)])
def test_bad_input_is_a_400_with_its_code(curator, graph, params, field, code):
    response = curator.get(SEARCH, params)
    assert response.status_code == 400
    content = response.content.decode()
    where = field_errors(content, field) if field else re.search(
        r'<div class="form-errors" role="alert">(.*?)</div>', content, re.S).group(1)
    assert code in where, content
    assert not RAW_PYTHON.search(content)
    status, body = get_json(curator, **params)
    assert status == 400
    assert body["error"]["code"] == code and body["error"]["field"] == field
    assert body["error"]["message"] and not body["error"]["message"].startswith("RG-")
    assert set(body) == {"error"}


def test_a_post_with_bad_input_is_a_400_too(curator):
    response = curator.post(SEARCH + "?format=json", {"vector": NAN_VECTOR})
    assert response.status_code == 400 and json.loads(response.content)["error"]["code"] == "RG-VEC-003"


def test_a_broken_request_body_is_never_a_500(curator, graph):
    for params in ({"text": "x\x00y"}, {"node": "\x00"}, {"subtree": "\x00", "text": "x"},
                   {"text": "x", "limit": "１０"}, {"text": "x", "threshold": "1e999"}, {"vector": "[" + "1," * 5000}):
        response = curator.get(SEARCH, {**params, "format": "json"})
        assert response.status_code in (200, 400, 404), (params, response.status_code)


# --- The autocomplete -------------------------------------------------------------------------------------------

def test_autocomplete_json(curator, graph):
    for index in range(15):
        NodeFactory(name=f"Mercury moon {index:02d}")
    response = curator.get("/search/nodes/", {"term": "merc"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    results = json.loads(response.content)["results"]
    assert len(results) == 10
    assert [result["name"] for result in results[:2]] == ["Mercury", "Mercury"]  # shortest (and exact) first
    assert set(results[0]) == {"id", "name", "type", "path"}
    exact = json.loads(curator.get("/search/nodes/", {"term": str(graph["far"].node_id)}).content)["results"]
    assert exact[0]["name"] == "Far"
    assert json.loads(curator.get("/search/nodes/", {"term": "  "}).content) == {"results": []}
    assert json.loads(curator.get("/search/nodes/").content) == {"results": []}


# --- What the page shows --------------------------------------------------------------------------------------

def test_pages_show_no_python(curator, graph):
    ExternalResourceFactory(title=None, url="https://example.org/untitled", resource_type=None,
                            embedding=vector_at(0.9, 2))
    for params in ({}, {"node": graph["anchor"].node_id}, {"node": graph["anchor"].node_id, "mode": "hybrid"},
                   {"node": "Mercury"}, {"node": "Unknown"}, {"text": "anchor", "target": "resources"},
                   {"vector": GOOD_VECTOR, "threshold": "0.99"}):
        content = curator.get(SEARCH, params).content.decode()
        assert not RAW_PYTHON.search(content), (params, RAW_PYTHON.search(content))


def test_page_query_count(curator, graph, django_assert_max_num_queries):
    """A constant number of queries, whatever the number of rows: session and user, the configuration (tests
    check its version on every read), the node, the search's settings and its two lists, the two type lists; on
    the first request, the session's idle expiry (config_admin/middleware.py, at most once a minute)."""
    for limit in ("1", "200"):
        with django_assert_max_num_queries(19 if limit == "1" else 16):
            response = curator.get(SEARCH, {"node": "Anchor", "mode": "hybrid", "limit": limit})
        assert response.status_code == 200
