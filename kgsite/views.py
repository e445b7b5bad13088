"""The project's error pages that need more than a template (``handler403`` in kgsite/urls.py)."""

from __future__ import annotations

import sys

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

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


def missing_permission(permission: str, what: str) -> PermissionDenied:
    """The refusal of a page that checks ``permission`` (``"app_label.codename"``) itself, naming it and ``what`` it
    is about, as the 403 page names those of the admin's own views: ``raise missing_permission(...)``."""
    return PermissionDenied(f"This page needs the permission {permission} ({what}).")


def permission_denied(request, exception=None):
    """403: the refusal's own message (services name the permission: kgsite.errors.require_permission), else the
    permission the admin view needs."""
    message = str(exception) if exception is not None and str(exception) else permission_needed(request)
    return render(request, "403.html", {"exception": message}, status=403)


RETRY_AFTER_SECONDS = 5


def server_error(request):
    """500, except when the database is unreachable: a 503 saying so, with ``Retry-After``. The next request
    connects afresh (a broken connection is closed when the request ends), and with the embedded server that new
    connection starts PostgreSQL again (kgsite/backends/embedded): the site answers again within seconds."""
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)) or (
            isinstance(error, DatabaseError) and "connection" in str(error).lower()):
        page = loader.get_template("503.html").render({"retry_after": RETRY_AFTER_SECONDS})
        return HttpResponse(page, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return HttpResponseServerError(loader.get_template("500.html").render())
