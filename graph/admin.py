"""The admin for the graph tables, usable at a million nodes.

* Foreign keys to big tables use autocomplete widgets (a paginated search), never a ``<select>`` of every node.
* Change lists count with the estimated-count paginator and filter with loose-index-scan choices.
* Database rules (CHECK/UNIQUE) are validated on the form with the constraint's own message.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import models
from django.utils.html import format_html
from django_ltree.forms import PathFormField

from graph.admin_search import (
    ExternalResourceSearchMixin,
    InferenceQueueItemSearchMixin,
    NodeAttributeSearchMixin,
    NodeResourceLinkSearchMixin,
    NodeSearchMixin,
    ReferenceSearchMixin,
    RelationshipSearchMixin,
)
from graph.models import (
    EmbeddingSimilarityCache,
    ExternalResource,
    GraphConnectivityStats,
    InferenceQueueItem,
    Node,
    NodeAttribute,
    NodeConfidenceCache,
    NodeResourceLink,
    PopularEntityRanking,
    Reference,
    Relationship,
    RelationshipStrengthMatrix,
)
from graph.services.hierarchy import HierarchyError, node_placement_resolve
from kgsite.admin import BigTableAdmin, ReadOnlyAdmin, distinct_values_filter

AUDIT_FIELDS = ("created_by", "created_at")


def _short(text: str | None, length: int = 80) -> str:
    if not text:
        return ""
    return text if len(text) <= length else text[: length - 1] + "…"


class EmbeddingWidget(forms.Textarea):
    def __init__(self, attrs=None):
        super().__init__(attrs={"rows": 3, "cols": 80, "class": "vLargeTextField", **(attrs or {})})

    def format_value(self, value):
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            return value
        return "[" + ",".join(f"{float(component):g}" for component in value) + "]"


class TextPathFormField(PathFormField):
    """django-ltree's field, comparing paths as text: a path shown and sent back unchanged is not a change (the
    stock field compared the stored label list with the submitted string, so every save "changed" the path)."""

    def has_changed(self, initial, data):
        return str(initial or "") != str(self.to_python(data) or "")


class NodeForm(forms.ModelForm):
    class Meta:
        model = Node
        fields = "__all__"
        widgets = {"embedding": EmbeddingWidget}
        help_texts = {"embedding": "768 numbers in brackets, or empty."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # PathField.formfield() insists on its own form class (Meta.field_classes is overridden); refine it here.
        self.fields["path"].__class__ = TextPathFormField

    def clean_path(self):
        path = self.cleaned_data.get("path")
        return path if path not in ("", None) and str(path) != "" else None

    def clean(self):
        """Path and parent agree (graph.services.hierarchy): the one the curator left alone follows the other."""
        cleaned = super().clean()
        if self.has_error("path") or self.has_error("parent_node"):
            return cleaned
        editing = self.instance if self.instance.pk else None
        try:
            path, parent = node_placement_resolve(
                node=editing, name=cleaned.get("name") or "", path=cleaned.get("path"),
                parent=cleaned.get("parent_node"), path_changed="path" in self.changed_data,
                parent_changed="parent_node" in self.changed_data,
            )
        except HierarchyError as exc:
            self.add_error(exc.field, str(exc))
        else:
            cleaned["path"], cleaned["parent_node"] = path, parent
        return cleaned


# --- Inlines on the node page --------------------------------------------------------------------------------

class CompactInline(admin.TabularInline):
    """One line per row: text columns as one-row text areas (they grow when typed into)."""

    extra = 0
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 1, "cols": 32})}}


class NodeAttributeInline(CompactInline):
    model = NodeAttribute
    fields = ("attribute_type", "attribute_key", "attribute_value", "weight", "confidence", "source_reliability",
              "last_verified")


class NodeResourceLinkInline(CompactInline):
    model = NodeResourceLink
    fields = ("resource", "link_type", "confidence", "context")
    autocomplete_fields = ("resource",)


class ReferenceInline(CompactInline):
    model = Reference
    fk_name = "source_node"
    verbose_name = "reference made by this node"
    verbose_name_plural = "references made by this node"
    fields = ("reference_type", "target_node", "target_resource", "page_number", "section", "quote")
    autocomplete_fields = ("target_node", "target_resource")


@admin.register(Node)
class NodeAdmin(NodeSearchMixin, BigTableAdmin):
    form = NodeForm
    list_display = ("node_id", "name", "node_type", "path", "confidence_score", "source", "created_at")
    list_display_links = ("node_id", "name")
    list_filter = (distinct_values_filter("node_type", "node type"), distinct_values_filter("source"))
    autocomplete_fields = ("parent_node",)
    readonly_fields = ("confidence_last_updated", "created_at", "updated_at", "created_by")
    fieldsets = (
        (None, {"fields": ("name", "node_type", "path", "parent_node", "source")}),
        ("Confidence", {"fields": ("confidence_score", "confidence_last_updated")}),
        ("Data", {"fields": ("metadata", "embedding"), "classes": ("collapse",)}),
        ("Provenance", {"fields": ("created_by", "created_at", "updated_at")}),
    )
    inlines = (NodeAttributeInline, NodeResourceLinkInline, ReferenceInline)

    def get_queryset(self, request):
        # The change list never shows the 768-number embedding; don't read it for 50 rows per page.
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("embedding", "metadata")
        return queryset


@admin.register(NodeAttribute)
class NodeAttributeAdmin(NodeAttributeSearchMixin, BigTableAdmin):
    list_display = ("attribute_id", "node", "attribute_type", "attribute_key", "short_value", "confidence", "weight")
    list_select_related = ("node",)
    list_filter = (distinct_values_filter("attribute_type", "attribute type"),)
    autocomplete_fields = ("node",)
    readonly_fields = AUDIT_FIELDS
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="value")
    def short_value(self, obj):
        return _short(obj.attribute_value)


@admin.register(Relationship)
class RelationshipAdmin(RelationshipSearchMixin, BigTableAdmin):
    list_display = ("relationship_id", "source_node", "relationship_type", "target_node", "strength",
                    "confidence_score", "bidirectional", "auto_managed")
    list_select_related = ("source_node", "target_node")
    list_filter = (distinct_values_filter("relationship_type", "relationship type"), "auto_managed",
                   "bidirectional")
    autocomplete_fields = ("source_node", "target_node")
    readonly_fields = ("confidence_last_updated", "created_at", "updated_at", "created_by", "last_inference_update",
                       "shared_attributes_count", "inference_confidence")


@admin.register(InferenceQueueItem)
class InferenceQueueItemAdmin(InferenceQueueItemSearchMixin, BigTableAdmin):
    list_display = ("queue_id", "node", "status", "priority", "retry_count", "max_retries", "queued_at",
                    "started_at", "completed_at", "processing_node")
    list_select_related = ("node",)
    list_filter = ("status", "priority")
    autocomplete_fields = ("node",)


class ExternalResourceForm(forms.ModelForm):
    class Meta:
        model = ExternalResource
        fields = "__all__"
        widgets = {"embedding": EmbeddingWidget, "url": forms.URLInput(attrs={"size": 100})}


@admin.register(ExternalResource)
class ExternalResourceAdmin(ExternalResourceSearchMixin, BigTableAdmin):
    form = ExternalResourceForm
    list_display = ("resource_id", "title_or_url", "resource_type", "crawl_status", "last_crawled")
    list_filter = ("crawl_status", distinct_values_filter("resource_type", "resource type"))
    readonly_fields = ("created_at", "updated_at", "created_by")

    @admin.display(description="resource")
    def title_or_url(self, obj):
        return format_html("{}<br><small>{}</small>", _short(obj.title or ""), _short(obj.url, 100))


@admin.register(NodeResourceLink)
class NodeResourceLinkAdmin(NodeResourceLinkSearchMixin, BigTableAdmin):
    list_display = ("link_id", "node", "resource", "link_type", "confidence", "created_at")
    list_select_related = ("node", "resource")
    list_filter = (distinct_values_filter("link_type", "link type"),)
    autocomplete_fields = ("node", "resource")
    readonly_fields = AUDIT_FIELDS


@admin.register(Reference)
class ReferenceAdmin(ReferenceSearchMixin, BigTableAdmin):
    list_display = ("reference_id", "__str__", "reference_type", "page_number", "created_at")
    list_filter = (distinct_values_filter("reference_type", "reference type"),)
    autocomplete_fields = ("source_node", "source_resource", "target_node", "target_resource")
    readonly_fields = AUDIT_FIELDS


# --- Materialized views: read-only ---------------------------------------------------------------------------

class MaterializedViewAdmin(ReadOnlyAdmin):
    paginator = BigTableAdmin.paginator
    show_full_result_count = False
    list_per_page = 50


@admin.register(NodeConfidenceCache)
class NodeConfidenceCacheAdmin(MaterializedViewAdmin):
    list_display = ("node_id", "name", "node_type", "confidence_score", "confidence_tier", "confidence_last_updated")
    list_filter = ("confidence_tier",)
    ordering = ("-confidence_score",)


@admin.register(RelationshipStrengthMatrix)
class RelationshipStrengthMatrixAdmin(MaterializedViewAdmin):
    list_display = ("source_node_id", "target_node_id", "relationship_type", "weighted_strength", "source_type",
                    "target_type", "bidirectional")
    list_display_links = None
    ordering = ("-weighted_strength",)


@admin.register(GraphConnectivityStats)
class GraphConnectivityStatsAdmin(MaterializedViewAdmin):
    list_display = ("node_type", "node_count", "avg_confidence", "high_confidence_count", "low_confidence_count",
                    "outgoing_relationships", "incoming_relationships")
    ordering = ("-node_count",)


@admin.register(PopularEntityRanking)
class PopularEntityRankingAdmin(MaterializedViewAdmin):
    list_display = ("node_id", "name", "node_type", "total_relationship_count", "outgoing_relationship_count",
                    "incoming_relationship_count", "linked_resource_count", "confidence_score")
    ordering = ("-total_relationship_count",)


@admin.register(EmbeddingSimilarityCache)
class EmbeddingSimilarityCacheAdmin(MaterializedViewAdmin):
    list_display = ("source_node_id", "target_node_id", "similarity_score", "source_type", "target_type")
    list_display_links = None
    ordering = ("-similarity_score",)
