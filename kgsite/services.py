"""Account services used by management commands (kept out of the commands so they stay thin)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction

from kgsite.errors import DomainError

# Codes (docs/errors.md).
INVALID_EMAIL = "RG-ACCOUNT-001"  # not an email address
PASSWORD_REFUSED = "RG-ACCOUNT-002"  # the password validators (AUTH_PASSWORD_VALIDATORS) refuse the password
EMAIL_TAKEN = "RG-ACCOUNT-003"  # the address belongs to an account that is not an active superuser

DEFAULT_ADMIN_EMAIL = "admin@example.com"
# Serialises concurrent calls (two quickstarts at once) so only one superuser is made.
_LOCK_NAME = "kgsite.services.admin_account_ensure"


class AccountError(DomainError):
    """An account cannot be created as asked (``INVALID_EMAIL``, ``PASSWORD_REFUSED``, ``EMAIL_TAKEN``)."""

    code = INVALID_EMAIL


def admin_account_ensure(*, email: str | None = None, password: str | None = None):
    """Make sure an active superuser exists; return ``(user, generated_password_or_None, created)``.

    * An active superuser already exists: it is returned unchanged (``(user, None, False)``), whatever
      ``email``/``password`` say.
    * Otherwise one is created with ``email`` (default ``admin@example.com``). Without ``password`` a random one
      (``secrets.token_urlsafe(12)``) is generated and returned so the caller can show it once; a given password
      is checked with the password validators and is not returned (``None``).

    Raises ``AccountError`` (nothing is written) with the code ``INVALID_EMAIL`` for an invalid email address,
    ``PASSWORD_REFUSED`` for a password the validators refuse, or ``EMAIL_TAKEN`` for an email address already
    used by an account that is not an active superuser (it is never promoted silently).
    """
    User = get_user_model()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_LOCK_NAME])
        existing = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if existing is not None:
            return existing, None, False

        email = User.objects.normalize_email((email or DEFAULT_ADMIN_EMAIL).strip())
        try:
            validate_email(email)
        except ValidationError as exc:
            raise AccountError(f"{email!r} is not a valid email address", code=INVALID_EMAIL, email=email) from exc
        max_length = User._meta.get_field(User.EMAIL_FIELD).max_length
        if len(email) > max_length:
            raise AccountError(f"the email address is longer than {max_length} characters", code=INVALID_EMAIL,
                               email=email)
        try:
            User.objects.get_by_natural_key(email)
        except User.DoesNotExist:
            pass
        else:
            raise AccountError(
                f"a user {email} already exists but is not an active superuser; make it one in the admin or "
                "choose another email address",
                code=EMAIL_TAKEN, email=email,
            )

        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        else:
            try:
                validate_password(password, user=User(email=email))
            except ValidationError as exc:
                raise AccountError("the admin password is not accepted: " + " ".join(exc.messages),
                                   code=PASSWORD_REFUSED) from exc
        user = User.objects.create_superuser(email=email, password=password)
    return user, (password if generated else None), True
