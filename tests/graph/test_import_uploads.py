"""Imports from the admin (graph/admin_imports.py, graph/services/import_jobs.py): upload, the worker's check,
confirm, the worker's import, progress and result on the page; refusals, permissions, leases, two workers."""

from __future__ import annotations

import html
import io
import json
import re
import threading
import zipfile
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from config_admin.services import config_set
from graph.choices import ImportStatus
from graph.errors import IMPORT_JOB_STATE, GraphError
from graph.models import ImportJob, Node, NodeAttribute
from graph.services.import_jobs import import_job_confirm, import_job_upload, import_jobs_run_next
from tests.factories import UserFactory
from tests.worker_processes import Workers, wait_until

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:graph_importjob_add")
RECORDS = [
    {"kind": "node", "key": "lang", "name": "Languages", "node_type": "category", "path": "languages"},
    {"kind": "node", "key": "py", "name": "Python", "node_type": "language", "path": "languages.python"},
    {"kind": "attribute", "node": "py", "type": "paradigm", "key": "paradigm", "value": "object-oriented"},
]
GOOD = ("\n".join(json.dumps(r) for r in RECORDS) + "\n").encode()
BAD = (json.dumps(RECORDS[0]) + "\n{oops\n" + json.dumps({**RECORDS[2], "confidence": 1.5}) + "\n").encode()


def page_text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def page_text(response) -> str:
    return page_text_of(response.content.decode())


def upload(client, name="graph.jsonl", content=GOOD, on_conflict="update"):
    file = io.BytesIO(content)
    file.name = name
    return client.post(ADD_URL, {"file": file, "on_conflict": on_conflict})


def detail_url(job) -> str:
    return reverse("admin:graph_importjob_change", args=[job.pk])


@pytest.fixture
def curator(client):
    user = UserFactory(staff=True, permissions=["graph.add_importjob", "graph.change_importjob",
                                                "graph.view_importjob"])
    client.force_login(user)
    return user


