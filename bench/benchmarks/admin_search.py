"""Searches and autocompletes in the admin (issue 8, items 4 and 6): ``graph.admin_search`` against Django's search.

* **ours**: the site's admin (``graph.admin``), whose search mixins run ``graph.selectors.search`` (trigram and
  ``lower(name)`` indexes, ``= ANY(ARRAY(...))`` probes, the ranked autocomplete).
* **baseline**: the same admin classes on a private ``AdminSite`` with the search as it was before: Django's own
  ``get_search_results`` over ``search_fields`` (``UPPER(x::text) LIKE UPPER('%term%')``, which no index serves;
  for relationships, references and links the node names through joins), plus the id fields kgsite matched
  already; the autocomplete in Django's order (the admin's ``-node_id``). Same paginator, same list columns.

Each call is one page view through Django's test client (middleware, session, the whole admin page or the
autocomplete JSON), logged in as the bench database's superuser. The terms are read from the bench graph in
``setup`` (deterministic for a seed): a common syllable, a full node name that occurs once, a one-character term, a
subtree path, an attribute value's inner part. Quality: how many rows each side lists (the baseline finds nothing
for a subtree path, a node name in relationships or part of an attribute value), and for autocompletes the first
result of each side.
"""

from __future__ import annotations

import re

from django.contrib import admin
from django.db import connection
from django.urls import include, path

from bench.benchmarks.admin_changelist import PageViewBenchmark
from bench.harness import Context, register
from graph import admin as graph_admin
from graph.models import Node, NodeAttribute, NodeResourceLink, Reference, Relationship
from kgsite.admin import BigTableAdmin

stock_site = admin.AdminSite(name="search_stock_admin")


def _baseline(admin_class, search_fields, id_search_fields=(), exact_search_fields=()):
    """``admin_class`` with the search it had before issue 8: Django's over ``search_fields``."""
    return type(f"Baseline{admin_class.__name__}", (admin_class,), {
        "search_fields": search_fields, "id_search_fields": id_search_fields,
        "exact_search_fields": exact_search_fields,
        "get_search_results": BigTableAdmin.get_search_results,
        "get_ordering": BigTableAdmin.get_ordering,
        "__module__": __name__,
    })


stock_site.register(Node, _baseline(graph_admin.NodeAdmin, ("name",), ("node_id",)))
stock_site.register(NodeAttribute, _baseline(
    graph_admin.NodeAttributeAdmin, ("attribute_value", "attribute_key"), ("node_id",)))
stock_site.register(Relationship, _baseline(
    graph_admin.RelationshipAdmin, ("source_node__name", "target_node__name", "relationship_type"),
    ("source_node_id", "target_node_id")))
stock_site.register(Reference, _baseline(
    graph_admin.ReferenceAdmin, ("source_node__name", "target_node__name", "source_resource__title",
                                 "target_resource__title", "reference_type")))
stock_site.register(NodeResourceLink, _baseline(
    graph_admin.NodeResourceLinkAdmin, ("node__name", "resource__title", "resource__url", "link_type")))

urlpatterns = [path("stock-admin/", stock_site.urls), path("", include("kgsite.urls"))]

_CHANGE_LINK = re.compile(r'/graph/\w+/(\d+)/change/')
COMMON_TERM = "our"  # a syllable of the generator's vocabulary: in about 8% of node names


