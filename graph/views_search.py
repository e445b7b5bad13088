"""The similarity search page and its JSON form (``/search/``, ``?format=json``), and the node autocomplete
(``/search/nodes/?term=``): docs/search.md.

Thin: ``SimilaritySearchForm`` parses and checks the request (and resolves the query node or embeds the text),
``similarity_search`` searches, the template or ``JsonResponse`` shows the result. Every refusal is a form error
with its ``RG-`` code: the page shows it beside its field with status 400 (404 for an unknown node), the JSON form
answers ``{"error": {"code", "message", ...}}`` with the same status.

The form is a GET form (a search is a link: bookmarks, "similar" links), but a pasted vector is some 10 KB of
text, more than a request line may hold (gunicorn stops at 4 KB), so the view answers POST too: the page's
"Search by this vector" button (and its script, for the main button) post the form. A search writes nothing, so
the POST needs no CSRF token, as the GET does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from graph.choices import SearchMode
from graph.errors import EMBEDDING_PROVIDER_UNAVAILABLE, SEARCH_BAD_QUERY, SEARCH_UNKNOWN_NODE, GraphError
from graph.forms import QUERY_FIELDS, SimilaritySearchForm, refusal
from graph.models import ExternalResource, Node
from graph.selectors.node_lookup import NodeChoice, node_suggestions
from graph.selectors.similarity import SimilarityHit, SimilarityResult, similarity_search
from kgsite.admin import distinct_values

STATUS_BY_CODE = {SEARCH_UNKNOWN_NODE: 404, EMBEDDING_PROVIDER_UNAVAILABLE: 503}
SAFE_URL_SCHEMES = ("http://", "https://")


def _can_view(user, model) -> bool:
    opts = model._meta
    return user.is_staff and (user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
                              or user.has_perm(f"{opts.app_label}.change_{opts.model_name}"))


def search_url(params: QueryDict | None = None, **changes) -> str:
    """``/search/`` with the current search's options (``params`` without its query and ``format``) and
    ``changes`` (``node=42``): the "similar" links and the choices of an ambiguous name keep the filters."""
    query = QueryDict(mutable=True)
    if params is not None:
        for key, values in params.lists():
            if key not in (*QUERY_FIELDS, "format") and any(value.strip() for value in values):
                query.setlist(key, values)
    for key, value in changes.items():
        query[key] = str(value)
    return f"{reverse('search')}?{query.urlencode()}" if query else reverse("search")


def breakable_path(path: str | None) -> SafeString | None:
    """An ltree path that a narrow column may break after each dot (never inside a label)."""
    if not path:
        return None
    return format_html_join(mark_safe(".<wbr>"), "{}", ((label,) for label in path.split(".")))


@dataclass(frozen=True)
class ChoiceLink:
    """A node offered as a link: one of an ambiguous name's nodes, or one like an unknown name."""

    node: NodeChoice
    url: str

    @property
    def path_html(self) -> SafeString | None:
        return breakable_path(self.node.path)


@dataclass(frozen=True)
class ResultRow:
    hit: SimilarityHit
    page_url: str | None  # a node's page on the site (resources have none)
    admin_url: str | None
    similar_url: str | None
    external_url: str | None  # a resource's own address, when it is a web address

    @property
    def path_html(self) -> SafeString | None:
        return breakable_path(self.hit.path)

    def as_dict(self) -> dict:
        hit = self.hit
        return {
            "id": hit.id, "name": hit.name, "type": hit.kind or None, "path": hit.path,
            "confidence": float(hit.confidence) if hit.confidence is not None else None,
            "similarity": hit.similarity, "vector_rank": hit.vector_rank, "text_rank": hit.text_rank,
            "score": hit.score, "url": hit.url, "admin_url": self.admin_url, "similar_url": self.similar_url,
        }


def result_rows(result: SimilarityResult, user, params: QueryDict) -> list[ResultRow]:
    resources = result.query.target == "resources"
    model = ExternalResource if resources else Node
    admin_name = "admin:graph_externalresource_change" if resources else "admin:graph_node_change"
    may_view = _can_view(user, model)
    return [ResultRow(
        hit=hit,
        page_url=None if resources else reverse("node_detail", args=[hit.id]),
        admin_url=reverse(admin_name, args=[hit.id]) if may_view else None,
        similar_url=None if resources else search_url(params, node=hit.id),
        external_url=hit.url if hit.url and hit.url.lower().startswith(SAFE_URL_SCHEMES) else None,
    ) for hit in result.hits]


