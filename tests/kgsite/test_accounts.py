"""``admin_account_ensure``: refusals are ``AccountError``s with their code, and write nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from kgsite.errors import DomainError
from kgsite.services import EMAIL_TAKEN, INVALID_EMAIL, PASSWORD_REFUSED, AccountError, admin_account_ensure

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.mark.parametrize(("email", "password", "code"), [
    ("not-an-email", None, INVALID_EMAIL),
    ("a@" + "b" * 250 + ".org", None, INVALID_EMAIL),  # valid for validate_email, longer than the column
    ("owner@example.org", "123", PASSWORD_REFUSED),
    ("owner@example.org", "password", PASSWORD_REFUSED),
])
def test_refusals_carry_a_code_and_write_nothing(email, password, code):
    with pytest.raises(AccountError) as excinfo:
        admin_account_ensure(email=email, password=password)
    assert isinstance(excinfo.value, DomainError)
    assert excinfo.value.code == code and str(excinfo.value).startswith(f"{code}: ")
    assert not User.objects.exists()


def test_an_ordinary_account_is_never_promoted(user):
    with pytest.raises(AccountError) as excinfo:
        admin_account_ensure(email=user.email.upper())
    assert excinfo.value.code == EMAIL_TAKEN
    user.refresh_from_db()
    assert not user.is_superuser and User.objects.count() == 1
