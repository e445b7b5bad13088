"""The site's login form: an email address (any letter case) and a password, with words that agree."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class EmailAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        # Django's text says "both fields may be case-sensitive"; here only the password is.
        "invalid_login": "That email address and password do not match an active account. Check the password: "
                         "its letter case matters (the email address's does not).",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Email address"
        self.fields["username"].widget = forms.EmailInput(
            attrs={"autofocus": True, "autocomplete": "email", "autocapitalize": "none"})
