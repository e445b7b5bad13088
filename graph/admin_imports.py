"""The admin's imports (docs/import-format.md, "From the admin"): upload, the worker's check, confirm, progress.

* *Add import* is an upload form (a JSON Lines file, a CSV file named after its kind, or a ZIP of them; at most
  ``import_max_upload_mb``); it stores the file and nothing else: the worker checks it.
* An import's page is read-only: status and phase, a progress bar, the check's report (what would be created,
  updated, unchanged, skipped per kind, or the errors with their file, line and field), the result, and the
  Confirm (``graph.change_importjob``) and Cancel buttons, both POST with CSRF. While the worker has it, the page
  refreshes itself every 2 seconds (no JavaScript).
* Nothing here runs an import, not even a check: the web request only stores, confirms or cancels.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from config_admin.selectors import config_get
from graph.choices import ImportStatus, OnConflict
from graph.errors import GraphError
from graph.models import ImportJob
from graph.services.import_jobs import import_job_cancel, import_job_confirm, import_job_upload
from graph.services.import_staging import KINDS
from graph.services.imports import PLURAL
from kgsite.admin import HostileInputMixin
from kgsite.views import missing_permission

ACTIVE = (ImportStatus.UPLOADED, ImportStatus.CHECKING, ImportStatus.QUEUED, ImportStatus.RUNNING)
NO_WORKER_AFTER = timedelta(seconds=30)


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="A JSON Lines file (.jsonl), a CSV file named after its kind (nodes.csv, ...) "
                                     "or a ZIP archive of them; gzip-compressed files too.")
    on_conflict = forms.ChoiceField(choices=OnConflict.choices, initial=OnConflict.UPDATE,
                                    label="A record already in the database",
                                    help_text="Update it where the file differs, leave it as it is, or refuse the "
                                              "whole file.")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.limit_mb = int(config_get("import_max_upload_mb"))
        self.fields["file"].help_text += f" At most {self.limit_mb:,} MB."
        self.job: ImportJob | None = None

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is None or self.errors:
            return cleaned
        if upload.size > self.limit_mb * 1024 * 1024:  # before reading it into memory
            self.add_error("file", f"The file is {upload.size / 1024 / 1024:,.1f} MB; at most {self.limit_mb:,} MB "
                                   "can be uploaded (import_max_upload_mb). Import bigger files with "
                                   "manage.py import_graph. (RG-IMPORT-003)")
            return cleaned
        try:
            self.job = import_job_upload(user=self.user, name=upload.name, content=upload.read(),
                                         on_conflict=cleaned["on_conflict"])
        except GraphError as exc:
            self.add_error("file", f"{exc.message} ({exc.code})")
        return cleaned


def _counts(report: dict) -> list[dict]:
    counts = report.get("counts") or {}
    return [{"kind": PLURAL[kind], **counts[kind]} for kind in KINDS if kind in counts
            and sum(counts[kind].values())]


@admin.register(ImportJob)
class ImportJobAdmin(HostileInputMixin, admin.ModelAdmin):
    list_display = ("id", "file_name", "status", "records", "created_by", "created_at", "finished_at")
    list_filter = ("status", "file_format")
    list_per_page = 50
    search_fields = ("file_name",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content").select_related("created_by")

    @admin.display(description="records", ordering="rows_total")
    def records(self, obj):
        return "—" if obj.rows_total is None else f"{obj.rows_total:,}"

    def get_urls(self):
        return [
            path("<int:job_id>/confirm/", self.admin_site.admin_view(self.confirm_view),
                 name="graph_importjob_confirm"),
            path("<int:job_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="graph_importjob_cancel"),
            *super().get_urls(),
        ]

    def has_change_permission(self, request, obj=None):
        return False  # nobody edits an import; confirming is its own permission check (graph.change_importjob)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise missing_permission("graph.add_importjob", "uploading an import")
        form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            self.message_user(request, f"Uploaded {form.job.file_name}. The worker checks it now; this page shows "
                                       "the report when it is done.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:graph_importjob_change", args=[form.job.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Upload an import",
                   "form": form, "limit_mb": form.limit_mb,
                   "changelist_url": reverse("admin:graph_importjob_changelist")}
        return TemplateResponse(request, "admin/graph/importjob/upload.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise missing_permission("graph.view_importjob", "imports")
        try:
            job = ImportJob.objects.defer("content").select_related("created_by", "confirmed_by").get(
                pk=int(object_id))
        except (ValueError, ImportJob.DoesNotExist):
            raise Http404(f"There is no import {object_id!r}.") from None
        report, result = job.report or {}, job.result or {}
        problems = (result if result.get("problems") else report).get("problems") or []
        waiting_since = job.created_at if job.status == ImportStatus.UPLOADED else job.confirmed_at
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": f"Import {job.pk}: {job.file_name}",
            "job": job, "report": report, "result": result, "report_counts": _counts(report),
            "result_counts": _counts(result), "problems": problems,
            "problem_count": (result if result.get("problems") else report).get("problem_count", 0),
            "active": job.status in ACTIVE,
            "no_worker": job.status in (ImportStatus.UPLOADED, ImportStatus.QUEUED) and waiting_since is not None
            and timezone.now() - waiting_since > NO_WORKER_AFTER,
            "share": (min(job.rows_done / job.rows_total, 1) if job.rows_total else None),
            "can_confirm": job.status == ImportStatus.CHECKED and request.user.has_perm("graph.change_importjob"),
            "can_cancel": job.status in (ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.QUEUED)
            and request.user.has_perm("graph.change_importjob"),
            "changelist_url": reverse("admin:graph_importjob_changelist"),
        }
        return TemplateResponse(request, "admin/graph/importjob/detail.html", context)

    def _decide(self, request, job_id: int, decide, done: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("graph.change_importjob"):
            raise missing_permission("graph.change_importjob", "confirming or cancelling an import")
        try:
            job = decide(job_id=job_id, user=request.user)
            self.message_user(request, done.format(job=job), messages.SUCCESS)
        except GraphError as exc:
            self.message_user(request, f"{exc.message} ({exc.code})", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:graph_importjob_change", args=[job_id]))

    def confirm_view(self, request, job_id: int):
        return self._decide(request, job_id, import_job_confirm,
                            "Confirmed: the worker imports {job.file_name} now, in one transaction.")

    def cancel_view(self, request, job_id: int):
        return self._decide(request, job_id, import_job_cancel, "Cancelled: {job.file_name} will not be imported.")
