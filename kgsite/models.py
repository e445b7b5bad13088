"""The user model, on the spec's ``users`` table: the email address is the login."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from kgsite.fields import Now, SerialField, UTCDateTimeField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        # Email addresses are unique without regard to case (index users_email_ci_key on lower(email)).
        return self.alias(email_ci=Lower("email")).get(email_ci=(username or "").lower())

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("Users must have an email address")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields.get("is_staff") is not True or extra_fields.get("is_superuser") is not True:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True")
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = SerialField(primary_key=True)
    email = models.EmailField("email address", max_length=255)
    # Django's hashed password ("pbkdf2_sha256$..."), in the spec's password_hash column.
    password = models.CharField("password", max_length=255, db_column="password_hash")
    first_name = models.CharField(max_length=100, null=True, blank=True)
    last_name = models.CharField(max_length=100, null=True, blank=True)
    created_at = UTCDateTimeField(default=timezone.now, db_default=Now(), null=True, editable=False)
    updated_at = UTCDateTimeField(auto_now=True, db_default=Now(), null=True, editable=False)
    is_active = models.BooleanField(
        default=True, db_default=True, null=True,
        help_text="Untick to stop this account logging in. Deactivate accounts instead of deleting them: what "
                  "the user made keeps its author.",
    )
    last_login = UTCDateTimeField("last login", null=True, blank=True)
    # Not in the spec: what Django's permission system needs (see docs/schema.md).
    is_staff = models.BooleanField(
        default=False, db_default=False, help_text="Designates whether the user can log into the admin site."
    )
    is_superuser = models.BooleanField(
        default=False, db_default=False,
        help_text="Designates that this user has all permissions without explicitly assigning them.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "users"
        verbose_name = "user"
        verbose_name_plural = "users"
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                fields=["email"], name="users_email_key",
                violation_error_message="A user with this email address already exists.",
            ),
            models.UniqueConstraint(
                Lower("email"), name="users_email_ci_key",
                violation_error_message="A user with this email address (in any letter case) already exists.",
            ),
        ]
        indexes = [
            models.Index(fields=["email"], name="idx_users_email"),
            models.Index(fields=["is_active"], name="idx_users_active"),
        ]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)

    def get_full_name(self):
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.email

    def get_short_name(self):
        return self.first_name or self.email
