from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

import kgsite.lookups  # noqa: F401  (registers __ne)
from graph.models.common import (
    created_at_field,
    created_by_field,
    metadata_field,
    node_fk,
    node_label,
    timestamp_now_field,
    unit_decimal,
    unit_interval_check,
    unit_validators,
    updated_at_field,
)
from kgsite.fields import SerialField, UTCDateTimeField


class Relationship(models.Model):
    """A typed, directed (or bidirectional) edge; ``auto_managed`` edges are made and removed by inference."""

    relationship_id = SerialField(primary_key=True)
    source_node = node_fk(related_name="outgoing_relationships", column="source_node_id")
    target_node = node_fk(related_name="incoming_relationships", column="target_node_id")
    relationship_type = models.CharField(max_length=100)
    strength = unit_decimal("1.0")
    # Not in the spec (docs/schema.md, "Catalog differences"): the confidence the source states for this link, the
    # evidence of a manual one. confidence_score is derived from it by the database (docs/confidence.md). No
    # database default: an insert that leaves it out states its evidence in confidence_score, as the spec's SQL does.
    stated_confidence = models.DecimalField(
        max_digits=5, decimal_places=4, default=Decimal("0.5"), validators=unit_validators(),
        help_text="How sure the source of this link is, from 0 to 1. The confidence score is worked out from it, "
                  "the source's reliability and the confidence of the two nodes.",
    )
    confidence_score = unit_decimal(
        "0.5", help_text="Worked out by the database from the stated (or inferred) confidence, the source's "
                         "reliability and the two nodes' confidence: see docs/confidence.md.")
    confidence_last_updated = timestamp_now_field()
    bidirectional = models.BooleanField(default=False, db_default=False, null=True)
    metadata = metadata_field()
    created_at = created_at_field()
    updated_at = updated_at_field()
    created_by = created_by_field()
    source = models.CharField(max_length=50, default="manual", db_default="manual", null=True, blank=True)
    auto_managed = models.BooleanField(default=False, db_default=False, null=True)
    shared_attributes_count = models.IntegerField(default=0, db_default=0, null=True, blank=True)
    inference_confidence = unit_decimal(None)
    last_inference_update = UTCDateTimeField(null=True, blank=True)
    source_reliability = unit_decimal("1.0")
    # Not in the spec (docs/curation.md): the review of inferred links. ``stale_since``: an attribute the link's
    # reasons rest on was changed or deleted (set by a trigger; the next inference pass settles the link).
    # ``review_impact``: the review queue's rank, the inferred score × the two nodes' degrees when inferred.
    # ``review_skipped_at``: a curator skipped it in the review queue (it waits behind the others).
    stale_since = UTCDateTimeField(null=True, blank=True, editable=False)
    review_impact = models.FloatField(null=True, blank=True, editable=False)
    review_skipped_at = UTCDateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "relationships"
        ordering = ["-relationship_id"]
        permissions = [("review_relationship", "Can accept or reject inferred relationships")]
        constraints = [
            unit_interval_check("strength", "valid_strength"),
            unit_interval_check("confidence_score", "valid_confidence_score"),
            unit_interval_check("inference_confidence", "valid_inference_confidence", allow_null=True),
            unit_interval_check("source_reliability", "valid_source_reliability"),
            unit_interval_check("stated_confidence", "valid_stated_confidence"),
            models.CheckConstraint(
                condition=Q(source_node__ne=F("target_node")), name="no_self_reference",
                violation_error_message="A relationship cannot connect a node to itself.",
            ),
            models.UniqueConstraint(
                fields=["source_node", "target_node", "relationship_type"], name="unique_relationship",
                violation_error_message="A relationship of this type between these two nodes already exists.",
            ),
        ]
        indexes = [
            models.Index(fields=["source_node"], name="idx_relationships_source"),
            models.Index(fields=["target_node"], name="idx_relationships_target"),
            models.Index(fields=["relationship_type"], name="idx_relationships_type"),
            models.Index(fields=["-confidence_score"], name="idx_relationships_confidence"),
            models.Index(fields=["confidence_last_updated"], name="idx_relationships_confidence_updated"),
            models.Index(fields=["-strength"], name="idx_relationships_strength"),
            models.Index(fields=["bidirectional"], name="idx_relationships_bidirectional"),
            models.Index(fields=["source"], name="idx_relationships_source_type"),
            models.Index(fields=["auto_managed"], name="idx_relationships_auto_managed"),
            models.Index(fields=["last_inference_update"], name="idx_relationships_inference_updated"),
            # The spec's idx_relationships_composite is dropped (graph.0019): it is unique_relationship's index
            # again, and cost every move of a hub's links a sixth of its time (docs/schema.md).
            # The review queue: pending (auto-managed) links by impact, and the oldest pending one.
            models.Index(F("review_impact").desc(nulls_last=True), F("relationship_id"),
                         name="idx_relationships_review", condition=Q(auto_managed=True)),
            models.Index(fields=["created_at"], name="idx_relationships_review_age",
                         condition=Q(auto_managed=True)),
        ]

    def __str__(self):
        """``Rust → influenced → Go`` (``↔`` when bidirectional): node names, as a curator reads them."""
        arrow = "↔" if self.bidirectional else "→"
        source, target = node_label(self, "source_node"), node_label(self, "target_node")
        return f"{source} {arrow} {self.relationship_type} {arrow} {target}"
