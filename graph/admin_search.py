"""Searches of the graph admin: what a curator types finds what they mean, through indexes.

Each mixin holds everything about one model admin's search (``search_fields``, ``search_help_text``,
``get_search_results`` and, for nodes and resources, the autocomplete order). ``graph/admin.py`` puts the mixin
first in the class bases. The queries are ``graph.selectors.search``; the index side is migration
``graph.0007_search_indexes`` (docs/schema.md, "Search indexes").

``search_fields`` only makes Django show the search box (and lets the autocomplete view accept the model): every
mixin's ``get_search_results`` does the searching itself, never Django's ``UPPER(x) LIKE`` scans.

The autocomplete (Django's ``AutocompleteJsonView`` at ``/admin/autocomplete/``) calls the target model admin's
``get_search_results`` too; there the node and resource mixins rank the matches (exact, then prefix, then the
rest; shorter first) and read only as many of each rank as the requested page needs, so "more" pages keep
working and the paginator's count stays small.
"""

from __future__ import annotations

from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR

from graph.selectors import search

AUTOCOMPLETE_MAX_PAGE = 500


def autocomplete_limit(request) -> int | None:
    """For an autocomplete request, how many ranked rows its page needs (one more tells whether there are more);
    None for any other request (the change list keeps its own order)."""
    match = getattr(request, "resolver_match", None)
    is_autocomplete = (match is not None and match.url_name == "autocomplete") or request.path.endswith(
        "/autocomplete/")
    if not is_autocomplete:
        return None
    try:
        page = int(request.GET.get("page") or 1)
    except ValueError:
        page = 1  # Django's paginator answers 404 for it anyway
    page = min(max(page, 1), AUTOCOMPLETE_MAX_PAGE)
    return page * AutocompleteJsonView.paginate_by + 1


class _SearchMixin:
    """``get_search_results`` from one selector: ``search_condition(term)`` gives the Q of the matching rows.
    ``materialize``: collect the matching ids first (``graph.selectors.search.materialized``), for searches whose
    condition the planner would otherwise test row by row along the primary key."""

    materialize = False
    materialize_cap = search.MATERIALIZE_CAP

    def search_condition(self, term: str):
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search.search_term_clean(search_term)
        if not term:
            return queryset, False
        condition = self.search_condition(term)
        if self.materialize:
            return search.materialized(queryset, condition, self.materialize_cap), False
        return queryset.filter(condition), False


class _RankedAutocompleteMixin(_SearchMixin):
    """In the autocomplete, the matches ranked by ``ranked_tiers(term)`` then ``ranked_order``, reading only the
    requested page's worth of each tier; ``autocomplete_defer``: columns the widget never shows."""

    ranked_order: tuple = ()
    autocomplete_defer: tuple[str, ...] = ()

    def ranked_tiers(self, term: str) -> list[search.Tier]:
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search.search_term_clean(search_term)
        limit = autocomplete_limit(request)
        if not term or limit is None:
            return super().get_search_results(request, queryset, search_term)
        queryset = queryset.defer(*self.autocomplete_defer)
        return search.ranked_search(queryset, self.ranked_tiers(term), self.ranked_order, limit=limit), False


class NodeSearchMixin(_RankedAutocompleteMixin):
    search_fields = ("name",)
    search_help_text = (
        "A name or part of one (1–2 characters: names starting with them), a node id, or a path such as "
        "computing.languages (that node and everything below it)."
    )

    ranked_order = search.NODE_ORDER
    autocomplete_defer = ("embedding", "metadata")  # the widget shows name and type only

    def search_condition(self, term):
        return search.node_search_q(term)

    def ranked_tiers(self, term):
        return search.node_ranked_tiers(term)


class NodeAttributeSearchMixin(_SearchMixin):
    # A rare term's matches are collected once (its trigram re-checks are the cost); a common term (over 1,000
    # matches among millions of attributes) finds a page at once walking the primary key backwards.
    materialize = True
    materialize_cap = 1_000
    search_fields = ("attribute_value", "attribute_key")
    search_help_text = (
        "Part of an attribute value or key (1–2 characters: a whole value or key), or a node id. "
        "Results are listed newest first."
    )

    def get_ordering(self, request):
        """Newest first while searching (unless a column is sorted): the usual order (type, key) would make
        PostgreSQL walk the (type, key, ...) index filtering every row until the 50 matches show up, 173 ms at 10k
        nodes for "active" and 100 times that at 1m; by id, common terms stop early on the primary key and rare
        ones come from the trigram index."""
        if request.GET.get(SEARCH_VAR, "").strip() and not request.GET.get(ORDER_VAR):
            return ("-attribute_id",)
        return super().get_ordering(request)

    def search_condition(self, term):
        return search.attribute_search_q(term)


class RelationshipSearchMixin(_SearchMixin):
    materialize = True
    search_fields = ("source_node__name", "target_node__name", "relationship_type")
    search_help_text = (
        "A node's name or part of it (relationships from or to it; 1–2 characters: the whole name), a relationship "
        "type, or a node id."
    )

    def search_condition(self, term):
        return search.relationship_search_q(term)


class InferenceQueueItemSearchMixin:
    search_help_text = "A node id or a batch id."
    exact_search_fields = ("batch_id",)
    id_search_fields = ("node_id",)


class ExternalResourceSearchMixin(_RankedAutocompleteMixin):
    search_fields = ("title", "url")
    search_help_text = (
        "Part of a title or URL (1–2 characters: titles starting with them), or a resource id."
    )

    ranked_order = search.RESOURCE_ORDER
    autocomplete_defer = ("embedding", "metadata", "description")

    def search_condition(self, term):
        return search.resource_search_q(term)

    def ranked_tiers(self, term):
        return search.resource_ranked_tiers(term)


class NodeResourceLinkSearchMixin(_SearchMixin):
    materialize = True
    search_fields = ("node__name", "resource__title", "resource__url", "link_type")
    search_help_text = (
        "A node's name, a resource's title or URL (or part of one, 3+ characters), a link type, or an id."
    )

    def search_condition(self, term):
        return search.link_search_q(term)


class ReferenceSearchMixin(_SearchMixin):
    materialize = True
    search_fields = ("source_node__name", "target_node__name", "reference_type")
    search_help_text = (
        "A node's name, a resource's title or URL (or part of one, 3+ characters), a reference type, or an id."
    )

    def search_condition(self, term):
        return search.reference_search_q(term)
