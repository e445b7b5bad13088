"""The history pages (docs/history.md): a node's history (``/nodes/<id>/history/``), the recent entries
(``/history/``), one entry (``/history/<entry>/``), and the reverts: of one change, of a whole entry, of a node's
deletion. Any logged-in user reads history; reverting needs ``graph.revert_history``. A revert is confirmed on a
page that says what it will do; refusals are a 400 (or 404) page naming the problem, and change nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from graph.errors import HISTORY_UNKNOWN, GraphError, GraphNotFound
from graph.models import Node
from graph.selectors.history import (
    entry_page,
    entry_size,
    events_described,
    node_history,
    page_checked,
    recent_entries,
)
from graph.services.history import (
    NODES,
    REVERT_PERMISSION,
    history_entry_revert,
    history_event_revert,
    node_deletion,
    node_restore,
    tracked_of,
)
from graph.views_common import action_refused, pager_urls
from kgsite.errors import require_permission


def _crumbs(*extra) -> list[tuple[str, str | None]]:
    return [("Dashboard", reverse("home")), ("History", reverse("history") if extra else None), *extra]


def _refused(request, error: GraphError, back: str):
    return action_refused(request, error, back=back, breadcrumbs=_crumbs(("Refused", None)))


def _page(request):
    return page_checked(request.GET.get("page"))


class NodeHistoryView(View):
    template_name = "graph/node_history.html"
    http_method_names = ["get", "head", "options"]

    def get(self, request, node_id: int):
        try:
            page = node_history(node_id=node_id, page=_page(request))
        except GraphError as error:
            return _refused(request, error, reverse("node_detail", args=[node_id]))
        node = Node.objects.filter(pk=node_id).only("node_id", "name").first()
        deletion = node_deletion(node_id) if node is None else None
        if node is None and deletion is None and not page.events:
            return _refused(request, GraphNotFound(f"there is no node with id {node_id}, and no history of one",
                                                   code=HISTORY_UNKNOWN), reverse("history"))
        name = node.name if node else (deletion.name if deletion else f"node {node_id}")
        return render(request, self.template_name, {
            "node_id": node_id, "node": node, "name": name, "deletion": deletion, "page": page,
            "can_revert": request.user.has_perm(REVERT_PERMISSION),
            **pager_urls(page),
            "breadcrumbs": [("Dashboard", reverse("home")),
                            (name, reverse("node_detail", args=[node_id]) if node else None), ("History", None)],
        })


class HistoryView(View):
    template_name = "graph/history.html"
    http_method_names = ["get", "head", "options"]

    def get(self, request):
        return render(request, self.template_name, {"entries": recent_entries(), "breadcrumbs": _crumbs()})


class EntryView(View):
    template_name = "graph/history_entry.html"
    http_method_names = ["get", "head", "options"]

    def get(self, request, entry: str):
        try:
            page = entry_page(entry=entry, page=_page(request))
            size = entry_size(entry)
        except GraphError as error:
            return _refused(request, error, reverse("history"))
        return render(request, self.template_name, {
            "entry": entry, "page": page, "size": size, "can_revert": request.user.has_perm(REVERT_PERMISSION),
            "who": page.events[0].who if page.events else "", "at": page.events[0].at if page.events else None,
            **pager_urls(page),
            "breadcrumbs": _crumbs(("Entry", None)),
        })


class _RevertView(View):
    """GET: the confirmation; POST ``confirmed=yes``: the revert."""

    template_name = "graph/revert_confirm.html"
    http_method_names = ["get", "post", "options"]
    permission_action = "revert recorded changes"

    def describe(self, request, **kwargs) -> dict:
        raise NotImplementedError

    def revert(self, request, **kwargs):
        raise NotImplementedError

    def back(self, **kwargs) -> str:
        return reverse("history")

    def get(self, request, **kwargs):
        try:
            context = self.describe(request, **kwargs)
        except GraphError as error:
            return _refused(request, error, self.back(**kwargs))
        return render(request, self.template_name, {
            **context, "back": self.back(**kwargs), "can_revert": request.user.has_perm(REVERT_PERMISSION),
            "breadcrumbs": _crumbs(("Revert", None))})

    def post(self, request, **kwargs):
        require_permission(request.user, REVERT_PERMISSION, self.permission_action)
        try:
            report, target = self.revert(request, **kwargs)
        except GraphError as error:
            return _refused(request, error, self.back(**kwargs))
        messages.success(request, report.summary())
        return redirect(target)


class EventRevertView(_RevertView):
    def describe(self, request, key: str, event_id: int) -> dict:
        tracked = tracked_of(key)
        events = events_described([(tracked, event_id)])
        if not events:
            raise GraphNotFound(f"there is no {tracked.noun} history event {event_id}", code=HISTORY_UNKNOWN)
        event = events[0]
        effect = {"insert": f"delete the {tracked.noun} it created (if it still exists)",
                  "update": "put back the values it changed (the other fields keep their current values)",
                  "delete": f"insert the {tracked.noun} again as it was"}[event.label]
        return {"title": f"Revert this change to a {tracked.noun}?", "events": events, "effect": effect,
                "action": reverse("history_event_revert", args=[key, event_id])}

    def revert(self, request, key: str, event_id: int):
        report = history_event_revert(key=key, event_id=event_id, user=request.user)
        return report, reverse("history")


class EntryRevertView(_RevertView):
    def back(self, entry: str) -> str:
        return reverse("history_entry", args=[entry])

    def describe(self, request, entry: str) -> dict:
        size = entry_size(entry)
        what = ", ".join(f"{count:,}{'+' if count >= 10_000 else ''} {noun} event{'s' * (count != 1)}"
                         for noun, count in size.items())
        return {"title": "Revert this whole entry?", "events": entry_page(entry=entry).events[:10],
                "effect": f"put every row its {what} touched back as it was before it: rows it created are "
                          "deleted, rows it deleted come back, fields it changed get their old values",
                "action": reverse("history_entry_revert", args=[entry])}

    def revert(self, request, entry: str):
        return history_entry_revert(entry=entry, user=request.user), reverse("history")


class NodeRestoreView(_RevertView):
    permission_action = "restore deleted nodes"

    def back(self, node_id: int) -> str:
        return reverse("node_history", args=[node_id])

    def describe(self, request, node_id: int) -> dict:
        deletion = node_deletion(node_id)
        if deletion is None or Node.objects.filter(pk=node_id).exists():
            raise GraphNotFound(f"node {node_id} is not a deleted node", code=HISTORY_UNKNOWN)
        return {"title": f"Restore the deleted node “{deletion.name}”?",
                "events": events_described([(NODES, deletion.pgh_id)]),
                "effect": "insert it again with the attributes, relationships (to nodes that still exist), resource "
                          "links and references its deletion removed",
                "action": reverse("node_restore", args=[node_id])}

    def revert(self, request, node_id: int):
        return node_restore(node_id=node_id, user=request.user), reverse("node_detail", args=[node_id])
