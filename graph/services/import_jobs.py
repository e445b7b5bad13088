"""Imports uploaded in the admin, checked and applied by the worker (docs/import-format.md, "From the admin").

An upload becomes an ``ImportJob`` row holding the file. ``run_worker`` calls ``import_jobs_run_next`` between
batches: it claims the oldest job waiting for it (``FOR UPDATE SKIP LOCKED``, in a transaction of its own, with a
lease), then either checks it (a dry run: ``uploaded`` → ``checked`` or ``invalid``) or, once a curator confirmed
it, applies it (``queued`` → ``completed``, or ``failed`` if the database refuses it now). The import's data and the
job's ``completed`` are committed together. While it runs, its phase and row counts go to the job row through a
second, autocommitting connection, so that the admin page shows them; the same connection renews the lease every
minute. A job whose worker died (its lease ran out) is claimed again: its transaction was rolled back with the
worker, and an import can always be run again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import zipfile
from datetime import timedelta
from io import BytesIO
from pathlib import PurePosixPath

import psycopg
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from config_admin.selectors import config_get
from graph.choices import ImportFormat, ImportStatus, OnConflict
from graph.errors import IMPORT_JOB_STATE, IMPORT_UPLOAD_TOO_LARGE, UNREADABLE_FILE, GraphError
from graph.models import ImportJob
from graph.services.import_staging import CSV_FILES, upload_sources
from graph.services.imports import ImportProgress, graph_import

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
HEARTBEAT_SECONDS = 60
PROGRESS_SECONDS = 1.0
UNPACKED_FACTOR = 10  # a ZIP upload may unpack to this many times the upload limit
WAITING = (ImportStatus.UPLOADED, ImportStatus.QUEUED)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")


def upload_format(name: str, content: bytes) -> str:
    """JSON Lines or CSV, from the name (and a ZIP's members); ``GraphError`` when it is neither."""
    lower = name.lower()
    if lower.endswith(JSONL_SUFFIXES):
        return ImportFormat.JSONL
    if lower.endswith((".csv", ".csv.gz")):
        if PurePosixPath(lower).name.removesuffix(".gz") not in CSV_FILES:
            raise GraphError(f"{name}: a CSV file must be named after its kind ({', '.join(sorted(CSV_FILES))}); "
                             "upload several as a ZIP archive", code=UNREADABLE_FILE)
        return ImportFormat.CSV
    if lower.endswith(".zip"):
        try:
            members = [m.filename.lower() for m in zipfile.ZipFile(BytesIO(content)).infolist() if not m.is_dir()]
        except zipfile.BadZipFile as exc:
            raise GraphError(f"{name}: not a readable ZIP archive ({exc})", code=UNREADABLE_FILE) from exc
        if members and all(m.endswith((".csv", ".csv.gz")) for m in members):
            return ImportFormat.CSV
        if members and all(m.endswith(JSONL_SUFFIXES) for m in members):
            return ImportFormat.JSONL
        raise GraphError(f"{name}: the ZIP archive must hold CSV files (nodes.csv, ...) or JSON Lines files, not "
                         "a mix or other files", code=UNREADABLE_FILE)
    raise GraphError(f"{name}: upload a JSON Lines file (.jsonl), a CSV file named after its kind (nodes.csv) or a "
                     "ZIP archive of them", code=UNREADABLE_FILE)


def import_job_upload(*, user, name: str, content: bytes, on_conflict: str = OnConflict.UPDATE) -> ImportJob:
    """Stores an upload for the worker to check; refuses files that are too large, empty or of no known format."""
    limit_mb = int(config_get("import_max_upload_mb"))
    if len(content) > limit_mb * 1024 * 1024:
        raise GraphError(f"the file is {len(content) / 1024 / 1024:,.1f} MB; at most {limit_mb:,} MB can be uploaded "
                         "(import_max_upload_mb); import bigger files with manage.py import_graph",
                         code=IMPORT_UPLOAD_TOO_LARGE)
    if not content:
        raise GraphError(f"{name}: the file is empty", code=UNREADABLE_FILE)
    if on_conflict not in OnConflict.values:
        raise GraphError(f"on conflict must be one of {', '.join(OnConflict.values)}", code=UNREADABLE_FILE)
    file_format = upload_format(name, content)
    sources = upload_sources(name=name, content=content, file_format=file_format)  # members named right
    unpacked = sum(source.size or 0 for source in sources)
    if unpacked > UNPACKED_FACTOR * limit_mb * 1024 * 1024:  # a ZIP bomb, or a load for import_graph
        raise GraphError(f"{name} unpacks to {unpacked / 1024 / 1024:,.0f} MB; an upload may unpack to at most "
                         f"{UNPACKED_FACTOR * limit_mb:,} MB ({UNPACKED_FACTOR} × import_max_upload_mb); import it "
                         "with manage.py import_graph", code=IMPORT_UPLOAD_TOO_LARGE)
    return ImportJob.objects.create(
        file_name=name[:255], file_format=file_format, on_conflict=on_conflict, content=content, size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), status=ImportStatus.UPLOADED, created_by=user)


def _change_state(*, job_id: int, allowed: tuple[str, ...], to: str, what: str, **fields) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise GraphError(f"there is no import {job_id}", code=IMPORT_JOB_STATE)
        if job.status not in allowed:
            raise GraphError(f"import {job_id} is {job.get_status_display().lower()}; only an import that is "
                             f"{' or '.join(ImportStatus(s).label.lower() for s in allowed)} can be {what}",
                             code=IMPORT_JOB_STATE)
        job.status = to
        for name, value in fields.items():
            setattr(job, name, value)
        job.save(update_fields=["status", *fields])
        return job


