"""Operations (not in the spec; docs/deployment.md): the background workers' heartbeats.

``WorkerHeartbeat``: one row per running ``run_worker`` process (``host:pid``), whose ``beat_at`` the worker moves
forward on every pass of its loop (at most every ``HEARTBEAT_EVERY`` seconds) and deletes when it stops cleanly.
``/healthz`` reads the newest beat (a worker that died leaves its row behind, ageing); ``/metrics`` exports its age.

The model also carries the permission ``graph.view_metrics`` ("Can read the Prometheus metrics"), which
``/metrics`` asks of a logged-in user.
"""

from __future__ import annotations

from django.db import models

from kgsite.fields import Now, UTCDateTimeField


class WorkerHeartbeat(models.Model):
    worker = models.CharField(max_length=255, primary_key=True, help_text="host:pid of the run_worker process.")
    started_at = UTCDateTimeField(db_default=Now())
    beat_at = UTCDateTimeField(db_default=Now(), help_text="The last pass of the worker's loop.")

    class Meta:
        db_table = "worker_heartbeats"
        verbose_name = "worker heartbeat"
        ordering = ["-beat_at"]
        indexes = [models.Index(fields=["-beat_at"], name="idx_worker_heartbeats_beat")]
        permissions = [("view_metrics", "Can read the Prometheus metrics")]

    def __str__(self):
        return self.worker
