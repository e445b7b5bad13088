"""The site's login form (an email address in any letter case, and a password), and the readers of untrusted
input every form uses: JSON, ltree paths, text bound for a btree index (``RG-INPUT-...`` codes)."""

from __future__ import annotations

import json
import math
import re

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from kgsite.errors import DomainError


class EmailAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        # Django's text says "both fields may be case-sensitive"; here only the password is.
        "invalid_login": "That email address and password do not match an active account. Check the password: "
                         "its letter case matters (the email address's does not).",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Email address"
        self.fields["username"].widget = forms.EmailInput(
            attrs={"autofocus": True, "autocomplete": "email", "autocapitalize": "none"})


# --- Untrusted input: JSON, ltree paths, text for btree-indexed columns (docs/errors.md, RG-INPUT-...) ----------
#
# Whatever a browser or a file sends is refused here with a code and a sentence, before Python (RecursionError,
# int's 4,300-digit limit) or PostgreSQL (jsonb refuses \u0000 and lone surrogates, ltree labels over 1,000
# characters, btree index rows over 2,704 bytes) would refuse it with a traceback.

UNSAFE_JSON = "RG-INPUT-001"  # JSON that cannot be stored: too deep, too large, NUL, NaN/Infinity, lone surrogate
BAD_LIST_PARAMETER = "RG-INPUT-002"  # a change list's filter, search or page parameter cannot be used
BAD_LTREE_PATH = "RG-INPUT-003"  # not an ltree path PostgreSQL can store and index
TEXT_TOO_LONG = "RG-INPUT-004"  # text too long for the column's index (or the form's cap)

JSON_MAX_DEPTH = 100
JSON_MAX_CHARS = 1_000_000
JSON_MAX_NUMBER_CHARS = 1_000
LTREE_LABEL_MAX = 1_000  # PostgreSQL's limit per label
LTREE_INDEX_BYTES_MAX = 2_600  # the unique btree on nodes.path holds at most 2,704 bytes per row (ltree's encoding)
BTREE_TEXT_BYTES_MAX = 2_000  # a text value in a plain btree index (UTF-8 bytes; PostgreSQL's limit is 2,704)

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_LTREE_LABEL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


class InputRefused(DomainError):
    """Input that cannot be used as it is; the message names the problem (and the parameter, where there is one)."""


def _json_refuse(why: str) -> InputRefused:
    return InputRefused(why, code=UNSAFE_JSON)


def _json_number(text: str, convert):
    if len(text) > JSON_MAX_NUMBER_CHARS:
        raise _json_refuse(f"a number of {len(text):,} characters (at most {JSON_MAX_NUMBER_CHARS:,})")
    value = convert(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise _json_refuse(f"the number {text[:40]} is too large to store")
    return value


def _json_constant(name: str):
    raise _json_refuse(f"{name} is not a number JSON or PostgreSQL can store")


def _json_text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character (\\u0000), which PostgreSQL cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (\\ud800-\\udfff without its pair), which is not a character"
    return None


def json_loads_untrusted(text, *, max_depth: int = JSON_MAX_DEPTH, max_chars: int = JSON_MAX_CHARS):
    """``json.loads(text)`` for text from outside: ``InputRefused`` (``RG-INPUT-001``) instead of a crash for text
    over ``max_chars``, nesting deeper than ``max_depth``, NaN/Infinity, numbers over 1,000 characters or too
    large for a float, NUL characters and lone surrogates (in keys too), or text that is not JSON."""
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _json_refuse(f"not UTF-8 text ({exc.reason} at byte {exc.start:,})") from None
    if not isinstance(text, str):
        raise _json_refuse(f"not text but {type(text).__name__}")
    if len(text) > max_chars:
        raise _json_refuse(f"{len(text):,} characters, more than the {max_chars:,} allowed")
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > max_depth:
                raise _json_refuse(f"nested more than {max_depth} levels deep")
    try:
        value = json.loads(text, parse_int=lambda s: _json_number(s, int),
                           parse_float=lambda s: _json_number(s, float), parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise _json_refuse(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (RecursionError, ValueError) as exc:  # belt and braces: the checks above come first
        raise _json_refuse(f"not usable JSON: {exc}") from None
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            problem = _json_text_problem(item)
            if problem:
                raise _json_refuse(f"a text holds {problem}")
    return value


class SafeJSONFormField(forms.JSONField):
    """Django's JSON form field reading through ``json_loads_untrusted``: hostile JSON is a field error with the
    code, and the form is redrawn with the text as typed (Django's own field crashes on redisplay of deep JSON)."""

    def to_python(self, value):
        if self.disabled:
            return value
        if value in self.empty_values:
            return None
        if isinstance(value, list | dict | int | float | forms.fields.JSONString):
            return value
        try:
            converted = json_loads_untrusted(value)
        except InputRefused as exc:
            raise forms.ValidationError(str(exc), code=exc.code) from None
        return forms.fields.JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return json_loads_untrusted(data)
        except InputRefused:
            return forms.fields.InvalidJSONInput(data)

    def has_changed(self, initial, data):
        try:
            return super().has_changed(initial, data)
        except (InputRefused, ValueError, RecursionError, forms.ValidationError):
            return True


def ltree_path_problem(text: str) -> str | None:
    """Why ``text`` (labels joined by dots) is not an ltree path PostgreSQL can store in an indexed column, or
    None. Labels: letters, digits, ``_`` and ``-``, 1 to 1,000 characters; the whole path small enough for the
    btree index on it (ltree stores each label in a multiple of 8 bytes)."""
    if len(text) > 10 * LTREE_INDEX_BYTES_MAX:
        return f"a path of {len(text):,} characters is too long to index (at most about {LTREE_INDEX_BYTES_MAX:,})"
    labels = text.split(".")
    size = 8
    for position, label in enumerate(labels, 1):
        if not label:
            return f"label {position} is empty (two dots in a row, or a dot at an end)"
        if len(label) > LTREE_LABEL_MAX:
            return f"label {position} has {len(label):,} characters (at most {LTREE_LABEL_MAX:,})"
        if not _LTREE_LABEL.fullmatch(label):
            return f"label {position} holds characters other than letters, digits, _ and -"
        size += (len(label) + 2 + 7) // 8 * 8
    if size > LTREE_INDEX_BYTES_MAX:
        return (f"the path ({len(labels):,} labels, {len(text):,} characters) is too long to index: at most about "
                f"{LTREE_INDEX_BYTES_MAX:,} bytes (e.g. 100 labels of 20 characters)")
    return None


class TextTooLongForIndex:
    """A validator: at most ``limit`` UTF-8 bytes, so that the value fits the column's btree index."""

    def __init__(self, limit: int = BTREE_TEXT_BYTES_MAX):
        self.limit = limit

    def __call__(self, value):
        size = len(str(value).encode("utf-8", "surrogatepass"))
        if size > self.limit:
            raise forms.ValidationError(
                f"{TEXT_TOO_LONG}: {size:,} bytes is too long for this indexed column (at most {self.limit:,})",
                code=TEXT_TOO_LONG)

    def __eq__(self, other):
        return isinstance(other, TextTooLongForIndex) and other.limit == self.limit
