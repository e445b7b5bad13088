"""The node change list in the admin: ``graph.admin.NodeAdmin`` against a stock ``ModelAdmin``.

The stock admin has the same ``list_display``, links, search field, page size (50) and filters (``node_type``,
``source`` as plain field filters), and Django's defaults otherwise: the default paginator (a full ``COUNT(*)``
per page view, two with a filter applied, since ``show_full_result_count`` is on), ``SELECT DISTINCT`` for the
filter choices, and every column read, the 768-d embedding included. Ours uses the estimated-count paginator,
loose-index-scan filter choices and defers the embedding.

Each page view goes through Django's test client with the whole middleware stack (sessions, auth, CSRF,
messages), logged in as a superuser of the bench database; this module is the URLconf while it runs (the site's
URLs plus the stock admin under ``/stock-admin/``). Quality: the overlap of the node ids listed by the two pages
(they should list the same rows).
"""

from __future__ import annotations

import re

from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import include, path

from bench.harness import Benchmark, Context, register
from graph.admin import NodeAdmin
from graph.models import Node

BENCH_USER = "bench@kgsite.invalid"
DEEP_PAGE = 100
_NODE_LINK = re.compile(r'/graph/node/(\d+)/change/')

stock_site = admin.AdminSite(name="stock_admin")


class StockNodeAdmin(admin.ModelAdmin):
    list_display = NodeAdmin.list_display
    list_display_links = NodeAdmin.list_display_links
    list_filter = ("node_type", "source")
    search_fields = NodeAdmin.search_fields
    list_per_page = NodeAdmin.list_per_page


stock_site.register(Node, StockNodeAdmin)

urlpatterns = [path("stock-admin/", stock_site.urls), path("", include("kgsite.urls"))]


class AdminPageBenchmark(Benchmark):
    """Page views through Django's test client, logged in as the bench database's superuser (made on first use),
    with ``urlconf`` (a module holding the site's URLs and the stock admin) as the URLconf while it runs."""

    urlconf = __name__

    def setup(self, context: Context) -> None:
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        user = user_model.objects.filter(email=BENCH_USER).first()
        if user is None:
            user = user_model.objects.create_superuser(email=BENCH_USER, password=None)
        self.client = Client(SERVER_NAME="localhost")
        self.client.force_login(user)
        self.urlconf_override = override_settings(ROOT_URLCONF=self.urlconf)
        self.urlconf_override.enable()

    def teardown(self) -> None:
        self.urlconf_override.disable()


class PageViewBenchmark(AdminPageBenchmark):
    """Each side is one GET of ``self.urls[side]`` (set by the subclass); its queries are counted on one more."""

    urls: dict[str, str]

    def _view(self, side: str) -> str:
        response = self.client.get(self.urls[side])
        if response.status_code != 200:
            raise AssertionError(f"GET {self.urls[side]} answered {response.status_code}")
        return response.content.decode()

    def ours(self) -> None:
        self._view("ours")

    def run_baseline(self) -> None:
        self._view("baseline")

    def queries(self, side: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            self._view(side)
        return len(captured)


class ChangelistBenchmark(PageViewBenchmark):
    unit = "ms"
    repeat = 15  # page views are cheap; more runs steady the medians on a shared machine
    warmup = 3
    baseline = "stock ModelAdmin, default paginator"

    def __init__(self, name: str, description: str, ours_query: str, stock_query: str):
        self.name, self.description = name, description
        self.urls = {"ours": f"/admin/graph/node/{ours_query}", "baseline": f"/stock-admin/graph/node/{stock_query}"}
        self.listed: dict[str, set[str]] = {}

    def after_each(self, side: str, final: bool) -> None:
        if final:
            self.listed[side] = set(_NODE_LINK.findall(self._view(side)))

    def quality(self) -> str:
        ours, stock = self.listed.get("ours", set()), self.listed.get("baseline", set())
        if not ours and not stock:
            return "no rows listed"
        return f"overlap {len(ours & stock) / len(ours | stock):.0%} ({len(ours)} rows)"


register(ChangelistBenchmark("admin.changelist.first_page", "the node change list, first page", "", ""))
register(ChangelistBenchmark(
    f"admin.changelist.page_{DEEP_PAGE}", f"the node change list, page {DEEP_PAGE} (offset {(DEEP_PAGE - 1) * 50:,})",
    f"?p={DEEP_PAGE}", f"?p={DEEP_PAGE}"))
register(ChangelistBenchmark(
    "admin.changelist.filtered", "the node change list filtered on node_type = person, first page",
    "?node_type=person", "?node_type__exact=person"))