def import_job_confirm(*, job_id: int, user) -> ImportJob:
    """A checked import goes to the worker to be applied."""
    return _change_state(job_id=job_id, allowed=(ImportStatus.CHECKED,), to=ImportStatus.QUEUED, what="confirmed",
                         confirmed_by=user, confirmed_at=timezone.now())


def import_job_cancel(*, job_id: int, user) -> ImportJob:
    """An import that no worker is running is cancelled."""
    return _change_state(job_id=job_id, allowed=(ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.QUEUED),
                         to=ImportStatus.CANCELLED, what="cancelled", finished_at=timezone.now(),
                         phase=f"cancelled by {user}"[:100])


# --- The worker's side ---------------------------------------------------------------------------------------------

def _claim(worker: str) -> ImportJob | None:
    now = timezone.now()
    # The oldest job waiting for a worker, or one whose worker's lease ran out (it died: its work rolled back).
    claimable = Q(status__in=WAITING) | Q(status__in=[ImportStatus.CHECKING, ImportStatus.RUNNING],
                                          lease_expires_at__lt=now)
    with transaction.atomic():
        job = (ImportJob.objects.select_for_update(skip_locked=True).filter(claimable).order_by("id")
               .only("id", "status").first())
        if job is None:
            return None
        checking = job.status in (ImportStatus.UPLOADED, ImportStatus.CHECKING)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.CHECKING if checking else ImportStatus.RUNNING, worker=worker[:200],
            lease_expires_at=now + LEASE, started_at=now, phase="starting", rows_done=0)
    return ImportJob.objects.get(pk=job.pk)


class _ProgressWriter:
    """Writes a job's progress from a connection of its own (the import's transaction is not committed yet),
    at most once a second, and renews the lease every minute even while one long statement runs."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.state = ImportProgress("starting")
        self.written_at = 0.0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.connection = psycopg.connect(**connection.get_connection_params(), autocommit=True)
        self.heartbeat = threading.Thread(target=self._beat, daemon=True, name=f"import-{job_id}-lease")
        self.heartbeat.start()

    def __call__(self, state: ImportProgress) -> None:
        self.state = state
        if time.monotonic() - self.written_at >= PROGRESS_SECONDS:
            self._write()

    def _write(self) -> None:
        state = self.state
        rows_total = state.total if state.phase != "reading" else None
        with self.lock:
            if self.connection.closed:
                return
            self.written_at = time.monotonic()
            try:
                self.connection.execute(
                    "UPDATE import_jobs SET phase = %s, rows_done = %s, rows_total = coalesce(%s, rows_total), "
                    "lease_expires_at = now() + %s WHERE id = %s",
                    [state.phase[:100], state.rows or state.done, rows_total, LEASE, self.job_id])
            except psycopg.Error:  # progress is best effort; the import goes on
                logger.warning("import %s: could not write progress", self.job_id, exc_info=True)

    def _beat(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            self._write()

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            self.connection.close()


def _finish(job_id: int, **fields) -> None:
    ImportJob.objects.filter(pk=job_id).update(finished_at=timezone.now(), lease_expires_at=None, **fields)


def import_jobs_run_next(*, worker: str) -> bool:
    """Checks or applies the oldest import waiting for a worker; False when none waits."""
    job = _claim(worker)
    if job is None:
        return False
    checking = job.status == ImportStatus.CHECKING
    writer = _ProgressWriter(job.pk)
    try:
        sources = upload_sources(name=job.file_name, content=bytes(job.content), file_format=job.file_format)
        if checking:
            report = graph_import(sources=sources, on_conflict=job.on_conflict, dry_run=True, user=job.created_by,
                                  progress=writer, job=job)
            writer.close()
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportStatus.CHECKED if report.ok else ImportStatus.INVALID, report=report.as_dict(),
                checked_at=timezone.now(), lease_expires_at=None, phase="checked",
                rows_total=report.records, rows_done=report.records)
            return True
        with transaction.atomic():  # the data and "completed" commit together
            report = graph_import(sources=sources, on_conflict=job.on_conflict, user=job.confirmed_by or job.created_by,
                                  progress=writer, job=job)
            writer.close()
            if report.ok:
                _finish(job.pk, status=ImportStatus.COMPLETED, result=report.as_dict(), phase="done",
                        rows_total=report.records, rows_done=report.records)
        if not report.ok:  # refused now, although the check passed: the database changed since
            _finish(job.pk, status=ImportStatus.FAILED, result=report.as_dict(), phase="refused",
                    error_message="; ".join(str(p) for p in report.problems[:5])[:4000])
    except GraphError as exc:  # the upload cannot be read after all
        writer.close()
        _finish(job.pk, status=ImportStatus.INVALID if checking else ImportStatus.FAILED, phase="refused",
                error_message=str(exc)[:4000])
    except Exception as exc:  # a bug: recorded, logged with its traceback; the worker carries on
        writer.close()
        logger.exception("import %s failed", job.pk)
        _finish(job.pk, status=ImportStatus.FAILED, phase="failed", error_message=f"{type(exc).__name__}: {exc}"[:4000])
    finally:
        writer.close()
    return True


class ImportSchedule:
    """``run_worker``'s import tick: every ``interval`` seconds, the waiting imports one after the other."""

    def __init__(self, *, worker: str, interval: float = 3.0, report=None):
        self.worker, self.interval, self.report = worker, interval, report
        self._next = 0.0

    def tick(self, stop: threading.Event | None = None) -> int:
        now = time.monotonic()
        if now < self._next:
            return 0
        self._next = now + self.interval
        done = 0
        while (stop is None or not stop.is_set()) and import_jobs_run_next(worker=self.worker):
            done += 1
            if self.report:
                self.report(f"import: ran a job ({done})")
        return done
