"""Curation of what inference makes (docs/curation.md): the reasons an inferred link rests on, the pairs curators
rejected, and the record of every review decision.

* ``InferenceReason``: one shared value supporting an inferred relationship (the attribute on each side, its
  contribution, the rule's version). Written by the inference pass with the relationship; a trigger on
  ``node_attributes`` (graph/sql/curation.sql) marks the reasons of an attribute that is edited or deleted as
  gone, and their relationships stale, in the writing transaction, whatever wrote.
* ``InferenceRejection``: a pair and relationship type a curator said "no" to. Inference never makes that link
  again, and imports skip it, until the rejection is withdrawn.
* ``PendingLink``: a proxy of ``Relationship`` for the admin's review queue.
* ``ReviewDecision``: who accepted, rejected, skipped or withdrew what, and when; a bulk decision shares one
  ``batch_id``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from graph.choices import ReasonGone, ReviewAction
from graph.models.common import node_fk, node_label
from graph.models.relationships import Relationship
from kgsite.constraints import choices_check
from kgsite.fields import Now, UTCDateTimeField


class InferenceReason(models.Model):
    reason_id = models.BigAutoField(primary_key=True)
    # ON DELETE CASCADE in the database (graph.0016): a relationship's reasons go with it.
    relationship = models.ForeignKey(
        "graph.Relationship", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
        related_name="inference_reasons", db_column="relationship_id")
    # The attribute on each side when the link was inferred. No foreign key: a reason outlives its attribute, to
    # say what the link rested on after the attribute is gone.
    source_attribute_id = models.IntegerField()
    target_attribute_id = models.IntegerField()
    attribute_type = models.CharField(max_length=100)
    attribute_key = models.CharField(max_length=255)
    attribute_value = models.TextField(help_text="The shared value (its first 200 characters).")
    carriers = models.IntegerField(help_text="Nodes carrying the value when the link was inferred.")
    source_evidence = models.FloatField()
    target_evidence = models.FloatField()
    contribution = models.FloatField()
    rule_version = models.SmallIntegerField()
    gone_at = UTCDateTimeField(null=True, blank=True,
                               help_text="When an attribute behind this reason was changed or deleted.")
    gone_why = models.CharField(max_length=10, choices=ReasonGone.choices, blank=True, default="")

    class Meta:
        db_table = "inference_reasons"
        ordering = ["relationship_id", "-contribution"]
        constraints = [choices_check("gone_why", ReasonGone, "valid_reason_gone", allow_blank=True)]
        indexes = [
            models.Index(fields=["relationship"], name="idx_inference_reasons_rel"),
            models.Index(fields=["source_attribute_id"], name="idx_inference_reasons_source"),
            models.Index(fields=["target_attribute_id"], name="idx_inference_reasons_target"),
        ]

    def __str__(self):
        return f"{self.attribute_type}.{self.attribute_key} = {self.attribute_value[:60]}"


class InferenceRejection(models.Model):
    rejection_id = models.BigAutoField(primary_key=True)
    # The pair in canonical order (lower node id first), as inference writes it. ON DELETE CASCADE (graph.0016).
    source_node = node_fk(related_name="+", column="source_node_id")
    target_node = node_fk(related_name="+", column="target_node_id")
    relationship_type = models.CharField(max_length=100)
    reason = models.TextField()
    score = models.FloatField(null=True, blank=True, help_text="The inferred link's score when it was rejected.")
    rejected_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    rejected_at = UTCDateTimeField(db_default=Now())

    class Meta:
        db_table = "inference_rejections"
        verbose_name = "rejected inferred link"
        ordering = ["-rejected_at", "-rejection_id"]
        constraints = [
            models.UniqueConstraint(fields=["source_node", "target_node", "relationship_type"],
                                    name="unique_inference_rejection",
                                    violation_error_message="This link is already rejected."),
            models.CheckConstraint(condition=models.Q(source_node__lt=models.F("target_node")),
                                   name="inference_rejection_canonical_pair",
                                   violation_error_message="A rejection names the lower node id first."),
        ]
        indexes = [models.Index(fields=["target_node"], name="idx_inference_rejections_target"),
                   models.Index(fields=["-rejected_at"], name="idx_inference_rejections_at")]

    def __str__(self):
        return f"{node_label(self, 'source_node')} — {self.relationship_type} — {node_label(self, 'target_node')}"


class ReviewDecision(models.Model):
    decision_id = models.BigAutoField(primary_key=True)
    action = models.CharField(max_length=10, choices=ReviewAction.choices)
    # What was decided on, as it was: no foreign keys (a rejected link is deleted; the record stays).
    relationship_id = models.IntegerField(null=True, blank=True)
    source_node_id = models.IntegerField()
    target_node_id = models.IntegerField()
    relationship_type = models.CharField(max_length=100)
    score = models.FloatField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    decided_at = UTCDateTimeField(db_default=Now())
    batch_id = models.UUIDField(help_text="Decisions taken together (one bulk action) share this.")
    batch_size = models.IntegerField(default=1)

    class Meta:
        db_table = "review_decisions"
        ordering = ["-decided_at", "-decision_id"]
        constraints = [choices_check("action", ReviewAction, "valid_review_action")]
        indexes = [models.Index(fields=["-decided_at"], name="idx_review_decisions_at"),
                   models.Index(fields=["source_node_id", "target_node_id"], name="idx_review_decisions_pair"),
                   models.Index(fields=["target_node_id"], name="idx_review_decisions_target"),
                   models.Index(fields=["batch_id"], name="idx_review_decisions_batch"),
                   models.Index(fields=["action", "-decided_at"], name="idx_review_decisions_action")]

    def __str__(self):
        return f"{self.get_action_display()} {self.source_node_id}–{self.target_node_id} ({self.relationship_type})"


class PendingLink(Relationship):
    """The admin's review queue: the inferred links no curator has decided on (``auto_managed``)."""

    class Meta:
        proxy = True
        verbose_name = "inferred link to review"
        verbose_name_plural = "inferred links to review"
