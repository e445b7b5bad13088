"""Every exploration page: anonymous visitors are sent to log in, any logged-in user reads it, and only a user with
the edit permission is offered (and allowed) the one change these pages make, moving a subtree."""

from __future__ import annotations

import pytest
from django.urls import reverse

from graph.models import Node
from tests.factories import NodeFactory, RelationshipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree():
    science = NodeFactory(label="science", name="Science")
    physics = NodeFactory(parent=science, label="physics", name="Physics")
    optics = NodeFactory(parent=physics, label="optics", name="Optics")
    arts = NodeFactory(label="arts", name="Arts")
    RelationshipFactory(source_node=physics, target_node=arts, relationship_type="inspires")
    return {"science": science, "physics": physics, "optics": optics, "arts": arts}


def pages(tree) -> list[str]:
    physics = tree["physics"].pk
    return ["/", f"/nodes/{physics}/", f"/nodes/{physics}/neighbourhood/",
            f"/nodes/{physics}/neighbourhood/?format=json", f"/nodes/{physics}/neighbourhood/?format=graphml",
            f"/paths/?from={physics}&to={tree['arts'].pk}", "/paths/", "/hierarchy/", "/hierarchy/?path=science"]


def test_anonymous_visitors_are_sent_to_log_in_everywhere(client, tree):
    for page in [*pages(tree), reverse("hierarchy_move")]:
        response = client.get(page)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), page


def test_a_reader_without_permissions_reads_every_page_but_is_offered_no_move(client, tree):
    reader = UserFactory(email="reader@example.com")
    client.force_login(reader)
    for page in pages(tree):
        assert client.get(page).status_code == 200, page
    html = client.get("/hierarchy/?path=science").content.decode()
    assert reverse("hierarchy_move") not in html and "/admin/" not in html
    refused = client.post(reverse("hierarchy_move"), {"node": tree["physics"].pk, "parent": tree["arts"].pk})
    assert refused.status_code == 403
    assert str(Node.objects.get(pk=tree["optics"].pk).path) == "science.physics.optics"


def test_an_editor_moves_a_subtree_from_the_hierarchy_page(client, tree):
    editor = UserFactory(email="editor@example.com", permissions=["graph.change_node"])
    client.force_login(editor)
    assert reverse("hierarchy_move") in client.get("/hierarchy/?path=science").content.decode()
    response = client.post(reverse("hierarchy_move"), {"node": tree["physics"].pk, "parent": tree["arts"].pk})
    assert response.status_code == 302
    assert str(Node.objects.get(pk=tree["optics"].pk).path) == "arts.physics.optics"
    assert Node.objects.get(pk=tree["physics"].pk).parent_node_id == tree["arts"].pk
