"""Shared fixtures. Tests run against real PostgreSQL: the embedded server, or DATABASE_URL when set."""


import pytest
from django.db import connection

from tests.factories import UserFactory
from tests.migrated_rows import migrated_rows_restore

# Fixtures of pytest-django that give a test the database (any of them in a test's closure means it has one).
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
                     "live_server"}


@pytest.fixture(autouse=True)
def migrated_data(request, settings):
    """Rows that migrations insert (the parameters, the configuration version), present in every test.

    A transactional test (``django_db(transaction=True)``) ends with a flush that empties every table, migrated
    data included; the next test would otherwise find no configuration.
    """
    settings.KGSITE_CONFIG_CHECK_SECONDS = 0  # config_get compares versions on every call: tests see changes at once
    if request.node.get_closest_marker("django_db") or DATABASE_FIXTURES & set(request.fixturenames):
        # pytest-django's public ``db`` fixture opens the database the way the test asked for: inside a rolled-back
        # transaction, or (``django_db(transaction=True)``, ``transactional_db``) with real commits and a flush.
        request.getfixturevalue("db")
        with connection.cursor() as cursor:
            migrated_rows_restore(cursor)
    from config_admin.selectors import config_cache_clear

    config_cache_clear()
    yield
    config_cache_clear()


@pytest.fixture
def user(db):
    return UserFactory(email="curator@example.com")


@pytest.fixture
def staff_user(db):
    return UserFactory(email="staff@example.com", staff=True)


@pytest.fixture
def superuser(db):
    return UserFactory(email="admin@example.com", superuser=True)


@pytest.fixture
def admin_client_for(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def workers(transactional_db, tmp_path):
    """Real ``manage.py`` processes (``tests/worker_processes.py``), killed when the test ends; what they printed
    is shown with a failure. Test modules that need more at teardown define their own."""
    from tests.worker_processes import Workers

    started = Workers(tmp_path)
    try:
        yield started
    finally:
        print(started.describe())  # shown with a failure
        started.stop_all()
