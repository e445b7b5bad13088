from __future__ import annotations

from django.db import models

from kgsite.fields import UTCDateTimeField


class ConfidenceRecalculation(models.Model):
    """One run of ``recalculate_confidence`` (not in the spec): its scope, how far it got and what it changed.

    Each batch commits with this row, so an interrupted run is resumed from ``resume_after`` by the next one with
    the same scope, which recomputes nothing twice and skips nothing.
    """

    class Phase(models.TextChoices):
        NODES = "nodes", "nodes"
        RELATIONSHIPS = "relationships", "relationships"
        DONE = "done", "done"
        ABANDONED = "abandoned", "abandoned"

    started_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(null=True, blank=True)
    stale_only = models.BooleanField()
    stale_before = UTCDateTimeField(null=True, blank=True, help_text="With stale_only: rows scored before this.")
    batch_size = models.IntegerField()
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.NODES)
    resume_after = models.IntegerField(default=0, help_text="The last id of the phase's table already done.")
    nodes_recomputed = models.BigIntegerField(default=0)
    nodes_changed = models.BigIntegerField(default=0)
    relationships_recomputed = models.BigIntegerField(default=0)
    relationships_changed = models.BigIntegerField(default=0)

    class Meta:
        db_table = "confidence_recalculations"
        ordering = ["-id"]
        get_latest_by = "started_at"

    def __str__(self):
        scope = "stale scores" if self.stale_only else "all scores"
        return f"Recalculation of {scope} started {self.started_at:%Y-%m-%d %H:%M} UTC ({self.phase})"
