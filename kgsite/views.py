"""The project's error pages that need more than a template (``handler403`` in kgsite/urls.py)."""

from __future__ import annotations

from django.apps import apps
from django.shortcuts import render

# What each of the admin's own views needs (Django checks these and raises PermissionDenied without saying which).
_ADMIN_VIEWS = {"changelist": ("view", "change"), "change": ("view", "change"), "history": ("view", "change"),
                "add": ("add",), "delete": ("delete",)}


def permission_needed(request) -> str:
    """Which permission the refused page needs, in words: read from the admin URL it was refused at."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.app_name == "admin" and match.url_name:
        app_and_model, _, view = match.url_name.rpartition("_")
        app_label, _, model_name = app_and_model.rpartition("_")
        actions = _ADMIN_VIEWS.get(view)
        if actions and app_label and model_name:
            try:
                model = apps.get_model(app_label, model_name)
            except LookupError:
                model = None
            if model is not None:
                names = " or ".join(f"{app_label}.{action}_{model_name}" for action in actions)
                return f"This page needs the permission {names} ({model._meta.verbose_name_plural})."
    return "This page needs a permission your account does not have."


def permission_denied(request, exception=None):
    """403: the refusal's own message (services name the permission: kgsite.errors.require_permission), else the
    permission the admin view needs."""
    message = str(exception) if exception is not None and str(exception) else permission_needed(request)
    return render(request, "403.html", {"exception": message}, status=403)
