"""Duplicate nodes (docs/duplicates.md): the candidates ``find_duplicates`` scores, the pairs curators judged "not
the same", and the merges that can be undone.

Pairs are stored in canonical order, the lower node id first (a CHECK enforces it), as inference rejections are.
The node foreign keys are ``ON DELETE CASCADE`` in the database (graph/sql/duplicates.sql): a deleted node takes
its candidates and judgements with it. A merge moves them to the surviving node.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from graph.models.common import node_fk, node_label
from kgsite.fields import Now, UTCDateTimeField


def _canonical_pair(prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=models.Q(node_low__lt=models.F("node_high")),
                                  name=f"{prefix}_canonical_pair",
                                  violation_error_message="A pair names the lower node id first.")


class DuplicateCandidate(models.Model):
    candidate_id = models.BigAutoField(primary_key=True)
    node_low = node_fk(related_name="+", column="node_low_id")
    node_high = node_fk(related_name="+", column="node_high_id")
    score = models.FloatField(help_text="The weighted evidence, from 0 to 1 (docs/duplicates.md, \"Scoring\").")
    name_similarity = models.FloatField(help_text="Trigram similarity of the two names (pg_trgm), 0 to 1.")
    embedding_similarity = models.FloatField(null=True, blank=True,
                                             help_text="Cosine similarity of the embeddings; empty without both.")
    shared_attributes = models.IntegerField(help_text="Attribute values (type, key, value) both nodes have.")
    attribute_overlap = models.FloatField(help_text="Shared values over the smaller node's distinct values.")
    found_at = UTCDateTimeField(db_default=Now())
    run_id = models.UUIDField(help_text="The find_duplicates run that found the pair last.")

    class Meta:
        db_table = "duplicate_candidates"
        ordering = ["-score", "candidate_id"]
        constraints = [
            models.UniqueConstraint(fields=["node_low", "node_high"], name="unique_duplicate_candidate"),
            _canonical_pair("duplicate_candidate"),
        ]
        indexes = [models.Index(fields=["-score", "candidate_id"], name="idx_duplicate_candidates_score"),
                   models.Index(fields=["node_high"], name="idx_duplicate_candidates_high")]

    def __str__(self):
        return f"{node_label(self, 'node_low')} ≈ {node_label(self, 'node_high')} ({self.score:.2f})"


class DistinctPair(models.Model):
    """"Not the same": a curator's judgement that two nodes are different things. Candidates never show it again."""

    distinct_id = models.BigAutoField(primary_key=True)
    node_low = node_fk(related_name="+", column="node_low_id")
    node_high = node_fk(related_name="+", column="node_high_id")
    reason = models.TextField(blank=True, default="")
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    marked_at = UTCDateTimeField(db_default=Now())

    class Meta:
        db_table = "distinct_node_pairs"
        verbose_name = "pair marked not the same"
        verbose_name_plural = "pairs marked not the same"
        ordering = ["-marked_at", "-distinct_id"]
        constraints = [
            models.UniqueConstraint(fields=["node_low", "node_high"], name="unique_distinct_node_pair",
                                    violation_error_message="This pair is already marked as not the same."),
            _canonical_pair("distinct_node_pair"),
        ]
        indexes = [models.Index(fields=["node_high"], name="idx_distinct_node_pairs_high")]

    def __str__(self):
        return f"{node_label(self, 'node_low')} ≠ {node_label(self, 'node_high')}"


class NodeMerge(models.Model):
    """One merge of ``merged_node_id`` into ``survivor_id``, holding what moved so that unmerge can replay it back.

    No foreign keys: the merged node no longer exists, and the record must outlive the survivor's later edits.
    While ``unmerged_at`` is empty the merged node's id redirects to the survivor (a partial unique index: a node
    is merged away at most once at a time).
    """

    merge_id = models.BigAutoField(primary_key=True)
    survivor_id = models.IntegerField()
    merged_node_id = models.IntegerField()
    merged_name = models.CharField(max_length=255)
    merged_row = models.JSONField(help_text="The merged node's row as it was (re-inserted by unmerge).")
    moves = models.JSONField(help_text="The ids of the rows that moved to the survivor, per table and column.")
    removed = models.JSONField(help_text="The rows the merge deleted (self-loops, clashes), per table.")
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    merged_at = UTCDateTimeField(db_default=Now())
    history_context = models.UUIDField(null=True, blank=True,
                                       help_text="The history entry (pghistory context) of the merge.")
    unmerged_at = UTCDateTimeField(null=True, blank=True)
    unmerged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")

    class Meta:
        db_table = "node_merges"
        ordering = ["-merged_at", "-merge_id"]
        constraints = [
            models.UniqueConstraint(fields=["merged_node_id"], condition=models.Q(unmerged_at__isnull=True),
                                    name="unique_active_merge"),
        ]
        indexes = [models.Index(fields=["survivor_id"], name="idx_node_merges_survivor")]

    def __str__(self):
        state = " (undone)" if self.unmerged_at else ""
        return f"{self.merged_name} ({self.merged_node_id}) merged into node {self.survivor_id}{state}"
