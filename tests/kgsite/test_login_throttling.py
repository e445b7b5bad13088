"""Login throttling (django-axes), the idle timeout and the password change (docs/roles.md, "Logging in")."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config_admin.services import config_set
from kgsite.models import User
from tests.factories import USER_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def attempt(client: Client, email: str, password: str, address: str = "10.0.0.1", **headers):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=address, **headers)


def fail(client: Client, email: str, times: int, address: str = "10.0.0.1", **headers) -> None:
    for _ in range(times):
        response = attempt(client, email, "wrong-password", address, **headers)
        assert response.status_code in (200, 429)


@pytest.fixture
def curator(db):
    return UserFactory(email="curator@example.com", staff=True)


def test_repeated_failures_lock_the_account_for_the_cool_off_only(client, curator):
    fail(client, "curator@example.com", settings.AXES_FAILURE_LIMIT)
    response = attempt(client, "curator@example.com", USER_PASSWORD)  # the right password, too late
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content and b"15 minutes" in response.content
    assert "_auth_user_id" not in client.session

    # The cool-off passes (the recorded failures age): the right password works again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = attempt(client, "curator@example.com", USER_PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(curator.pk)


def test_a_locked_out_login_computes_no_password_hash(client, curator):
    fail(client, "curator@example.com", settings.AXES_FAILURE_LIMIT)
    with mock.patch.object(User, "check_password", side_effect=AssertionError("hashed")) as check:
        for _ in range(20):
            assert attempt(client, "curator@example.com", USER_PASSWORD).status_code == 429
    assert check.call_count == 0


def test_failures_count_per_account_across_addresses(client, curator):
    for number in range(settings.AXES_FAILURE_LIMIT):
        fail(client, "Curator@Example.com", 1, address=f"10.1.0.{number + 1}")  # any letter case: one account
    assert attempt(client, "curator@example.com", USER_PASSWORD, address="10.9.9.9").status_code == 429
    other = UserFactory(email="other@example.com")
    assert attempt(client, other.email, USER_PASSWORD, address="10.9.9.9").status_code == 302  # others log in


def test_failures_count_per_address_across_accounts(client, curator):
    for number in range(settings.AXES_FAILURE_LIMIT):
        fail(client, f"nobody{number}@example.com", 1, address="10.2.0.1")
    assert attempt(client, "curator@example.com", USER_PASSWORD, address="10.2.0.1").status_code == 429
    assert attempt(client, "curator@example.com", USER_PASSWORD, address="10.2.0.2").status_code == 302


def test_a_forged_forwarded_for_header_does_not_escape_the_address_count(client, curator):
    for number in range(settings.AXES_FAILURE_LIMIT):
        fail(client, f"guess{number}@example.com", 1, address="10.3.0.1",
             HTTP_X_FORWARDED_FOR=f"192.0.2.{number + 1}")
    assert attempt(client, "curator@example.com", USER_PASSWORD, address="10.3.0.1",
                   HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, curator, settings):
    settings.KGSITE_TRUSTED_PROXIES = 1
    fail(client, "guess@example.com", settings.AXES_FAILURE_LIMIT, address="10.4.0.1",
         HTTP_X_FORWARDED_FOR="192.0.2.50")
    # The same proxy, another client behind it: not locked.
    assert attempt(client, "curator@example.com", USER_PASSWORD, address="10.4.0.1",
                   HTTP_X_FORWARDED_FOR="192.0.2.51").status_code == 302


def test_a_success_resets_the_count(client, curator):
    fail(client, "curator@example.com", settings.AXES_FAILURE_LIMIT - 1)
    assert attempt(client, "curator@example.com", USER_PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    fail(client, "curator@example.com", settings.AXES_FAILURE_LIMIT - 1)
    assert attempt(client, "curator@example.com", USER_PASSWORD).status_code == 302


def test_the_admin_login_is_the_same_throttled_login(client, curator):
    response = client.get("/admin/login/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_an_idle_session_expires_after_the_configured_minutes(client, curator):
    config_set(name="session_idle_minutes", value="30", reason="test")
    client.force_login(curator)
    assert client.get("/").status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    left = session.expire_date - timezone.now()
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)

    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_changing_the_password_needs_the_old_one(client, curator):
    client.force_login(curator)
    response = client.post("/accounts/password_change/", {
        "old_password": "not-the-old-one", "new_password1": "a-new-long-passphrase-42",
        "new_password2": "a-new-long-passphrase-42"})
    assert response.status_code == 200 and b"Your old password was entered incorrectly" in response.content
    curator.refresh_from_db()
    assert curator.check_password(USER_PASSWORD)
    response = client.post("/accounts/password_change/", {
        "old_password": USER_PASSWORD, "new_password1": "a-new-long-passphrase-42",
        "new_password2": "a-new-long-passphrase-42"})
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    curator.refresh_from_db()
    assert curator.check_password("a-new-long-passphrase-42")
