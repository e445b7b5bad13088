"""Attribute values of any length are stored, and lookups by value stay indexed (docs/schema.md)."""

from __future__ import annotations

import random

import pytest
from django.db import OperationalError, ProgrammingError, connection, transaction

from graph.models import NodeAttribute
from tests.factories import NodeAttributeFactory, NodeFactory

pytestmark = pytest.mark.django_db

# 12 KB of hex from random bytes: pglz cannot squeeze it under the 2.7 KB a btree entry may hold.
LONG_VALUE = random.Random(1).randbytes(6000).hex()


def explain(queryset, *, without_indexes=()) -> str:
    """The plan with sequential scans off and ``without_indexes`` dropped (inside a transaction rolled back)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for index in without_indexes:
            cursor.execute(f"DROP INDEX {index}")
        sql, params = queryset.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


@pytest.fixture
def node():
    return NodeFactory(name="Long text holder", node_type="document")


def text_attribute(node, key, value):
    return NodeAttributeFactory(node=node, attribute_type="text", attribute_key=key, attribute_value=value)


def test_value_longer_than_a_btree_page_is_stored(node):
    assert len(LONG_VALUE) > 10_000
    attribute = text_attribute(node, "abstract", LONG_VALUE)
    attribute.refresh_from_db()
    assert attribute.attribute_value == LONG_VALUE


def test_lookup_by_value_uses_the_hash_index(node):
    text_attribute(node, "abstract", LONG_VALUE)
    text_attribute(node, "title", "short")
    queryset = NodeAttribute.objects.filter(attribute_value=LONG_VALUE)
    assert queryset.count() == 1
    assert "idx_node_attributes_value" in explain(queryset)


def test_lookup_by_type_key_and_value_uses_the_composite_index(node):
    text_attribute(node, "abstract", LONG_VALUE)
    text_attribute(node, "abstract", LONG_VALUE + "!")
    queryset = NodeAttribute.objects.matching(attribute_type="text", attribute_key="abstract", value=LONG_VALUE)
    assert [attribute.attribute_value for attribute in queryset] == [LONG_VALUE]
    # With the single-column indexes out of the way, the md5 composite index must serve the lookup.
    plan = explain(queryset, without_indexes=("idx_node_attributes_type", "idx_node_attributes_key",
                                              "idx_node_attributes_value"))
    assert "idx_node_attributes_composite" in plan


def test_the_spec_index_would_have_refused_it(node):
    """The deviation is needed: a btree index on the value column refuses the same row."""
    with pytest.raises((OperationalError, ProgrammingError)) as excinfo, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("CREATE INDEX spec_btree_probe ON node_attributes (attribute_value)")
            cursor.execute(
                "INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value) "
                "VALUES (%s, 'text', 'abstract', %s)", [node.pk, LONG_VALUE],
            )
    assert "index row" in str(excinfo.value)  # "index row size ... exceeds" or "index row requires"
