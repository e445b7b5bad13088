"""The web edge of the error family: a ``DomainError`` that reaches a view's caller becomes a page, not a 500.

Views that can show an error next to a form field do so themselves; anything they let through lands here:
``PermissionRefused`` is a 403, ``NotFound`` a 404, every other ``DomainError`` a 400 page naming the code and
the problem. Other exceptions are bugs and go on to Django's 500 handling (and the logs).
"""

from __future__ import annotations

from django.template.response import TemplateResponse

from kgsite.errors import DomainError


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError):
            return None
        response = TemplateResponse(request, "domain_error.html", {"error": exception},
                                    status=exception.http_status)
        return response.render()


class PermissionsPolicyMiddleware:
    """``Permissions-Policy``: the browser features no page uses are off (``KGSITE_PERMISSIONS_POLICY``)."""

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.policy = settings.KGSITE_PERMISSIONS_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", self.policy)
        return response
