"""Issue 8, items 4 and 6: the admin's searches and autocompletes find what a curator means, through indexes."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.urls import reverse

from graph.models import Node
from graph.selectors import search
from tests.factories import (
    ExternalResourceFactory,
    NodeAttributeFactory,
    NodeFactory,
    NodeResourceLinkFactory,
    ReferenceFactory,
    RelationshipFactory,
)

pytestmark = pytest.mark.django_db

AUTOCOMPLETE = "/admin/autocomplete/"
NODE_AUTOCOMPLETE = {"app_label": "graph", "model_name": "relationship", "field_name": "source_node"}
RESOURCE_AUTOCOMPLETE = {"app_label": "graph", "model_name": "noderesourcelink", "field_name": "resource"}
CHANGELISTS = ("node", "nodeattribute", "relationship", "externalresource", "noderesourcelink", "reference")


def named(*names: str) -> dict[str, Node]:
    """Root nodes with these names, created in this order (so the first has the smallest id)."""
    nodes = {}
    for index, name in enumerate(names):
        nodes[name] = NodeFactory(name=name, node_type="language", label=f"lang_{index}")
    return nodes


def autocomplete(client, term: str, url: dict = NODE_AUTOCOMPLETE, page: int | None = None) -> dict:
    params = {**url, "term": term, **({"page": page} if page else {})}
    response = client.get(AUTOCOMPLETE, params)
    assert response.status_code == 200, response.content[:500]
    return response.json()


def texts(payload: dict) -> list[str]:
    return [result["text"].rsplit(" (", 1)[0] for result in payload["results"]]


def listed(client, model: str, term: str) -> list:
    response = client.get(reverse(f"admin:graph_{model}_changelist"), {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# --- Autocomplete order ---------------------------------------------------------------------------------------

def test_autocomplete_lists_the_exact_match_first_then_prefixes_then_the_rest(admin_client_for):
    # Created with C first: Django's order (newest first) listed Scheme, Objective-C, OCaml, Clojure, C.
    named("C", "Clojure", "OCaml", "Objective-C", "Scheme", "C++", "Cobol")
    assert texts(autocomplete(admin_client_for, "C")) == ["C", "C++", "Cobol", "Clojure"]  # 1 character: prefixes
    assert texts(autocomplete(admin_client_for, "c")) == ["C", "C++", "Cobol", "Clojure"]


def test_autocomplete_ranks_substring_matches_after_prefix_matches(admin_client_for):
    named("Scheme", "OCaml", "Cobol", "Clojure")
    assert texts(autocomplete(admin_client_for, "cam")) == ["OCaml"]
    assert texts(autocomplete(admin_client_for, "ch")) == []  # short terms match the start of names only
    assert texts(autocomplete(admin_client_for, "che")) == ["Scheme"]
    assert texts(autocomplete(admin_client_for, "bol")) == ["Cobol"]
    assert texts(autocomplete(admin_client_for, "clo")) == ["Clojure"]


def test_autocomplete_go_lists_go_before_algol(admin_client_for):
    named("Go", "ALGOL 68", "Google Go", "Golang")
    results = texts(autocomplete(admin_client_for, "Go"))
    assert results[0] == "Go"
    assert results == ["Go", "Golang", "Google Go"]  # "ALGOL 68" only contains "go": not for a 2-character term
    assert texts(autocomplete(admin_client_for, "gol")) == ["Golang", "ALGOL 68"]


def test_autocomplete_r_lists_r_first(admin_client_for):
    named("R", "Ruby", "Rust", "Racket", "Fortran", "Rexx")
    assert texts(autocomplete(admin_client_for, "R")) == ["R", "Rexx", "Ruby", "Rust", "Racket"]
    assert texts(autocomplete(admin_client_for, "rust")) == ["Rust"]


def test_autocomplete_ties_are_shorter_names_first_then_by_name(admin_client_for):
    named("Pascal", "Perl", "PHP", "Prolog", "PL/I", "P")
    assert texts(autocomplete(admin_client_for, "p")) == ["P", "PHP", "Perl", "PL/I", "Pascal", "Prolog"]


def test_autocomplete_finds_by_id_first(admin_client_for):
    nodes = named("Lisp", "Logo")
    lisp = nodes["Lisp"]
    payload = autocomplete(admin_client_for, str(lisp.pk))
    assert payload["results"][0]["id"] == str(lisp.pk)


def test_autocomplete_pages_continue_in_order(admin_client_for):
    names = [f"Basic {index:02d}" for index in range(45)] + ["B", "Bash", "Ab Basic"]
    named(*names)
    pages, page = [], 1
    while True:
        payload = autocomplete(admin_client_for, "ba", page=page)
        pages.append(texts(payload))
        if not payload["pagination"]["more"]:
            break
        page += 1
    assert [len(found) for found in pages] == [20, 20, 6]
    everything = [name for found in pages for name in found]
    assert everything == ["Bash", *[f"Basic {index:02d}" for index in range(45)]]
    # 3+ characters: the substring tier follows the prefix tier, across pages too.
    everything = []
    for page in (1, 2, 3):
        everything += texts(autocomplete(admin_client_for, "basic", page=page))
    assert everything == [*[f"Basic {index:02d}" for index in range(45)], "Ab Basic"]


def test_autocomplete_of_a_path_lists_the_subtree_after_name_matches(admin_client_for):
    computing = NodeFactory(name="Computing", label="computing")
    languages = NodeFactory(name="Languages", label="languages", parent=computing)
    functional = NodeFactory(name="Functional", label="functional", parent=languages)
    NodeFactory(name="Haskell", label="haskell", parent=functional)
    NodeFactory(name="Elixir", label="elixir", parent=functional)
    NodeFactory(name="Imperative", label="imperative", parent=languages)
    assert texts(autocomplete(admin_client_for, "computing.languages.functional")) == [
        "Functional", "Elixir", "Haskell"]  # path order


def test_resource_autocomplete_lists_exact_titles_first(admin_client_for):
    for title in ("The Rust Book", "Rust", "Rustonomicon", "Trusting Trust"):
        ExternalResourceFactory(title=title)
    assert texts(autocomplete(admin_client_for, "rust", url=RESOURCE_AUTOCOMPLETE)) == [
        "Rust", "Rustonomicon", "The Rust Book", "Trusting Trust"]


# --- Change list searches -------------------------------------------------------------------------------------

def test_relationships_are_found_by_a_node_name(admin_client_for):
    nodes = named("Rust", "C++", "Go", "Cobol")
    influenced = RelationshipFactory(source_node=nodes["C++"], target_node=nodes["Rust"],
                                     relationship_type="influenced")
    inspired = RelationshipFactory(source_node=nodes["Rust"], target_node=nodes["Go"],
                                   relationship_type="related_to")
    other = RelationshipFactory(source_node=nodes["Go"], target_node=nodes["Cobol"], relationship_type="related_to")
    assert set(listed(admin_client_for, "relationship", "Rust")) == {influenced, inspired}
    assert set(listed(admin_client_for, "relationship", "rust")) == {influenced, inspired}
    assert set(listed(admin_client_for, "relationship", "Go")) == {inspired, other}  # short: the whole name
    assert listed(admin_client_for, "relationship", "influenced") == [influenced]
    assert listed(admin_client_for, "relationship", "influ") == [influenced]  # part of a type
    assert set(listed(admin_client_for, "relationship", str(nodes["Cobol"].pk))) == {other}


def test_attributes_match_part_of_a_value_or_key(admin_client_for):
    guido = NodeAttributeFactory(attribute_key="designer", attribute_value="Guido van Rossum")
    long_text = NodeAttributeFactory(attribute_key="summary", attribute_value="pin " + "word " * 1000 + "needle")
    NodeAttributeFactory(attribute_key="colour", attribute_value="red")
    assert listed(admin_client_for, "nodeattribute", "guido") == [guido]
    assert listed(admin_client_for, "nodeattribute", "VAN ROSS") == [guido]
    assert listed(admin_client_for, "nodeattribute", "design") == [guido]
    # A value over 3 KB is found by its first 512 characters (VALUE_SEARCH_HEAD), not by text beyond them.
    assert listed(admin_client_for, "nodeattribute", "pin word") == [long_text]
    assert listed(admin_client_for, "nodeattribute", "needle") == []
    assert listed(admin_client_for, "nodeattribute", str(guido.node_id)) == [guido]


def test_nodes_are_found_by_path_and_subtree(admin_client_for):
    computing = NodeFactory(name="Computing", label="computing")
    languages = NodeFactory(name="Languages", label="languages", parent=computing)
    functional = NodeFactory(name="Functional programming", label="functional", parent=languages)
    haskell = NodeFactory(name="Haskell", label="haskell", parent=functional)
    elixir = NodeFactory(name="Elixir", label="elixir", parent=functional)
    NodeFactory(name="Imperative", label="imperative", parent=languages)
    NodeFactory(name="Functional analysis", label="functional_2")
    assert set(listed(admin_client_for, "node", "computing.languages.functional")) == {functional, haskell, elixir}
    assert set(listed(admin_client_for, "node", "Functional")) == {
        functional, Node.objects.get(name="Functional analysis")}


def test_node_search_by_name_id_and_short_prefix(admin_client_for):
    nodes = named("Python", "Jython", "Pascal")
    assert listed(admin_client_for, "node", "ython") == [nodes["Jython"], nodes["Python"]]  # newest first
    assert listed(admin_client_for, "node", "py") == [nodes["Python"]]
    assert listed(admin_client_for, "node", str(nodes["Pascal"].pk)) == [nodes["Pascal"]]


def test_references_are_found_by_node_resource_and_type(admin_client_for):
    python = NodeFactory(name="Python", label="python")
    tutorial = ExternalResourceFactory(title="The Python Tutorial", url="https://docs.python.org/3/tutorial/")
    cites = ReferenceFactory(source_node=python, target_resource=tutorial, reference_type="cites")
    other = ReferenceFactory(reference_type="mentions")
    assert listed(admin_client_for, "reference", "python") == [cites]
    assert listed(admin_client_for, "reference", "Tutorial") == [cites]
    assert listed(admin_client_for, "reference", "docs.python.org") == [cites]
    assert listed(admin_client_for, "reference", "mention") == [other]
    assert cites in listed(admin_client_for, "reference", str(python.pk))  # (ids of other tables may match too)


def test_node_resource_links_are_found_by_node_resource_and_type(admin_client_for):
    rust = NodeFactory(name="Rust", label="rust")
    book = ExternalResourceFactory(title="The Rust Programming Language", url="https://doc.rust-lang.org/book/")
    link = NodeResourceLinkFactory(node=rust, resource=book, link_type="documentation")
    other = NodeResourceLinkFactory(link_type="mention")
    assert listed(admin_client_for, "noderesourcelink", "rust") == [link]
    assert listed(admin_client_for, "noderesourcelink", "Programming Language") == [link]
    assert listed(admin_client_for, "noderesourcelink", "doc.rust-lang") == [link]
    assert listed(admin_client_for, "noderesourcelink", "documentation") == [link]
    assert listed(admin_client_for, "noderesourcelink", "mention") == [other]


def test_resources_are_found_by_title_or_url(admin_client_for):
    book = ExternalResourceFactory(title="The Rust Book", url="https://doc.rust-lang.org/book/")
    ExternalResourceFactory(title="Other", url="https://example.org/other")
    assert listed(admin_client_for, "externalresource", "rust book") == [book]
    assert listed(admin_client_for, "externalresource", "rust-lang") == [book]
    assert listed(admin_client_for, "externalresource", "th") == [book]  # short: the start of a title


def test_like_wildcards_in_a_term_match_themselves(admin_client_for):
    named("100% pure", "a_b", "back\\slash", "plain")
    assert [node.name for node in listed(admin_client_for, "node", "%")] == []
    assert [node.name for node in listed(admin_client_for, "node", "0% p")] == ["100% pure"]
    assert [node.name for node in listed(admin_client_for, "node", "a_b")] == ["a_b"]
    assert [node.name for node in listed(admin_client_for, "node", "k\\s")] == ["back\\slash"]
    assert texts(autocomplete(admin_client_for, "_")) == []


ODD_TERMS = ["'", '"', "%", "_", "\\", "%_\\'\"", "x" * 5000, "a..b", ".a", "a.", "a b.c", "\x00", "ab\x00cd",
             "computing.\x00", "🦀", "1" * 30, "-1", "0", "SELECT 1; --"]


@pytest.mark.parametrize("term", ODD_TERMS, ids=range(len(ODD_TERMS)))
def test_odd_terms_never_give_a_server_error(admin_client_for, term):
    NodeFactory(name="Rust", label="rust")
    for model in CHANGELISTS:
        response = admin_client_for.get(reverse(f"admin:graph_{model}_changelist"), {"q": term})
        assert response.status_code in (200, 400), (model, term[:20], response.status_code)
    for url in (NODE_AUTOCOMPLETE, RESOURCE_AUTOCOMPLETE):
        response = admin_client_for.get(AUTOCOMPLETE, {**url, "term": term})
        assert response.status_code in (200, 400), (url, term[:20], response.status_code)


def test_term_cleaning():
    assert search.search_term_clean("  ab\x00c  ") == "abc"
    assert len(search.search_term_clean("x" * 5000)) == search.TERM_MAX_LENGTH
    assert search.like_escape("50%_a\\b") == "50\\%\\_a\\\\b"
    assert search.term_path("computing.languages") == "computing.languages"
    assert search.term_path("a..b") is None and search.term_path("C++") is None
    assert search.term_id("42") == 42 and search.term_id("2147483648") is None and search.term_id("٤") is None


# --- Indexes --------------------------------------------------------------------------------------------------

def plan(queryset) -> str:
    """The plan of ``queryset`` (unordered) with sequential scans off, after ANALYZE of its table."""
    sql, params = queryset.order_by().query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {queryset.model._meta.db_table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_node_name_search_can_use_the_trigram_index():
    NodeFactory.create_batch(5)
    assert "idx_nodes_name_trgm" in plan(Node.objects.filter(search.node_search_q("rust")))


def test_short_terms_use_the_lower_name_btree():
    NodeFactory.create_batch(5)
    text = plan(Node.objects.filter(search.node_search_q("c")))
    assert "idx_nodes_name_lower" in text or "idx_nodes_name_length" in text


def test_attribute_search_can_use_the_trigram_indexes():
    from graph.models import NodeAttribute

    NodeAttributeFactory.create_batch(5)
    text = plan(NodeAttribute.objects.filter(search.attribute_search_q("guido")))
    assert "idx_node_attributes_value_head_trgm" in text and "idx_node_attributes_key_trgm" in text


def test_relationship_search_probes_the_node_indexes():
    from graph.models import Relationship

    RelationshipFactory.create_batch(5)
    text = plan(Relationship.objects.filter(search.relationship_search_q("rust")))
    assert "idx_nodes_name_trgm" in text
    assert "Seq Scan on relationships" not in text and "idx_relationships_target" in text


def test_subtree_search_uses_the_gist_index():
    NodeFactory.create_batch(5)
    text = plan(Node.objects.filter(search.subtree_q("computing.languages")))
    assert "idx_nodes_path" in text or "unique_node_path" in text  # the GiST, or the btree range
