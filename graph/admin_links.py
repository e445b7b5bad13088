"""Small pieces the graph's admin modules share: links to change pages, shortened text, rows read with their
nodes' names."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html


def shorten(text: str | None, length: int = 80) -> str:
    if not text:
        return ""
    return text if len(text) <= length else text[: length - 1] + "…"


def change_link(obj, text=None) -> str:
    """A link to ``obj``'s admin change page (plain text if its model is not in the admin)."""
    if obj is None:
        return "—"
    opts = obj._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return format_html("{}", text or obj)
    return format_html('<a href="{}">{}</a>', url, text or obj)


def node_link(node_id: int | None, name: str | None) -> str:
    if node_id is None:
        return "—"
    url = reverse("admin:graph_node_change", args=[node_id])
    return format_html('<a href="{}">{}</a>', url, name if name is not None else f"node {node_id} (deleted)")


def with_names(queryset, *relations: str):
    """``queryset`` reading the related nodes and resources it names in the same query, without their 768-number
    embeddings and JSON metadata (parsing 100 vectors would cost more than the page's queries)."""
    return queryset.select_related(*relations).defer(
        *(f"{relation}__{field}" for relation in relations for field in ("embedding", "metadata")))
