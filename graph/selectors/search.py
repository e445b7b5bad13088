"""Searching the graph's big tables through indexes: what the admin's search boxes and autocompletes run.

How a term matches (docs/schema.md, "Search indexes", names the index behind each):

* **Names, titles, attribute values and keys** match case-insensitively. A term of ``TRIGRAM_MIN`` (3) characters
  or more matches anywhere in the text (``ILIKE '%term%'``, served by a pg_trgm GIN index); in attribute values,
  anywhere in the first ``VALUE_SEARCH_HEAD`` (512) characters, which is the whole of all but the longest texts.
  Shorter terms cannot use trigrams, so they match the start of a node name or resource title
  (``lower(name) LIKE 'c%'`` on a btree), or a whole attribute value or key, or a whole node name where a name
  selects other rows (relationships, references, links).
* **A number** also matches the row's id and the ids of the nodes it joins.
* **A valid ltree path** (``computing.languages.functional``) also matches that node and its whole subtree
  (``path <@ term``, the GiST index).
* **A type** (relationship, reference, link type) matches when the term is part of it, ignoring case, with spaces
  read as underscores: the table's distinct types are read by a loose index scan, then matched by the btree.
* Rows that refer to nodes or resources (relationships, references, links) match through the ids of the matching
  nodes/resources: ``node_id = ANY(ARRAY(SELECT ...))`` is computed once and probes each foreign-key index.

The autocomplete orders nodes as a curator expects: an exact name (or id) first, then names that start with the
term, then names that contain it, then the subtree of a path; shorter names first within each, then by name. Each
of those tiers is read in that order from its own index and cut at the requested page's end
(``ranked_search``), so "C" at a million nodes costs a few index probes, not a sort of every name with a C.

All user input reaches SQL as parameters; LIKE wildcards in the term are escaped (``%``, ``_`` and ``\\`` match
themselves). NUL characters (which PostgreSQL text cannot hold) are dropped, and terms are cut at
``TERM_MAX_LENGTH`` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Collate, Left, Length, Lower
from django.db.models.lookups import Lookup

from graph.models import ExternalResource, Node, NodeResourceLink, Reference, Relationship
from graph.models.attributes import VALUE_SEARCH_HEAD
from kgsite.admin import distinct_values
from kgsite.db import with_known_count
from kgsite.numbers import whole_number

TRIGRAM_MIN = 3
MATERIALIZE_CAP = 10_000  # up to this many matching rows, their ids are collected first (``materialized``)
TERM_MAX_LENGTH = 500
TITLE_PREFIX_LENGTH = 100  # idx_external_resources_title_lower holds left(lower(title), 100)
ID_MAX = 2**31 - 1
# ltree: labels of letters, digits, underscores and hyphens (PostgreSQL 16+), at most 1,000 characters each.
_LTREE_PATH = re.compile(r"[A-Za-z0-9_-]{1,1000}(\.[A-Za-z0-9_-]{1,1000})*")
_LTREE_LOWEST_CHARACTER = "-"  # the smallest byte a label may hold: 'a.b' <= every path below a.b < 'a.b-'


# --- Terms ---------------------------------------------------------------------------------------------------

def search_term_clean(term: str | None) -> str:
    """The term as searched: NULs dropped, surrounding space stripped, at most ``TERM_MAX_LENGTH`` characters."""
    return (term or "").replace("\x00", "").strip()[:TERM_MAX_LENGTH]


def like_escape(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (PostgreSQL's default escape character is the backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def term_id(term: str) -> int | None:
    """The term as a row id, if it is one."""
    return whole_number(term, 0, ID_MAX)


def term_path(term: str) -> str | None:
    """The term as an ltree path, if it is one."""
    return term if _LTREE_PATH.fullmatch(term) else None


# --- SQL building blocks ---------------------------------------------------------------------------------------

class _Operator(Lookup):
    """``lhs <operator> rhs`` exactly as written: Django's own lookups wrap both sides (``UPPER(x::text)``) in ways
    no index of ours serves."""

    operator = ""
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} {self.operator} {rhs}", (*lhs_params, *rhs_params)


class ILike(_Operator):
    """``lhs ILIKE pattern``: what a pg_trgm GIN index serves (Django's ``icontains`` writes ``UPPER(x) LIKE``)."""

    lookup_name = "kg_ilike"
    operator = "ILIKE"


class Like(_Operator):
    """``lhs LIKE pattern``; with ``lower(name)`` and a ``text_pattern_ops`` btree a prefix is an index range."""

    lookup_name = "kg_like"
    operator = "LIKE"


class AnyOf(Lookup):
    """``lhs = ANY(ARRAY(subquery))``: the subquery runs once (an InitPlan) and each id probes ``lhs``'s index, so
    "relationships of the nodes named like X" is index work on both tables (``lhs IN (subquery)`` OR-ed with other
    conditions would be checked row by row)."""

    lookup_name = "kg_any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)
        return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)


