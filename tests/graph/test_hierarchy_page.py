"""The hierarchy pages: browsing the ltree tree (``/hierarchy/?path=``) and moving a subtree (POST
``/hierarchy/move/``), graph/views_hierarchy.py and graph/selectors/hierarchy.py.

* The roots; a level with its ancestors as breadcrumbs and its children with their subtree counts (capped: "N+");
  pages of children; the nodes without a path counted; a malformed path is a 400, a path no node has a 404.
* Moving: an editor moves a subtree (every descendant follows, in the database) and lands on its new place; a move
  under its own descendant is refused (RG-NODE-004) and changes nothing; a user without ``graph.change_node`` sees
  no move form and is refused (403); anonymous visitors are sent to the login page; GET on the move URL is a 405.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from graph.errors import EXPLORE_BAD_PARAMETER, EXPLORE_UNKNOWN_NODE, GraphError, GraphNotFound
from graph.models import Node
from graph.selectors import hierarchy as hierarchy_module
from graph.selectors.hierarchy import CappedCount, hierarchy_level
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db

HIERARCHY = "/hierarchy/"
MOVE = "/hierarchy/move/"


@pytest.fixture
def tree():
    """science > {physics > {optics, mechanics > classical}, biology}; arts (a root); one node without a path."""
    science = NodeFactory(label="science", name="Science", node_type="field")
    physics = NodeFactory(parent=science, label="physics", name="Physics", node_type="field")
    mechanics = NodeFactory(parent=physics, label="mechanics", name="Mechanics")
    nodes = {
        "science": science, "physics": physics, "mechanics": mechanics,
        "optics": NodeFactory(parent=physics, label="optics", name="Optics"),
        "classical": NodeFactory(parent=mechanics, label="classical", name="Classical mechanics"),
        "biology": NodeFactory(parent=science, label="biology", name="Biology"),
        "arts": NodeFactory(label="arts", name="Arts"),
        "loose": NodeFactory(label="loose", name="Loose", path=None),
    }
    return nodes


def paths() -> dict[str, str | None]:
    return {node.name: (str(node.path) if node.path is not None else None) for node in Node.objects.all()}


@pytest.fixture
def curator(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def editor(client, user):
    user.user_permissions.add(Permission.objects.get(codename="change_node"))
    client.force_login(user)
    return client


# --- The selector ------------------------------------------------------------------------------------------------

def test_roots_level(tree):
    level = hierarchy_level()
    assert level.node is None and [child.node.name for child in level.children] == ["Arts", "Science"]
    assert [str(child.descendants) for child in level.children] == ["0", "5"]
    assert level.unplaced == CappedCount(1, False) and str(level.children_count) == "2"


def test_a_level_has_its_ancestors_and_children(tree):
    level = hierarchy_level(path="science.physics.mechanics")
    assert level.node.name == "Mechanics" and [node.name for node in level.ancestors] == ["Science", "Physics"]
    assert [child.node.name for child in level.children] == ["Classical mechanics"]
    level = hierarchy_level(path="science.physics")
    assert [(child.node.name, child.descendants.value) for child in level.children] == [
        ("Mechanics", 1), ("Optics", 0)]
    assert level.descendants == CappedCount(3, False) and level.unplaced is None


def test_counts_are_capped(tree, monkeypatch):
    monkeypatch.setattr(hierarchy_module, "SUBTREE_COUNT_CAP", 2)
    monkeypatch.setattr(hierarchy_module, "CHILDREN_COUNT_CAP", 1)
    level = hierarchy_level(path="science")
    assert level.descendants == CappedCount(2, True) and str(level.descendants) == "2+"
    physics = next(child for child in level.children if child.node.name == "Physics")
    assert str(physics.descendants) == "2+"
    assert str(level.children_count) == "1+"


def test_children_are_paged_without_counting_them_all(tree, django_assert_max_num_queries):
    for index in range(7):
        NodeFactory(parent=tree["arts"], label=f"work_{index}", name=f"Work {index}")
    with django_assert_max_num_queries(4):
        first = hierarchy_level(path="arts", per_page=3)
    assert [child.node.name for child in first.children] == ["Work 0", "Work 1", "Work 2"]
    assert first.has_next and not first.has_previous and str(first.page_count) == "3"
    last = hierarchy_level(path="arts", page=3, per_page=3)
    assert [child.node.name for child in last.children] == ["Work 6"] and not last.has_next
    with pytest.raises(GraphError) as excinfo:
        hierarchy_level(path="arts", page=4, per_page=3)
    assert excinfo.value.code == EXPLORE_BAD_PARAMETER and "past the last page" in excinfo.value.message


@pytest.mark.parametrize("path", ["a..b", "A-b!", ".science", "science.", "sci ence"])
def test_a_malformed_path_is_refused(tree, path):
    with pytest.raises(GraphError) as excinfo:
        hierarchy_level(path=path)
    assert excinfo.value.code == EXPLORE_BAD_PARAMETER


def test_an_unknown_path_is_not_found(tree):
    with pytest.raises(GraphNotFound) as excinfo:
        hierarchy_level(path="science.chemistry")
    assert excinfo.value.code == EXPLORE_UNKNOWN_NODE


def test_a_sibling_whose_label_extends_another_is_not_counted_in_its_subtree(tree):
    NodeFactory(parent=tree["science"], label="physics_2", name="Physics two")
    NodeFactory(parent=tree["science"], label="physicsx", name="Physicsx")
    level = hierarchy_level(path="science.physics")
    assert level.descendants == CappedCount(3, False)


# --- The pages ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "url"), [("get", HIERARCHY), ("get", HIERARCHY + "?path=science"),
                                             ("post", MOVE)])
def test_login_required(client, tree, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_roots_page(curator, tree):
    response = curator.get(HIERARCHY)
    content = response.content.decode()
    assert response.status_code == 200 and reverse("hierarchy") == HIERARCHY
    assert f'<a href="{HIERARCHY}" aria-current="page">Hierarchy</a>' in content
    assert 'href="/hierarchy/?path=science"' in content and 'href="/hierarchy/?path=arts"' in content
    assert "1 node has no path and is not in the tree" in content
    assert "Move a subtree" not in content  # no permission


def test_a_level_page_with_breadcrumbs_and_counts(curator, tree):
    response = curator.get(HIERARCHY, {"path": "science.physics.mechanics"})
    content = response.content.decode()
    assert response.status_code == 200
    assert response.context["breadcrumbs"] == [
        ("Dashboard", "/"), ("Hierarchy", HIERARCHY), ("Science", "/hierarchy/?path=science"),
        ("Physics", "/hierarchy/?path=science.physics"), ("Mechanics", None)]
    assert '<a href="/hierarchy/?path=science.physics">Physics</a>' in content
    assert reverse("node_detail", kwargs={"node_id": tree["mechanics"].node_id}) in content
    assert 'href="/hierarchy/?path=science.physics.mechanics.classical"' in content
    response = curator.get(HIERARCHY, {"path": "science"})
    rows = {row.child.node.name: str(row.child.descendants) for row in response.context["rows"]}
    assert rows == {"Biology": "0", "Physics": "3"}


def test_a_capped_count_shows_a_plus(curator, tree, monkeypatch):
    monkeypatch.setattr(hierarchy_module, "SUBTREE_COUNT_CAP", 2)
    content = curator.get(HIERARCHY).content.decode()
    assert '<td class="num">2+</td>' in content


def test_pages_of_children(curator, tree, monkeypatch):
    monkeypatch.setattr(hierarchy_module, "PER_PAGE", 2)
    for index in range(3):
        NodeFactory(parent=tree["arts"], label=f"work_{index}", name=f"Work {index}")
    content = curator.get(HIERARCHY, {"path": "arts"}).content.decode()
    assert "Work 1" in content and "Work 2" not in content
    assert 'href="/hierarchy/?path=arts&amp;page=2"' in content and "Page 1 of 2" in content
    content = curator.get(HIERARCHY, {"path": "arts", "page": "2"}).content.decode()
    assert "Work 2" in content and 'href="/hierarchy/?path=arts"' in content and "Next" not in content


@pytest.mark.parametrize(("params", "status", "message"), [
    ({"path": "a..b"}, 400, "RG-EXPLORE-001: “a..b” is not a hierarchy path"),
    ({"path": "A-b!"}, 400, "RG-EXPLORE-001: “A-b!” is not a hierarchy path"),
    ({"path": "science", "page": "x"}, 400, "RG-EXPLORE-001: the page must be a whole number"),
    ({"path": "science", "page": "9"}, 400, "RG-EXPLORE-001: page 9 is past the last page (1)"),
    ({"path": "science.chemistry"}, 404, "RG-EXPLORE-002: no node has the hierarchy path science.chemistry"),
])
def test_bad_paths_are_refused_beside_the_field(curator, tree, params, status, message):
    response = curator.get(HIERARCHY, params)
    assert response.status_code == status
    assert message in response.content.decode()
    assert response.context["level"] is None


# --- Moving ------------------------------------------------------------------------------------------------------

def test_an_editor_sees_the_move_form(editor, tree):
    content = editor.get(HIERARCHY, {"path": "science.physics"}).content.decode()
    assert "Move a subtree" in content and f'action="{MOVE}"' in content and "csrfmiddlewaretoken" in content
    assert f'<option value="{tree["physics"].node_id}" selected>' in content
    assert f'<option value="{tree["optics"].node_id}">' in content


def test_an_editor_moves_a_subtree(editor, tree):
    response = editor.post(MOVE, {"node": tree["physics"].node_id, "parent": "Arts", "back": "science"})
    assert response.status_code == 302 and response["Location"] == "/hierarchy/?path=arts.physics"
    assert paths() | {"Loose": None} == {
        "Science": "science", "Physics": "arts.physics", "Mechanics": "arts.physics.mechanics",
        "Optics": "arts.physics.optics", "Classical mechanics": "arts.physics.mechanics.classical",
        "Biology": "science.biology", "Arts": "arts", "Loose": None}
    page = editor.get(response["Location"])
    assert "Moved Physics and its 3 descendants: science.physics → arts.physics." in page.content.decode()


def test_a_move_by_id_or_path_and_to_the_root(editor, tree):
    editor.post(MOVE, {"node": tree["optics"].node_id, "parent": "science.biology"})
    assert paths()["Optics"] == "science.biology.optics"
    editor.post(MOVE, {"node": tree["optics"].node_id, "parent": str(tree["arts"].node_id)})
    assert paths()["Optics"] == "arts.optics"
    response = editor.post(MOVE, {"node": tree["mechanics"].node_id, "parent": ""})
    assert response["Location"] == "/hierarchy/?path=mechanics"
    assert paths()["Classical mechanics"] == "mechanics.classical"


def test_a_move_under_its_own_descendant_is_refused(editor, tree):
    before = paths()
    response = editor.post(MOVE, {"node": tree["physics"].node_id, "parent": "science.physics.mechanics",
                                  "back": "science.physics"})
    content = response.content.decode()
    assert response.status_code == 400
    assert "RG-NODE-004: Physics cannot move under Mechanics, one of its own descendants" in content
    assert "The move was refused" in content and response.context["move_form"].errors["parent"]
    assert paths() == before
    assert response.context["level"].node.name == "Physics"  # shown again on the level it was posted from
    response = editor.post(MOVE, {"node": tree["physics"].node_id, "parent": "Physics"})
    assert response.status_code == 400 and "Physics cannot move under itself" in response.content.decode()


@pytest.mark.parametrize(("parent", "code"), [("Nothing like it", "RG-NODE-006"), ("999999999", "RG-NODE-006")])
def test_an_unknown_parent_is_refused(editor, tree, parent, code):
    before = paths()
    response = editor.post(MOVE, {"node": tree["optics"].node_id, "parent": parent, "back": "science.physics"})
    assert response.status_code == 400 and code in response.content.decode()
    assert paths() == before


def test_an_unknown_node_is_refused(editor, tree):
    response = editor.post(MOVE, {"node": "999999999", "parent": "Arts"})
    assert response.status_code == 400 and "RG-NODE-008" in response.content.decode()


def test_an_ambiguous_parent_name_is_refused(editor, tree):
    NodeFactory(parent=tree["arts"], label="optics", name="Optics")
    response = editor.post(MOVE, {"node": tree["biology"].node_id, "parent": "Optics"})
    assert response.status_code == 400 and "2 nodes are named “Optics”" in response.content.decode()


def test_a_user_without_permission_sees_no_form_and_is_refused(curator, tree):
    assert "Move a subtree" not in curator.get(HIERARCHY, {"path": "science"}).content.decode()
    before = paths()
    response = curator.post(MOVE, {"node": tree["physics"].node_id, "parent": "Arts"})
    assert response.status_code == 403 and "RG-AUTH-001" in response.content.decode()
    assert paths() == before


def test_get_on_the_move_url_is_not_allowed(editor):
    assert editor.get(MOVE).status_code == 405


def test_a_move_onto_a_taken_path_is_refused(editor, tree):
    """node_move lets the unique violation through (a 500): the form refuses it first."""
    NodeFactory(parent=tree["arts"], label="optics", name="Art optics")
    before = paths()
    response = editor.post(MOVE, {"node": tree["optics"].node_id, "parent": "arts"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "RG-NODE-002" in text and "Art optics (id" in text and "already has the path arts.optics" in text
    assert paths() == before
    response = editor.post(MOVE, {"node": tree["optics"].node_id, "parent": "science.physics"})  # where it is
    assert response.status_code == 302 and paths() == before
