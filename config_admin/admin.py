"""The configuration admin a DBA wants.

* The list is an overview grouped by category: type, current value, default, allowed range, description, a mark
  when the value differs from its default, a "restart required" mark, and for the performance category the value
  PostgreSQL is running with.
* Edit (validated, with an optional reason), reset to default and history (from config_audit_log) per parameter;
  users with the permission ``apply_postgres_settings`` can apply the performance parameters to PostgreSQL
  (ALTER SYSTEM + reload).
* Every write goes through ``config_admin.services`` (``config_set``, ``config_reset``, ``config_delete``,
  ``postgres_settings_apply``), which enforce the rules and permissions; this module only asks the same rules
  to decide which buttons to show. Parameters are added by migrations, never here, cannot be renamed, and the
  spec's defaults cannot be deleted. A ``PermissionRefused`` from a service is a 403, like Django's own checks.
"""

from __future__ import annotations

from contextlib import contextmanager

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from config_admin import selectors, services
from config_admin.models import ConfigAuditLog, SystemConfig
from config_admin.values import ConfigError, ParameterRule, parse_value
from kgsite.admin import HostileInputMixin, ReadOnlyAdmin, YesNoListFilter, list_parameters_check
from kgsite.errors import PermissionRefused
from kgsite.views import missing_permission


@contextmanager
def refusal_is_forbidden():
    """A service's ``PermissionRefused`` answers 403, as when the admin's own permission checks refuse."""
    try:
        yield
    except PermissionRefused as exc:
        raise PermissionDenied(str(exc)) from exc


class ParameterValueForm(forms.ModelForm):
    reason = forms.CharField(
        required=False, max_length=500, widget=forms.TextInput(attrs={"size": 80}),
        help_text="Why you change it (kept in the audit log).",
    )

    class Meta:
        model = SystemConfig
        fields = ("parameter_value",)
        widgets = {"parameter_value": forms.TextInput(attrs={"size": 40})}

    def clean_parameter_value(self):
        value = self.cleaned_data["parameter_value"]
        try:
            canonical, _typed = parse_value(ParameterRule.of(self.instance), value)
        except ConfigError as exc:
            raise forms.ValidationError(str(exc), code=exc.code) from exc
        return canonical


VALUE_TYPE_HELP = {
    "memory": "a size with a unit: kB, MB, GB or TB (64MB, 1GB)",
    "integer": "a whole number",
    "float": "a number, decimals allowed",
    "boolean": "true or false",
    "text": "any text",
}


