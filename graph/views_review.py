"""The review queue (``/review/``) and its decisions (POST ``/review/decide/``): docs/curation.md.

Thin: ``ReviewFilterForm`` checks the filters, ``review_page`` reads a page, the template shows it;
``DecisionForm`` checks a decision and the curation services make it (one statement, audited). A decision on one
link (a row's button) runs at once; on several, or on every link matching the filters, a confirmation page states
the count first. Any logged-in user reads the queue (as the node pages, which show the same links); deciding
needs ``graph.review_relationship`` (a 403 page naming it otherwise). Refusals are a 400 page naming the field;
nothing is changed.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from graph.errors import GraphError
from graph.forms_paths import refusal_status
from graph.forms_review import BULK_NOTE, FILTER_FIELDS, DecisionForm, ReviewFilterForm
from graph.models import Relationship
from graph.selectors.review import pending_links, review_page
from graph.services.curation import BULK_LIMIT, REVIEW_PERMISSION, pending_required, review_decide
from graph.views_common import pager_urls
from kgsite.db import filtered_row_count
from kgsite.errors import require_permission

ACTION_WORDS = {"accept": "Accept", "reject": "Reject", "skip": "Skip"}


def _crumbs() -> list[tuple[str, str | None]]:
    return [("Dashboard", reverse("home")), ("Review queue", None)]


def _filters_of(data: QueryDict) -> QueryDict:
    kept = QueryDict(mutable=True)
    for name in FILTER_FIELDS:
        if data.get(name):
            kept[name] = data[name]
    return kept


class ReviewView(View):
    template_name = "graph/review.html"
    http_method_names = ["get", "head", "options"]

    def get(self, request):
        form = ReviewFilterForm(request.GET)
        page = None
        if form.is_valid():
            try:
                page = review_page(filters=form.review_filters(), page=form.cleaned_data["page"])
            except GraphError as error:  # the services have the last word on the filters
                form.add_error(None, error.message)
        return render(request, self.template_name, {
            "form": form, "page": page, "breadcrumbs": _crumbs(),
            "can_decide": request.user.has_perm(REVIEW_PERMISSION),
            "query": form.query_string() if form.is_valid() else "",
            **pager_urls(page, lambda number: form.query_string(page=number)),
            "bulk_limit": BULK_LIMIT,
            "node_url_prefix": reverse("node_detail", args=[0]).removesuffix("0/"),  # not a {% url %} per row
            "filter_hidden": list(_filters_of(request.GET).items()) if form.is_valid() else [],
        }, status=refusal_status(form) if form.errors else 200)


class ReviewDecideView(View):
    template_name = "graph/review_confirm.html"
    http_method_names = ["post", "options"]

    def post(self, request):
        require_permission(request.user, REVIEW_PERMISSION, "decide on inferred relationships")
        back_query = _filters_of(request.POST)
        back = f"{reverse('review')}?{back_query.urlencode()}" if back_query else reverse("review")
        form = DecisionForm(request.POST)
        if not form.is_valid():
            return self._refused(request, [message for errors in form.errors.values() for message in errors], back)
        data = form.cleaned_data
        if data["scope"] == "filter":
            filter_form = ReviewFilterForm(back_query)
            if not filter_form.is_valid():
                return self._refused(request, [m for errors in filter_form.errors.values() for m in errors], back)
            selection = pending_links(filter_form.review_filters())
        else:  # the checked links, skipped ones included (the service decides only those still pending)
            selection = data["id_list"]
        if form.needs_confirmation:
            count = filtered_row_count(selection if data["scope"] == "filter" else Relationship.objects.filter(
                pk__in=data["id_list"], auto_managed=True))
            return render(request, self.template_name, {
                "action": data["action"], "action_word": ACTION_WORDS[data["action"]], "count": count,
                "taken": min(count.value, BULK_LIMIT), "bulk_note": BULK_NOTE, "limit": BULK_LIMIT,
                "scope": data["scope"], "ids": data["id_list"], "reason": data["reason"],
                "filters": back_query, "back": back, "breadcrumbs": _crumbs() + [("Confirm", None)],
            })
        try:
            result = review_decide(data["action"], selection, user=request.user, reason=data["reason"])
            if data["scope"] == "ids" and len(data["id_list"]) == 1:
                pending_required(result)
        except GraphError as error:
            return self._refused(request, [str(error)], back)
        messages.success(request, result.summary())
        return redirect(back)

    def _refused(self, request, errors: list[str], back: str):
        return render(request, self.template_name, {"errors": errors, "back": back,
                                                    "breadcrumbs": _crumbs() + [("Refused", None)]}, status=400)
