"""The custom user model on the spec's users table: email login, hashed password in password_hash."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from tests.factories import USER_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_user_lives_in_the_spec_table_with_a_hashed_password():
    user = User.objects.create_user(email="ada@example.com", password="analytical-engine-1843")
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, password_hash, is_active, created_at FROM users WHERE id = %s", [user.pk])
        email, password_hash, is_active, created_at = cursor.fetchone()
    assert email == "ada@example.com"
    assert password_hash.startswith("pbkdf2_sha256$") and "analytical" not in password_hash
    assert is_active is True
    assert created_at.tzinfo is None  # timestamp without time zone, as the spec says
    assert abs(created_at.replace(tzinfo=datetime.UTC) - user.created_at) < datetime.timedelta(seconds=5)


def test_email_is_unique_without_regard_to_case():
    UserFactory(email="ada@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email="ADA@example.com", password="x-secret-2")


def test_login_is_case_insensitive(rf):
    UserFactory(email="ada@example.com")
    assert authenticate(rf.get("/"), username="Ada@Example.COM", password=USER_PASSWORD) is not None
    assert authenticate(rf.get("/"), username="ada@example.com", password="wrong") is None


def test_createsuperuser_with_email(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-strong-password-42")
    call_command("createsuperuser", "--noinput", "--email", "root@example.com", stdout=StringIO())
    user = User.objects.get(email="root@example.com")
    assert user.is_superuser and user.is_staff and user.check_password("a-strong-password-42")


def test_admin_add_user_refuses_an_email_differing_only_in_case(admin_client_for):
    UserFactory(email="ada@example.com")
    response = admin_client_for.post(reverse("admin:kgsite_user_add"), {
        "email": "Ada@Example.com", "password1": "a-strong-password-42", "password2": "a-strong-password-42",
        "usable_password": "true",
    })
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1


def test_admin_add_and_change_user(admin_client_for):
    response = admin_client_for.post(reverse("admin:kgsite_user_add"), {
        "email": "new@example.com", "first_name": "New", "last_name": "Person",
        "password1": "a-strong-password-42", "password2": "a-strong-password-42", "usable_password": "true",
    })
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert user.check_password("a-strong-password-42") and not user.is_staff
    change = admin_client_for.get(reverse("admin:kgsite_user_change", args=[user.pk]))
    assert change.status_code == 200


def test_inactive_users_cannot_log_in(client):
    gone = UserFactory(is_active=False)
    response = client.post("/accounts/login/", {"username": gone.email, "password": USER_PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
