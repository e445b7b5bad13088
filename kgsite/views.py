"""Site-wide pages: the home page (what the graph holds). Login, logout and password change are Django's views
(``django.contrib.auth.urls``) with the templates in ``templates/registration/``."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.urls import NoReverseMatch, reverse
from django.views.generic import TemplateView

from graph.selectors.overview import CountLine, graph_overview


@dataclass(frozen=True)
class OverviewRow:
    line: CountLine
    admin_url: str | None


def admin_changelist_url(user, model: type[models.Model]) -> str | None:
    """The admin changelist of ``model`` if ``user`` may view it and the model is registered, else None."""
    if not user.is_staff:
        return None
    opts = model._meta
    if not (user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
            or user.has_perm(f"{opts.app_label}.change_{opts.model_name}")):
        return None
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:  # not registered with the admin
        return None


class HomeView(TemplateView):
    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        overview = graph_overview()
        user = self.request.user
        context.update(
            overview=overview,
            rows=[OverviewRow(line, admin_changelist_url(user, line.model)) for line in overview.lines],
        )
        return context
