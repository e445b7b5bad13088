"""Rules enforced by the services, with Django permissions, whoever calls: admin, commands, later pages or APIs."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse

from config_admin.models import SPEC_DEFAULT_PARAMETERS, ConfigAuditLog, SystemConfig
from config_admin.services import (
    config_delete,
    config_deletion_refusal,
    config_export_data,
    config_import,
    config_reset,
    config_set,
    postgres_settings_apply,
)
from config_admin.values import FORBIDDEN_CHANGE, UNKNOWN_PARAMETER, ConfigError
from kgsite.errors import PERMISSION_REFUSED, PermissionRefused

pytestmark = pytest.mark.django_db

ADDED = ("demo_limit", "5")


@pytest.fixture
def added_parameter():
    """A parameter that is not one of the spec's (as another app's migration would add it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO system_config (parameter_name, parameter_value, parameter_type, description, default_value, "
            "min_value, max_value, category) VALUES (%s, %s, 'integer', 'A demo', '5', '1', '10', 'demo')", ADDED,
        )
    return SystemConfig.objects.get(parameter_name=ADDED[0])


def grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="config_admin",
                                                         codename__in=codenames))
    return type(user).objects.get(pk=user.pk)  # a fresh object: has_perm caches permissions


def values():
    return dict(SystemConfig.objects.values_list("parameter_name", "parameter_value"))


def test_spec_default_parameters_are_the_rows_the_spec_inserts():
    spec_sql = importlib.import_module("config_admin.migrations.0002_default_parameters").DEFAULT_PARAMETERS_SQL
    # Later migrations add parameters of their own (confidence, materialized views, ...); the spec's are all there.
    assert set(SystemConfig.objects.values_list("parameter_name", flat=True)) >= SPEC_DEFAULT_PARAMETERS
    assert all(f"'{name}'" in spec_sql for name in SPEC_DEFAULT_PARAMETERS)


@pytest.mark.parametrize("change", [
    lambda user: config_set(name="work_mem", value="8MB", user=user),
    lambda user: config_reset(name="work_mem", user=user),
    lambda user: config_import(data=config_export_data(), user=user),
])
def test_changing_needs_the_change_permission(staff_user, change):
    config_set(name="work_mem", value="16MB")
    before, log = values(), ConfigAuditLog.objects.count()
    with pytest.raises(PermissionRefused) as excinfo:
        change(grant(staff_user, "view_systemconfig"))
    assert excinfo.value.code == PERMISSION_REFUSED and "config_admin.change_systemconfig" in str(excinfo.value)
    assert values() == before and ConfigAuditLog.objects.count() == log
    change(grant(staff_user, "change_systemconfig"))  # with it, the same call goes through


def test_an_inactive_user_may_change_nothing(superuser):
    superuser.is_active = False
    with pytest.raises(PermissionRefused):
        config_set(name="work_mem", value="8MB", user=superuser)


def test_the_spec_defaults_are_never_deleted(superuser):
    for name in sorted(SPEC_DEFAULT_PARAMETERS):
        assert config_deletion_refusal(name)
        for user in (None, superuser):
            with pytest.raises(ConfigError) as excinfo:
                config_delete(name=name, user=user)
            assert excinfo.value.code == FORBIDDEN_CHANGE
    assert set(values()) >= SPEC_DEFAULT_PARAMETERS


def test_deleting_an_added_parameter_needs_the_delete_permission(staff_user, added_parameter):
    assert config_deletion_refusal(added_parameter.parameter_name) is None
    with pytest.raises(PermissionRefused, match="config_admin.delete_systemconfig"):
        config_delete(name=added_parameter.parameter_name, user=grant(staff_user, "change_systemconfig"))
    assert SystemConfig.objects.filter(pk=added_parameter.pk).exists()
    config_delete(name=added_parameter.parameter_name, user=grant(staff_user, "delete_systemconfig"))
    assert not SystemConfig.objects.filter(pk=added_parameter.pk).exists()
    with pytest.raises(ConfigError) as excinfo:
        config_delete(name=added_parameter.parameter_name)
    assert excinfo.value.code == UNKNOWN_PARAMETER


