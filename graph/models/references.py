from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q

from graph.models.common import created_at_field, created_by_field, metadata_field, node_fk, node_label
from kgsite.fields import SerialField


def _resource_fk(related_name: str, column: str) -> models.ForeignKey:
    return models.ForeignKey(
        # DO_NOTHING: the database cascades (graph.0002); kgsite.deletion counts what it will remove.
        "graph.ExternalResource", on_delete=models.DO_NOTHING, null=True, blank=True, db_column=column,
        db_constraint=False, db_index=False, related_name=related_name,
    )


class Reference(models.Model):
    """A citation: a node or resource (the source) refers to a node or resource (the target)."""

    reference_id = SerialField(primary_key=True)
    source_node = node_fk(related_name="references_made", null=True, column="source_node_id")
    source_resource = _resource_fk("references_made", "source_resource_id")
    target_node = node_fk(related_name="references_received", null=True, column="target_node_id")
    target_resource = _resource_fk("references_received", "target_resource_id")
    reference_type = models.CharField(max_length=50)
    page_number = models.IntegerField(null=True, blank=True)
    section = models.TextField(null=True, blank=True)
    quote = models.TextField(null=True, blank=True)
    context = metadata_field()
    created_at = created_at_field()
    created_by = created_by_field()

    class Meta:
        db_table = "reference_tracking"
        ordering = ["-reference_id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(source_node__isnull=False, source_resource__isnull=True)
                    | Q(source_node__isnull=True, source_resource__isnull=False)
                ),
                name="valid_reference_source",
                violation_error_message="A reference has exactly one source: a node or a resource, not both.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(target_node__isnull=False, target_resource__isnull=True)
                    | Q(target_node__isnull=True, target_resource__isnull=False)
                ),
                name="valid_reference_target",
                violation_error_message="A reference has exactly one target: a node or a resource, not both.",
            ),
        ]
        indexes = [
            models.Index(fields=["source_node"], name="idx_reference_tracking_source_node"),
            models.Index(fields=["source_resource"], name="idx_reference_tracking_source_resource"),
            models.Index(fields=["target_node"], name="idx_reference_tracking_target_node"),
            models.Index(fields=["target_resource"], name="idx_reference_tracking_target_resource"),
            models.Index(fields=["reference_type"], name="idx_reference_tracking_type"),
        ]

    def __str__(self):
        """``Python cites “The Python Tutorial”``: the source and target by name, and the reference type."""
        return f"{self._end('source')} {self.reference_type.replace('_', ' ')} {self._end('target')}"

    def _end(self, side: str) -> str:
        if getattr(self, f"{side}_node_id") is not None:
            return node_label(self, f"{side}_node")
        if getattr(self, f"{side}_resource_id") is not None:
            try:
                return f"“{getattr(self, f'{side}_resource')}”"
            except ObjectDoesNotExist:
                return f"resource {getattr(self, f'{side}_resource_id')}"
        return "—"