def contains(field: str, term: str) -> Q:
    return Q(ILike(F(field), Value(f"%{like_escape(term)}%")))


def starts_with_lower(expression, term: str) -> Q:
    return Q(Like(expression, Value(f"{like_escape(term.lower())}%")))


def any_of(field: str, queryset: models.QuerySet) -> Q:
    return Q(AnyOf(F(field), models.Subquery(queryset.order_by().values("pk"))))


# --- Nodes -----------------------------------------------------------------------------------------------------

class LowerEquals(_Operator):
    """``lower(x) = value`` (Django's ``iexact`` writes ``UPPER(x::text) = UPPER(value)``: no index serves it)."""

    lookup_name = "kg_equals"
    operator = "="


def lower_equals(expression, value: str) -> Q:
    return Q(LowerEquals(expression, Value(value)))


def node_name_q(term: str, *, short: str = "prefix") -> Q:
    """Nodes whose name matches ``term``: contains it (3+ characters), else starts with it (``short="prefix"``) or
    equals it (``short="exact"``), ignoring case."""
    if len(term) >= TRIGRAM_MIN:
        return contains("name", term)
    if short == "exact":
        return lower_equals(Lower("name"), term.lower())
    return starts_with_lower(Lower("name"), term)


def subtree_q(path: str) -> Q:
    """The node at ``path`` and its descendants: ``path <@ term`` (GiST), also written as the btree range
    ``term <= path < term || '-'`` (a subtree is contiguous in ltree order and '-' is the smallest character a
    label may hold), so that a scan in path order (the autocomplete's subtree tier) stops at the subtree's end."""
    return Q(path__descendants=path, path__gte=path, path__lt=path + _LTREE_LOWEST_CHARACTER)


def node_search_q(term: str) -> Q:
    """What the node search box matches: the name (see ``node_name_q``), the id, the subtree of a path."""
    condition = node_name_q(term)
    node_id = term_id(term)
    if node_id is not None:
        condition |= Q(node_id=node_id)
    path = term_path(term)
    if path is not None:
        condition |= subtree_q(path)
    return condition


def nodes_named(term: str) -> models.QuerySet:
    """Nodes a name term selects when it is used to find other rows (3+ characters: contains; else: equals)."""
    return Node.objects.filter(node_name_q(term, short="exact"))


# --- Ranked search (the autocomplete's order) ------------------------------------------------------------------

@dataclass(frozen=True)
class Tier:
    """One rank of a ranked search: the rows ``condition`` selects that no earlier tier took, ordered by ``lead``
    (if given) and then by the search's common order."""

    condition: Q
    lead: object = None


