from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex, HashIndex, OpClass
from django.db import models
from django.db.models import F
from django.db.models.functions import MD5, Left

from graph.models.common import (
    created_at_field,
    created_by_field,
    metadata_field,
    node_fk,
    timestamp_now_field,
    unit_decimal,
    unit_interval_check,
)
from kgsite.fields import SerialField

# Attribute-value searches look at this many leading characters of each value (the trigram index holds them).
VALUE_SEARCH_HEAD = 512


class NodeAttributeQuerySet(models.QuerySet):
    def matching(self, *, attribute_type: str, attribute_key: str, value: str) -> NodeAttributeQuerySet:
        """Attributes with exactly this type, key and value, found through idx_node_attributes_composite."""
        return self.alias(value_md5=MD5("attribute_value")).filter(
            attribute_type=attribute_type, attribute_key=attribute_key, value_md5=MD5(models.Value(value)),
            attribute_value=value,
        )


class NodeAttribute(models.Model):
    """A typed key/value fact about a node, with its weight, confidence and the reliability of its source.

    ``attribute_value`` is unbounded TEXT. The spec's plain btree indexes on it refuse any value longer than about
    2.7 KB, so (docs/schema.md) the value index is a hash index (equality on any length) and the composite index
    holds ``md5(attribute_value)``: match on ``value_md5`` (see ``NodeAttribute.objects.matching``) to use it.
    """

    attribute_id = SerialField(primary_key=True)
    node = node_fk(related_name="attributes")
    attribute_type = models.CharField(max_length=100)
    attribute_key = models.CharField(max_length=255)
    attribute_value = models.TextField()
    weight = unit_decimal("1.0", digits=3, places=2)
    confidence = unit_decimal("0.5")
    source_reliability = unit_decimal("1.0")
    last_verified = timestamp_now_field()
    created_at = created_at_field()
    created_by = created_by_field()
    metadata = metadata_field()

    objects = NodeAttributeQuerySet.as_manager()

    class Meta:
        db_table = "node_attributes"
        ordering = ["attribute_type", "attribute_key"]
        constraints = [
            unit_interval_check("weight", "valid_weight"),
            unit_interval_check("confidence", "valid_confidence"),
            unit_interval_check("source_reliability", "valid_source_reliability"),
        ]
        indexes = [
            models.Index(fields=["node"], name="idx_node_attributes_node"),
            models.Index(fields=["attribute_type"], name="idx_node_attributes_type"),
            models.Index(fields=["attribute_key"], name="idx_node_attributes_key"),
            HashIndex(fields=["attribute_value"], name="idx_node_attributes_value"),
            models.Index(fields=["-confidence"], name="idx_node_attributes_confidence"),
            models.Index(
                F("attribute_type"), F("attribute_key"), MD5("attribute_value"), name="idx_node_attributes_composite"
            ),
            models.Index(fields=["-last_verified"], name="idx_node_attributes_verified"),
            # Not in the spec: substring search of values and keys (graph.0007, docs/schema.md "Search indexes").
            # A trigram GIN index accepts values of any length, unlike a btree.
            # The first VALUE_SEARCH_HEAD characters only: long free texts hold nearly every trigram, so a whole-value
            # index returns tens of thousands of candidates to re-read (docs/schema.md, "Search indexes").
            GinIndex(OpClass(Left("attribute_value", VALUE_SEARCH_HEAD), name="gin_trgm_ops"),
                     name="idx_node_attributes_value_head_trgm"),
            GinIndex(fields=["attribute_key"], opclasses=["gin_trgm_ops"], name="idx_node_attributes_key_trgm"),
        ]

    def __str__(self):
        value = self.attribute_value if len(self.attribute_value) <= 60 else self.attribute_value[:57] + "..."
        return f"{self.attribute_type}.{self.attribute_key} = {value}"
