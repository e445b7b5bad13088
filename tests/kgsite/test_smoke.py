import pytest

from graph.models import Node


@pytest.mark.django_db
def test_node_round_trip(superuser):
    node = Node.objects.create(name="Ada Lovelace", node_type="person", path="people.ada", created_by=superuser)
    node.refresh_from_db()
    assert str(node.path) == "people.ada"
    assert node.confidence_score == __import__("decimal").Decimal("0.5")
    assert node.created_at.tzinfo is not None