def _query_dict(form: SimilaritySearchForm, result: SimilarityResult | None) -> dict:
    data = form.cleaned_data
    lookup = form.lookup
    return {
        "node": lookup.node.as_dict() if lookup and lookup.node else None,
        "text": data.get("text") or None,
        "vector": bool(data.get("vector")),
        "target": data.get("target"), "mode": data.get("mode"), "type": data.get("type") or None,
        "min_confidence": float(data["min_confidence"]) if data.get("min_confidence") is not None else None,
        "subtree": data.get("subtree") or None,
        "threshold": result.threshold if result else data.get("threshold"),
        "limit": data.get("limit"),
    }


@method_decorator(csrf_exempt, name="dispatch")  # a search writes nothing (see the module docstring)
class SimilaritySearchView(View):
    template_name = "graph/search.html"
    http_method_names = ["get", "post", "head", "options"]

    def get(self, request):
        return self.search(request, request.GET)

    def post(self, request):
        return self.search(request, request.POST)

    def search(self, request, params: QueryDict):
        as_json = (request.GET.get("format") or params.get("format")) == "json"
        asked = any(key != "format" for key in params)
        form = SimilaritySearchForm(params if asked or as_json else None)
        result = None
        if form.is_bound and form.is_valid() and not form.ambiguous:
            try:
                result = similarity_search(query=form.similarity_query())
            except GraphError as error:  # the selector's own checks, should the form's ever miss one
                form.add_error(None, refusal(error))
        refusals = form.refusals() if form.is_bound else []
        status = STATUS_BY_CODE.get(refusals[0][1], 400) if refusals else 200
        rows = result_rows(result, request.user, params) if result else []
        if as_json:
            return self.json(form, result, rows, refusals, status)
        return render(request, self.template_name, status=status, context={
            "form": form, "result": result, "rows": rows,
            "mode_label": SearchMode(result.query.mode).label if result else "",
            "subject_path": breakable_path(form.lookup.node.path) if form.lookup and form.lookup.node else None,
            "choices": [ChoiceLink(choice, search_url(params, node=choice.id)) for choice in
                        (form.lookup.choices if form.ambiguous else form.unknown_node_suggestions)],
            "types": sorted({*distinct_values("nodes", "node_type"), *distinct_values("external_resources",
                                                                                       "resource_type")}),
        })

    def json(self, form, result, rows, refusals, status) -> JsonResponse:
        if form.ambiguous:
            lookup = form.lookup
            return JsonResponse({"error": {
                "code": SEARCH_BAD_QUERY,
                "message": f"{'more than ' if lookup.more_choices else ''}{len(lookup.choices)} nodes are named "
                           f"“{lookup.term}”: give the id of the one you mean",
                "choices": [choice.as_dict() for choice in lookup.choices]}}, status=400)
        if refusals:
            field, code, message = refusals[0]
            error = {"code": code, "message": message, "field": field,
                     "errors": [{"field": f, "code": c, "message": m} for f, c, m in refusals]}
            if form.unknown_node_suggestions:
                error["suggestions"] = [choice.as_dict() for choice in form.unknown_node_suggestions]
            return JsonResponse({"error": error}, status=status)
        return JsonResponse({
            "query": _query_dict(form, result),
            "results": [row.as_dict() for row in rows],
            "count": len(rows),
            "threshold": result.threshold,
            "dropped_below_threshold": result.dropped_below_threshold,
            "fell_back_to_exact": result.fell_back_to_exact,
            "milliseconds": round(result.milliseconds, 3),
        })


class NodeSuggestionsView(View):
    """The autocomplete's JSON: ``{"results": [{"id", "name", "type", "path"}]}``, at most 10, best first."""

    http_method_names = ["get", "head", "options"]

    def get(self, request):
        choices: list[NodeChoice] = node_suggestions(term=request.GET.get("term", ""))
        return JsonResponse({"results": [choice.as_dict() for choice in choices]})
