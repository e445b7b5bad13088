"""The ORM round-trips the spec's column types (ltree, serial, DECIMAL defaults, timestamps), one row and in bulk."""

from decimal import Decimal

import pytest

from graph.models import Node, NodeAttribute
from tests.factories import NodeAttributeFactory, NodeFactory

pytestmark = pytest.mark.django_db


def test_node_round_trip(superuser):
    people = NodeFactory(name="People", label="people")
    node = NodeFactory(name="Ada Lovelace", node_type="person", parent=people, label="ada", created_by=superuser)
    node.refresh_from_db()
    assert str(node.path) == "people.ada"
    assert node.confidence_score == Decimal("0.5")
    assert node.created_at.tzinfo is not None


def test_bulk_create_with_explicit_serial_ids():
    node = NodeFactory()
    rows = [NodeAttributeFactory.build(attribute_id=1000 + index, node=node, attribute_value=str(index))
            for index in range(3)]
    NodeAttribute.objects.bulk_create(rows)
    assert sorted(NodeAttribute.objects.values_list("attribute_id", flat=True)) == [1000, 1001, 1002]
    created = Node.objects.bulk_create(NodeFactory.build_batch(3))
    assert all(node.node_id for node in created)
