"""The paths page's form (``/paths/?from=&to=&max_depth=&direction=&type=&min_confidence=``).

Every field is read as text and checked here, so that every refusal carries its ``RG-`` code in the message shown
beside the field ("RG-EXPLORE-001: the maximum depth must be a whole number from 1 to 6, not “99”"). The ends are
read as a node's id or exact name (``node_lookup``): a name several nodes share lists them to choose from, a name
no node has is RG-EXPLORE-002 (the page answers 404) with nodes of similar names offered. ``PathQuery.checked``
stays the authority on the ranges.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

from graph.errors import (
    EXPLORE_BAD_PARAMETER,
    EXPLORE_UNKNOWN_NODE,
    SEARCH_NODE_WITHOUT_EMBEDDING,
    SEARCH_UNKNOWN_NODE,
    GraphError,
)
from graph.forms_explore import refuse, shown, unit_decimal
from graph.models import Node
from graph.selectors.node_lookup import NodeChoice, NodeLookup, node_lookup
from graph.selectors.paths import DEFAULT_MAX_DEPTH, MAX_DEPTH, MIN_DEPTH, PathQuery
from graph.selectors.subgraph import MAX_TYPES, TYPE_MAX_LENGTH

END_FIELDS = ("from", "to")
DIRECTION_CHOICES = [("both", "Either way"), ("out", "Along their direction only")]


def node_term_lookup(term: str) -> NodeLookup:
    """``node_lookup`` (an id or an exact name) for pages that need no embedding: a node without one is still the
    node. Raises ``GraphError`` RG-SEARCH-003 (with ``suggestions``) for no such node."""
    try:
        return node_lookup(term=term)
    except GraphError as error:
        if error.code != SEARCH_NODE_WITHOUT_EMBEDDING:
            raise
        node = Node.objects.only("node_id", "name", "node_type", "path").get(pk=error.context["node_id"])
        return NodeLookup(term=term, node=NodeChoice.of(node))


def refusal_codes(form: forms.Form) -> list[str]:
    """The RG codes of a bound form's errors, form-wide ones first."""
    errors = form.errors.as_data()
    codes = []
    for name in [NON_FIELD_ERRORS, *form.fields]:
        for error in errors.get(name, []):
            for text in error.messages:
                code = text.partition(": ")[0]
                codes.append(code if code.startswith("RG-") else EXPLORE_BAD_PARAMETER)
    return codes


def refusal_status(form: forms.Form) -> int:
    """400 for a malformed parameter, 404 when the only problem is a node that does not exist, else 200."""
    codes = refusal_codes(form) if form.is_bound else []
    if not codes:
        return 200
    return 404 if all(code == EXPLORE_UNKNOWN_NODE for code in codes) else 400


class FreeMultipleChoiceField(forms.MultipleChoiceField):
    """Several values, offered as the ``choices`` but not limited to them (an unknown relationship type is a
    filter that matches nothing, not an error)."""

    def valid_value(self, value):
        return True


