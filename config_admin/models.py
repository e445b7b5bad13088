"""The spec's ``system_config`` (tunable parameters) and ``config_audit_log`` (every change to them)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from config_admin.choices import ParameterType
from kgsite.constraints import choices_check
from kgsite.fields import Now, SerialField, UTCDateTimeField

# The spec's 16 default parameters (migration config_admin.0002). Code reads them; they are never deleted
# (config_admin.services.config_deletion_refusal).
SPEC_DEFAULT_PARAMETERS = frozenset({
    "vector_embedding_dimension", "ivfflat_lists_nodes", "ivfflat_lists_external_resources",
    "vector_index_rebuild_threshold", "vector_similarity_threshold", "maintenance_work_mem", "effective_cache_size",
    "shared_buffers", "work_mem", "random_page_cost", "inference_batch_size", "confidence_threshold_cleanup",
    "max_inference_age_days", "parallel_workers", "mv_refresh_interval_hours", "mv_incremental_threshold",
})


class SystemConfig(models.Model):
    config_id = SerialField(primary_key=True)
    parameter_name = models.CharField(max_length=100)
    parameter_value = models.TextField()
    parameter_type = models.CharField(max_length=20, choices=ParameterType.choices)
    description = models.TextField()
    default_value = models.TextField()
    min_value = models.TextField(null=True, blank=True)
    max_value = models.TextField(null=True, blank=True)
    requires_restart = models.BooleanField(default=False, db_default=False, null=True)
    category = models.CharField(max_length=50)
    created_at = UTCDateTimeField(default=timezone.now, db_default=Now(), null=True, editable=False)
    updated_at = UTCDateTimeField(auto_now=True, db_default=Now(), null=True, editable=False)
    updated_by = models.TextField(default="system", db_default="system", null=True, blank=True)

    class Meta:
        db_table = "system_config"
        verbose_name = "configuration parameter"
        ordering = ["category", "parameter_name"]
        # A name of at most 50 characters: auth.0001's column, which `migrate auth zero` shrinks back to.
        permissions = [
            ("apply_postgres_settings", "Can apply settings to PostgreSQL (ALTER SYSTEM)"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["parameter_name"], name="system_config_parameter_name_key",
                violation_error_message="A parameter with this name already exists.",
            ),
            choices_check("parameter_type", ParameterType, "system_config_parameter_type_check"),
        ]
        indexes = [
            models.Index(fields=["parameter_name"], name="idx_system_config_name"),
            models.Index(fields=["category"], name="idx_system_config_category"),
        ]

    def __str__(self):
        return self.parameter_name


class ConfigAuditLog(models.Model):
    log_id = SerialField(primary_key=True)
    parameter_name = models.TextField()
    old_value = models.TextField(null=True, blank=True)
    new_value = models.TextField()
    updated_by = models.TextField()
    updated_at = UTCDateTimeField(default=timezone.now, db_default=Now(), null=True)
    requires_restart = models.BooleanField(default=False, db_default=False, null=True)
    # Not in the spec (docs/schema.md): why the change was made, when the person making it said so.
    reason = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "config_audit_log"
        verbose_name = "configuration change"
        ordering = ["-updated_at", "-log_id"]
        indexes = [
            models.Index(fields=["parameter_name"], name="idx_config_audit_log_parameter"),
            models.Index(fields=["-updated_at"], name="idx_config_audit_log_timestamp"),
        ]

    def __str__(self):
        return f"{self.parameter_name}: {self.old_value} → {self.new_value}"


class ConfigVersion(models.Model):
    """One row whose ``version`` goes up, in the writing transaction, whenever system_config changes.

    Not in the spec (docs/schema.md). Processes compare it with the version of their cached values
    (``config_admin.selectors.config_get``): a transactional counter, so a reader never sees the new version
    before the new values.
    """

    id = models.SmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0, db_default=0)
    changed_at = UTCDateTimeField(default=timezone.now, db_default=Now(), null=True)

    class Meta:
        db_table = "config_version"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="config_version_single_row")]

    def __str__(self):
        return f"configuration version {self.version}"
