"""Whole numbers from untrusted text (query parameters, form fields, command arguments)."""

from __future__ import annotations


def whole_number(value, low: int, high: int) -> int | None:
    """``value`` as an int from ``low`` to ``high``, or ``None`` when it is not one: ASCII digits only ("²" and
    "١" pass ``str.isdigit`` but not ``int``), and never more digits than ``high`` has, so that text of thousands
    of digits is refused before ``int`` would refuse it with a ValueError."""
    text = str(value if value is not None else "").strip()
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(high)):
        return None
    number = int(digits)
    return number if low <= number <= high else None


def page_number(value, *, high: int, code: str, name: str = "page", error=None) -> int:
    """A page number from a query parameter: 1 when absent, else ``whole_number(value, 1, high)``; ``error`` (a
    DomainError class, DomainError itself by default) with ``code``, naming the parameter, when it is not one."""
    from kgsite.errors import DomainError

    error = error or DomainError
    if value in (None, ""):
        return 1
    page = whole_number(value, 1, high)
    if page is None:
        raise error(f"{name} must be a whole number from 1 to {high}", code=code, field=name)
    return page
