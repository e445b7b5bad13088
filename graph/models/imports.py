"""Imports uploaded in the admin and run by the worker (docs/import-format.md, "From the admin").

The file itself is kept in the row (``content``), so that a worker on any machine can read it; the upload size is
capped by the ``import_max_upload_mb`` parameter. A worker claims a row with ``FOR UPDATE SKIP LOCKED`` and holds a
lease (``lease_expires_at``): a row whose worker died is claimed again, which is safe because an import is applied
in one transaction (nothing of the dead run was written).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from graph.choices import ImportFormat, ImportStatus, OnConflict
from kgsite.constraints import choices_check
from kgsite.fields import Now, UTCDateTimeField


class ImportJob(models.Model):
    id = models.BigAutoField(primary_key=True)
    file_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=10, choices=ImportFormat.choices)
    on_conflict = models.CharField(max_length=10, choices=OnConflict.choices, default=OnConflict.UPDATE)
    content = models.BinaryField(editable=False)
    size = models.BigIntegerField(editable=False)
    sha256 = models.CharField(max_length=64, editable=False)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    phase = models.CharField(max_length=100, blank=True, default="", help_text="What the worker is doing now.")
    rows_total = models.BigIntegerField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True, help_text="The check (dry run): changes per kind, errors.")
    result = models.JSONField(default=dict, blank=True, help_text="What the import changed, per kind.")
    error_message = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    created_at = UTCDateTimeField(db_default=Now())
    checked_at = UTCDateTimeField(null=True, blank=True)
    confirmed_at = UTCDateTimeField(null=True, blank=True)
    started_at = UTCDateTimeField(null=True, blank=True)
    finished_at = UTCDateTimeField(null=True, blank=True)
    worker = models.TextField(blank=True, default="")
    lease_expires_at = UTCDateTimeField(null=True, blank=True)

    class Meta:
        db_table = "import_jobs"
        verbose_name = "import"
        ordering = ["-id"]
        constraints = [
            choices_check("status", ImportStatus, "valid_import_status"),
            choices_check("file_format", ImportFormat, "valid_import_format"),
            choices_check("on_conflict", OnConflict, "valid_import_on_conflict"),
        ]
        indexes = [
            # The worker's claim: the oldest row waiting for it.
            models.Index(fields=["id"], condition=models.Q(status__in=["uploaded", "queued", "checking", "running"]),
                         name="idx_import_jobs_waiting"),
        ]

    def __str__(self):
        return f"Import {self.id}: {self.file_name}"
