"""The demo graph: the shipped file loads completely, consistently and only once; bad files write nothing."""

import json
import re

import pytest
from django.db import connection
from django.db.models import Q

from graph.errors import BAD_RECORD, UNREADABLE_FILE, GraphError
from graph.models import (
    EmbeddingQueueItem,
    ExternalResource,
    Node,
    NodeAttribute,
    NodeResourceLink,
    Reference,
    Relationship,
)
from graph.services.demo import COUNT_KEYS, DEMO_GRAPH_PATH, demo_graph_load

pytestmark = pytest.mark.django_db

PATH_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
MODELS = (Node, NodeAttribute, Relationship, ExternalResource, NodeResourceLink, Reference)


def table_counts():
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture
def loaded(superuser):
    return demo_graph_load(user=superuser)


def test_load_creates_rows_in_every_table(loaded):
    assert loaded["already_loaded"] is False
    assert all(loaded[key] > 0 for key in COUNT_KEYS), loaded
    assert loaded["nodes"] == Node.objects.filter(source="demo").count()
    assert loaded["relationships"] == Relationship.objects.filter(source="demo").count()
    assert loaded["attributes"] == NodeAttribute.objects.count()
    assert loaded["resources"] == ExternalResource.objects.count()
    assert loaded["resource_links"] == NodeResourceLink.objects.count()
    assert loaded["references"] == Reference.objects.count()
    # Matches the file.
    data = json.loads(DEMO_GRAPH_PATH.read_text())
    assert loaded["nodes"] == len(data["nodes"])
    assert loaded["relationships"] == len(data["relationships"])
    assert (loaded["nodes"], loaded["relationships"]) == (139, 205)  # 12 category nodes, 42 follows_paradigm


def test_node_and_relationship_types(loaded):
    types = set(Node.objects.values_list("node_type", flat=True))
    assert types == {"language", "person", "organization", "paradigm", "category"}
    assert 35 <= Node.objects.filter(node_type="language").count() <= 45
    assert Node.objects.filter(node_type="category").count() == 12
    rel_types = set(Relationship.objects.values_list("relationship_type", flat=True))
    assert rel_types == {"influenced", "designed", "developed_by", "follows_paradigm"}
    python = Node.objects.get(name="Python", node_type="language")
    guido = Node.objects.get(name="Guido van Rossum")
    assert Relationship.objects.filter(source_node=guido, target_node=python, relationship_type="designed").exists()
    assert python.attributes.get(attribute_key="first_appeared").attribute_value == "1991"
    assert str(python.path) == "computing.languages.multi_paradigm.python"
    assert python.parent_node.name == "Multi-paradigm languages"
    assert python.outgoing_relationships.get(relationship_type="follows_paradigm").target_node.name == (
        "Multi-paradigm programming")


def test_relationship_endpoints_match_their_types(loaded):
    node_ids = set(Node.objects.values_list("node_id", flat=True))
    types = dict(Node.objects.values_list("node_id", "node_type"))
    expected = {"influenced": ("language", "language"), "designed": ("person", "language"),
                "developed_by": ("language", "organization"), "follows_paradigm": ("language", "paradigm")}
    for source, target, rel_type in Relationship.objects.values_list(
        "source_node_id", "target_node_id", "relationship_type"
    ):
        assert source in node_ids and target in node_ids
        assert (types[source], types[target]) == expected[rel_type]
    for model, fields in ((NodeAttribute, ["node_id"]), (NodeResourceLink, ["node_id"]),
                          (Reference, ["source_node_id"])):
        assert set(model.objects.values_list(*fields, flat=True)) <= node_ids
    assert not Reference.objects.filter(Q(target_resource__isnull=True) | Q(source_node__isnull=True)).exists()
    assert set(Reference.objects.values_list("reference_type", flat=True)) == {"official_site"}


