"""The admin of the vector indexes (docs/vector-indexes.md, docs/admin.md): the read-only list of the optimiser's
runs (``vector_index_builds``) and the "Index health" page.

* The list: one row per run of ``optimize_vector_index`` (command, worker, "Rebuild now"), newest first: outcome,
  type and parameters, rows, recall@10 and latency, who triggered it. Nobody edits these rows.
* Index health (``/admin/graph/vectorindexbuild/health/``, linked from the list): per vector index its type and
  parameters, whether it is valid, its size, rows at the last build vs now, the last measured recall@10 and latency
  (approximate and exact), and the configured query-time setting. Staff who may view the runs see it.
* "Rebuild now" (POST, CSRF-protected), for superusers only (a POST by anyone else is refused with 403): runs the
  optimiser for that table with ``force=True`` inside the request. At the demo's size it takes well under a
  second; the page says that big tables belong to the command or the worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config_admin.selectors import config_get
from config_admin.services import actor_label
from graph.admin_links import shorten
from graph.choices import VectorIndexOutcome, VectorTable
from graph.errors import GraphError
from graph.models import MaintenanceRun, VectorIndexBuild
from graph.services.vector_index import (
    VectorIndexStatus,
    parameters_text,
    vector_index_optimize,
    vector_index_status,
    vector_index_summary,
)
from kgsite.admin import ReadOnlyAdmin
from kgsite.views import missing_permission

WORKER_JOB = "optimize_vector_index"  # graph.services.maintenance.JOBS

REBUILD_PERMISSION = "graph.rebuild_vector_index"  # the Administrator role (kgsite/roles.py)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


@dataclass(frozen=True)
class IndexHealth:
    """What the health page shows for one table (the template only formats)."""

    status: VectorIndexStatus
    parameters_text: str  # the index's, "lists=10"
    configured_text: str
    mismatch: str  # why the index does not match the configuration, or ''
    speedup: float | None
    rows_at_build_text: str
    measured_with: str  # the query-time setting the recall was measured with, "probes=3"

    @property
    def measured(self) -> VectorIndexBuild | None:
        return self.status.last_measured

    @property
    def below_target(self) -> bool:
        measured = self.measured
        return bool(measured and measured.recall_at_10 is not None
                    and measured.recall_at_10 < self.status.target_recall)


def _health(table: str) -> IndexHealth:
    status = vector_index_status(table=table)
    configured = parameters_text(status.configured)
    index, mismatch = status.index, ""
    if not index.exists:
        mismatch = "the index does not exist: the next run builds it"
    elif not index.valid:
        mismatch = "the index is INVALID (an interrupted concurrent build): the next run rebuilds it"
    elif index.index_type != status.configured_type:
        mismatch = f"the configuration asks for {status.configured_type}: the next run rebuilds it"
    elif index.parameters != status.configured:
        mismatch = f"the configuration says {configured}: the next run rebuilds it"
    measured = status.last_measured
    speedup = None
    if measured and measured.latency_ms_median and measured.exact_latency_ms_median:
        speedup = measured.exact_latency_ms_median / measured.latency_ms_median
    before = status.rows_at_last_build
    return IndexHealth(
        status=status, parameters_text=parameters_text(index.parameters),
        configured_text=f"{status.configured_type} {configured}", mismatch=mismatch, speedup=speedup,
        rows_at_build_text="" if before is None else f"{before:,}",
        measured_with=parameters_text(measured.search_parameters) if measured else "")


@admin.register(VectorIndexBuild)
class VectorIndexBuildAdmin(ReadOnlyAdmin):
    list_display = ("started", "table_name", "outcome_shown", "built", "rows", "rows_at_last_build", "recall",
                    "latency", "build_time", "triggered_by")
    list_filter = ("table_name", "outcome", "index_type")
    list_per_page = 50
    change_list_template = "admin/graph/vectorindexbuild/change_list.html"

    def get_urls(self):
        return [
            path("health/", self.admin_site.admin_view(self.health_view), name="graph_vectorindexbuild_health"),
            path("health/rebuild/", self.admin_site.admin_view(self.rebuild_view),
                 name="graph_vectorindexbuild_rebuild"),
            *super().get_urls(),
        ]

    @admin.display(description="started", ordering="started_at")
    def started(self, obj):
        return f"{obj.started_at:%Y-%m-%d %H:%M:%S} UTC" if obj.started_at else "—"

    @admin.display(description="outcome", ordering="outcome")
    def outcome_shown(self, obj):
        return format_html('<span class="vidx-outcome vidx-outcome--{}" title="{}">{}</span>', obj.outcome,
                           obj.reason, obj.get_outcome_display())

    @admin.display(description="index")
    def built(self, obj):
        return f"{obj.get_index_type_display()} {parameters_text(obj.parameters)}".strip()

    @admin.display(description="recall@10", ordering="recall_at_10")
    def recall(self, obj):
        if obj.recall_at_10 is None:
            return "—"
        return f"{obj.recall_at_10:.3f} ({parameters_text(obj.search_parameters)})"

    @admin.display(description="latency median / p95 (exact median)")
    def latency(self, obj):
        if obj.latency_ms_median is None:
            return "—"
        return f"{_ms(obj.latency_ms_median)} / {_ms(obj.latency_ms_p95)} ({_ms(obj.exact_latency_ms_median)})"

    @admin.display(description="build", ordering="build_seconds")
    def build_time(self, obj):
        return "—" if obj.build_seconds is None else f"{obj.build_seconds:,.2f} s"

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "health_url": reverse("admin:graph_vectorindexbuild_health"),
                         "health": [_health(table) for table in VectorTable.values]}
        return super().changelist_view(request, extra_context)

    # --- Index health ---------------------------------------------------------------------------------------------

    def health_view(self, request):
        if not self.has_view_permission(request):
            raise missing_permission("graph.view_vectorindexbuild", "vector-index builds")
        last_check = MaintenanceRun.objects.filter(job=WORKER_JOB).first()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Vector index health",
            "health": [_health(table) for table in VectorTable.values],
            "can_rebuild": request.user.has_perm(REBUILD_PERMISSION),
            "rebuild_url": reverse("admin:graph_vectorindexbuild_rebuild"),
            "runs_url": reverse("admin:graph_vectorindexbuild_changelist"),
            "worker_check": last_check,
            "check_interval_hours": int(config_get("vector_index_check_interval_hours")),
        }
        return TemplateResponse(request, "admin/graph/vectorindexbuild/health.html", context)

    def rebuild_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(REBUILD_PERMISSION):
            raise PermissionDenied(f"rebuilding a vector index needs the permission {REBUILD_PERMISSION}")
        table = request.POST.get("table", "")
        if table not in VectorTable.values:
            return HttpResponseBadRequest(f"unknown table {shorten(table, 40)!r}: nodes or external_resources")
        health = HttpResponseRedirect(reverse("admin:graph_vectorindexbuild_health"))
        try:
            build = vector_index_optimize(table=table, force=True, actor=actor_label(request.user))
        except GraphError as exc:
            self.message_user(request, f"Not rebuilt: {exc.message} ({exc.code}).", messages.ERROR)
            return health
        if build.outcome == VectorIndexOutcome.FAILED:
            self.message_user(request, f"The rebuild failed: {build.reason}", messages.ERROR)
        elif build.outcome == VectorIndexOutcome.REBUILT:
            self.message_user(request, f"Rebuilt {build.index_name} in {build.build_seconds:,.2f} s. "
                                       f"{vector_index_summary(build)}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Not rebuilt: {build.reason}.", messages.WARNING)
        return health