def ranked_search(queryset: models.QuerySet, tiers: list[Tier], order: tuple, *, limit: int | None):
    """``queryset`` limited to rows matching a tier, ordered by tier, then by the tier's ``lead``, then ``order``.

    With ``limit`` (the end of the page asked for) and an unfiltered ``queryset``, each tier's first ``limit``
    rows are read through its own index and only those are ranked: the top ``limit`` rows overall are among them,
    so pages up to that one are exact, and ``count()`` reaches ``limit`` exactly when at least ``limit`` rows match.
    """
    rank = Case(*(When(tier.condition, then=Value(index)) for index, tier in enumerate(tiers)),
                default=Value(len(tiers)), output_field=models.IntegerField())
    common = [expression.asc() for expression in order]
    leads = [When(kg_rank=index, then=tier.lead) for index, tier in enumerate(tiers) if tier.lead is not None]
    outer_order = ["kg_rank", *([Case(*leads, default=None)] if leads else []), *common]
    if limit is not None and not queryset.query.has_filters():
        model, parts, params = queryset.model, [], []
        for index, tier in enumerate(tiers):
            inner_order = [*([tier.lead.asc()] if tier.lead is not None else []), *common]
            inner = (model._default_manager.alias(kg_rank=rank).filter(tier.condition, kg_rank=index)
                     .order_by(*inner_order).values_list("pk", flat=True)[:limit])
            sql, inner_params = inner.query.sql_with_params()
            parts.append(f"({sql})")
            params.extend(inner_params)
        queryset = queryset.filter(pk__in=RawSQL(" UNION ALL ".join(parts), params))
    else:
        combined = Q()
        for tier in tiers:
            combined |= tier.condition
        queryset = queryset.filter(combined)
    return queryset.annotate(kg_rank=rank).order_by(*outer_order)


# Shorter names first, then by name: (length, lower(name) in byte order) is idx_nodes_name_length's order.
NODE_ORDER = (Length("name"), Collate(Lower("name"), "C"), F("name"), F("node_id"))
RESOURCE_ORDER = (Length("title"), Collate(Lower("title"), "C"), F("url"), F("resource_id"))


def node_ranked_tiers(term: str) -> list[Tier]:
    """Exact name or id, then names starting with the term, then containing it (3+ characters), then a path's
    subtree (in path order)."""
    exact = lower_equals(Lower("name"), term.lower())
    node_id = term_id(term)
    if node_id is not None:
        exact |= Q(node_id=node_id)
    tiers = [Tier(exact), Tier(starts_with_lower(Lower("name"), term))]
    if len(term) >= TRIGRAM_MIN:
        tiers.append(Tier(contains("name", term)))
    path = term_path(term)
    if path is not None:
        tiers.append(Tier(subtree_q(path), lead=F("path")))
    return tiers


def resource_ranked_tiers(term: str) -> list[Tier]:
    """Exact title, URL or id; then titles starting with the term; then titles or URLs containing it (3+)."""
    lower = term.lower()
    exact = (lower_equals(Left(Lower("title"), TITLE_PREFIX_LENGTH), lower[:TITLE_PREFIX_LENGTH])
             & lower_equals(Lower("title"), lower)) | Q(url=term)
    resource_id = term_id(term)
    if resource_id is not None:
        exact |= Q(resource_id=resource_id)
    tiers = [Tier(exact), Tier(starts_with_lower(Left(Lower("title"), TITLE_PREFIX_LENGTH),
                                                 term[:TITLE_PREFIX_LENGTH]))]
    if len(term) >= TRIGRAM_MIN:
        tiers.append(Tier(contains("title", term) | contains("url", term)))
    return tiers


def materialized(queryset: models.QuerySet, condition: Q, cap: int = MATERIALIZE_CAP) -> models.QuerySet:
    """``queryset.filter(condition)``, written so that the planner cannot walk the primary key backwards testing
    ``condition`` on every row (what it chose at 1m for references of a resource: 0.5 s for 50 rows).

    The matching ids are read once, through the condition's indexes, up to ``MATERIALIZE_CAP`` + 1. When at most
    ``MATERIALIZE_CAP`` rows match, the filter is ``pk IN (those ids)``: the page and the paginator's count read the
    primary key only, and the condition (whose index re-checks may be the expensive part) runs once per page view.
    More matches than that are dense enough for the backward walk to find a page quickly, so the plain condition
    stays.
    """
    ids = list(queryset.filter(condition).order_by().values_list("pk", flat=True)[:cap + 1])
    if len(ids) > cap:
        return queryset.filter(condition)
    return with_known_count(queryset.filter(pk__in=ids), len(ids))


