"""Admin for system configuration. Parameter names are fixed once created; the spec's defaults cannot be deleted.

(The typed, validated and audited editing of values is the configuration issue's work; see docs/configuration.md.)
"""

from __future__ import annotations

from django.contrib import admin

from config_admin.models import ConfigAuditLog, SystemConfig
from kgsite.admin import ReadOnlyAdmin

SPEC_DEFAULT_PARAMETERS = frozenset({
    "vector_embedding_dimension", "ivfflat_lists_nodes", "ivfflat_lists_external_resources",
    "vector_index_rebuild_threshold", "vector_similarity_threshold", "maintenance_work_mem", "effective_cache_size",
    "shared_buffers", "work_mem", "random_page_cost", "inference_batch_size", "confidence_threshold_cleanup",
    "max_inference_age_days", "parallel_workers", "mv_refresh_interval_hours", "mv_incremental_threshold",
})


@admin.register(SystemConfig)
class SystemConfigAdmin(admin.ModelAdmin):
    list_display = ("parameter_name", "parameter_value", "parameter_type", "default_value", "min_value", "max_value",
                    "requires_restart", "category", "updated_at", "updated_by")
    list_filter = ("category", "parameter_type", "requires_restart")
    search_fields = ("parameter_name", "description")
    readonly_fields = ("created_at", "updated_at", "updated_by")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "parameter_name") if obj is not None else fields

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.parameter_name in SPEC_DEFAULT_PARAMETERS:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # "Delete selected" would bypass the per-object rule above.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user.get_username()
        super().save_model(request, obj, form, change)


@admin.register(ConfigAuditLog)
class ConfigAuditLogAdmin(ReadOnlyAdmin):
    list_display = ("updated_at", "parameter_name", "old_value", "new_value", "updated_by", "requires_restart")
    list_filter = ("parameter_name", "updated_by", "updated_at")
    date_hierarchy = "updated_at"
