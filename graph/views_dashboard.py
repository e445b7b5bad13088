"""The dashboard (``/``): what the graph holds and how its machinery is doing.

Login, logout and password change are Django's views wired in ``kgsite/urls.py`` with the templates in
``templates/registration/``; the pages that show graph data live here, in the app that owns the data.

Thin: ``graph.selectors.dashboard.graph_dashboard`` reads everything (cheaply: see its docstring), the charts are
drawn by ``graph.presentation.charts``, and this view adds the admin links the user may follow (none for a user
who is not staff or lacks the view permission).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse
from django.views.generic import TemplateView

from config_admin.models import SystemConfig
from graph.models import GraphConnectivityStats, InferenceQueueItem, Node, NodeConfidenceCache, VectorIndexBuild
from graph.presentation.charts import confidence_histogram, node_type_chart, tier_chart
from graph.selectors.dashboard import graph_dashboard
from kgsite.admin import admin_changelist_url


@dataclass(frozen=True)
class Linked:
    """Something shown with the admin page a user may open for it (None: no link)."""

    item: object
    admin_url: str | None


def _with_query(url: str | None, query: str) -> str | None:
    return f"{url}?{query}" if url and query else url


def _can_view(user, model) -> bool:
    opts = model._meta
    return user.is_staff and (user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
                              or user.has_perm(f"{opts.app_label}.change_{opts.model_name}"))


def _admin_url(user, model, name: str, *args) -> str | None:
    if not _can_view(user, model):
        return None
    try:
        return reverse(name, args=args)
    except NoReverseMatch:  # not registered with the admin
        return None


class DashboardView(TemplateView):
    template_name = "graph/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        dashboard = graph_dashboard()
        user = self.request.user
        overview, confidence = dashboard.overview, dashboard.confidence
        urls = {model: admin_changelist_url(user, model)
                for model in {line.model for line in [*overview.lines, *overview.relationship_parts]}}
        nodes_url = admin_changelist_url(user, Node)
        queue_url = admin_changelist_url(user, InferenceQueueItem)
        types = overview.top_node_types
        context.update(
            dashboard=dashboard,
            overview=overview,
            counts=[Linked(line, urls[line.model]) for line in overview.lines],
            relationship_parts=[Linked(line, _with_query(urls[line.model], line.admin_query))
                                for line in overview.relationship_parts],
            node_types=[Linked(stat, _with_query(nodes_url, urlencode({"node_type": stat.node_type})))
                        for stat in types],
            node_type_chart=node_type_chart([(stat.node_type, stat.node_count) for stat in types]),
            histogram=confidence_histogram(confidence.counts, estimated=confidence.estimated),
            tiers=tier_chart(estimated=confidence.estimated, **confidence.tiers),
            confidence_view_url=admin_changelist_url(user, NodeConfidenceCache),
            queue_counts=[Linked(line, _with_query(queue_url, urlencode({"status__exact": line.status})))
                          for line in dashboard.queue.counts],
            queue_url=queue_url,
            views=[Linked(view, admin_changelist_url(user, view.model)) for view in dashboard.views],
            connectivity_admin_url=admin_changelist_url(user, GraphConnectivityStats),
            vector_health_url=_admin_url(user, VectorIndexBuild, "admin:graph_vectorindexbuild_health"),
            config_lines=[Linked(line, _admin_url(user, SystemConfig, "admin:config_admin_systemconfig_change",
                                                  line.row.pk)) for line in dashboard.config.lines],
            config_url=admin_changelist_url(user, SystemConfig),
        )
        return context
