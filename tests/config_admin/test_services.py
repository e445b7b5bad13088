"""The audited write path, the triggers behind it, import/export, and the cached typed accessor."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from django.db import connection, connections, transaction
from django.db.utils import DatabaseError

from config_admin.models import SPEC_DEFAULT_PARAMETERS, ConfigAuditLog, SystemConfig
from config_admin.selectors import config_get
from config_admin.services import config_export_data, config_import, config_import_file, config_reset, config_set
from config_admin.values import ConfigError, ParameterRule, typed_value

pytestmark = pytest.mark.django_db

# A valid value other than the default for each of the spec's parameters, and its typed form.
NEW_VALUES = {
    "vector_embedding_dimension": ("1024", 1024),
    "ivfflat_lists_nodes": ("250", 250),
    "ivfflat_lists_external_resources": ("10", 10),
    "vector_index_rebuild_threshold": ("1000000", 1_000_000),
    "vector_similarity_threshold": ("0.45", 0.45),
    "maintenance_work_mem": ("1GB", "1GB"),
    "effective_cache_size": ("64GB", "64GB"),
    "shared_buffers": ("128MB", "128MB"),
    "work_mem": ("16MB", "16MB"),
    "random_page_cost": ("4", 4.0),
    "inference_batch_size": ("500", 500),
    "confidence_threshold_cleanup": ("0.0", 0.0),
    "max_inference_age_days": ("365", 365),
    "parallel_workers": ("1", 1),
    "mv_refresh_interval_hours": ("168", 168),
    "mv_incremental_threshold": ("100", 100),
}


def table_state():
    return (list(SystemConfig.objects.order_by("parameter_name").values_list("parameter_name", "parameter_value",
                                                                            "updated_at", "updated_by")),
            ConfigAuditLog.objects.count())


def test_every_spec_parameter_round_trips_with_its_type(superuser):
    assert set(NEW_VALUES) == SPEC_DEFAULT_PARAMETERS
    for name, (raw, typed) in NEW_VALUES.items():
        before = config_get(name)
        row = SystemConfig.objects.get(parameter_name=name)
        assert before == typed_value(ParameterRule.of(row), row.default_value)
        config_set(name=name, value=raw, user=superuser, reason="round trip")
        value = config_get(name)
        assert value == typed and type(value) is type(typed), name
    assert ConfigAuditLog.objects.count() == 16
    entry = ConfigAuditLog.objects.get(parameter_name="inference_batch_size")
    assert (entry.old_value, entry.new_value, entry.updated_by, entry.reason) == (
        "100", "500", superuser.email, "round trip")
    row = SystemConfig.objects.get(parameter_name="inference_batch_size")
    assert row.updated_by == superuser.email and row.updated_at >= entry.updated_at.replace(microsecond=0)


@pytest.mark.parametrize(("name", "value"), [
    ("inference_batch_size", "5000"), ("inference_batch_size", "abc"), ("inference_batch_size", ""),
    ("inference_batch_size", "100 rows"), ("vector_similarity_threshold", "NaN"),
    ("vector_similarity_threshold", "inf"), ("random_page_cost", "1e309"), ("work_mem", "3GB"),
    ("work_mem", "4 megabytes"), ("shared_buffers", "256"), ("no_such_parameter", "1"),
])
def test_bad_values_change_nothing_and_write_no_audit_row(name, value):
    before = table_state()
    with pytest.raises(ConfigError) as excinfo:
        config_set(name=name, value=value, reason="should not land")
    assert excinfo.value.code.startswith("RG-CFG-")
    assert table_state() == before


def test_setting_the_same_value_writes_no_audit_row():
    config_set(name="work_mem", value="4MB")
    assert ConfigAuditLog.objects.count() == 0
    config_set(name="work_mem", value=" 4MB ")  # canonicalised to the stored value
    assert ConfigAuditLog.objects.count() == 0


def test_plain_sql_update_is_audited_exactly_once():
    with connection.cursor() as cursor:
        cursor.execute("UPDATE system_config SET parameter_value = '300' WHERE parameter_name = 'inference_batch_size'")
        cursor.execute("SELECT current_user")
        role = cursor.fetchone()[0]
    entries = list(ConfigAuditLog.objects.values_list("parameter_name", "old_value", "new_value", "updated_by"))
    assert entries == [("inference_batch_size", "100", "300", f"db:{role}")]
    row = SystemConfig.objects.get(parameter_name="inference_batch_size")
    assert row.updated_by == f"db:{role}"
    assert config_get("inference_batch_size") == 300


def test_service_write_is_audited_exactly_once_too(superuser):
    config_set(name="work_mem", value="8MB", user=superuser)
    assert ConfigAuditLog.objects.filter(parameter_name="work_mem").count() == 1


def test_a_parameter_cannot_be_renamed_even_with_sql():
    with pytest.raises(DatabaseError, match="RG-CFG-008"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE system_config SET parameter_name = 'batch' WHERE parameter_name = 'inference_batch_size'"
        )
    assert SystemConfig.objects.filter(parameter_name="inference_batch_size").exists()


def test_reset_restores_the_default():
    config_set(name="parallel_workers", value="8")
    config_reset(name="parallel_workers")
    assert config_get("parallel_workers") == 4
    log = list(ConfigAuditLog.objects.order_by("log_id").values_list("old_value", "new_value", "reason"))
    assert log == [("4", "8", None), ("8", "4", "reset to default")]


def test_adding_a_parameter_by_migration_sql_is_audited_as_a_creation():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO system_config (parameter_name, parameter_value, parameter_type, description, default_value, "
            "min_value, max_value, category) VALUES ('demo_limit', '5', 'integer', 'A demo', '5', '1', '10', 'demo')"
        )
    entry = ConfigAuditLog.objects.get()
    assert (entry.parameter_name, entry.old_value, entry.new_value) == ("demo_limit", None, "5")
    assert config_get("demo_limit") == 5
    with pytest.raises(ConfigError, match="RG-CFG-003"):
        config_set(name="demo_limit", value="11")


def test_export_then_import_round_trips(tmp_path):
    config_set(name="work_mem", value="32MB")
    exported = config_export_data()
    config_set(name="work_mem", value="4MB")
    config_set(name="parallel_workers", value="2")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(exported))
    changed = config_import_file(path=str(path), reason="restore")
    assert sorted(changed) == ["parallel_workers", "work_mem"]
    assert config_get("work_mem") == "32MB" and config_get("parallel_workers") == 4


@pytest.mark.parametrize("mutate", [
    lambda d: d["parameters"].__setitem__(0, {**d["parameters"][0], "value": "not a number"}),
    lambda d: d["parameters"].append({"name": "no_such_parameter", "value": "1"}),
    lambda d: d["parameters"].append(dict(d["parameters"][0])),
    lambda d: d.__setitem__("format", "something-else"),
    lambda d: d["parameters"].__setitem__(1, {"name": d["parameters"][1]["name"], "value": None}),
    lambda d: d["parameters"].__setitem__(2, ["not", "an", "object"]),
])
def test_import_with_one_bad_entry_changes_nothing(mutate):
    data = config_export_data()
    for item in data["parameters"]:  # every other entry is a valid change
        if item["name"] == "parallel_workers":
            item["value"] = "9"
        if item["name"] == "inference_batch_size":
            item["value"] = "999"
    data["parameters"].sort(key=lambda item: item["name"] not in ("parallel_workers", "inference_batch_size"))
    mutate(data)
    before = table_state()
    with pytest.raises(ConfigError):
        config_import(data=data)
    assert table_state() == before


def test_import_file_that_is_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="RG-CFG-007: .*not valid JSON"):
        config_import_file(path=str(path))
    with pytest.raises(ConfigError, match="RG-CFG-007: cannot read"):
        config_import_file(path=str(tmp_path / "missing.json"))


def test_config_get_unknown_parameter():
    with pytest.raises(ConfigError, match="RG-CFG-001"):
        config_get("nope")


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_writers_leave_a_gapless_audit_chain():
    errors = []
    barrier = threading.Barrier(10)

    def writer(i):
        try:
            barrier.wait(timeout=30)
            config_set(name="inference_batch_size", value=str(200 + i * 10), actor=f"worker-{i}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    chain = list(ConfigAuditLog.objects.filter(parameter_name="inference_batch_size")
                 .order_by("log_id").values_list("old_value", "new_value", "updated_by"))
    assert len(chain) == 10
    assert chain[0][0] == "100"
    for (_, previous_new, _), (old, _, _) in zip(chain, chain[1:]):
        assert old == previous_new
    assert sorted(new for _, new, _ in chain) == sorted(str(200 + i * 10) for i in range(10))
    assert {who for _, _, who in chain} == {f"worker-{i}" for i in range(10)}
    assert SystemConfig.objects.get(parameter_name="inference_batch_size").parameter_value == chain[-1][1]


WATCHER = r"""
import sys, time
from config_admin.selectors import config_get
first = config_get("mv_refresh_interval_hours")
print(first, flush=True)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    value = config_get("mv_refresh_interval_hours")
    if value != first:
        print(value, flush=True)
        break
    time.sleep(0.05)
else:
    print("unchanged", flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_a_second_process_sees_a_change():
    import os

    from tests.scratch import BASE_DIR, database_url

    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict["NAME"])}
    watcher = subprocess.Popen([sys.executable, str(BASE_DIR / "manage.py"), "shell", "--no-imports", "-c", WATCHER],
                               env=env, cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline().strip() == "24"
        config_set(name="mv_refresh_interval_hours", value="6")
        assert watcher.stdout.readline().strip() == "6"
    finally:
        watcher.kill()
        watcher.communicate()
