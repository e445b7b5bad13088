"""The review queue's forms (``/review/``): the filters (GET) and a decision (POST).

Every field is read as text and checked here, so that a refusal names the field and carries its code
("RG-REVIEW-004: the minimum score must be a number from 0 to 1, not “2”"); ``ReviewFilters.checked`` and the
curation services stay the authority for other callers.
"""

from __future__ import annotations

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.http import QueryDict

from graph.errors import REVIEW_BAD_DECISION, REVIEW_BAD_FILTER
from graph.forms_explore import refuse, shown, unit_decimal, whole_number
from graph.selectors.review import MAX_AGE_DAYS, MAX_PAGE, ReviewFilters
from graph.selectors.subgraph import TYPE_MAX_LENGTH
from graph.services.curation import BULK_LIMIT, REASON_MAX_LENGTH

FILTER_FIELDS = ("type", "node_type", "subtree", "min_score", "max_score", "older_than", "newer_than", "skipped",
                 "stale")
ACTIONS = ("accept", "reject", "skip")
SUBTREE_MAX = 2_000
NODE_TYPE_MAX_LENGTH = 50  # nodes.node_type is VARCHAR(50)
MAX_IDS = 500  # ids one posted form may name (a page holds 25; "all matching" goes by the filters)


def _refusal(message: str, code: str = REVIEW_BAD_FILTER):
    return refuse(message, code)


def _as_review_refusal(parse, *args, **kwargs):
    """``parse(*args, **kwargs)`` (an exploration form parser), its refusal re-coded RG-REVIEW-004."""
    try:
        return parse(*args, **kwargs)
    except forms.ValidationError as error:
        raise _refusal(error.messages[0].split(": ", 1)[-1]) from None


