"""The configuration admin: overview, edit, reset, history, audit log, PostgreSQL settings, permissions."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse
from psycopg import sql

from config_admin.models import SPEC_DEFAULT_PARAMETERS, ConfigAuditLog, SystemConfig
from config_admin.services import config_set

pytestmark = pytest.mark.django_db

OVERVIEW = "admin:config_admin_systemconfig_changelist"


def row(name):
    return SystemConfig.objects.get(parameter_name=name)


def test_overview_groups_parameters_by_category_with_marks(admin_client_for):
    config_set(name="work_mem", value="8MB")
    config_set(name="shared_buffers", value="512MB")
    response = admin_client_for.get(reverse(OVERVIEW))
    assert response.status_code == 200
    groups = {group.category: group for group in response.context["groups"]}
    # The spec's five categories, and those that later migrations add parameters to (confidence, ...).
    assert set(groups) >= {"vector_index", "performance", "inference", "processing", "materialized_views"}
    lines = {line.row.parameter_name: line for group in groups.values() for line in group.lines}
    assert set(lines) == set(SystemConfig.objects.values_list("parameter_name", flat=True))
    assert set(lines) >= set(SPEC_DEFAULT_PARAMETERS)
    assert lines["work_mem"].differs_from_default and not lines["work_mem"].restart_pending
    assert lines["shared_buffers"].restart_pending  # requires_restart, changed since PostgreSQL started
    assert not lines["inference_batch_size"].differs_from_default
    assert lines["work_mem"].running is not None and lines["inference_batch_size"].running is None
    assert lines["shared_buffers"].running.value.endswith(("MB", "GB", "kB"))
    html = response.content.decode()
    for text in ("restart required", "changed", "PostgreSQL runs with", "Memory used for query operations",
                 "1MB..1GB", "Apply these values to PostgreSQL"):
        assert text in html


def test_overview_filters_by_category(admin_client_for):
    response = admin_client_for.get(reverse(OVERVIEW), {"category": "inference"})
    assert [group.category for group in response.context["groups"]] == ["inference"]


def test_edit_validates_and_audits_with_reason(admin_client_for, superuser):
    url = reverse("admin:config_admin_systemconfig_change", args=[row("inference_batch_size").pk])
    assert admin_client_for.get(url).status_code == 200
    response = admin_client_for.post(url, {"parameter_value": "250", "reason": "bigger batches"})
    assert response.status_code == 302
    entry = ConfigAuditLog.objects.get()
    assert (entry.old_value, entry.new_value, entry.updated_by, entry.reason) == (
        "100", "250", superuser.email, "bigger batches")


@pytest.mark.parametrize(("name", "value", "code"), [
    ("inference_batch_size", "5000", "RG-CFG-003"), ("work_mem", "3GB", "RG-CFG-003"),
    ("random_page_cost", "NaN", "RG-CFG-006"), ("work_mem", "lots", "RG-CFG-005"),
    ("parallel_workers", "", "RG-CFG-004"),
])
def test_edit_with_a_bad_value_shows_the_error_and_changes_nothing(admin_client_for, name, value, code):
    before = row(name).parameter_value
    url = reverse("admin:config_admin_systemconfig_change", args=[row(name).pk])
    response = admin_client_for.post(url, {"parameter_value": value, "reason": "x"})
    assert response.status_code == 200
    assert code in response.content.decode() or (code == "RG-CFG-004" and "This field is required" in
                                                   response.content.decode())
    assert row(name).parameter_value == before
    assert not ConfigAuditLog.objects.exists()


def test_name_cannot_be_edited_and_parameters_are_not_added_here(admin_client_for):
    pk = row("work_mem").pk
    admin_client_for.post(reverse("admin:config_admin_systemconfig_change", args=[pk]),
                          {"parameter_value": "8MB", "parameter_name": "renamed"})
    assert row("work_mem").parameter_value == "8MB"
    assert not SystemConfig.objects.filter(parameter_name="renamed").exists()
    assert admin_client_for.get(reverse("admin:config_admin_systemconfig_add")).status_code == 403


def test_spec_defaults_cannot_be_deleted(admin_client_for):
    pk = row("work_mem").pk
    response = admin_client_for.post(reverse("admin:config_admin_systemconfig_delete", args=[pk]), {"post": "yes"})
    assert response.status_code == 403
    assert SystemConfig.objects.filter(pk=pk).exists()


def test_reset_asks_for_confirmation_then_resets(admin_client_for):
    config_set(name="work_mem", value="8MB")
    url = reverse("admin:config_admin_systemconfig_reset", args=[row("work_mem").pk])
    overview = admin_client_for.get(reverse("admin:config_admin_systemconfig_changelist")).content.decode()
    assert f'href="{url}"' in overview and f'action="{url}"' not in overview  # a link to a page, not a one-click form

    confirmation = admin_client_for.get(url)
    assert confirmation.status_code == 200
    assert "Reset <strong>work_mem</strong> from <code>8MB</code> to its default" in confirmation.content.decode()
    assert row("work_mem").parameter_value == "8MB"  # asking changed nothing

    response = admin_client_for.post(url, {"reason": "back to normal"}, follow=True)
    assert row("work_mem").parameter_value == "4MB"
    assert ConfigAuditLog.objects.filter(parameter_name="work_mem").latest("log_id").reason == "back to normal"
    message = [str(m) for m in response.context["messages"]]
    assert message == ["Reset work_mem to its default 4MB."]  # not "Work_mem was reset" (the admin capitalises)
    assert admin_client_for.put(url).status_code == 405


def test_change_page_names_the_type_as_the_overview_does(admin_client_for):
    html = admin_client_for.get(
        reverse("admin:config_admin_systemconfig_change", args=[row("work_mem").pk])).content.decode()
    shown = re.search(r'field-value_type.*?<div class="readonly">(.*?)</div>', html, re.S)
    assert shown and shown.group(1).startswith("memory — a size with a unit")


def test_not_applied_mark_is_explained(admin_client_for):
    html = admin_client_for.get(reverse("admin:config_admin_systemconfig_changelist")).content.decode()
    assert "not running" not in html
    assert "PostgreSQL has not been told yet" in html


def test_history_page_lists_the_audit_entries(admin_client_for):
    config_set(name="work_mem", value="8MB", reason="first")
    config_set(name="work_mem", value="16MB", reason="second")
    config_set(name="parallel_workers", value="2")
    response = admin_client_for.get(reverse("admin:config_admin_systemconfig_history", args=[row("work_mem").pk]))
    assert response.status_code == 200
    entries = list(response.context["page"].object_list)
    assert [(e.old_value, e.new_value, e.reason) for e in entries] == [("8MB", "16MB", "second"),
                                                                    ("4MB", "8MB", "first")]


def test_audit_log_is_read_only_and_filterable(admin_client_for):
    config_set(name="work_mem", value="8MB", actor="alice@example.com")
    config_set(name="parallel_workers", value="2", actor="bob@example.com")
    url = reverse("admin:config_admin_configauditlog_changelist")
    assert len(admin_client_for.get(url).context["cl"].result_list) == 2
    assert [e.parameter_name for e in admin_client_for.get(url, {"parameter_name": "work_mem"}).context[
        "cl"].result_list] == ["work_mem"]
    assert [e.updated_by for e in admin_client_for.get(url, {"updated_by": "bob@example.com"}).context[
        "cl"].result_list] == ["bob@example.com"]
    entry = ConfigAuditLog.objects.first()
    today = entry.updated_at.date()
    by_date = admin_client_for.get(url, {"updated_at__year": today.year, "updated_at__month": today.month,
                                         "updated_at__day": today.day})
    assert len(by_date.context["cl"].result_list) == 2
    assert admin_client_for.get(reverse("admin:config_admin_configauditlog_add")).status_code == 403
    change = reverse("admin:config_admin_configauditlog_change", args=[entry.pk])
    admin_client_for.post(change, {"new_value": "tampered"})
    entry.refresh_from_db()
    assert entry.new_value != "tampered"


def test_pages_are_refused_to_anonymous_and_non_staff(client, user):
    urls = [reverse(OVERVIEW), reverse("admin:config_admin_configauditlog_changelist"),
            reverse("admin:config_admin_systemconfig_history", args=[row("work_mem").pk]),
            reverse("admin:config_admin_systemconfig_change", args=[row("work_mem").pk])]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(user)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]
    response = client.post(reverse("admin:config_admin_systemconfig_reset", args=[row("work_mem").pk]))
    assert response.status_code == 302 and row("work_mem").parameter_value == "4MB"


def test_staff_needs_the_permission_to_change(client, staff_user):
    client.force_login(staff_user)
    assert client.get(reverse(OVERVIEW)).status_code == 403
    staff_user.user_permissions.add(Permission.objects.get(codename="view_systemconfig"))
    response = client.get(reverse(OVERVIEW))
    assert response.status_code == 200 and not response.context["can_change"]
    reset_url = reverse("admin:config_admin_systemconfig_reset", args=[row("work_mem").pk])
    for reset in (client.get(reset_url), client.post(reset_url)):
        assert reset.status_code == 403
        assert "This page needs the permission config_admin.change_systemconfig" in reset.content.decode()
    apply = client.post(reverse("admin:config_admin_systemconfig_apply_postgres"))
    assert apply.status_code == 403


def auto_conf_settings(names):
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%%postgresql.auto.conf' "
                       "AND name = ANY(%s)", [names])
        return dict(cursor.fetchall())


def restore_auto_conf(names, saved):
    """Put postgresql.auto.conf back as it was for ``names`` (the test server is shared)."""
    with connection.cursor() as cursor:
        for name in names:
            if name in saved:
                statement = sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(saved[name]))
            else:
                statement = sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name))
            cursor.execute(statement.as_string(cursor.connection))
        cursor.execute("SELECT pg_reload_conf()")


PERFORMANCE = ["effective_cache_size", "maintenance_work_mem", "random_page_cost", "shared_buffers", "work_mem"]


@pytest.mark.django_db(transaction=True)
def test_superuser_applies_performance_settings_to_postgresql(client, superuser):
    client.force_login(superuser)
    saved = auto_conf_settings(PERFORMANCE)
    try:
        config_set(name="work_mem", value="24MB")
        config_set(name="shared_buffers", value="512MB")
        response = client.post(reverse("admin:config_admin_systemconfig_apply_postgres"), follow=True)
        text = " ".join(str(m) for m in response.context["messages"])
        assert "work_mem = 24MB" in text
        assert "must be restarted" in text and "shared_buffers = 512MB" in text
        lines = {line.row.parameter_name: line for group in response.context["groups"] for line in group.lines}
        assert lines["shared_buffers"].running.pending_restart
    finally:
        restore_auto_conf(PERFORMANCE, saved)


@pytest.mark.django_db(transaction=True)
def test_apply_without_the_privilege_says_so(client, superuser):
    client.force_login(superuser)
    with connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS kgsite_limited")
        cursor.execute("CREATE ROLE kgsite_limited NOLOGIN")
        cursor.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO kgsite_limited")
    try:
        from config_admin.services import postgres_settings_apply
        from config_admin.values import ConfigError

        with connection.cursor() as cursor:
            cursor.execute("SET ROLE kgsite_limited")
        try:
            with pytest.raises(ConfigError) as excinfo:
                postgres_settings_apply()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")
        assert excinfo.value.code == "RG-CFG-009"
        assert "kgsite_limited" in str(excinfo.value) and "ALTER SYSTEM" in str(excinfo.value)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP OWNED BY kgsite_limited")
            cursor.execute("DROP ROLE kgsite_limited")
