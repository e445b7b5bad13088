"""The neighbourhood page's parameters (``/nodes/<id>/neighbourhood/?depth=&direction=&types=&...``).

Every field is read as text and checked here so that a refusal names the parameter and carries its code
("RG-EXPLORE-001: the depth must be a whole number from 1 to 3, not “99”"); ``NeighbourhoodQuery.checked`` stays
the authority for any other caller.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from graph.errors import EXPLORE_BAD_PARAMETER, GraphError
from graph.selectors.neighbourhood import (
    DEFAULT_LIMIT,
    DIRECTIONS,
    MAX_DEPTH,
    MAX_LIMIT,
    NeighbourhoodQuery,
)
from graph.selectors.subgraph import MAX_TYPES, TYPE_MAX_LENGTH

FORMATS = ("html", "json", "graphml")
DEFAULT_DEPTH = 2
TEXT_MAX = 40  # longer than this is no number anyone meant


def refuse(message: str, code: str = EXPLORE_BAD_PARAMETER) -> ValidationError:
    """A refusal as a form error whose message starts with its code and whose ``code`` is the RG code (the
    exploration forms' one helper: neighbourhood, paths, hierarchy)."""
    return ValidationError(str(GraphError(message, code=code)), code=code)


def shown(value: str) -> str:
    """A value quoted for a message, cut at 40 characters."""
    value = value.strip()
    return f"“{value[:TEXT_MAX]}{'…' if len(value) > TEXT_MAX else ''}”"


def whole_number(value: str, *, label: str, low: int, high: int, default: int) -> int:
    """``value`` as a whole number from ``low`` to ``high`` (empty: ``default``), or a coded ValidationError."""
    text = (value or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.lstrip("-").isdigit() and len(text) <= TEXT_MAX) or not low <= int(text) <= high:
        raise refuse(f"the {label} must be a whole number from {low} to {high}, not {shown(text)}")
    return int(text)


def unit_decimal(value: str, *, label: str) -> Decimal | None:
    """``value`` as a number from 0 to 1 (empty: None), or a coded ValidationError."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        number = Decimal(text) if len(text) <= TEXT_MAX else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not Decimal(0) <= number <= Decimal(1):
        raise refuse(f"the {label} must be a number from 0 to 1, not {shown(text)}")
    return number


class NeighbourhoodForm(forms.Form):
    depth = forms.CharField(required=False, label=f"Depth (1–{MAX_DEPTH} hops)")
    direction = forms.CharField(
        required=False, label="Direction", initial="both",
        widget=forms.Select(choices=[("both", "Both ways"), ("out", "Outgoing"), ("in", "Incoming")]),
        help_text="Which relationships to follow (bidirectional ones either way).")
    # The form shows the values in effect (defaults filled in) once checked: ``shown_as_used``.
    types = forms.CharField(
        required=False, label="Relationship types",
        help_text="Only these types, separated by commas (empty: all).")
    min_confidence = forms.CharField(required=False, label="Minimum confidence (0–1)")
    min_strength = forms.CharField(required=False, label="Minimum strength (0–1)")
    limit = forms.CharField(required=False, label=f"Node limit (1–{MAX_LIMIT})")
    format = forms.CharField(required=False)

    def __init__(self, data, *, type_choices: list[str] | None = None, **kwargs):
        # ``types`` may be repeated (?types=a&types=b) or comma-separated; the form keeps one text field.
        if hasattr(data, "getlist"):
            data = data.copy()
            data["types"] = ",".join(value for value in data.getlist("types") if value.strip())
        super().__init__(data, **kwargs)
        self.type_choices = type_choices or []

    def clean_depth(self):
        return whole_number(self.cleaned_data["depth"], label="depth", low=1, high=MAX_DEPTH, default=DEFAULT_DEPTH)

    def clean_limit(self):
        return whole_number(self.cleaned_data["limit"], label="node limit", low=1, high=MAX_LIMIT,
                            default=DEFAULT_LIMIT)

    def clean_direction(self):
        value = (self.cleaned_data["direction"] or "both").strip().lower()
        if value not in DIRECTIONS:
            raise refuse(f"the direction must be one of {', '.join(DIRECTIONS)}, not {shown(value)}")
        return value

    def clean_types(self):
        names = [name.strip() for name in self.cleaned_data["types"].split(",") if name.strip()]
        names = list(dict.fromkeys(names))
        if len(names) > MAX_TYPES:
            raise refuse(f"at most {MAX_TYPES} relationship types can be chosen, not {len(names)}")
        for name in names:
            if len(name) > TYPE_MAX_LENGTH:
                raise refuse(f"a relationship type has at most {TYPE_MAX_LENGTH} characters; {shown(name)} has "
                              f"{len(name)}")
        return tuple(names)

    def clean_min_confidence(self):
        return unit_decimal(self.cleaned_data["min_confidence"], label="minimum confidence")

    def clean_min_strength(self):
        return unit_decimal(self.cleaned_data["min_strength"], label="minimum strength")

    def clean_format(self):
        value = (self.cleaned_data["format"] or "html").strip().lower()
        if value not in FORMATS:
            raise refuse(f"the format must be one of {', '.join(FORMATS)}, not {shown(value)}")
        return value

    def shown_as_used(self) -> None:
        """After a successful check: show the depth, direction and limit in effect (defaults filled in)."""
        self.data = self.data.copy()
        for name in ("depth", "direction", "limit"):
            self.data[name] = str(self.cleaned_data[name])

    def neighbourhood_query(self, node_id: int) -> NeighbourhoodQuery:
        data = self.cleaned_data
        return NeighbourhoodQuery(node_id=node_id, depth=data["depth"], direction=data["direction"],
                                  types=data["types"], min_confidence=data["min_confidence"],
                                  min_strength=data["min_strength"], limit=data["limit"])

