"""Embedding upkeep and vector-index management (not in the spec; docs/schema.md, "Embeddings and vector indexes").

* ``EmbeddingQueueItem``: a node or external resource whose provider-made embedding is missing or out of date
  (its text changed). Triggers fill it on every write path (graph/sql/embeddings.sql); ``run_worker`` and
  ``embed_nodes`` empty it, claiming rows with ``FOR UPDATE SKIP LOCKED`` and deleting them in the transaction
  that writes the vectors, so a crashed worker's rows simply come back.
* ``VectorIndexBuild``: one run of the vector-index optimiser (``optimize_vector_index``, the worker, the admin's
  "rebuild now"): what it found, what it decided, and the recall and latency it measured.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from graph.choices import VectorIndexOutcome, VectorIndexType, VectorTable
from kgsite.constraints import choices_check
from kgsite.fields import Now, UTCDateTimeField


class EmbeddingQueueItem(models.Model):
    id = models.BigAutoField(primary_key=True)
    # DO_NOTHING with no Django constraint: the keys (ON DELETE CASCADE) are made by the migration's SQL, so that
    # PostgreSQL cascades a node's delete as it does for the spec's tables (graph.common.node_fk).
    node = models.OneToOneField(
        "graph.Node", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="embedding_queue_item",
        db_column="node_id", db_constraint=False)
    resource = models.OneToOneField(
        "graph.ExternalResource", on_delete=models.DO_NOTHING, null=True, blank=True,
        related_name="embedding_queue_item", db_column="resource_id", db_constraint=False)
    queued_at = UTCDateTimeField(db_default=Now())

    class Meta:
        db_table = "embedding_queue"
        verbose_name = "embedding queue item"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(node__isnull=False, resource__isnull=True) | Q(node__isnull=True, resource__isnull=False),
                name="embedding_queue_one_target",
                violation_error_message="A queue item names either a node or an external resource.",
            ),
        ]

    def __str__(self):
        return f"node {self.node_id}" if self.node_id else f"resource {self.resource_id}"


class VectorIndexBuild(models.Model):
    id = models.BigAutoField(primary_key=True)
    table_name = models.CharField(max_length=50, choices=VectorTable.choices)
    index_name = models.CharField(max_length=63)
    index_type = models.CharField(max_length=10, choices=VectorIndexType.choices)
    parameters = models.JSONField(
        default=dict, blank=True,
        help_text="Build parameters: {'lists': 100} for IVFFlat, {'m': 16, 'ef_construction': 64} for HNSW.")
    search_parameters = models.JSONField(
        default=dict, blank=True, help_text="Query-time parameters the recall was measured with (probes, ef_search).")
    outcome = models.CharField(max_length=20, choices=VectorIndexOutcome.choices)
    reason = models.TextField(blank=True, default="")
    rows = models.BigIntegerField(help_text="Rows with an embedding when the run looked.")
    rows_at_last_build = models.BigIntegerField(null=True, blank=True)
    started_at = UTCDateTimeField(db_default=Now())
    finished_at = UTCDateTimeField(null=True, blank=True)
    build_seconds = models.FloatField(null=True, blank=True)
    sample_queries = models.IntegerField(null=True, blank=True)
    recall_at_10 = models.FloatField(null=True, blank=True)
    latency_ms_median = models.FloatField(null=True, blank=True)
    latency_ms_p95 = models.FloatField(null=True, blank=True)
    exact_latency_ms_median = models.FloatField(null=True, blank=True)
    triggered_by = models.TextField(blank=True, default="")

    class Meta:
        db_table = "vector_index_builds"
        verbose_name = "vector index run"
        ordering = ["-started_at", "-id"]
        permissions = [("rebuild_vector_index", "Can rebuild vector indexes")]
        constraints = [
            choices_check("table_name", VectorTable, "vector_index_builds_table_check"),
            choices_check("index_type", VectorIndexType, "vector_index_builds_type_check"),
            choices_check("outcome", VectorIndexOutcome, "vector_index_builds_outcome_check"),
        ]
        indexes = [models.Index(fields=["table_name", "-started_at"], name="idx_vector_index_builds_table")]

    def __str__(self):
        return f"{self.index_name}: {self.get_outcome_display()} at {self.started_at:%Y-%m-%d %H:%M}"