def test_paths_and_hierarchy(loaded):
    paths = list(Node.objects.values_list("path", flat=True))
    assert all(path is not None and PATH_RE.match(str(path)) for path in paths)
    assert len({str(path) for path in paths}) == len(paths)
    # Languages hang under the category of their group; ltree queries work on the stored paths.
    languages = Node.objects.filter(node_type="language")
    assert not languages.filter(parent_node__isnull=True).exists()
    assert set(languages.values_list("parent_node__node_type", flat=True)) == {"category"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM nodes WHERE path <@ %s::ltree", ["computing.languages.functional"])
        functional = {name for (name,) in cursor.fetchall()}
        assert {"Functional languages", "Haskell", "Erlang", "Lisp"} <= functional
        # The rule: a node's path is its parent's path plus one label; only the root has no parent.
        cursor.execute("""
            SELECT count(*) FROM nodes c JOIN nodes p ON p.node_id = c.parent_node_id
            WHERE c.path IS DISTINCT FROM p.path || subpath(c.path, -1)
        """)
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT path::text FROM nodes WHERE parent_node_id IS NULL")
        assert cursor.fetchall() == [("computing",)]
    names = {str(path): name for path, name in Node.objects.values_list("path", "name")}
    assert {path: name for path, name in names.items() if path.count(".") <= 1} == {
        "computing": "Computing", "computing.paradigms": "Programming paradigms",
        "computing.languages": "Programming languages", "computing.people": "People",
        "computing.organizations": "Organizations",
    }


def test_the_paradigm_a_language_follows_is_a_relationship(loaded):
    """The paradigm a language used to hang under (its old parent) is kept as a follows_paradigm relationship."""
    follows = Relationship.objects.filter(relationship_type="follows_paradigm")
    languages = Node.objects.filter(node_type="language")
    assert sorted(follows.values_list("source_node_id", flat=True)) == sorted(languages.values_list("pk", flat=True))
    assert set(follows.values_list("target_node__node_type", flat=True)) == {"paradigm"}
    paradigm_of = dict(follows.values_list("source_node__name", "target_node__name"))
    assert paradigm_of["Elixir"] == "Functional programming"
    assert paradigm_of["BASIC"] == "Imperative programming"
    assert paradigm_of["Prolog"] == "Logic programming"
    assert paradigm_of["Smalltalk"] == "Object-oriented programming"
    # The language's group in the taxonomy names the same paradigm.
    for language in languages.select_related("parent_node"):
        group = str(language.path).split(".")[2]
        assert paradigm_of[language.name].lower().replace("-", "_").startswith(group), language.name


def test_attributes_share_values_for_inference(loaded):
    static = NodeAttribute.objects.filter(attribute_key="typing", attribute_value="static")
    functional = NodeAttribute.objects.filter(attribute_key="paradigm", attribute_value="functional")
    assert static.count() >= 10
    assert functional.count() >= 10


def test_every_demo_node_and_resource_has_a_provider_made_vector(loaded):
    """Embedded as it loads (docs/embeddings.md), so the first search finds it; nothing is left in the queue."""
    assert loaded["embedded"] == loaded["nodes"] + loaded["resources"]
    assert not Node.objects.exclude(embedding_model="hashing-v1").exists()
    assert not ExternalResource.objects.exclude(embedding_model="hashing-v1").exists()
    assert not EmbeddingQueueItem.objects.exists()


def test_created_by_is_set_everywhere(loaded, superuser):
    for model in MODELS:
        assert model.objects.exists()
        assert not model.objects.exclude(created_by=superuser).exists(), model.__name__


def test_second_load_adds_nothing(loaded, superuser):
    before = table_counts()
    again = demo_graph_load(user=superuser)
    assert again["already_loaded"] is True
    assert all(again[key] == 0 for key in COUNT_KEYS)
    assert table_counts() == before


def test_load_without_user_and_existing_resource_is_reused():
    ExternalResource.objects.create(url="https://www.python.org/", title="already here")
    counts = demo_graph_load()
    assert counts["nodes"] > 0
    assert not Node.objects.filter(created_by__isnull=False).exists()
    assert ExternalResource.objects.filter(url="https://www.python.org/").count() == 1
    python_site = ExternalResource.objects.get(url="https://www.python.org/")
    assert python_site.title == "already here"
    assert python_site.node_links.get().node.name == "Python"
    assert counts["resources"] == ExternalResource.objects.count() - 1


def _write(tmp_path, data):
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(data))
    return path


def _small_graph():
    return {
        "format": 1,
        "nodes": [
            {"key": "a", "name": "A", "node_type": "language", "path": "x",
             "attributes": [{"type": "fact", "key": "first_appeared", "value": "2000"}]},
            {"key": "b", "name": "B", "node_type": "language", "path": "x.b", "parent": "a"},
            {"key": "c", "name": "C", "node_type": "language", "path": "x.c", "parent": None},  # parent derived
            {"key": "e", "name": "E", "node_type": "language", "path": "x.c.e"},  # parent derived
            {"key": "d", "name": "D", "node_type": "language"},  # a root without a path
        ],
        "relationships": [{"source": "a", "target": "b", "type": "influenced"}],
    }


def test_small_file_loads(tmp_path):
    counts = demo_graph_load(path=_write(tmp_path, _small_graph()))
    assert (counts["nodes"], counts["attributes"], counts["relationships"]) == (5, 1, 1)
    parents = {node.name: node.parent_node and node.parent_node.name for node in Node.objects.all()}
    assert parents == {"A": None, "B": "A", "C": "A", "E": "C", "D": None}
    assert Node.objects.get(name="D").path is None


