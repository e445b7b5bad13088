"""The graph's site forms: the similarity search (docs/search.md).

Every field is read as text and checked here, so that every refusal carries its ``RG-`` code in the message the
page shows beside the field ("RG-SEARCH-002: the limit must be ..."); the JSON form reports the same code and
message. The checks mirror ``SimilarityQuery.checked`` (which stays the authority: the selector refuses a bad query
from any caller), and the query vector's own checks are the embedding service's (``vector_parse``, ``text_embed``).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from config_admin.selectors import config_get
from graph.choices import SearchMode
from graph.errors import SEARCH_BAD_FILTER, SEARCH_BAD_QUERY, VECTOR_UNPARSABLE, GraphError
from graph.selectors.node_lookup import NodeChoice, NodeLookup, node_lookup
from graph.selectors.search import term_path
from graph.selectors.similarity import DEFAULT_LIMIT, MAX_LIMIT, SimilarityQuery
from graph.services.embeddings import text_embed, vector_parse

TARGET_CHOICES = [("nodes", "Nodes"), ("resources", "External resources")]
TYPE_MAX_LENGTH = 50  # nodes.node_type and external_resources.resource_type are VARCHAR(50)
NUMBER_MAX_LENGTH = 40  # a limit, threshold or confidence longer than this is not a number anyone meant
VECTOR_MAX_LENGTH = 100_000  # 768 components of up to ~100 characters each, with separators
QUERY_FIELDS = ("node", "text", "vector")


def refusal(error: GraphError) -> ValidationError:
    """A domain refusal as a form error: its message shows the code, its ``code`` is the RG code."""
    return ValidationError(str(error), code=error.code)


def _refuse(message: str, code: str) -> ValidationError:
    return refusal(GraphError(message, code=code))


def _shown(value: str) -> str:
    return f"“{value[:40]}{'…' if len(value) > 40 else ''}”"


class SimilaritySearchForm(forms.Form):
    """Exactly one query (node, text or vector), then the target, mode and filters. After ``is_valid()``:
    ``similarity_query()`` is the selector's query, or ``lookup.choices`` lists the nodes an ambiguous name
    names; ``unknown_node_suggestions`` holds the autocomplete's nodes for a name that matched none."""

    node = forms.CharField(
        required=False, label="Node", strip=True,
        help_text="A node's id or exact name: the nodes nearest to it (itself left out).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    text = forms.CharField(
        required=False, label="Text", strip=True,
        help_text="Words, embedded with the configured provider.",
        widget=forms.TextInput(attrs={"type": "search"}))
    vector = forms.CharField(
        required=False, label="Vector", strip=True,
        help_text="768 numbers, e.g. [0.12, -0.03, ...]; used as given.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}))
    target = forms.ChoiceField(
        required=False, choices=TARGET_CHOICES, initial="nodes", label="Search in",
        error_messages={"invalid_choice": "RG-SEARCH-001: unknown search target “%(value)s”: use nodes or resources"})
    mode = forms.ChoiceField(
        required=False, choices=SearchMode.choices, initial=SearchMode.APPROXIMATE, label="Mode",
        error_messages={"invalid_choice": "RG-SEARCH-001: unknown search mode “%(value)s”: use "
                                          + ", ".join(SearchMode.values)})
    type = forms.CharField(
        required=False, label="Type", strip=True, help_text="Node type, or resource type.",
        widget=forms.TextInput(attrs={"list": "search-types", "autocomplete": "off"}))
    min_confidence = forms.CharField(
        required=False, label="Minimum confidence", strip=True, help_text="0 to 1; nodes only.",
        widget=forms.NumberInput(attrs={"min": 0, "max": 1, "step": "any", "inputmode": "decimal"}))
    subtree = forms.CharField(
        required=False, label="Subtree", strip=True,
        help_text="Nodes at or below a path (computing.languages); nodes only.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    threshold = forms.CharField(
        required=False, label="Similarity threshold", strip=True,
        widget=forms.NumberInput(attrs={"min": -1, "max": 1, "step": "any", "inputmode": "decimal"}))
    limit = forms.CharField(
        required=False, label="Limit", strip=True, initial=DEFAULT_LIMIT, help_text=f"1 to {MAX_LIMIT} results.",
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_LIMIT, "step": 1, "placeholder": DEFAULT_LIMIT}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_threshold = float(config_get("vector_similarity_threshold"))
        threshold = self.fields["threshold"]
        threshold.help_text = (f"−1 to 1: less similar results are dropped. Default {self.default_threshold:g} "
                               "(vector_similarity_threshold).")
        threshold.widget.attrs["placeholder"] = f"{self.default_threshold:g}"
        self.lookup: NodeLookup | None = None
        self.query_vector = None
        self.unknown_node_suggestions: list[NodeChoice] = []

    # --- One field at a time ---------------------------------------------------------------------------------

    def clean_vector(self):
        value = self.cleaned_data["vector"]
        if len(value) > VECTOR_MAX_LENGTH:
            raise _refuse(f"the vector is {len(value):,} characters long: 768 numbers need far fewer",
                          VECTOR_UNPARSABLE)
        return value

    def clean_target(self):
        return self.cleaned_data["target"] or "nodes"

    def clean_mode(self):
        return self.cleaned_data["mode"] or SearchMode.APPROXIMATE

    def clean_type(self):
        value = self.cleaned_data["type"]
        if len(value) > TYPE_MAX_LENGTH:
            raise _refuse(f"a type has at most {TYPE_MAX_LENGTH} characters, not {len(value)}", SEARCH_BAD_FILTER)
        return value

    def clean_min_confidence(self) -> Decimal | None:
        value = self.cleaned_data["min_confidence"]
        if not value:
            return None
        try:
            number = Decimal(value) if len(value) <= NUMBER_MAX_LENGTH else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise _refuse(f"the minimum confidence must be a number from 0 to 1, not {_shown(value)}",
                          SEARCH_BAD_FILTER)
        if not Decimal(0) <= number <= Decimal(1):
            raise _refuse(f"the minimum confidence must be between 0 and 1, not {value}", SEARCH_BAD_FILTER)
        return number

    def clean_subtree(self):
        value = self.cleaned_data["subtree"]
        if value and term_path(value) is None:
            raise _refuse(f"{_shown(value)} is not a hierarchy path: labels of letters, digits, _ and -, separated "
                          "by dots (computing.languages)", SEARCH_BAD_FILTER)
        return value

    def clean_threshold(self) -> float | None:
        value = self.cleaned_data["threshold"]
        if not value:
            return None
        try:
            number = float(value) if len(value) <= NUMBER_MAX_LENGTH else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise _refuse(f"the similarity threshold must be a number from -1 to 1, not {_shown(value)}",
                          SEARCH_BAD_FILTER)
        if not -1.0 <= number <= 1.0:
            raise _refuse(f"the similarity threshold must be between -1 and 1, not {value}", SEARCH_BAD_FILTER)
        return number

    def clean_limit(self) -> int:
        value = self.cleaned_data["limit"]
        if not value:
            return DEFAULT_LIMIT
        if not (value.isascii() and value.isdigit()) or len(value) > NUMBER_MAX_LENGTH:
            raise _refuse(f"the limit must be a whole number from 1 to {MAX_LIMIT}, not {_shown(value)}",
                          SEARCH_BAD_FILTER)
        number = int(value)
        if not 1 <= number <= MAX_LIMIT:
            raise _refuse(f"the limit must be between 1 and {MAX_LIMIT}, not {number:,}", SEARCH_BAD_FILTER)
        return number

    # --- Across fields --------------------------------------------------------------------------------------------

    def clean(self):
        data = super().clean()
        given = [name for name in QUERY_FIELDS if (self.data.get(name) or "").strip()]
        if not given:
            present = [name for name in QUERY_FIELDS if name in self.data]
            if len(present) != 1:
                raise _refuse("search by a node, a text or a vector: fill in one of them", SEARCH_BAD_QUERY)
            given = present  # a link or API call naming one query, left empty: that query's own refusal
        if len(given) > 1:
            raise _refuse(f"search by one thing at a time: {' and '.join(given)} are filled in", SEARCH_BAD_QUERY)
        if data.get("target") == "resources":
            for name, what in (("subtree", "path"), ("min_confidence", "confidence score")):
                if data.get(name) not in (None, ""):
                    self.add_error(name, _refuse(f"external resources have no {what}: this filter applies to "
                                                 "nodes only", SEARCH_BAD_FILTER))
        if given == ["vector"]:
            if data.get("mode") == SearchMode.HYBRID:
                self.add_error("mode", _refuse("hybrid search needs words for its full-text side: search by a "
                                               "text or a node, or choose another mode", SEARCH_BAD_QUERY))
            if "vector" not in self.errors:
                try:
                    self.query_vector = vector_parse(data["vector"])
                except GraphError as error:
                    self.add_error("vector", refusal(error))
        if self.errors:
            return data  # only a query that is otherwise fine costs a node lookup or an embedding
        try:
            if given == ["node"]:
                self.lookup = node_lookup(term=data["node"])
                self.query_vector = self.lookup.embedding
            elif given == ["text"]:
                self.query_vector = text_embed(data["text"])
        except GraphError as error:
            self.unknown_node_suggestions = list(error.context.get("suggestions", []))
            self.add_error(given[0], refusal(error))
        return data

    @property
    def query_fields(self):
        return [self[name] for name in ("node", "text")]

    @property
    def option_fields(self):
        return [self[name] for name in ("target", "mode", "limit", "threshold", "type", "min_confidence", "subtree")]

    # --- Results of a valid form ----------------------------------------------------------------------------------

    @property
    def ambiguous(self) -> bool:
        return self.lookup is not None and self.lookup.node is None

    def similarity_query(self) -> SimilarityQuery:
        data = self.cleaned_data
        node = self.lookup.node if self.lookup else None
        return SimilarityQuery(
            vector=self.query_vector, target=data["target"], mode=data["mode"],
            text=node.name if node else data["text"],
            exclude_id=node.id if node and data["target"] == "nodes" else None,
            node_type=data["type"], min_confidence=data["min_confidence"], subtree=data["subtree"],
            threshold=data["threshold"], limit=data["limit"])

    def refusals(self) -> list[tuple[str | None, str, str]]:
        """Every error as (field or None, RG code, message without the code): form-wide ones first, then the
        fields' in the form's order."""
        errors = self.errors.as_data()
        found = []
        for name in [NON_FIELD_ERRORS, *self.fields]:
            for error in errors.get(name, []):
                for text in error.messages:
                    code, _, message = text.partition(": ")
                    if not code.startswith("RG-"):  # cannot happen with the fields above; never a bare message
                        code, message = SEARCH_BAD_QUERY, text
                    found.append((None if name == NON_FIELD_ERRORS else name, code, message))
        return found
