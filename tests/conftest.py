"""Shared fixtures. Tests run against real PostgreSQL: the embedded server, or DATABASE_URL when set."""

import importlib

import pytest
from django.db import connection

CONFIG_DEFAULTS = importlib.import_module("config_admin.migrations.0002_default_parameters")


@pytest.fixture(autouse=True)
def migrated_data(request, settings):
    """Rows that migrations insert (the spec's 16 parameters, the configuration version), present in every test.

    A transactional test (``django_db(transaction=True)``) ends with a flush that empties every table, migrated
    data included; the next test would otherwise find no configuration.
    """
    settings.KGSITE_CONFIG_CHECK_SECONDS = 0  # config_get compares versions on every call: tests see changes at once
    if request.node.get_closest_marker("django_db") or "db" in request.fixturenames:
        request.getfixturevalue("_django_db_helper")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM system_config")
            if cursor.fetchone()[0] == 0:
                cursor.execute(CONFIG_DEFAULTS.DEFAULT_PARAMETERS_SQL)
                cursor.execute("DELETE FROM config_audit_log")
            cursor.execute("INSERT INTO config_version (id, version) VALUES (1, 1) ON CONFLICT (id) DO NOTHING")
    from config_admin.selectors import config_cache_clear

    config_cache_clear()
    yield
    config_cache_clear()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(email="curator@example.com", password="s3cret-pass-123")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        email="staff@example.com", password="s3cret-pass-123", is_staff=True
    )


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(email="admin@example.com", password="s3cret-pass-123")


@pytest.fixture
def admin_client_for(client, superuser):
    client.force_login(superuser)
    return client
