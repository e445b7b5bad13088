"""Errors raised by the domain, each with a stable ``RG-...`` code (the spec's "structured error framework").

Codes are part of the interface: commands print them, forms show them, tests assert them. Never reuse a code
for another meaning. Each area defines its codes as module constants next to its ``DomainError`` subclass
(``config_admin/values.py``, ``graph/errors.py``, here for the project layer) and raises with the constant, never
a string literal. Registry of codes: docs/errors.md (a test checks that every constant is listed there).

Edges translate a ``DomainError``: a command prints ``RG-...: message`` and exits 1 (``kgsite.management.base``),
a form shows it as a field or form error, a page answers 400 (or 403 for ``PermissionRefused``). Every other
exception is a bug and surfaces as one.
"""

from __future__ import annotations

# --- Codes of the project layer --------------------------------------------------------------------------------
BAD_ARGUMENTS = "RG-CMD-001"  # a command's arguments do not parse (argparse)
BAD_OPTION_VALUE = "RG-CMD-002"  # an argument parses but its value is not acceptable
PERMISSION_REFUSED = "RG-AUTH-001"  # the acting user lacks the permission a service requires
SETTINGS_REFUSED = "RG-SET-001"  # the settings cannot be used (production without DATABASE_URL, a weak SECRET_KEY...)


class DomainError(Exception):
    """A refusal the user can act on. ``str(error)`` is ``"<code>: <message>"``; ``context`` has the details."""

    code = "RG-000"
    # The status of the page that shows it when a view lets it through (kgsite.middleware.DomainErrorMiddleware).
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, **context):
        self.code = code or self.code
        self.message = message
        self.context = context
        super().__init__(f"{self.code}: {message}")


class InvalidArgument(DomainError):
    """A command-line argument or option value that cannot be used."""

    code = BAD_OPTION_VALUE


class PermissionRefused(DomainError):
    """The acting user may not do this (a service checked a Django permission)."""

    code = PERMISSION_REFUSED
    http_status = 403


class NotFound(DomainError):
    """What a request names (a node, a path) does not exist: a 404 page that says so, with the code."""

    http_status = 404


def require_permission(user, permission: str, action: str) -> None:
    """Raise ``PermissionRefused`` unless ``user`` is None (a trusted system caller: commands, workers) or has
    ``permission`` (``"app_label.codename"``). ``action`` completes "you may not ...".
    """
    if user is None:
        return
    if not (getattr(user, "is_active", False) and user.has_perm(permission)):
        raise PermissionRefused(f"you may not {action} (requires the permission {permission})",
                                permission=permission)