@admin.register(SystemConfig)
class SystemConfigAdmin(HostileInputMixin, admin.ModelAdmin):
    form = ParameterValueForm
    search_fields = ("parameter_name", "description")
    list_filter = ("category",)
    readonly_fields = ("parameter_name", "value_type", "category", "description", "default_value", "min_value",
                       "max_value", "requires_restart", "updated_at", "updated_by")
    fieldsets = (
        (None, {"fields": ("parameter_name", "description", "parameter_value", "reason")}),
        ("Rules", {"fields": ("value_type", "category", "default_value", "min_value", "max_value",
                              "requires_restart")}),
        ("Last change", {"fields": ("updated_at", "updated_by")}),
    )

    def has_add_permission(self, request):
        return False  # parameters are added by migrations (docs/configuration.md)

    @admin.display(description="type")
    def value_type(self, obj):
        """The same word as the overview ("memory", not the stored column type "text"), with what it accepts."""
        kind = ParameterRule.of(obj).kind
        return f"{kind} — {VALUE_TYPE_HELP.get(kind, '')}".rstrip(" —")

    def has_delete_permission(self, request, obj=None):
        if obj is not None and services.config_deletion_refusal(obj.parameter_name):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        return {}  # "delete selected" would ask the per-parameter rule above once for the whole selection

    def save_model(self, request, obj, form, change):
        with refusal_is_forbidden():
            services.config_set(name=obj.parameter_name, value=form.cleaned_data["parameter_value"],
                                user=request.user, reason=form.cleaned_data.get("reason"))

    def delete_model(self, request, obj):
        with refusal_is_forbidden():
            services.config_delete(name=obj.parameter_name, user=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<int:object_id>/reset/", self.admin_site.admin_view(self.reset_view),
                 name="{}_{}_reset".format(*info)),
            path("apply-postgres/", self.admin_site.admin_view(self.apply_postgres_view),
                 name="{}_{}_apply_postgres".format(*info)),
            *super().get_urls(),
        ]

    def _get_object_or_404(self, request, object_id):
        row = self.get_object(request, object_id)
        if row is None:
            raise Http404(f"No configuration parameter with id {object_id}")
        return row

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        list_parameters_check(request.GET)  # the overview reads only ?category=; NUL or megabytes are refused
        category = request.GET.get("category") or None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "System configuration",
            "groups": selectors.parameters_overview(category=category),
            "categories": selectors.config_categories(),
            "selected_category": category,
            "can_change": self.has_change_permission(request),
            "can_apply_postgres": request.user.has_perm(services.APPLY_POSTGRES_PERMISSION),
            "version": selectors.config_version_current(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/config_admin/systemconfig/overview.html", context)

    def reset_view(self, request, object_id):
        """GET asks for confirmation (and a reason); POST resets."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        row = self._get_object_or_404(request, object_id)
        if not self.has_change_permission(request, row):
            # Not a bare PermissionDenied: the 403 page can only name the permissions of the admin's own views.
            raise missing_permission("config_admin.change_systemconfig", "resetting a configuration parameter")
        if request.method == "GET":
            context = {**self.admin_site.each_context(request), "opts": self.opts, "object": row,
                       "title": f"Reset {row.parameter_name}?"}
            return TemplateResponse(request, "admin/config_admin/systemconfig/reset_confirmation.html", context)
        try:
            with refusal_is_forbidden():
                services.config_reset(name=row.parameter_name, user=request.user, reason=request.POST.get("reason"))
        except ConfigError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            # Not "work_mem was reset": the admin capitalises the first letter of every message.
            self.message_user(request, f"Reset {row.parameter_name} to its default {row.default_value}.",
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:config_admin_systemconfig_changelist"))

    def apply_postgres_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            with refusal_is_forbidden():
                results = services.postgres_settings_apply(user=request.user)
        except ConfigError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            applied = ", ".join(f"{r.name} = {r.running}" for r in results if not r.pending_restart)
            pending = ", ".join(f"{r.name} = {r.value}" for r in results if r.pending_restart)
            if applied:
                self.message_user(request, f"Applied to PostgreSQL: {applied}.", messages.SUCCESS)
            if pending:
                self.message_user(request, f"Written, but PostgreSQL must be restarted to use: {pending}.",
                                  messages.WARNING)
        return HttpResponseRedirect(reverse("admin:config_admin_systemconfig_changelist"))

    def history_view(self, request, object_id, extra_context=None):
        row = self._get_object_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, row):
            raise PermissionDenied
        page = Paginator(selectors.config_audit_entries(name=row.parameter_name), 100).get_page(request.GET.get("p"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": row,
            "title": f"History of {row.parameter_name}",
            "page": page,
        }
        return TemplateResponse(request, "admin/config_admin/systemconfig/parameter_history.html", context)


@admin.register(ConfigAuditLog)
class ConfigAuditLogAdmin(ReadOnlyAdmin):
    list_display = ("when", "parameter_name", "old_value", "new_value", "updated_by", "restart", "reason")
    list_filter = ("parameter_name", "updated_by", "updated_at", ("requires_restart", YesNoListFilter))
    search_fields = ("parameter_name", "updated_by", "reason")
    date_hierarchy = "updated_at"

    @admin.display(description="when (UTC)", ordering="updated_at")
    def when(self, obj):
        return f"{obj.updated_at:%Y-%m-%d %H:%M:%S}" if obj.updated_at else "—"

    @admin.display(description="restart", boolean=True, ordering="requires_restart")
    def restart(self, obj):
        return obj.requires_restart