def _drop_path_of_a(d):
    del d["nodes"][0]["path"]
    d["nodes"] = d["nodes"][:2]  # only b, whose parent is given


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["relationships"].append({"source": "a", "target": "nope", "type": "influenced"}),
         r"relationships\[1\]: target 'nope' is not a node key"),
        (lambda d: d["nodes"][1].update(parent="missing"), r"nodes\[1\] \('b'\): parent 'missing' is not a node key"),
        (lambda d: d["nodes"][0].update(parent="b"), r"parent cycle"),
        (lambda d: d["nodes"][1].update(path="x.Bad-Label"), r"is not an ltree path"),
        (lambda d: d["nodes"][1].update(key="a"), r"key 'a' is used by more than one node"),
        (lambda d: d["nodes"][2].update(path="x.b"), r"nodes\[2\] \('c'\): path 'x.b' is also used by node 'b'"),
        (lambda d: d["relationships"].append(dict(d["relationships"][0])), r"duplicate relationship"),
        (lambda d: d["relationships"].append({"source": "a", "target": "a", "type": "x"}), r"to itself"),
        (lambda d: d["nodes"][0].update(confidence_score="0.9"),
         r"nodes\[0\]: confidence_score is not given for a node: the database works it out"),
        (lambda d: d["relationships"][0].update(stated_confidence="1.5"),
         r"relationships\[0\]: stated_confidence must be between 0 and 1"),
        (lambda d: d["nodes"][0].update(colour="red"), r"unknown field\(s\) colour"),
        (lambda d: d["nodes"][0].update(name="A\x00"), r"name contains a NUL character"),
        (lambda d: d["nodes"][0]["attributes"][0].update(weight=2),
         r"nodes\[0\] \('a'\)\.attributes\[0\]: weight must be between 0 and 1"),
        (lambda d: d["nodes"][0]["attributes"][0].update(node="b"), r"attributes\[0\]: unknown field\(s\) node"),
        (lambda d: d["nodes"][0].update(attributes="none"), r"nodes\[0\] \('a'\): attributes must be a list"),
        (lambda d: d.update(resources=[{"key": "r", "url": "not a url"}]), r"is not a valid URL"),
        (lambda d: d.update(resources=[{"key": "r", "url": "https://example.com/", "links": [{"node": "nope"}]}]),
         r"resources\[0\] \('r'\)\.links\[0\]: node 'nope' is not a node key"),
        (lambda d: d.update(references=[{"source_node": "a", "target_resource": "r", "reference_type": "cites"}]),
         r"target_resource 'r' is not a resource key"),
        (lambda d: d.update(references=[{"source_node": "a", "target_node": "b", "target_resource": "r",
                                         "reference_type": "cites"}]),
         r"references\[0\]: give exactly one of target_node and target_resource"),
        (lambda d: d.update(references=[{"source_node": "a", "target_node": "b", "reference_type": "cites",
                                         "page_number": 2**40}]), r"page_number 1099511627776 is out of range"),
        # The path/parent rule.
        (lambda d: d["nodes"][1].update(path="y.b"),
         r"nodes\[1\] \('b'\): path 'y.b' must be the parent's path 'x' plus one label \(parent 'a'\)"),
        (lambda d: d["nodes"][1].update(path="x.q.b"), r"nodes\[1\] \('b'\): path 'x.q.b' must be the parent's path"),
        (lambda d: d["nodes"][1].update(path="b"), r"nodes\[1\] \('b'\): path 'b' must be the parent's path 'x'"),
        (lambda d: d["nodes"][1].pop("path"), r"nodes\[1\] \('b'\): a node with a parent needs a path"),
        (lambda d: d["nodes"][2].update(path="z.c"),
         r"nodes\[2\] \('c'\): path 'z.c' needs a parent: no node has the path 'z'"),
        (_drop_path_of_a, r"nodes\[1\] \('b'\): parent 'a' has no path"),
    ],
)
def test_invalid_file_raises_and_writes_nothing(tmp_path, superuser, mutate, message):
    data = _small_graph()
    mutate(data)
    before = table_counts()
    with pytest.raises(GraphError, match=message) as refused:
        demo_graph_load(user=superuser, path=_write(tmp_path, data))
    assert refused.value.code == BAD_RECORD
    assert str(refused.value).startswith("RG-IMPORT-001: ")
    assert table_counts() == before


def test_a_path_already_in_the_database_is_refused(tmp_path):
    Node.objects.create(name="Elsewhere", node_type="concept", path="x")
    before = table_counts()
    with pytest.raises(GraphError, match=r"nodes\[0\] \('a'\): path 'x' is already used by node \d+") as refused:
        demo_graph_load(path=_write(tmp_path, _small_graph()))
    assert refused.value.code == BAD_RECORD
    assert table_counts() == before


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{nodes: ", "is not valid JSON"),
        (b'{"nodes": [{"key": "a", "name": "\xff"}]}', "is not UTF-8 text"),
        (b"[]", "expected a JSON object at the top level"),
        (b'{"nodes": []}', "nodes is empty"),
        (b'{"format": 1}', "missing field nodes"),
        (b'{"format": 2, "nodes": [{}]}', "format 2 is not supported"),
        (b'{"nodes": {"a": 1}}', "nodes must be a list"),
        (b'{"nodes": [{}], "relationships": "none"}', "relationships must be a list"),
        (b'{"nodes": [{}], "colour": "red"}', r"unknown field\(s\) colour"),
    ],
)
def test_unreadable_or_malformed_file(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(GraphError, match=message) as refused:
        demo_graph_load(path=bad)
    assert refused.value.code == UNREADABLE_FILE
    assert table_counts() == dict.fromkeys(table_counts(), 0)


def test_missing_file(tmp_path):
    with pytest.raises(GraphError, match="cannot read") as refused:
        demo_graph_load(path=tmp_path / "missing.json")
    assert refused.value.code == UNREADABLE_FILE