# --- Each table's search ---------------------------------------------------------------------------------------

def resource_search_q(term: str) -> Q:
    """Resources whose title or URL contains the term (3+ characters; else whose title starts with it), or by id."""
    if len(term) >= TRIGRAM_MIN:
        condition = contains("title", term) | contains("url", term)
    else:
        condition = starts_with_lower(Left(Lower("title"), TITLE_PREFIX_LENGTH), term)
    resource_id = term_id(term)
    if resource_id is not None:
        condition |= Q(resource_id=resource_id)
    return condition


def resources_named(term: str) -> models.QuerySet:
    """Resources a term selects when it is used to find other rows: title or URL contains it (3+ characters),
    else a title equal to it or exactly this URL."""
    if len(term) >= TRIGRAM_MIN:
        return ExternalResource.objects.filter(contains("title", term) | contains("url", term))
    lower = term.lower()
    return ExternalResource.objects.filter(
        (lower_equals(Left(Lower("title"), TITLE_PREFIX_LENGTH), lower) & lower_equals(Lower("title"), lower))
        | Q(url=term))


def matching_types(model: type[models.Model], field: str, term: str) -> list[str]:
    """The distinct values of a type column (few, read by loose index scan) that contain the term, ignoring case,
    with spaces read as underscores; the term itself is always included (an exact match beyond the scan's cap)."""
    wanted = term.lower().replace(" ", "_")
    column = model._meta.get_field(field).column
    found = [value for value in distinct_values(model._meta.db_table, column) if wanted in value.lower()]
    return sorted({term, *found})


def relationship_search_q(term: str) -> Q:
    """Relationships from or to a node named like the term, of a matching type, or from/to a node id."""
    nodes = nodes_named(term)
    condition = (any_of("source_node_id", nodes) | any_of("target_node_id", nodes)
                 | Q(relationship_type__in=matching_types(Relationship, "relationship_type", term)))
    node_id = term_id(term)
    if node_id is not None:
        condition |= Q(source_node_id=node_id) | Q(target_node_id=node_id) | Q(relationship_id=node_id)
    return condition


def attribute_search_q(term: str) -> Q:
    """Attributes whose value (its first ``VALUE_SEARCH_HEAD`` characters) or key contains the term (3+
    characters; else equals it), or of a node id."""
    if len(term) >= TRIGRAM_MIN:
        value_head = Q(ILike(Left("attribute_value", VALUE_SEARCH_HEAD), Value(f"%{like_escape(term)}%")))
        condition = value_head | contains("attribute_key", term)
    else:
        condition = Q(attribute_value=term) | Q(attribute_key=term)
    node_id = term_id(term)
    if node_id is not None:
        condition |= Q(node_id=node_id) | Q(attribute_id=node_id)
    return condition


def reference_search_q(term: str) -> Q:
    """References from or to a node or resource named like the term, of a matching type, or by id."""
    nodes, resources = nodes_named(term), resources_named(term)
    condition = (any_of("source_node_id", nodes) | any_of("target_node_id", nodes)
                 | any_of("source_resource_id", resources) | any_of("target_resource_id", resources)
                 | Q(reference_type__in=matching_types(Reference, "reference_type", term)))
    ref_id = term_id(term)
    if ref_id is not None:
        condition |= (Q(reference_id=ref_id) | Q(source_node_id=ref_id) | Q(target_node_id=ref_id)
                      | Q(source_resource_id=ref_id) | Q(target_resource_id=ref_id))
    return condition


def link_search_q(term: str) -> Q:
    """Node–resource links of a node or resource named like the term, of a matching link type, or by id."""
    condition = (any_of("node_id", nodes_named(term)) | any_of("resource_id", resources_named(term))
                 | Q(link_type__in=matching_types(NodeResourceLink, "link_type", term)))
    link_id = term_id(term)
    if link_id is not None:
        condition |= Q(link_id=link_id) | Q(node_id=link_id) | Q(resource_id=link_id)
    return condition