class TextField(forms.CharField):
    """Text checked by the form's own ``clean_<name>`` (which names NUL characters with the page's RG code)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class ReviewFilterForm(forms.Form):
    type = TextField(required=False, label="Relationship type")
    node_type = TextField(required=False, label="Either end of node type")
    subtree = TextField(required=False, label="Either end in subtree",
                        widget=forms.TextInput(attrs={"placeholder": "e.g. computing.languages"}))
    min_score = TextField(required=False, label="Score from", widget=forms.TextInput(attrs={"placeholder": "0–1"}))
    max_score = TextField(required=False, label="Score to", widget=forms.TextInput(attrs={"placeholder": "0–1"}))
    older_than = TextField(required=False, label="Waiting at least (days)")
    newer_than = TextField(required=False, label="Waiting at most (days)")
    skipped = forms.ChoiceField(required=False, label="Skipped links", initial="hide",
                                choices=[("hide", "Hide"), ("only", "Only skipped"), ("all", "Show all")])
    stale = forms.BooleanField(required=False, label="Only stale links")
    page = TextField(required=False)

    def _text(self, name: str, limit: int, label: str) -> str:
        value = (self.cleaned_data.get(name) or "").strip()
        if "\x00" in value:
            raise _refusal(f"the {label} contains a NUL character")
        if len(value) > limit:
            raise _refusal(f"the {label} has at most {limit:,} characters, not {len(value):,}")
        return value

    def clean_type(self):
        return self._text("type", TYPE_MAX_LENGTH, "relationship type")

    def clean_node_type(self):
        return self._text("node_type", NODE_TYPE_MAX_LENGTH, "node type")

    def clean_subtree(self):
        value = self._text("subtree", SUBTREE_MAX, "subtree")
        labels = value.split(".") if value else []
        if any(not label or len(label) > 255 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in label)
               for label in labels):
            raise _refusal(f"the subtree must be an ltree path such as science.people (labels of letters, digits, "
                           f"_ and -), not {shown(value)}")
        return value

    def _score(self, name: str, label: str):
        return _as_review_refusal(unit_decimal, self.cleaned_data.get(name) or "", label=label)

    def clean_min_score(self):
        return self._score("min_score", "minimum score")

    def clean_max_score(self):
        return self._score("max_score", "maximum score")

    def _days(self, name: str, label: str):
        text = (self.cleaned_data.get(name) or "").strip()
        if not text:
            return None
        return _as_review_refusal(whole_number, text, label=label, low=0, high=MAX_AGE_DAYS, default=0)

    def clean_older_than(self):
        return self._days("older_than", "“waiting at least” days")

    def clean_newer_than(self):
        return self._days("newer_than", "“waiting at most” days")

    def clean_skipped(self):
        return self.cleaned_data.get("skipped") or "hide"

    def clean_page(self):
        return _as_review_refusal(whole_number, self.cleaned_data.get("page") or "", label="page", low=1,
                                  high=MAX_PAGE, default=1)

    def clean(self):
        data = super().clean()
        low, high = data.get("min_score"), data.get("max_score")
        if low is not None and high is not None and low > high:
            self.add_error("max_score", _refusal(f"the score range is empty: from {low} to {high}"))
        return data

    def review_filters(self) -> ReviewFilters:
        data = self.cleaned_data
        return ReviewFilters(relationship_type=data["type"], node_type=data["node_type"], subtree=data["subtree"],
                             min_score=data["min_score"], max_score=data["max_score"],
                             older_than_days=data["older_than"], newer_than_days=data["newer_than"],
                             skipped=data["skipped"], stale_only=bool(data["stale"]))

    def query_string(self, **changes) -> str:
        """The filters in effect as a query string (for links and the decision form's way back)."""
        query = QueryDict(mutable=True)
        for name in FILTER_FIELDS:
            value = self.data.get(name, "")
            if value not in ("", None) and not (name == "skipped" and value == "hide"):
                query[name] = value
        for name, value in changes.items():
            if value in ("", None):
                query.pop(name, None)
            else:
                query[name] = str(value)
        return query.urlencode()


class DecisionForm(forms.Form):
    """A decision on the links named by ``ids`` or, with ``scope=filter``, on the pending links matching the
    filters posted with it. A decision on one link runs at once; on more, after a confirmation stating the count.

    Per-row buttons post ``one=<action>:<id>`` with that row's reason in ``reason-<id>``."""

    action = TextField(required=False)
    ids = TextField(required=False)  # read as a list (``getlist``) in ``clean``
    one = TextField(required=False)
    scope = TextField(required=False)  # "ids" (default) or "filter"
    reason = TextField(required=False)
    confirmed = TextField(required=False)

    def __init__(self, data, **kwargs):
        self.raw = data
        super().__init__(data, **kwargs)

    def clean_scope(self):
        value = (self.cleaned_data.get("scope") or "ids").strip()
        if value not in ("ids", "filter"):
            raise refuse(f"the scope must be ids or filter, not {shown(value)}", REVIEW_BAD_DECISION)
        return value

    def clean(self):
        data = super().clean()
        if self.errors:  # a field refused (the scope): nothing more to check
            return data
        one = (data.get("one") or "").strip()
        reason_field = "reason"
        if one:
            action, _, rid = one.partition(":")
            if action not in ACTIONS or not (rid.isascii() and rid.isdigit() and len(rid) < 10):
                raise refuse(f"the decision {shown(one)} is not one of accept, reject or skip on a link",
                             REVIEW_BAD_DECISION)
            data["action"], data["id_list"], data["scope"] = action, [int(rid)], "ids"
            reason_field = f"reason-{rid}"
        else:
            action = (data.get("action") or "").strip()
            if action not in ACTIONS:
                raise refuse(f"choose accept, reject or skip, not {shown(action) if action else 'nothing'}",
                             REVIEW_BAD_DECISION)
            data["action"] = action
            values = self.raw.getlist("ids") if hasattr(self.raw, "getlist") else []
            if len(values) > MAX_IDS:
                raise refuse(f"at most {MAX_IDS} links can be named at once (use “all matching”)",
                             REVIEW_BAD_DECISION)
            ids = []
            for value in values:
                text = str(value).strip()
                if not (text.isascii() and text.isdigit() and len(text) < 10):
                    raise refuse(f"a link id must be a whole number, not {shown(text)}", REVIEW_BAD_DECISION)
                ids.append(int(text))
            if data["scope"] == "ids" and not ids:
                raise refuse("select at least one link, or choose “all matching the filters”", REVIEW_BAD_DECISION)
            data["id_list"] = list(dict.fromkeys(ids))
        reason = self.raw.get(reason_field, "") if hasattr(self.raw, "get") else ""
        reason = str(reason).strip()
        if "\x00" in reason:
            raise refuse("the reason contains a NUL character", REVIEW_BAD_DECISION)
        if len(reason) > REASON_MAX_LENGTH:
            raise refuse(f"the reason has {len(reason):,} characters; at most {REASON_MAX_LENGTH:,} are kept",
                         REVIEW_BAD_DECISION)
        if data["action"] == "reject" and not reason:
            raise refuse("say why the link is rejected: type a reason beside the Reject button",
                         REVIEW_BAD_DECISION)
        data["reason"] = reason
        data["confirmed"] = (data.get("confirmed") or "") == "yes"
        return data

    @property
    def needs_confirmation(self) -> bool:
        data = self.cleaned_data
        return not data["confirmed"] and (data["scope"] == "filter" or len(data["id_list"]) > 1)


BULK_NOTE = f"A decision takes at most {BULK_LIMIT:,} links at once, the highest impact first."
