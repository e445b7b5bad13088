"""Parsing and checking configuration values: typed, with units, range-checked.

A value is parsed by the parameter's ``parameter_type`` (integer, float, boolean, text). A text parameter whose
``default_value`` is a memory size (``256MB``) is a *memory* parameter: its values need a PostgreSQL unit (B, kB,
MB, GB, TB — case as PostgreSQL writes them) and are compared by size, so ``256MB`` is within ``64MB``..``2GB``.
Every refusal is a ``ConfigError`` naming the parameter, the value, the allowed range and a stable code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from config_admin.choices import ParameterType
from kgsite.errors import DomainError

# Stable error codes (docs/configuration.md, docs/errors.md).
UNKNOWN_PARAMETER = "RG-CFG-001"
WRONG_TYPE = "RG-CFG-002"
OUT_OF_RANGE = "RG-CFG-003"
EMPTY_VALUE = "RG-CFG-004"
BAD_UNIT = "RG-CFG-005"
NOT_FINITE = "RG-CFG-006"
BAD_IMPORT_FILE = "RG-CFG-007"
FORBIDDEN_CHANGE = "RG-CFG-008"  # never allowed: renaming a parameter, deleting one of the spec's defaults
POSTGRES_APPLY_REFUSED = "RG-CFG-009"
BAD_REASON = "RG-CFG-010"  # a reason (audit log) over MAX_REASON_LENGTH characters or with a NUL character


class ConfigError(DomainError):
    """A configuration refusal; every raise site passes one of the codes above (``code=...``)."""


MEMORY_UNITS = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
# re.ASCII: \d would also match other scripts' digits (٣), which int() accepts but PostgreSQL does not.
_MEMORY_RE = re.compile(r"^(?P<number>\d{1,15})\s*(?P<unit>B|kB|MB|GB|TB)$", re.ASCII)
_INTEGER_RE = re.compile(r"^[+-]?\d{1,18}$", re.ASCII)
_FLOAT_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?$", re.ASCII)
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "on", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "off", "0"})
MAX_TEXT_LENGTH = 10_000
MAX_REASON_LENGTH = 2_000
MAX_IMPORT_FILE_BYTES = 1_000_000  # a configuration file is a few kB; larger input is refused unread


@dataclass(frozen=True)
class ParameterRule:
    """What a parameter accepts: from its system_config row (type, min, max, default)."""

    name: str
    parameter_type: str
    min_value: str | None
    max_value: str | None
    default_value: str

    @classmethod
    def of(cls, row) -> ParameterRule:
        return cls(row.parameter_name, row.parameter_type, row.min_value, row.max_value, row.default_value)

    @property
    def is_memory(self) -> bool:
        return self.parameter_type == ParameterType.TEXT and memory_bytes_or_none(self.default_value) is not None

    @property
    def kind(self) -> str:
        return "memory" if self.is_memory else self.parameter_type

    def range_text(self) -> str:
        if self.min_value is None and self.max_value is None:
            return "any"
        low = self.min_value if self.min_value is not None else "−∞"
        high = self.max_value if self.max_value is not None else "∞"
        return f"{low}..{high}"


def memory_bytes_or_none(text: str | None) -> int | None:
    match = _MEMORY_RE.match((text or "").strip())
    return int(match["number"]) * MEMORY_UNITS[match["unit"]] if match else None


def _refuse(rule: ParameterRule, value: str, code: str, why: str) -> ConfigError:
    return ConfigError(
        f"{rule.name} = {value!r} is refused: {why} (type {rule.kind}, allowed range {rule.range_text()})",
        code=code, parameter=rule.name, value=value, allowed=rule.range_text(),
    )


def parse_value(rule: ParameterRule, raw) -> tuple[str, object]:
    """``(canonical text to store, typed value)`` for ``raw``, or ``ConfigError``."""
    text = "" if raw is None else str(raw)
    value = text.strip()
    if not value:
        raise _refuse(rule, text, EMPTY_VALUE, "a value is required")
    kind = rule.kind
    if kind == ParameterType.INTEGER:
        if not _INTEGER_RE.match(value):
            raise _refuse(rule, text, WRONG_TYPE, "not a whole number")
        typed = int(value)
        _check_range(rule, text, typed, int)
        return str(typed), typed
    if kind == ParameterType.FLOAT:
        lowered = value.lower()
        if any(word in lowered for word in ("nan", "inf")):
            raise _refuse(rule, text, NOT_FINITE, "not a finite number")
        if not _FLOAT_RE.match(value):
            raise _refuse(rule, text, WRONG_TYPE, "not a number")
        typed = float(value)
        if not math.isfinite(typed):
            raise _refuse(rule, text, NOT_FINITE, "not a finite number (too large)")
        _check_range(rule, text, typed, float)
        return repr(typed), typed
    if kind == ParameterType.BOOLEAN:
        lowered = value.lower()
        if lowered in TRUE_WORDS:
            return "true", True
        if lowered in FALSE_WORDS:
            return "false", False
        raise _refuse(rule, text, WRONG_TYPE, "not a boolean (true/false, yes/no, on/off, 1/0)")
    if kind == "memory":
        size = memory_bytes_or_none(value)
        if size is None:
            raise _refuse(rule, text, BAD_UNIT, "not a memory size with a unit (B, kB, MB, GB or TB, e.g. 256MB)")
        _check_range(rule, text, size, memory_bytes_or_none)
        canonical = _MEMORY_RE.match(value)
        return f"{canonical['number']}{canonical['unit']}", value
    if len(value) > MAX_TEXT_LENGTH:
        raise _refuse(rule, text, WRONG_TYPE, f"longer than {MAX_TEXT_LENGTH} characters")
    if "\x00" in value:
        raise _refuse(rule, text, WRONG_TYPE, "contains a NUL character")
    return value, value


def reason_checked(reason) -> str:
    """A change's reason as the audit log keeps it (stripped), or ``ConfigError`` (``BAD_REASON``)."""
    text = "" if reason is None else str(reason)
    if "\x00" in text:
        raise ConfigError("the reason contains a NUL character, which the audit log cannot hold", code=BAD_REASON)
    if len(text) > MAX_REASON_LENGTH:
        raise ConfigError(f"the reason has {len(text):,} characters (at most {MAX_REASON_LENGTH:,})",
                          code=BAD_REASON)
    return text.strip()


def _check_range(rule: ParameterRule, text: str, typed, convert) -> None:
    low = convert(rule.min_value) if rule.min_value is not None else None
    high = convert(rule.max_value) if rule.max_value is not None else None
    if (low is not None and typed < low) or (high is not None and typed > high):
        raise _refuse(rule, text, OUT_OF_RANGE, "out of range")


def typed_value(rule: ParameterRule, stored: str):
    """The Python value of a stored (canonical) text: int, float, bool or str."""
    kind = rule.kind
    if kind == ParameterType.INTEGER:
        return int(stored)
    if kind == ParameterType.FLOAT:
        return float(stored)
    if kind == ParameterType.BOOLEAN:
        return stored.strip().lower() in TRUE_WORDS
    return stored