class PathsForm(forms.Form):
    """After ``is_valid()``: ``searching`` (both ends given and found), ``path_query()``; ``lookups`` maps "from"
    and "to" to their ``NodeLookup`` (``choices`` set when a name is ambiguous), ``suggestions`` to the nodes
    offered for a name that matched none."""

    max_depth = forms.CharField(
        required=False, label="Maximum hops", strip=True,
        help_text=f"{MIN_DEPTH} to {MAX_DEPTH}; default {DEFAULT_MAX_DEPTH}.",
        widget=forms.NumberInput(attrs={"min": MIN_DEPTH, "max": MAX_DEPTH, "step": 1,
                                        "placeholder": DEFAULT_MAX_DEPTH}))
    direction = forms.ChoiceField(
        required=False, choices=DIRECTION_CHOICES, initial="both", label="Follow relationships",
        help_text="Along their direction: source → target only (bidirectional ones both ways).",
        error_messages={"invalid_choice": f"{EXPLORE_BAD_PARAMETER}: the direction must be both or out, "
                                          "not “%(value)s”"})
    min_confidence = forms.CharField(
        required=False, label="Minimum confidence", strip=True, help_text="0 to 1, of each relationship.",
        widget=forms.NumberInput(attrs={"min": 0, "max": 1, "step": "any", "inputmode": "decimal"}))
    type = FreeMultipleChoiceField(
        required=False, label="Relationship types", help_text="None ticked: every type.",
        widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, types: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so the two ends are added here, first.
        ends = {
            "from": forms.CharField(required=False, label="From", strip=True,
                                    help_text="A node's id or exact name.",
                                    widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})),
            "to": forms.CharField(required=False, label="To", strip=True, help_text="A node's id or exact name.",
                                  widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})),
        }
        self.fields = {**ends, **self.fields}
        given = self.data.getlist("type") if hasattr(self.data, "getlist") else []
        self.fields["type"].choices = [(kind, kind) for kind in dict.fromkeys([*types, *given]) if kind]
        self.lookups: dict[str, NodeLookup] = {}
        self.suggestions: dict[str, list[NodeChoice]] = {}

    # --- One field at a time ---------------------------------------------------------------------------------

    def clean_max_depth(self) -> int:
        value = self.cleaned_data["max_depth"]
        if not value:
            return DEFAULT_MAX_DEPTH
        if not (value.isascii() and value.isdigit() and len(value) <= 2 and MIN_DEPTH <= int(value) <= MAX_DEPTH):
            raise refuse(f"the maximum depth must be a whole number from {MIN_DEPTH} to {MAX_DEPTH}, not "
                         f"{shown(value)}")
        return int(value)

    def clean_direction(self) -> str:
        return self.cleaned_data["direction"] or "both"

    def clean_min_confidence(self) -> Decimal | None:
        return unit_decimal(self.cleaned_data["min_confidence"], label="minimum confidence")

    def clean_type(self) -> tuple[str, ...]:
        values = [value.strip() for value in self.cleaned_data["type"] if value.strip()]
        if len(values) > MAX_TYPES:
            raise refuse(f"at most {MAX_TYPES} relationship types can be chosen, not {len(values)}")
        for value in values:
            if len(value) > TYPE_MAX_LENGTH:
                raise refuse(f"a relationship type has at most {TYPE_MAX_LENGTH} characters, not {len(value)}")
        return tuple(dict.fromkeys(values))

    # --- Across fields --------------------------------------------------------------------------------------------

    def clean(self):
        data = super().clean()
        for name, what in (("from", "the node to start from"), ("to", "the node to reach")):
            if name in self.data and not data.get(name):
                self.add_error(name, refuse(f"give {what}: its id or exact name"))
        if self.errors:
            return data  # only an otherwise fine query costs node lookups
        for name in END_FIELDS:
            if not data.get(name):
                continue
            try:
                self.lookups[name] = node_term_lookup(data[name])
            except GraphError as error:
                if error.code != SEARCH_UNKNOWN_NODE:
                    raise
                self.suggestions[name] = list(error.context.get("suggestions", []))
                self.add_error(name, refuse(f"no node has the id or name {shown(data[name])}", EXPLORE_UNKNOWN_NODE))
        return data

    @property
    def ambiguous(self) -> dict[str, NodeLookup]:
        return {name: lookup for name, lookup in self.lookups.items() if lookup.node is None}

    @property
    def searching(self) -> bool:
        return (self.is_bound and self.is_valid() and not self.ambiguous
                and all(name in self.lookups for name in END_FIELDS))

    def path_query(self) -> PathQuery:
        data = self.cleaned_data
        return PathQuery(from_id=self.lookups["from"].node.id, to_id=self.lookups["to"].node.id,
                         max_depth=data["max_depth"], direction=data["direction"], types=data["type"],
                         min_confidence=data["min_confidence"])

    @property
    def end_fields(self):
        return [self[name] for name in END_FIELDS]

    @property
    def option_fields(self):
        return [self[name] for name in ("max_depth", "direction", "min_confidence")]
