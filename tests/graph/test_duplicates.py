"""Duplicate candidates and "not the same" (graph/services/duplicates.py, docs/duplicates.md)."""

import pytest
from django.core.management import call_command

from bench.planted import duplicates_plant
from graph.errors import DUPLICATE_BAD_OPTION, DUPLICATE_BAD_PAIR
from graph.models import DistinctPair, DuplicateCandidate
from graph.services import duplicates
from graph.services.duplicates import duplicates_find, pair_mark_distinct
from graph.services.generator import graph_generate
from kgsite.errors import DomainError, PermissionRefused
from tests.factories import NodeAttributeFactory, NodeFactory, UserFactory

pytestmark = pytest.mark.django_db

PLANTED = 40


def _planted(nodes: int, count: int) -> set[tuple[int, int]]:
    graph_generate(nodes=nodes, seed=11)
    return {tuple(sorted(pair)) for pair in duplicates_plant(count=count, seed=5)}


@pytest.fixture
def planted():
    return _planted(1_500, PLANTED)


@pytest.mark.parametrize("search", ["keys and neighbours", "keys only"])
def test_planted_duplicates_are_found_at_the_top(planted, capsys, monkeypatch, search):
    """A small scope adds each node's nearest neighbours to the blocking keys; a large one (the 100k benchmark)
    has the keys only, which must find the planted duplicates alone."""
    if search == "keys only":
        monkeypatch.setattr(duplicates, "NEIGHBOUR_SCOPE_MAX", 0)
    report = duplicates_find()
    top = list(DuplicateCandidate.objects.order_by("-score", "candidate_id")
               .values_list("node_low_id", "node_high_id")[:2 * PLANTED])
    found = planted & set(top)
    recall = len(found) / len(planted)
    precision = len(found) / len(top)
    with capsys.disabled():
        print(f"\n{search}: planted duplicates: recall {recall:.2f} in the top {len(top)}, precision {precision:.2f}; "
              f"{report.stored} candidates from {report.scanned} nodes")
    assert report.scanned == 1_500 + PLANTED
    assert recall >= 0.9


def test_a_pair_marked_not_the_same_never_returns():
    planted = _planted(200, 5)
    duplicates_find()
    low, high = sorted(next(iter(planted)))
    assert DuplicateCandidate.objects.filter(node_low_id=low, node_high_id=high).exists()
    pair_mark_distinct(first=high, second=low, reason="two different people")
    assert not DuplicateCandidate.objects.filter(node_low_id=low, node_high_id=high).exists()
    duplicates_find()
    duplicates_find(min_score=0.0)
    assert not DuplicateCandidate.objects.filter(node_low_id=low, node_high_id=high).exists()
    assert DistinctPair.objects.get().reason == "two different people"


def test_candidates_stay_within_the_type_and_subtree_asked_for():
    root = NodeFactory(label="people")
    ada = NodeFactory(parent=root, name="Ada Lovelace", node_type="person")
    NodeFactory(parent=root, name="Ada Lovelace", node_type="ship")  # same name, another type
    twin = NodeFactory(parent=root, label="ada2", name="Ada Lovelace", node_type="person")
    NodeFactory(name="Ada Lovelace", node_type="person")  # outside the subtree
    for node in (ada, twin):
        NodeAttributeFactory(node=node, attribute_key="born", attribute_value="1815")
    duplicates_find(subtree="people")
    pairs = set(DuplicateCandidate.objects.values_list("node_low_id", "node_high_id"))
    assert pairs == {(ada.pk, twin.pk)}
    candidate = DuplicateCandidate.objects.get()
    assert candidate.name_similarity == 1.0 and candidate.shared_attributes == 1
    duplicates_find(subtree="people", across_types=True)
    assert DuplicateCandidate.objects.count() == 3


