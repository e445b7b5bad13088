"""Small pieces the site's page views share: pager links and the page that says why an action was refused."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponse
from django.shortcuts import render

from graph.errors import GraphError, GraphNotFound


def pager_urls(page, query: Callable[[int], str] = lambda number: f"page={number}") -> dict:
    """``previous_url`` and ``next_url`` of a page that knows its ``page`` number and whether there is ``more``
    (``None`` when there is no such page, or no page at all); ``query(n)`` is page n's query string."""
    return {
        "previous_url": f"?{query(page.page - 1)}" if page and page.page > 1 else None,
        "next_url": f"?{query(page.page + 1)}" if page and page.more else None,
    }


def action_refused(request, error: GraphError, *, back: str, breadcrumbs: list) -> HttpResponse:
    """The refusal page (graph/action_refused.html): the error with its code and a way back; 404 when what the
    action names does not exist, else 400."""
    status = 404 if isinstance(error, GraphNotFound) else 400
    return render(request, "graph/action_refused.html", {
        "errors": [str(error)], "back": back, "back_label": "Back", "title": "Refused",
        "breadcrumbs": breadcrumbs}, status=status)