def _one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def bench_terms() -> dict[str, str]:
    """Terms read from the bench graph (the same for a seed and scale)."""
    nodes = _one("SELECT count(*) FROM nodes") or 1
    rare = _one("""SELECT name FROM nodes n WHERE node_id >= %s AND length(name) BETWEEN 8 AND 30
                   AND (SELECT count(*) FROM nodes m WHERE lower(m.name) = lower(n.name)) = 1
                   ORDER BY node_id LIMIT 1""", [nodes * 3 // 4])
    subtree = _one("""SELECT path::text FROM nodes p WHERE nlevel(path) = 3 AND node_id >= %s
                      AND EXISTS (SELECT 1 FROM nodes c WHERE c.parent_node_id = p.node_id)
                      ORDER BY node_id LIMIT 1""", [nodes // 3])
    value = _one("""SELECT attribute_value FROM node_attributes WHERE attribute_key = 'description'
                    AND length(attribute_value) BETWEEN 40 AND 200 ORDER BY attribute_id LIMIT 1""")
    if value is None:
        value = _one("""SELECT attribute_value FROM node_attributes WHERE length(attribute_value) BETWEEN 20 AND 200
                        AND attribute_value LIKE '%% %% %%' ORDER BY attribute_id LIMIT 1""")
    words = (value or "none here at all").split()
    part = " ".join(words[1:3])[1:]  # the inside of a phrase: no whole-value match
    resource = _one("""SELECT title FROM external_resources r WHERE title IS NOT NULL AND EXISTS
                       (SELECT 1 FROM reference_tracking t WHERE t.target_resource_id = r.resource_id)
                       ORDER BY resource_id LIMIT 1 OFFSET 100""")
    linked = _one("""SELECT n.name FROM node_resource_links l JOIN nodes n USING (node_id)
                     ORDER BY l.link_id LIMIT 1 OFFSET 1000""")
    return {"rare": rare or "Nothing", "subtree": subtree or "nothing", "attribute": part,
            "resource_word": (resource or "nothing").split()[0], "linked": linked or "Nothing"}


class SearchBenchmark(PageViewBenchmark):
    """A search page view on our admin and on the baseline admin; ``term_key`` names a term of ``bench_terms``."""

    urlconf = __name__
    unit = "ms"
    repeat = 11
    warmup = 2
    baseline = "Django's search_fields (UPPER LIKE), same admin otherwise"

    def __init__(self, name: str, description: str, model: str, term: str | None = None,
                 term_key: str | None = None, repeat: int | None = None):
        self.name, self.description, self.model = name, description, model
        if repeat is not None:  # a baseline that takes tens of seconds per view at 1m
            self.repeat, self.warmup = repeat, 1
        self.term, self.term_key = term, term_key
        self.found: dict[str, list[str]] = {}

    def setup(self, context: Context) -> None:
        super().setup(context)
        if self.term_key:
            self.term = bench_terms()[self.term_key]
        self.description += f": {self.term!r}"
        self.urls = {"ours": self._url("admin"), "baseline": self._url("stock-admin")}

    def _url(self, prefix: str) -> str:
        from urllib.parse import urlencode

        return f"/{prefix}/graph/{self.model}/?{urlencode({'q': self.term})}"

    def after_each(self, side: str, final: bool) -> None:
        if final:
            self.found[side] = self._listed(self._view(side))

    def _listed(self, page: str) -> list[str]:
        return list(dict.fromkeys(_CHANGE_LINK.findall(page.split('id="result_list"', 1)[-1])))

    def quality(self) -> str:
        ours, stock = self.found.get("ours", []), self.found.get("baseline", [])
        return f"rows listed: {len(ours)} / {len(stock)}"


class AutocompleteBenchmark(SearchBenchmark):
    """The node autocomplete of Relationship → Source node (first page of 20)."""

    baseline = "Django's autocomplete: search_fields (UPPER LIKE), order -node_id"

    def _url(self, prefix: str) -> str:
        from urllib.parse import urlencode

        query = urlencode({"app_label": "graph", "model_name": "relationship", "field_name": "source_node",
                           "term": self.term})
        return f"/{prefix}/autocomplete/?{query}"

    def _listed(self, page: str) -> list[str]:
        import json

        return [result["text"] for result in json.loads(page)["results"]]

    def quality(self) -> str:
        ours, stock = self.found.get("ours", []), self.found.get("baseline", [])
        first = (ours or ["—"])[0]
        return f"first: {first!r} / {(stock or ['—'])[0]!r} ({len(ours)} / {len(stock)} listed)"


register(SearchBenchmark("admin.search.node_common", "node change list, a common syllable", "node", COMMON_TERM))
register(SearchBenchmark("admin.search.node_rare", "node change list, a full name found once", "node",
                         term_key="rare"))
register(SearchBenchmark("admin.search.node_1char", "node change list, one character", "node", "k"))
register(SearchBenchmark("admin.search.node_subtree", "node change list, a path (node and subtree)", "node",
                         term_key="subtree"))
register(AutocompleteBenchmark("admin.search.autocomplete_c", "node autocomplete", "node", "C"))
register(AutocompleteBenchmark("admin.search.autocomplete_go", "node autocomplete", "node", "Go"))
register(AutocompleteBenchmark("admin.search.autocomplete_name", "node autocomplete, a full name", "node",
                               term_key="rare"))
register(SearchBenchmark("admin.search.relationship_name", "relationship change list, a node's full name",
                         "relationship", term_key="rare", repeat=5))
register(SearchBenchmark("admin.search.attribute_part", "attribute change list, part of a value",
                         "nodeattribute", term_key="attribute"))
register(SearchBenchmark("admin.search.attribute_common", "attribute change list, a common value",
                         "nodeattribute", "active", repeat=3))
register(SearchBenchmark("admin.search.reference_resource", "reference change list, a word of a resource title",
                         "reference", term_key="resource_word"))
register(SearchBenchmark("admin.search.link_node", "node–resource link change list, a node's full name",
                         "noderesourcelink", term_key="linked"))