def test_upload_check_confirm_import_with_the_report_and_result_on_the_page(client, curator):
    response = upload(client)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(job)
    assert (job.status, job.file_format, job.created_by, job.size) == ("uploaded", "jsonl", curator, len(GOOD))
    assert not Node.objects.exists()  # the request only stored the file

    assert import_jobs_run_next(worker="test") is True
    job.refresh_from_db()
    assert job.status == ImportStatus.CHECKED and job.report["counts"]["node"]["created"] == 2
    page = client.get(detail_url(job)).content.decode()
    text = page_text_of(page)
    assert "Checked, waiting for confirmation" in text and "What the import would do" in text
    assert "nodes 2 0 0 0" in text and "attributes 1 0 0 0" in text and 'value="Confirm: import 3 records"' in page
    assert not Node.objects.exists()  # the check is a dry run

    response = client.post(reverse("admin:graph_importjob_confirm", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.confirmed_by) == (ImportStatus.QUEUED, curator)
    assert 'http-equiv="refresh"' in client.get(detail_url(job)).content.decode()  # the page follows the worker

    assert import_jobs_run_next(worker="test") is True
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED and job.finished_at is not None
    assert Node.objects.filter(source="import").count() == 2 and NodeAttribute.objects.count() == 1
    assert Node.objects.get(external_key="py").created_by == curator
    page = client.get(detail_url(job)).content.decode()
    assert "What the import did" in page_text_of(page) and "nodes 2 0 0 0" in page_text_of(page)
    assert "Confirm:" not in page
    assert import_jobs_run_next(worker="test") is False  # nothing else waits


def test_a_bad_file_is_invalid_with_its_lines_on_the_page_and_nothing_written(client, curator):
    upload(client, content=BAD)
    import_jobs_run_next(worker="test")
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.INVALID and job.report["problem_count"] == 3
    text = page_text(client.get(detail_url(job)))
    assert "3 errors: nothing was written" in text
    assert "graph.jsonl 3 node 'py' is not a node of the file or the database" in text
    assert "graph.jsonl 2 — not valid JSON" in text and "graph.jsonl 3 confidence must be a number" in text
    assert "Confirm:" not in client.get(detail_url(job)).content.decode() and not Node.objects.exists()
    response = client.post(reverse("admin:graph_importjob_confirm", args=[job.pk]), follow=True)
    assert "only an import that is checked, waiting for confirmation can be confirmed" in page_text(response)
    assert "RG-IMPORT-004" in page_text(response)


def test_a_zip_of_csv_files_is_checked_as_csv(client, curator):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("nodes.csv", "key,name,node_type\na,A,t\n")
        zipped.writestr("attributes.csv", "node,type,key,value\na,t,k,v\n")
    upload(client, name="graph.zip", content=archive.getvalue())
    job = ImportJob.objects.get()
    assert job.file_format == "csv"
    import_jobs_run_next(worker="test")
    job.refresh_from_db()
    assert job.status == ImportStatus.CHECKED and job.report["counts"]["attribute"]["created"] == 1


@pytest.mark.parametrize(("name", "content", "message"), [
    ("graph.jsonl", b"", "The submitted file is empty"),
    ("graph.txt", GOOD, "upload a JSON Lines file"),
    ("people.csv", b"a,b\n", "a CSV file must be named after its kind"),
    ("graph.zip", b"PK\x03\x04 not really", "not a readable ZIP archive"),
])
def test_unusable_uploads_are_refused_beside_the_field(client, curator, name, content, message):
    response = upload(client, name=name, content=content)
    assert response.status_code == 200
    assert message in response.context["form"].errors["file"][0]
    assert not ImportJob.objects.exists()


def test_an_upload_over_the_limit_is_refused_before_it_is_stored(client, curator, superuser):
    config_set(name="import_max_upload_mb", value="1", user=superuser)
    response = upload(client, content=GOOD + b" " * (1024 * 1024))
    assert response.status_code == 200
    error = response.context["form"].errors["file"][0]
    assert "at most 1 MB can be uploaded" in error and "RG-IMPORT-003" in error
    assert "At most 1 MB." in page_text(response)
    assert not ImportJob.objects.exists()


def test_a_zip_that_unpacks_too_far_is_refused(client, curator, superuser):
    config_set(name="import_max_upload_mb", value="1", user=superuser)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("graph.jsonl", b" " * (11 * 1024 * 1024))  # 11 MB of spaces: a few KB compressed
    response = upload(client, name="graph.zip", content=archive.getvalue())
    assert "unpacks to 11 MB; an upload may unpack to at most 10 MB" in response.context["form"].errors["file"][0]
    assert not ImportJob.objects.exists()


def test_permissions(client):
    viewer = UserFactory(staff=True, permissions=["graph.view_importjob"])
    job = import_job_upload(user=viewer, name="graph.jsonl", content=GOOD)
    import_jobs_run_next(worker="test")
    client.force_login(viewer)
    assert upload(client).status_code == 403
    page = client.get(detail_url(job))
    assert page.status_code == 200 and "Confirm:" not in page.content.decode()
    assert client.post(reverse("admin:graph_importjob_confirm", args=[job.pk])).status_code == 403
    assert client.get(reverse("admin:graph_importjob_confirm", args=[job.pk])).status_code == 405
    job.refresh_from_db()
    assert job.status == ImportStatus.CHECKED
    nobody = UserFactory(staff=True)
    client.force_login(nobody)
    assert client.get(detail_url(job)).status_code == 403
    assert client.get(reverse("admin:graph_importjob_change", args=[999999])).status_code in (403, 404)


def test_confirming_twice_or_cancelling_a_finished_import_is_refused_clearly(curator):
    job = import_job_upload(user=curator, name="graph.jsonl", content=GOOD)
    with pytest.raises(GraphError) as refused:
        import_job_confirm(job_id=job.pk, user=curator)  # not checked yet
    assert refused.value.code == IMPORT_JOB_STATE
    import_jobs_run_next(worker="test")
    import_job_confirm(job_id=job.pk, user=curator)
    with pytest.raises(GraphError, match="is confirmed, waiting for a worker"):
        import_job_confirm(job_id=job.pk, user=curator)


def test_an_unknown_import_page_is_a_404(client, curator):
    assert client.get(reverse("admin:graph_importjob_change", args=[424242])).status_code == 404


def test_a_job_whose_worker_died_is_claimed_again_and_imported_once(curator):
    job = import_job_upload(user=curator, name="graph.jsonl", content=GOOD)
    import_jobs_run_next(worker="test")
    import_job_confirm(job_id=job.pk, user=curator)
    # A worker claimed it and died: the job says running, its lease has run out, nothing was written.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, worker="dead:1",
                                               lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert import_jobs_run_next(worker="test") is True
    job.refresh_from_db()
    assert (job.status, job.worker) == (ImportStatus.COMPLETED, "test")
    assert Node.objects.filter(source="import").count() == 2
    # A job still under a live lease is not taken.
    other = import_job_upload(user=curator, name="graph.jsonl", content=GOOD)
    ImportJob.objects.filter(pk=other.pk).update(status=ImportStatus.CHECKING,
                                                 lease_expires_at=timezone.now() + timedelta(minutes=5))
    assert import_jobs_run_next(worker="test") is False


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_run_the_same_job(curator):
    jobs = [import_job_upload(user=curator, name="graph.jsonl", content=GOOD) for _ in range(4)]
    ran: list[str] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            while import_jobs_run_next(worker=name):
                ran.append(name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(ran) == 4
    assert sorted(ImportJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True)) == \
        ["checked"] * 4


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_from_another_connection_while_the_import_runs(curator, monkeypatch):
    """Each progress write is read back by a third connection at once, while the check's transaction is open."""
    import psycopg

    from graph.services import import_jobs

    import_job_upload(user=curator, name="graph.jsonl", content=GOOD)
    seen: list[tuple] = []
    original = import_jobs._ProgressWriter._write

    def observed(self):
        original(self)
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as observer:
            seen.append(observer.execute("SELECT status, phase FROM import_jobs WHERE id = %s",
                                         [self.job_id]).fetchone())

    monkeypatch.setattr(import_jobs._ProgressWriter, "_write", observed)
    monkeypatch.setattr(import_jobs, "PROGRESS_SECONDS", 0.0)
    import_jobs_run_next(worker="test")
    phases = {phase for status, phase in seen if status == "checking"}
    assert {"reading", "nodes"} <= phases, seen


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_checks_and_imports_an_upload(tmp_path, curator):
    workers = Workers(tmp_path)
    try:
        worker = workers.start("imports", "run_worker")
        job = import_job_upload(user=curator, name="graph.jsonl", content=GOOD)

        def status():
            job.refresh_from_db()
            return job.status

        wait_until(lambda: status() == ImportStatus.CHECKED, timeout=60, what="the worker's check",
                   describe=worker.describe)
        import_job_confirm(job_id=job.pk, user=curator)
        wait_until(lambda: status() == ImportStatus.COMPLETED, timeout=60, what="the worker's import",
                   describe=worker.describe)
        assert Node.objects.filter(external_key__in=["lang", "py"]).count() == 2
    finally:
        workers.stop_all()
