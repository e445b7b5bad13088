import pytest

from graph.models import Node


@pytest.mark.django_db
def test_node_round_trip(superuser):
    node = Node.objects.create(name="Ada Lovelace", node_type="person", path="people.ada", created_by=superuser)
    node.refresh_from_db()
    assert str(node.path) == "people.ada"
    assert node.confidence_score == __import__("decimal").Decimal("0.5")
    assert node.created_at.tzinfo is not None


@pytest.mark.django_db
def test_bulk_create_with_explicit_serial_ids():
    from graph.models import NodeAttribute

    node = Node.objects.create(name="n", node_type="t")
    rows = [NodeAttribute(attribute_id=1000 + i, node=node, attribute_type="fact", attribute_key="k",
                          attribute_value=str(i)) for i in range(3)]
    NodeAttribute.objects.bulk_create(rows)
    assert sorted(NodeAttribute.objects.values_list("attribute_id", flat=True)) == [1000, 1001, 1002]
    created = Node.objects.bulk_create([Node(name=f"b{i}", node_type="t") for i in range(3)])
    assert all(n.node_id for n in created)
