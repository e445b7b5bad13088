"""ltree paths: django-ltree's lookups work on nodes, and the factories place nodes by the hierarchy rule."""

import pytest

from graph.models import Node
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def paths(queryset) -> list[str]:
    return [str(node.path) for node in queryset.order_by("path")]


def test_path_lookups_are_available():
    science = NodeFactory(label="science", node_type="topic")
    physics = NodeFactory(label="physics", parent=science, node_type="topic")
    NodeFactory(label="optics", parent=physics, node_type="topic")
    NodeFactory(label="arts", node_type="topic")
    assert paths(Node.objects.filter(path__descendants="science")) == [
        "science", "science.physics", "science.physics.optics"]
    assert paths(Node.objects.filter(path__ancestors="science.physics.optics")) == [
        "science", "science.physics", "science.physics.optics"]
    assert paths(Node.objects.filter(path__match="*.physics.*")) == ["science.physics", "science.physics.optics"]


def test_node_factory_follows_the_path_rule():
    """A root has one label; a child's path is its parent's plus one label; labels are lowercase words."""
    root, other_root = NodeFactory(), NodeFactory()
    assert len(root.path) == 1 and root.path != other_root.path
    child = NodeFactory(parent=root, label="child")
    assert str(child.path) == f"{root.path}.child" and child.parent_node == root
    with pytest.raises(ValueError, match="lowercase"):
        NodeFactory(label="Not a label")
    with pytest.raises(ValueError, match="no path"):
        NodeFactory(parent=NodeFactory(path=None))
