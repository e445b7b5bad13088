"""Request ids and request timing: the first middleware after ``SecurityMiddleware``.

Each request gets an id: the incoming ``X-Request-ID`` when it is safe (1 to 64 characters of ``[A-Za-z0-9-]``, as
a proxy or load balancer sends: a UUID, a hex string), else a new one (32 hex characters). The id is

* on ``request.request_id``,
* in ``kgsite.logs.request_id_var`` from the start of the request until its response is closed, so every log line
  written for it carries it (Django's own ``django.request`` lines included),
* on the response as ``X-Request-ID`` (and so in gunicorn's access log line, kgsite/gunicorn_conf.py).

Anything else in the header (longer, other characters: a log-injection attempt) is ignored, never echoed.

The same middleware observes the request's duration for ``/metrics`` (``kgsite.metrics``), labelled by the view
name of the URL pattern that matched, ``static`` for WhiteNoise's files, ``unresolved`` when none did.
"""

from __future__ import annotations

import re
import time
import uuid

from django.conf import settings
from django.core.signals import request_finished

from kgsite.logs import NO_REQUEST, request_id_var
from kgsite.metrics import request_observe

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def request_id_from(value: str | None) -> str:
    """The incoming id when it is safe, else a new one."""
    if value and SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def view_label(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or "unnamed"
    static = "/" + settings.STATIC_URL.lstrip("/")
    return "static" if request.path.startswith(static) else "unresolved"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.META.get(META_KEY))
        request.request_id = request_id
        # Kept until the response is closed (request_finished), not only until it leaves this middleware: Django
        # logs a 4xx/5xx answer ("django.request") after the middleware chain returned.
        request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except BaseException:
            request_id_var.set(NO_REQUEST)
            raise
        response[HEADER] = request_id
        request_observe(view=view_label(request), method=request.method, status=response.status_code,
                        seconds=time.perf_counter() - started)
        return response


def _request_finished(**kwargs):
    request_id_var.set(NO_REQUEST)


request_finished.connect(_request_finished, dispatch_uid="kgsite.request_id")
