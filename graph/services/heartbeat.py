"""The worker's heartbeat (``worker_heartbeats``, graph/models/ops.py): ``run_worker`` beats on every pass of its
loop, at most every ``HEARTBEAT_EVERY`` seconds, and forgets its row when it stops cleanly. ``/healthz`` and
``/metrics`` read the newest beat (graph/selectors/ops.py).

A beat is one autocommitted upsert. A database that is away makes the beat fail quietly (logged): the worker's own
reconnect logic deals with the outage, and the ageing row is what health checks should see meanwhile. Rows of
workers gone for more than ``FORGET_AFTER`` (killed, never stopped cleanly) are deleted by the next beat of any
worker.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.db import Error, connection

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 10.0  # seconds
FORGET_AFTER = timedelta(days=1)


class Heartbeat:
    def __init__(self, worker: str, *, every: float = HEARTBEAT_EVERY):
        self.worker = worker
        self.every = every
        self._last = None

    def beat(self, *, force: bool = False) -> bool:
        """Record that the worker is alive (unless it did less than ``every`` seconds ago). True when written."""
        now = time.monotonic()
        if not force and self._last is not None and now - self._last < self.every:
            return False
        self._last = now
        try:
            with connection.cursor() as cursor:
                cursor.execute("""
                    INSERT INTO worker_heartbeats (worker, started_at, beat_at)
                    VALUES (%s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
                    ON CONFLICT (worker) DO UPDATE SET beat_at = EXCLUDED.beat_at
                """, [self.worker])
                cursor.execute("DELETE FROM worker_heartbeats WHERE beat_at < (now() AT TIME ZONE 'UTC') - %s",
                               [FORGET_AFTER])
        except Error as exc:  # InterfaceError too: the connection is gone
            logger.warning("worker %s could not record its heartbeat: %s", self.worker, exc)
            return False
        return True

    def stop(self) -> None:
        """Forget this worker's row (a clean stop): health checks then see no worker rather than an ageing one."""
        try:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM worker_heartbeats WHERE worker = %s", [self.worker])
        except Error as exc:  # InterfaceError too: the connection is gone
            logger.warning("worker %s could not remove its heartbeat: %s", self.worker, exc)
