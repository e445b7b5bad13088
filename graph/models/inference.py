from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from graph.choices import QueueStatus
from graph.models.common import node_fk, node_label, timestamp_now_field
from kgsite.constraints import choices_check
from kgsite.fields import SerialField, UTCDateTimeField

PRIORITY_MESSAGE = "Priority must be between 1 and 10."


class InferenceQueueItem(models.Model):
    """A node waiting for relationship inference (the spec's ``relationship_inference_queue``)."""

    queue_id = SerialField(primary_key=True)
    node = node_fk(related_name="inference_queue_items")
    priority = models.IntegerField(
        default=5, db_default=5, null=True, blank=True,
        validators=[MinValueValidator(1, PRIORITY_MESSAGE), MaxValueValidator(10, PRIORITY_MESSAGE)],
    )
    batch_id = models.TextField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=QueueStatus.choices, default=QueueStatus.PENDING, db_default=QueueStatus.PENDING,
        null=True, blank=True,
    )
    retry_count = models.IntegerField(default=0, db_default=0, null=True, blank=True)
    max_retries = models.IntegerField(default=3, db_default=3, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    queued_at = timestamp_now_field()
    started_at = UTCDateTimeField(null=True, blank=True)
    completed_at = UTCDateTimeField(null=True, blank=True)
    processing_node = models.TextField(null=True, blank=True)
    estimated_completion = UTCDateTimeField(
        null=True, blank=True,
        help_text="While processing: the end of the worker's lease. A worker that has not finished by then is "
                  "taken to have died, and the item is rescued.")
    # Not in the spec (docs/schema.md, "Relationship inference"): a failed item waits this long before it may be
    # claimed again (the retry's back-off).
    run_after = UTCDateTimeField(null=True, blank=True, help_text="A retried item is not claimed before this time.")

    class Meta:
        db_table = "relationship_inference_queue"
        verbose_name = "inference queue item"
        ordering = ["-priority", "queued_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=10), name="valid_priority",
                violation_error_message="Priority must be between 1 and 10.",
            ),
            choices_check("status", QueueStatus, "valid_status"),
            # Not in the spec: at most one pending row per node (a new change raises its priority instead).
            models.UniqueConstraint(
                fields=["node"], condition=Q(status="pending"), name="unique_pending_inference_node",
                violation_error_message="This node is already waiting for inference.",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="idx_inference_queue_status"),
            models.Index(fields=["-priority", "queued_at"], name="idx_inference_queue_priority"),
            models.Index(fields=["node"], name="idx_inference_queue_node"),
            models.Index(fields=["batch_id"], name="idx_inference_queue_batch"),
            models.Index(
                fields=["status", "-priority"], name="idx_inference_queue_processing",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["retry_count", "max_retries"], name="idx_inference_queue_retry"),
            # Not in the spec: the claim's order among pending rows, and the recent completions (throughput,
            # retention).
            # (NULLS LAST: the spec allows a NULL priority, which must not jump the queue.)
            models.Index(F("priority").desc(nulls_last=True), F("queued_at"), F("queue_id"),
                         name="idx_inference_queue_claim", condition=Q(status="pending")),
            models.Index(fields=["completed_at"], name="idx_inference_queue_completed",
                         condition=Q(status__in=["completed", "failed", "cancelled"])),
        ]

    def __str__(self):
        return f"{node_label(self, 'node')} ({self.get_status_display() or 'no status'})"


class MaintenanceRun(models.Model):
    """The last run of each maintenance job of ``run_worker`` (not in the spec): when it ran and what it did.

    One row per job. The row decides when a job is due again and shows operators what the worker did; the job
    itself runs under a PostgreSQL advisory lock, so only one worker anywhere runs it at a time.
    """

    job = models.CharField(max_length=50, primary_key=True)
    last_started_at = UTCDateTimeField(null=True, blank=True)
    last_finished_at = UTCDateTimeField(null=True, blank=True)
    last_succeeded = models.BooleanField(null=True, blank=True)
    last_result = models.TextField(blank=True, default="")
    last_worker = models.TextField(blank=True, default="")
    runs = models.IntegerField(default=0)

    class Meta:
        db_table = "maintenance_runs"
        ordering = ["job"]

    def __str__(self):
        return self.job