@pytest.mark.parametrize("name", ["nope", "work\x00mem", "x" * 500])
def test_names_that_cannot_exist_are_unknown_parameters(name):
    for call in (lambda: config_set(name=name, value="1"), lambda: config_reset(name=name),
                 lambda: config_delete(name=name)):
        with pytest.raises(ConfigError) as excinfo:
            call()
        assert excinfo.value.code == UNKNOWN_PARAMETER


def test_applying_to_postgresql_needs_its_permission(staff_user):
    with pytest.raises(PermissionRefused, match="config_admin.apply_postgres_settings"):
        postgres_settings_apply(user=grant(staff_user, "view_systemconfig", "change_systemconfig"))


@pytest.mark.parametrize("names", [["nope"], ["inference_batch_size"], ["work_mem", "work\x00mem"]])
def test_applying_unknown_or_non_postgres_parameters_is_refused_before_anything_runs(names, superuser):
    with pytest.raises(ConfigError) as excinfo:
        postgres_settings_apply(user=superuser, names=names)
    assert excinfo.value.code == UNKNOWN_PARAMETER


# --- The admin asks the same rules ------------------------------------------------------------------------------

OVERVIEW = "admin:config_admin_systemconfig_changelist"
APPLY = "admin:config_admin_systemconfig_apply_postgres"


def test_the_apply_button_follows_the_permission_not_superuser_status(client, staff_user):
    client.force_login(grant(staff_user, "view_systemconfig", "change_systemconfig"))
    response = client.get(reverse(OVERVIEW))
    assert not response.context["can_apply_postgres"]
    assert "Apply these values to PostgreSQL" not in response.content.decode()
    assert client.post(reverse(APPLY)).status_code == 403

    client.force_login(grant(staff_user, "apply_postgres_settings"))
    response = client.get(reverse(OVERVIEW))
    assert response.context["can_apply_postgres"]
    assert "Apply these values to PostgreSQL" in response.content.decode()
    # Allowed: the service runs and, inside the test's transaction, says ALTER SYSTEM cannot run here.
    response = client.post(reverse(APPLY), follow=True)
    assert response.status_code == 200
    assert "RG-CFG-009" in " ".join(str(m) for m in response.context["messages"])


def test_admin_deletes_an_added_parameter_through_the_service(client, staff_user, added_parameter):
    url = reverse("admin:config_admin_systemconfig_delete", args=[added_parameter.pk])
    client.force_login(grant(staff_user, "view_systemconfig", "change_systemconfig"))
    assert client.post(url, {"post": "yes"}).status_code == 403
    client.force_login(grant(staff_user, "delete_systemconfig"))
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not SystemConfig.objects.filter(pk=added_parameter.pk).exists()


def test_admin_refuses_to_delete_a_spec_default_even_to_a_superuser(admin_client_for):
    pk = SystemConfig.objects.get(parameter_name="work_mem").pk
    url = reverse("admin:config_admin_systemconfig_delete", args=[pk])
    assert admin_client_for.get(url).status_code == 403
    assert admin_client_for.post(url, {"post": "yes"}).status_code == 403
    response = admin_client_for.get(reverse("admin:config_admin_systemconfig_change", args=[pk]))
    assert reverse("admin:config_admin_systemconfig_delete", args=[pk]) not in response.content.decode()
    assert SystemConfig.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("object_id", ["999999", "abc", "0x1"])
def test_reset_and_history_of_a_missing_parameter_are_404(admin_client_for, object_id):
    assert admin_client_for.get(f"/admin/config_admin/systemconfig/{object_id}/history/").status_code == 404
    if object_id.isdigit():
        assert admin_client_for.post(
            reverse("admin:config_admin_systemconfig_reset", args=[int(object_id)])).status_code == 404