def test_names_told_apart_only_by_symbols_are_not_the_same_name():
    """pg_trgm reads "C++", "C#" and "C" all as "c"; the symbols count, so they are not scored as one name."""
    nodes = {name: NodeFactory(name=name, node_type="language") for name in ("C++", "C#", "C", "c++")}
    duplicates_find(min_score=0.0)
    similarity = {frozenset((low, high)): value for low, high, value in
                  DuplicateCandidate.objects.values_list("node_low_id", "node_high_id", "name_similarity")}
    pair = lambda a, b: frozenset((nodes[a].pk, nodes[b].pk))  # noqa: E731
    assert similarity[pair("C++", "c++")] == 1.0  # case still does not matter
    assert similarity.get(pair("C++", "C#"), 0) < 0.3
    assert similarity.get(pair("C", "C++"), 0) < 0.3


def test_a_rescan_drops_pairs_no_longer_found():
    a = NodeFactory(name="Grace Hopper")
    b = NodeFactory(name="Grace Hopper")
    duplicates_find()
    assert DuplicateCandidate.objects.count() == 1
    b.name = "Alan Turing"
    b.save()
    report = duplicates_find()
    assert report.removed == 1 and not DuplicateCandidate.objects.exists()
    assert a.pk


@pytest.mark.parametrize("options, field", [
    ({"node_type": ""}, "type"), ({"subtree": "not a path!"}, "subtree"), ({"subtree": "a." * 1001}, "subtree"),
    ({"min_score": 1.5}, "min_score"), ({"neighbours": 0}, "neighbours"),
])
def test_bad_options_are_refused_by_name(options, field):
    with pytest.raises(DomainError) as refused:
        duplicates_find(**options)
    assert refused.value.code == DUPLICATE_BAD_OPTION and refused.value.context["field"] == field


def test_not_the_same_refusals():
    node = NodeFactory()
    with pytest.raises(DomainError) as refused:
        pair_mark_distinct(first=node.pk, second=node.pk)
    assert refused.value.code == DUPLICATE_BAD_PAIR
    with pytest.raises(PermissionRefused):
        pair_mark_distinct(first=node.pk, second=NodeFactory().pk, user=UserFactory(email="v@example.com"))
    assert not DistinctPair.objects.exists()


@pytest.mark.parametrize("argv, message", [
    (["--min-score", "2"], "from 0 to 1"), (["--min-score", "nan"], "from 0 to 1"),
    (["--neighbours", "١٠"], "not a whole number"), (["--subtree", "bad path"], "RG-DUP-001"),
])
def test_the_command_refuses_bad_arguments(argv, message, capsys):
    with pytest.raises((SystemExit, Exception)) as refused:
        call_command("find_duplicates", *argv)
    text = str(refused.value) + capsys.readouterr().err
    assert message in text
    assert not DuplicateCandidate.objects.exists()


def test_the_command_prints_the_best_pairs():
    from io import StringIO

    NodeFactory(name="Grace Hopper")
    NodeFactory(name="Grace Hopper")
    out = StringIO()
    call_command("find_duplicates", "--top", "5", stdout=out)
    assert "Grace Hopper" in out.getvalue() and "1 candidate pair stored" in out.getvalue()


@pytest.mark.parametrize("search", ["keys and neighbours", "keys only"])
def test_a_small_scope_also_finds_duplicates_whose_names_share_no_key(monkeypatch, search):
    """"USA" and "United States" share no blocking key; their embeddings and attributes say they are one."""
    if search == "keys only":
        monkeypatch.setattr(duplicates, "NEIGHBOUR_SCOPE_MAX", 0)
    usa = NodeFactory(name="USA", node_type="place", embedded=True)
    states = NodeFactory(name="United States", node_type="place", embedding=usa.embedding)
    NodeFactory(name="Canada", node_type="place", embedded=True)
    for node in (usa, states):
        NodeAttributeFactory(node=node, attribute_key="capital", attribute_value="Washington")
    duplicates_find(min_score=0.3)
    found = DuplicateCandidate.objects.filter(node_low_id=min(usa.pk, states.pk),
                                              node_high_id=max(usa.pk, states.pk)).exists()
    assert found is (search == "keys and neighbours")
