"""Errors raised by the domain, each with a stable ``RG-...`` code (the spec's "structured error framework").

Codes are part of the interface: commands print them, forms show them, tests assert them. Never reuse a code
for another meaning. Registry of codes: docs/errors.md.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the user can act on. ``str(error)`` is ``"<code>: <message>"``; ``context`` has the details."""

    code = "RG-000"

    def __init__(self, message: str, *, code: str | None = None, **context):
        self.code = code or self.code
        self.message = message
        self.context = context
        super().__init__(f"{self.code}: {message}")
