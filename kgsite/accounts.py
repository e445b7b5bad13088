"""Logging in: throttling with django-axes (docs/roles.md, "Logging in").

``locked_out`` is the page a locked-out login gets (429, saying for how long), ``login_username`` the account a
login names (email addresses are compared case-insensitively, as the login does), ``client_ip`` the address
failures are counted for.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.shortcuts import render


def client_ip(request) -> str:
    """``REMOTE_ADDR``; behind ``KGSITE_TRUSTED_PROXIES`` reverse proxies, the address the outermost trusted one
    saw (the entry that many places from the end of ``X-Forwarded-For``). A forwarded header is never trusted
    otherwise: any client could claim any address."""
    address = request.META.get("REMOTE_ADDR", "") or ""
    trusted = getattr(settings, "KGSITE_TRUSTED_PROXIES", 0)
    if trusted:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= trusted:
            candidate = hops[-trusted]
            try:
                address = str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return address[:45]


def login_username(request, credentials) -> str | None:
    """The email address the login names, lower-cased and bounded (the account failures count for)."""
    if credentials and credentials.get("username"):
        return str(credentials["username"]).strip().lower()[:254]
    if request is not None and request.method == "POST":
        value = request.POST.get("username", "")
        return value.strip().lower()[:254] or None
    return None


def locked_out(request, credentials=None, *args, **kwargs):
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    return render(request, "registration/locked_out.html",
                  {"minutes": minutes, "limit": settings.AXES_FAILURE_LIMIT}, status=429)
