"""``manage.py config ...``: exit code 0 on success, a one-line RG-CFG error and no change on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from config_admin.models import ConfigAuditLog, SystemConfig

pytestmark = pytest.mark.django_db


def config(*args):
    out = StringIO()
    call_command("config", *args, stdout=out)
    return out.getvalue()


def test_list_get_set_reset():
    listing = config("list")
    assert "[performance]" in listing and "work_mem" in listing and "range 1MB..1GB" in listing
    assert "[inference]" not in config("list", "--category", "performance")
    assert config("get", "inference_batch_size").strip() == "100"
    assert config("set", "inference_batch_size", "300", "--reason", "tuning").strip() == "inference_batch_size = 300"
    assert config("get", "inference_batch_size").strip() == "300"
    entry = ConfigAuditLog.objects.get()
    assert entry.updated_by.startswith("manage.py") and entry.reason == "tuning"
    assert config("reset", "inference_batch_size").strip() == "inference_batch_size = 100"
    assert "changed" not in config("list", "--category", "inference")  # back at the default: no mark
    config("set", "work_mem", "8MB")
    assert "changed" in config("list", "--category", "performance")


@pytest.mark.parametrize("args", [
    ("get", "nope"), ("set", "nope", "1"), ("set", "inference_batch_size", "5000"),
    ("set", "inference_batch_size", "1e3"), ("set", "work_mem", "3GB"), ("set", "random_page_cost", "inf"),
    ("reset", "nope"), ("list", "--category", "nope"), ("import", "/nonexistent/file.json"),
])
def test_bad_input_is_a_one_line_error_and_changes_nothing(args):
    before = list(SystemConfig.objects.values_list("parameter_name", "parameter_value"))
    with pytest.raises(CommandError) as excinfo:
        config(*args)
    message = str(excinfo.value)
    assert message.startswith("RG-CFG-") and "\n" not in message
    assert list(SystemConfig.objects.values_list("parameter_name", "parameter_value")) == before
    assert not ConfigAuditLog.objects.exists()


def test_export_and_import_files(tmp_path):
    path = tmp_path / "config.json"
    config("set", "work_mem", "64MB")
    count = SystemConfig.objects.count()
    assert f"exported {count} parameters" in config("export", str(path))
    data = json.loads(path.read_text())
    assert data["format"] == "kgsite-config" and len(data["parameters"]) == count
    config("set", "work_mem", "4MB")
    assert "1 changed (work_mem)" in config("import", str(path))
    assert config("get", "work_mem").strip() == "64MB"

    bad = dict(data)
    bad["parameters"] = [dict(p) for p in data["parameters"]]
    for item in bad["parameters"]:
        if item["name"] == "parallel_workers":
            item["value"] = "6"  # a valid change...
        if item["name"] == "shared_buffers":
            item["value"] = "9TB"  # ...and one bad value: nothing is applied
    path.write_text(json.dumps(bad))
    with pytest.raises(CommandError, match="RG-CFG-003: shared_buffers"):
        config("import", str(path))
    assert config("get", "parallel_workers").strip() == "4"


@pytest.mark.django_db(transaction=True)
def test_exit_codes_in_a_real_process():
    from tests.scratch import BASE_DIR, database_url

    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict["NAME"])}

    def run(*args):
        return subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), "config", *args], env=env, cwd=BASE_DIR,
                              capture_output=True, text=True, timeout=120)

    ok = run("set", "parallel_workers", "3")
    assert ok.returncode == 0 and ok.stdout.strip() == "parallel_workers = 3"
    bad = run("set", "parallel_workers", "99")
    assert bad.returncode != 0
    assert bad.stderr.strip().count("\n") == 0 and "RG-CFG-003" in bad.stderr and "Traceback" not in bad.stderr
    assert run("get", "parallel_workers").stdout.strip() == "3"


@pytest.mark.django_db(transaction=True)
def test_apply_postgres_runs_as_a_system_caller():
    from tests.config_admin.test_admin import auto_conf_settings, restore_auto_conf

    saved = auto_conf_settings(["work_mem"])
    try:
        config("set", "work_mem", "24MB")
        assert config("apply-postgres", "work_mem").strip() == (
            "work_mem = 24MB (running; PostgreSQL runs with 24MB)")
    finally:
        restore_auto_conf(["work_mem"], saved)


@pytest.mark.parametrize("args", [("apply-postgres", "nope"), ("apply-postgres", "inference_batch_size")])
def test_apply_postgres_refuses_unknown_names(args):
    with pytest.raises(CommandError, match="^RG-CFG-001: "):
        config(*args)
