"""The hierarchy page's forms: which level to show (GET ``?path=&page=``) and moving a subtree (POST).

Refusals carry their code in the message shown beside the field: RG-EXPLORE-001 for a malformed path or page,
RG-NODE-... for a move ``node_move`` (the authority) or this form refuses.
"""

from __future__ import annotations

from django import forms

from graph.errors import HIERARCHY_CYCLE, NODE_MISSING, PARENT_MISSING, PATH_TAKEN, SEARCH_UNKNOWN_NODE, GraphError
from graph.forms_explore import refuse, shown
from graph.forms_paths import node_term_lookup
from graph.models import Node
from graph.selectors.hierarchy import MAX_PAGE, hierarchy_path_checked
from graph.selectors.search import term_path
from graph.services.hierarchy import path_label


def _page_number(value: str) -> int:
    if not value:
        return 1
    if not (value.isascii() and value.isdigit() and len(value) <= 6 and 1 <= int(value) <= MAX_PAGE):
        raise refuse(f"the page must be a whole number from 1 to {MAX_PAGE:,}, not {shown(value)}")
    return int(value)


class HierarchyForm(forms.Form):
    """The level asked for: ``path`` empty for the roots."""

    path = forms.CharField(
        required=False, label="Go to a path", strip=True, help_text="Labels separated by dots: science.physics.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "science.physics"}))
    page = forms.CharField(required=False, strip=True, widget=forms.HiddenInput)

    def clean_path(self) -> str:
        value = self.cleaned_data["path"]
        if value:
            try:
                hierarchy_path_checked(value)
            except GraphError as error:
                raise refuse(error.message, error.code) from error
        return value

    def clean_page(self) -> int:
        return _page_number(self.cleaned_data["page"])


class MoveForm(forms.Form):
    """Move ``node`` (one of ``choices``: the level's node and its children) under ``parent`` (an id, an exact
    name or a path; empty makes it a root). ``back`` and ``back_page`` say which level the form was on."""

    node = forms.CharField(label="Move", widget=forms.Select,
                           error_messages={"required": f"{NODE_MISSING}: choose the node to move"})
    parent = forms.CharField(
        required=False, label="Under", strip=True,
        help_text="The new parent's id, exact name or path. Leave empty to make it a root.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    back = forms.CharField(required=False, widget=forms.HiddenInput)
    back_page = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, choices: list[tuple[int, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.set_choices(choices)

    def set_choices(self, choices: list[tuple[int, str]]) -> None:
        """The nodes the select offers; a posted node that is not among them is kept as "node <id>"."""
        choices = [(str(value), label) for value, label in choices]
        posted = self.data.get("node") if self.is_bound else None
        if posted and posted not in {value for value, _ in choices}:
            choices.append((posted, f"node {posted[:20]}"))
        self.fields["node"].widget.choices = choices

    def clean_node(self) -> int:
        value = self.cleaned_data["node"]
        if not (value.isascii() and value.isdigit() and len(value) <= 10):
            raise refuse(f"choose the node to move, not {shown(value)}", NODE_MISSING)
        return int(value)

    def clean_parent(self) -> int | None:
        value = self.cleaned_data["parent"]
        if not value:
            return None
        try:
            lookup = node_term_lookup(value)
        except GraphError as error:
            if error.code != SEARCH_UNKNOWN_NODE:
                raise
            lookup = None
        if lookup is not None and lookup.node is None:
            ids = ", ".join(str(choice.id) for choice in lookup.choices[:10])
            raise refuse(f"{'more than ' if lookup.more_choices else ''}{len(lookup.choices)} nodes are named "
                         f"{shown(value)} (ids {ids}{', …' if len(lookup.choices) > 10 else ''}): give the id or "
                         "the path of the one you mean", PARENT_MISSING)
        if lookup is not None:
            return lookup.node.id
        at_path = None
        if term_path(value):
            at_path = Node.objects.filter(path=value).values_list("node_id", flat=True).first()
        if at_path is None:
            raise refuse(f"no node has the id, name or path {shown(value)} to move under", PARENT_MISSING)
        return at_path

    def clean(self):
        """Two refusals told here in names, before ``node_move`` (which stays the authority): a move under the
        node's own subtree (the database's message names ids), and a move onto a path another node holds (which
        would break ``unique_node_path``; ``node_move`` refuses it too, with RG-NODE-002, but names no node)."""
        data = super().clean()
        if self.errors:
            return data
        node = Node.objects.only("node_id", "name", "path").filter(pk=data["node"]).first()
        if node is None:
            return data  # node_move's RG-NODE-008
        own_path = str(node.path) if node.path else None
        label = own_path.split(".")[-1] if own_path else path_label(node.name)
        new_path = label if data["parent"] is None and own_path else None
        if data["parent"] is not None:
            parent = Node.objects.only("node_id", "name", "path").filter(pk=data["parent"]).first()
            parent_path = str(parent.path) if parent and parent.path else None
            if own_path and parent_path and (parent_path + ".").startswith(own_path + "."):
                what = "itself" if parent.node_id == node.node_id else f"{parent.name}, one of its own descendants"
                self.add_error("parent", refuse(f"{node.name} cannot move under {what}", HIERARCHY_CYCLE))
                return data
            new_path = f"{parent_path}.{label}" if parent_path and label else None
        if new_path:
            holder = Node.objects.filter(path=new_path).exclude(pk=node.node_id).only("node_id", "name").first()
            if holder is not None:
                self.add_error("parent", refuse(
                    f"{holder.name} (id {holder.node_id}) already has the path {new_path}, where {node.name} would "
                    f"go: rename or move one of them first", PATH_TAKEN))
        return data

    def clean_back(self) -> str:
        value = self.cleaned_data["back"]
        try:
            return hierarchy_path_checked(value) if value else ""
        except GraphError:
            return ""  # only where to show the page again: the roots will do

    def clean_back_page(self) -> int:
        try:
            return _page_number(self.cleaned_data["back_page"])
        except forms.ValidationError:
            return 1

