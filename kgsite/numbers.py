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
