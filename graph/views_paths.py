"""The paths page (``/paths/?from=&to=&max_depth=``): the shortest paths between two nodes (docs/exploration.md).

Thin: ``PathsForm`` parses and checks the request and resolves the two ends, ``paths_find`` searches, the template
shows the paths (and ``result.subgraph`` is there for a picture). A refusal is shown beside its field with its
``RG-`` code: 400 for a malformed or out-of-range parameter, 404 for an end that names no node. No path within the
depth is an answer (200), and so is a search cut by its bounds, which the page says plainly.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from graph.errors import GraphError
from graph.forms_paths import PathsForm, refusal_status, refuse
from graph.presentation.graph_svg import subgraph_legend, subgraph_svg
from graph.selectors.node_lookup import NodeChoice
from graph.selectors.paths import MAX_DEPTH, PATHS_SHOWN, FoundPath, PathSearch, paths_find
from graph.selectors.subgraph import SubgraphEdge, SubgraphNode
from graph.views_search import breakable_path
from kgsite.admin import distinct_values


def paths_url(params: QueryDict | None = None, **changes) -> str:
    """``/paths/`` with the current query's parameters and ``changes`` (``max_depth=5``; None drops one)."""
    query = QueryDict(mutable=True)
    if params is not None:
        for key, values in params.lists():
            kept = [value for value in values if value.strip()]
            if kept:
                query.setlist(key, kept)
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = str(value)
    return f"{reverse('paths')}?{query.urlencode()}" if query else reverse("paths")


@dataclass(frozen=True)
class NodeView:
    node: SubgraphNode
    url: str

    @property
    def path_html(self):
        return breakable_path(self.node.path)


@dataclass(frozen=True)
class EdgeView:
    edge: SubgraphEdge
    along: bool  # stored pointing the way the path goes
    source_name: str
    target_name: str

    @property
    def arrow(self) -> str:
        if self.edge.bidirectional:
            return "↔"
        return "→" if self.along else "←"

    @property
    def sentence(self) -> str:
        """``Niklaus Wirth designed Pascal``: the relationship as stored, for a title and screen readers."""
        verb = self.edge.relationship_type.replace("_", " ")
        both = " (both ways)" if self.edge.bidirectional else ""
        return f"{self.source_name} {verb} {self.target_name}{both}"


@dataclass(frozen=True)
class PathView:
    """A path as the template walks it: ``steps`` alternate ("node", NodeView) and ("hop", [EdgeView, ...])."""

    path: FoundPath
    steps: list[tuple[str, object]]


def _node_view(node: SubgraphNode) -> NodeView:
    return NodeView(node, reverse("node_detail", kwargs={"node_id": node.node_id}))


def path_views(result: PathSearch) -> list[PathView]:
    views = []
    for path in result.paths:
        steps: list[tuple[str, object]] = [("node", _node_view(result.nodes[path.node_ids[0]]))]
        for hop in path.hops:
            names = {node_id: result.nodes[node_id].name for node_id in (hop.from_id, hop.to_id)}
            steps.append(("hop", [EdgeView(edge, edge.source_id == hop.from_id, names[edge.source_id],
                                           names[edge.target_id]) for edge in hop.relationships]))
            steps.append(("node", _node_view(result.nodes[hop.to_id])))
        views.append(PathView(path, steps))
    return views


@dataclass(frozen=True)
class ChoiceLink:
    node: NodeChoice
    url: str

    @property
    def path_html(self):
        return breakable_path(self.node.path)


def _choices(form: PathsForm, params: QueryDict) -> dict[str, dict]:
    """For each end: the nodes an ambiguous name names, or those like an unknown one, as links that keep the rest
    of the query."""
    found = {}
    for name in ("from", "to"):
        lookup = form.ambiguous.get(name)
        nodes = lookup.choices if lookup else form.suggestions.get(name, [])
        if nodes:
            found[name] = {"ambiguous": lookup is not None, "term": lookup.term if lookup else "",
                           "more": bool(lookup and lookup.more_choices),
                           "links": [ChoiceLink(node, paths_url(params, **{name: node.id})) for node in nodes]}
    return found


class PathsView(View):
    template_name = "graph/paths.html"
    http_method_names = ["get", "head", "options"]

    def get(self, request):
        params = request.GET
        form = PathsForm(params or None, types=distinct_values("relationships", "relationship_type"))
        result = None
        if form.is_bound and form.searching:
            try:
                result = paths_find(query=form.path_query())
            except GraphError as error:  # the selector's own checks, should the form's ever miss one
                form.add_error(error.context.get("field") if error.context.get("field") in form.fields else None,
                               refuse(error.message, error.code))
        status = refusal_status(form)
        query = result.query if result else None
        context = {
            "form": form, "result": result, "paths": path_views(result) if result else [],
            "choices": _choices(form, params) if form.is_bound else {},
            "breadcrumbs": [("Dashboard", reverse("home")), ("Paths", None)],
            "paths_shown": PATHS_SHOWN,
        }
        if result and result.found and len(result.subgraph.nodes) > 2:
            # The paths together as a picture (the same drawing as the neighbourhood's): each node opens its page.
            detail_prefix = reverse("node_detail", args=[0]).removesuffix("0/")
            context["svg"] = subgraph_svg(result.subgraph, node_url=lambda node: f"{detail_prefix}{node.node_id}/",
                                          title="The shortest paths")
            context["legend"] = subgraph_legend(result.subgraph)
        if result:
            context.update(
                start=_node_view(result.nodes[query.from_id]), end=_node_view(result.nodes[query.to_id]),
                deeper_url=(paths_url(params, max_depth=query.max_depth + 1)
                            if query.max_depth < MAX_DEPTH and not result.exhausted else None),
                unfiltered_url=(paths_url(params, type=None, min_confidence=None)
                                if query.types or query.min_confidence is not None else None),
                both_ways_url=paths_url(params, direction=None) if query.direction == "out" else None,
                swapped_url=(paths_url(params, **{"from": params.get("to", ""), "to": params.get("from", "")})
                             if query.direction == "out" else None),
            )
        return render(request, self.template_name, context, status=status)

