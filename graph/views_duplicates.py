"""Duplicate candidates (``/duplicates/``), merges and their undoing, "not the same": docs/duplicates.md.

Thin: the selectors read, the services (graph.services.duplicates, graph.services.merges) decide and write. Any
logged-in user reads the candidates; merging, unmerging and "not the same" need ``graph.merge_node`` (a 403 page
naming it otherwise). A merge is confirmed on a page that states what will move; a refusal is a 400 page naming
the problem, and changes nothing.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from graph.errors import DUPLICATE_BAD_OPTION, GraphError, GraphNotFound
from graph.models import Node
from graph.selectors.duplicates import candidate_page, page_checked
from graph.services.duplicates import REASON_MAX_LENGTH, pair_mark_distinct
from graph.services.merges import MERGE_PERMISSION, merge_preview, node_merge, node_unmerge
from graph.views_common import action_refused, pager_urls
from kgsite.errors import require_permission
from kgsite.numbers import whole_number


def _crumbs(*extra) -> list[tuple[str, str | None]]:
    return [("Dashboard", reverse("home")), ("Duplicates", reverse("duplicates") if extra else None), *extra]


class CandidateFilterForm(forms.Form):
    type = forms.CharField(required=False, max_length=50, label="Node type")
    min_score = forms.DecimalField(required=False, min_value=0, max_value=1, decimal_places=2, label="Lowest score",
                                   widget=forms.NumberInput(attrs={"step": "0.05"}))
    page = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_type(self):  # Django's CharField refuses NUL characters already
        return self.cleaned_data["type"].strip() or None

    def clean_page(self):
        try:
            return page_checked(self.cleaned_data["page"])
        except GraphError as error:
            raise forms.ValidationError(error.message, code=DUPLICATE_BAD_OPTION) from error

    def query_string(self, **changes) -> str:
        query = QueryDict(mutable=True)
        data = {**{k: self.data.get(k) for k in ("type", "min_score")}, **changes}
        for key, value in data.items():
            if value not in (None, "", 1) or (key == "page" and value not in (None, 1)):
                query[key] = value
        return query.urlencode()


class DuplicatesView(View):
    template_name = "graph/duplicates.html"
    http_method_names = ["get", "head", "options"]

    def get(self, request):
        form = CandidateFilterForm(request.GET)
        page = None
        if form.is_valid():
            data = form.cleaned_data
            page = candidate_page(node_type=data["type"], min_score=float(data["min_score"] or 0),
                                  page=data["page"])
        return render(request, self.template_name, {
            "form": form, "page": page, "breadcrumbs": _crumbs(),
            "can_merge": request.user.has_perm(MERGE_PERMISSION),
            **pager_urls(page, lambda number: form.query_string(page=number)),
            "back": request.get_full_path(),
        }, status=400 if form.errors else 200)


def _node_id(value, name: str) -> int:
    node_id = whole_number(value, 1, 2**31 - 1)
    if node_id is None:
        raise GraphError(f"{name} must be a node id (a whole number)", code=DUPLICATE_BAD_OPTION, field=name)
    return node_id


def _safe_back(request, value: str | None) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}) and \
            value.startswith("/"):
        return value
    return reverse("duplicates")


class MergeView(View):
    """GET: the confirmation (what will move); POST ``confirmed=yes``: the merge."""

    template_name = "graph/merge_confirm.html"
    http_method_names = ["get", "post", "options"]

    def _nodes(self, data):
        survivor_id, merged_id = _node_id(data.get("survivor"), "survivor"), _node_id(data.get("merged"), "merged")
        nodes = {n.pk: n for n in Node.objects.filter(pk__in=[survivor_id, merged_id]).defer("embedding")}
        for node_id in (survivor_id, merged_id):
            if node_id not in nodes:
                raise GraphNotFound(f"there is no node with id {node_id}", code=DUPLICATE_BAD_OPTION,
                                    node_id=node_id)
        return nodes[survivor_id], nodes[merged_id]

    def get(self, request):
        back = _safe_back(request, request.GET.get("back"))
        try:
            survivor, merged = self._nodes(request.GET)
            if survivor.pk == merged.pk:
                raise GraphError("a node cannot be merged into itself", code=DUPLICATE_BAD_OPTION)
        except GraphError as error:
            return _refused(request, error, back)
        return render(request, self.template_name, {
            "survivor": survivor, "merged": merged, "preview": merge_preview(survivor_id=survivor.pk,
                                                                             merged_id=merged.pk),
            "can_merge": request.user.has_perm(MERGE_PERMISSION), "back": back,
            "breadcrumbs": _crumbs(("Merge", None)),
        })

    def post(self, request):
        require_permission(request.user, MERGE_PERMISSION, "merge nodes")
        back = _safe_back(request, request.POST.get("back"))
        try:
            survivor_id = _node_id(request.POST.get("survivor"), "survivor")
            merged_id = _node_id(request.POST.get("merged"), "merged")
            report = node_merge(survivor_id=survivor_id, merged_id=merged_id, user=request.user)
        except GraphError as error:
            return _refused(request, error, back)
        messages.success(request, report.summary())
        return redirect("node_detail", node_id=report.survivor_id)


class UnmergeView(View):
    http_method_names = ["post", "options"]

    def post(self, request, merge_id: int):
        require_permission(request.user, MERGE_PERMISSION, "undo merges")
        try:
            report = node_unmerge(merge_id=merge_id, user=request.user)
        except GraphError as error:
            return _refused(request, error, reverse("duplicates"))
        messages.success(request, report.summary())
        return redirect("node_detail", node_id=report.merged_id)


class DistinctView(View):
    """POST: mark a pair as not the same."""

    http_method_names = ["post", "options"]

    def post(self, request):
        require_permission(request.user, MERGE_PERMISSION, "mark nodes as not the same")
        back = _safe_back(request, request.POST.get("back"))
        reason = request.POST.get("reason", "")
        try:
            first, second = _node_id(request.POST.get("first"), "first"), _node_id(request.POST.get("second"),
                                                                                   "second")
            if len(reason) > REASON_MAX_LENGTH:
                raise GraphError(f"the reason must be at most {REASON_MAX_LENGTH:,} characters",
                                 code=DUPLICATE_BAD_OPTION, field="reason")
            pair = pair_mark_distinct(first=first, second=second, reason=reason, user=request.user)
        except GraphError as error:
            return _refused(request, error, back)
        messages.success(request, f"Marked {pair} as not the same: the pair will not be offered again.")
        return redirect(back)


def _refused(request, error: GraphError, back: str):
    return action_refused(request, error, back=back, breadcrumbs=_crumbs(("Refused", None)))
