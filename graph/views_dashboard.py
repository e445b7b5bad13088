"""The graph's site pages: the home page (what the graph holds).

Login, logout and password change are Django's views wired in ``kgsite/urls.py`` with the templates in
``templates/registration/``; the pages that show graph data live here, in the app that owns the data."""

from __future__ import annotations

from dataclasses import dataclass

from django.views.generic import TemplateView

from graph.models import GraphConnectivityStats
from graph.selectors.overview import CountLine, graph_overview
from kgsite.admin import admin_changelist_url


@dataclass(frozen=True)
class OverviewRow:
    line: CountLine
    admin_url: str | None


class DashboardView(TemplateView):
    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        overview = graph_overview()
        user = self.request.user
        context.update(
            overview=overview,
            rows=[OverviewRow(line, admin_changelist_url(user, line.model)) for line in overview.lines],
            connectivity_admin_url=admin_changelist_url(user, GraphConnectivityStats),
        )
        return context
