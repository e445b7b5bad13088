"""Shared fixtures. Tests run against real PostgreSQL: the embedded server, or DATABASE_URL when set."""

import pytest


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
