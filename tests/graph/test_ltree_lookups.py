import pytest

from graph.models import Node

pytestmark = pytest.mark.django_db


def test_path_lookups_are_available():
    for path in ("science", "science.physics", "science.physics.optics", "arts"):
        Node.objects.create(name=path, node_type="topic", path=path)
    below = Node.objects.filter(path__descendants="science").order_by("path")
    assert [str(n.path) for n in below] == ["science", "science.physics", "science.physics.optics"]
    above = Node.objects.filter(path__ancestors="science.physics.optics").order_by("path")
    assert [str(n.path) for n in above] == ["science", "science.physics", "science.physics.optics"]
    assert [str(n.path) for n in Node.objects.filter(path__match="*.physics.*").order_by("path")] == [
        "science.physics", "science.physics.optics"]
