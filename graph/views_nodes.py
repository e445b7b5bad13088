"""The node page (``/nodes/<id>/``) and its neighbourhood (``/nodes/<id>/neighbourhood/``): docs/exploration.md.

Thin: the selectors (``graph.selectors.node_page``, ``graph.selectors.neighbourhood``) read, the presentation
modules draw (``graph.presentation.graph_svg``) and export (``graph.presentation.graph_export``), the templates
show. A bad parameter is a 400 page (or JSON/GraphML error) that names it; an unknown node a 404.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from graph.errors import EXPLORE_UNKNOWN_NODE, GraphError, GraphNotFound
from graph.forms_explore import NeighbourhoodForm
from graph.models import Node, NodeMerge
from graph.presentation.graph_export import subgraph_graphml, subgraph_json
from graph.presentation.graph_svg import subgraph_legend, subgraph_svg
from graph.selectors.neighbourhood import neighbourhood_fetch
from graph.selectors.node_page import node_page, page_number
from graph.selectors.subgraph import SubgraphEdge, SubgraphNode
from graph.services.history import REVERT_PERMISSION, node_deletion
from graph.services.merges import MERGE_PERMISSION, active_merge_of, node_redirect
from graph.views_search import breakable_path
from kgsite.admin import distinct_values

MERGES_SHOWN = 5  # merges into a node its page offers to undo (the newest)


def node_breadcrumbs(ancestors, node, *, current: str | None = None) -> list[tuple[str, str | None]]:
    """Dashboard › ancestors (node pages) › the node (› the sub-page ``current``)."""
    crumbs = [("Dashboard", reverse("home"))]
    crumbs += [(ancestor.name, reverse("node_detail", args=[ancestor.pk])) for ancestor in ancestors]
    if current:
        crumbs += [(node.name, reverse("node_detail", args=[node.pk])), (current, None)]
    else:
        crumbs.append((node.name, None))
    return crumbs


def _ancestors(path: str | None):
    if not path:
        return []
    return list(Node.objects.filter(path__ancestors=path).exclude(path=path).only("node_id", "name", "path")
                .order_by("path"))


def merged_or_deleted(request, node_id: int, error: GraphNotFound, *, url_name: str):
    """A missing node's page: a redirect to the node it was merged into (docs/duplicates.md), a 404 that offers
    its history and restore when it was deleted (docs/history.md), else ``error`` goes on."""
    survivor = node_redirect(node_id)
    if survivor is not None:
        merge = active_merge_of(node_id)
        name = merge.merged_name if merge else f"node {node_id}"
        messages.info(request, f"“{name}” ({node_id}) was merged into this node; its address leads here.")
        query = request.GET.urlencode()
        return redirect(reverse(url_name, args=[survivor]) + (f"?{query}" if query else ""))
    deletion = node_deletion(node_id)
    if deletion is None:
        raise error
    return render(request, "graph/node_gone.html", {
        "node_id": node_id, "deletion": deletion, "breadcrumbs": [("Dashboard", reverse("home")), ("Deleted", None)],
        "can_revert": request.user.has_perm(REVERT_PERMISSION)}, status=404)


class NodeDetailView(View):
    template_name = "graph/node_detail.html"

    def get(self, request, node_id: int):
        out_page = page_number(request.GET.get("out_page"), name="out_page")
        in_page = page_number(request.GET.get("in_page"), name="in_page")
        try:
            page = node_page(node_id=node_id, out_page=out_page, in_page=in_page)
        except GraphNotFound as error:
            return merged_or_deleted(request, node_id, error, url_name="node_detail")
        return render(request, self.template_name, {
            "merges": NodeMerge.objects.filter(survivor_id=node_id, unmerged_at__isnull=True)[:MERGES_SHOWN],
            "can_merge": request.user.has_perm(MERGE_PERMISSION),
            "page": page,
            "node": page.node,
            "path_html": breakable_path(str(page.node.path) if page.node.path else None),
            "breadcrumbs": node_breadcrumbs(page.ancestors, page.node),
            "metadata_json": json.dumps(page.node.metadata, indent=2, ensure_ascii=False, sort_keys=True),
            "has_embedding": page.has_embedding,
            # Prefixes instead of a {% url %} per row: /nodes/ and the admin's relationship pages.
            "node_url_prefix": reverse("node_detail", args=[0]).removesuffix("0/"),
            "relationship_admin_prefix": reverse("admin:graph_relationship_change", args=[0]).removesuffix(
                "0/change/"),
        })


@dataclass(frozen=True)
class _NodeRow:
    node: SubgraphNode
    page_url: str
    centre_url: str
    confidence: str


@dataclass(frozen=True)
class _EdgeRow:
    edge: SubgraphEdge
    source: _NodeRow
    target: _NodeRow
    strength: str
    confidence: str


def _page_link(params: QueryDict, **changes) -> str:
    query = params.copy()
    for key, value in changes.items():
        query[key] = str(value)
    return f"?{query.urlencode()}" if query else ""


class NeighbourhoodView(View):
    template_name = "graph/neighbourhood.html"

    def get(self, request, node_id: int):
        form = NeighbourhoodForm(request.GET)
        wanted = (request.GET.get("format") or "html").strip().lower()
        if not form.is_valid():
            return self._refused(request, node_id, form, wanted)
        query = form.neighbourhood_query(node_id)
        form.shown_as_used()
        fmt = form.cleaned_data["format"]
        try:
            subgraph = neighbourhood_fetch(query=query)
        except GraphNotFound as error:
            if fmt != "html":
                return _error_response(error, fmt, status=404)
            return merged_or_deleted(request, node_id, error, url_name="node_neighbourhood")
        params = request.GET.copy()
        params.pop("format", None)

        def node_url(node: SubgraphNode) -> str:
            return f"{reverse('node_neighbourhood', args=[node.node_id])}{_page_link(params)}"

        if fmt == "json":
            return JsonResponse(subgraph_json(subgraph, node_url=node_url), json_dumps_params={"indent": 1})
        if fmt == "graphml":
            response = HttpResponse(subgraph_graphml(subgraph), content_type="application/graphml+xml; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="neighbourhood-{node_id}.graphml"'
            return response
        centre = Node.objects.only("node_id", "name", "path").get(pk=node_id)
        ancestors = _ancestors(str(centre.path) if centre.path else None)
        # The tables' rows with their links and numbers formatted here: hundreds of {% url %} and floatformat
        # calls would cost more than the traversal.
        detail_prefix = reverse("node_detail", args=[0]).removesuffix("0/")
        rows = {node.node_id: _NodeRow(node, f"{detail_prefix}{node.node_id}/", node_url(node),
                                       f"{node.confidence:.3f}") for node in subgraph.nodes}
        return render(request, self.template_name, {
            "form": form,
            "subgraph": subgraph,
            "centre": centre,
            "svg": subgraph_svg(subgraph, node_url=node_url,
                                title=f"Neighbourhood of {centre.name}, depth {query.depth}"),
            "legend": subgraph_legend(subgraph),
            "edges": [_EdgeRow(edge, rows[edge.source_id], rows[edge.target_id], f"{edge.strength:.2f}",
                               f"{edge.confidence:.3f}") for edge in subgraph.edges],
            "nodes": sorted(rows.values(), key=lambda row: (row.node.depth, row.node.name.lower(), row.node.node_id)),
            "query": query,
            "json_url": _page_link(params, format="json"),
            "graphml_url": _page_link(params, format="graphml"),
            "type_choices": distinct_values("relationships", "relationship_type"),
            "breadcrumbs": node_breadcrumbs(ancestors, centre, current="Neighbourhood"),
        })

    def _refused(self, request, node_id: int, form: NeighbourhoodForm, wanted: str):
        refusals = [error for errors in form.errors.as_data().values() for error in errors]
        errors = [message for error in refusals for message in error.messages]
        if wanted in ("json", "graphml"):
            message = "; ".join(message.split(": ", 1)[-1] for message in errors)
            return _error_response(GraphError(message, code=refusals[0].code), wanted, status=400)
        node = Node.objects.filter(pk=node_id).only("node_id", "name", "path").first()
        if node is None:
            raise GraphNotFound(f"there is no node with id {node_id}", code=EXPLORE_UNKNOWN_NODE, node_id=node_id)
        return render(request, self.template_name, {
            "form": form, "centre": node, "subgraph": None, "errors": errors,
            "type_choices": distinct_values("relationships", "relationship_type"),
            "breadcrumbs": node_breadcrumbs(_ancestors(str(node.path) if node.path else None), node,
                                            current="Neighbourhood"),
        }, status=400)


def _error_response(error: GraphError, fmt: str, *, status: int) -> HttpResponse:
    if fmt == "json":
        return JsonResponse({"error": {"code": error.code, "message": error.message}}, status=status)
    return HttpResponse(f"{error.code}: {error.message}\n", status=status, content_type="text/plain; charset=utf-8")
