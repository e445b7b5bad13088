"""The admin for the graph tables, usable at a million nodes.

* Foreign keys to big tables use autocomplete widgets (a paginated search), never a ``<select>`` of every node.
* Change lists count with the estimated-count paginator and filter with loose-index-scan choices.
* Database rules (CHECK/UNIQUE) are validated on the form with the constraint's own message.
"""

from __future__ import annotations

import numpy
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django_ltree.forms import PathFormField
from pgvector.django.vector import VectorFormField

from graph import (
    admin_imports,  # noqa: F401 - registers the imports (upload, check, confirm, progress)
    admin_review,  # noqa: F401 - registers the review queue, the rejections and the decisions
    admin_vector_index,  # noqa: F401 - registers the vector-index runs and Index health
)
from graph.admin_inference import relationship_inference_table, selected_ids
from graph.admin_links import change_link, node_link, with_names
from graph.admin_links import shorten as _short
from graph.admin_search import (
    ExternalResourceSearchMixin,
    NodeAttributeSearchMixin,
    NodeResourceLinkSearchMixin,
    NodeSearchMixin,
    ReferenceSearchMixin,
    RelationshipSearchMixin,
)
from graph.errors import DUPLICATE_ATTRIBUTE, REVIEW_REJECTED_LINK, GraphError
from graph.models import (
    EmbeddingSimilarityCache,
    ExternalResource,
    GraphConnectivityStats,
    Node,
    NodeAttribute,
    NodeConfidenceCache,
    NodeResourceLink,
    PopularEntityRanking,
    Reference,
    Relationship,
    RelationshipStrengthMatrix,
)
from graph.selectors import search
from graph.services.confidence import node_confidence_explained, relationship_confidence, relationship_evidence
from graph.services.curation import REVIEW_PERMISSION, acceptance_by_edit_record, rejection_of
from graph.services.hierarchy import HierarchyError, node_placement_resolve
from graph.services.inference import inference_queue, relationship_inference_explained
from graph.services.matviews import (
    REFRESH_PERMISSION,
    REQUEST_REFRESH_LIMIT,
    materialized_view_refreshes,
    materialized_view_request_refusal,
    materialized_views_due,
    materialized_views_populated,
    materialized_views_refresh,
)
from graph.services.merges import node_redirect
from kgsite.admin import (
    CHECKBOX_BOOLEANS,
    BigTableAdmin,
    HostileInputMixin,
    ReadOnlyAdmin,
    YesNoListFilter,
    distinct_values_filter,
)
from kgsite.db import capped_count
from kgsite.errors import PERMISSION_REFUSED, PermissionRefused
from kgsite.views import missing_permission

AUDIT_FIELDS = ("created_by", "created_at")
NODE_PAGE_ROWS = 20  # relationships and references listed on a node's change page, per direction; the rest counted
NODE_PAGE_COUNT_CAP = 100_000  # counted exactly up to this many, "100,000+" beyond
HAND_QUEUE_PRIORITY = 8  # a curator's "Queue for inference": ahead of the triggers' 5 (edits) and cleanup's 1




class VerifiedAtInput(forms.DateTimeInput):
    """One text box for a date and time (``2026-11-23 14:05``): an attribute row stays one line."""

    input_type = "text"

    def __init__(self, attrs=None):
        super().__init__(attrs={"size": 16, "placeholder": "YYYY-MM-DD HH:MM", **(attrs or {})},
                         format="%Y-%m-%d %H:%M")


def attribute_duplicate(instance: NodeAttribute) -> NodeAttribute | None:
    """Another attribute of the same node with the same type, key and value (found by the composite index)."""
    if instance.node_id is None or not instance.attribute_type or not instance.attribute_key:
        return None
    matches = NodeAttribute.objects.filter(node_id=instance.node_id).matching(
        attribute_type=instance.attribute_type, attribute_key=instance.attribute_key,
        value=instance.attribute_value or "",
    )
    if instance.pk:
        matches = matches.exclude(pk=instance.pk)
    return matches.first()




class NodeAttributeForm(forms.ModelForm):
    """An attribute: "Last verified" starts empty (nobody verified a new attribute), and a second attribute with
    the same type, key and value on one node is refused."""

    class Meta:
        model = NodeAttribute
        fields = "__all__"
        help_texts = {"last_verified": "When someone last checked this value (UTC); empty if nobody has."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.initial["last_verified"] = None

    def clean_last_verified(self):
        if "last_verified" not in self.changed_data:  # shown to the minute; keep the stored seconds
            return self.instance.last_verified if self.instance.pk else None
        return self.cleaned_data["last_verified"]

    def _post_clean(self):
        super()._post_clean()  # builds self.instance from the cleaned data (the node too, in an inline)
        if not self.errors and self.instance.node_id:
            duplicate = attribute_duplicate(self.instance)
            if duplicate is not None:
                self.add_error(None, forms.ValidationError(
                    "%(node)s already has this attribute (%(attribute)s, attribute %(id)s).",
                    code=DUPLICATE_ATTRIBUTE,
                    params={"node": duplicate.node.name, "attribute": duplicate, "id": duplicate.pk},
                ))


class NodeAttributeInlineFormSet(BaseInlineFormSet):
    """Two rows of one node's attributes with the same type, key and value are refused, saved or not."""

    def clean(self):
        super().clean()
        seen: dict[tuple, int] = {}
        for index, form in enumerate(self.forms):
            if not hasattr(form, "cleaned_data") or not form.cleaned_data or self._should_delete_form(form):
                continue
            data = form.cleaned_data
            key = (data.get("attribute_type"), data.get("attribute_key"), data.get("attribute_value"))
            if key in seen:
                raise forms.ValidationError(
                    "Rows %(first)s and %(second)s are the same attribute (%(type)s.%(key)s = %(value)s); "
                    "keep one.",
                    code=DUPLICATE_ATTRIBUTE,
                    params={"first": seen[key] + 1, "second": index + 1, "type": key[0], "key": key[1],
                            "value": (key[2] or "")[:60]},
                )
            seen[key] = index


class EmbeddingWidget(forms.Textarea):
    """A vector as ``[0.1,0.25,...]``: each component in the shortest text that gives back the same float32 (the
    column's precision), so showing a vector and saving it again never changes it."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"rows": 3, "cols": 60, "class": "vLargeTextField", **(attrs or {})})

    def format_value(self, value):
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            return value
        return "[" + ",".join(str(numpy.float32(component)) for component in value) + "]"


def _vector_or_text(value):
    """A vector's components as float32, or the text itself when it does not parse (then it has changed)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            return numpy.array([float(part) for part in value.strip().strip("[]").split(",")], dtype=numpy.float32)
        except ValueError:
            return value
    return numpy.asarray(value, dtype=numpy.float32)


class EmbeddingFormField(VectorFormField):
    """pgvector's form field, comparing vectors by value: an embedding shown and sent back is not a change."""

    widget = EmbeddingWidget

    def has_changed(self, initial, data):
        before, after = _vector_or_text(initial), _vector_or_text(data)
        if before is None or after is None or isinstance(after, str):
            return before is not after
        return before.shape != after.shape or not numpy.array_equal(before, after)


class VerifiedAtField(forms.DateTimeField):
    """A date and time typed in one box, to the minute. Sent back as shown, it is unchanged (the stored seconds are
    kept: see ``NodeAttributeForm.clean_last_verified``)."""

    def has_changed(self, initial, data):
        shown = self.widget.format_value(initial) if initial else ""
        return (shown or "") != (data or "").strip()


class TextPathFormField(PathFormField):
    """django-ltree's field, comparing paths as text: a path shown and sent back unchanged is not a change (the
    stock field compared the stored label list with the submitted string, so every save "changed" the path)."""

    def has_changed(self, initial, data):
        return str(initial or "") != str(self.to_python(data) or "")


class NodeForm(forms.ModelForm):
    class Meta:
        model = Node
        fields = "__all__"
        field_classes = {"embedding": EmbeddingFormField}
        help_texts = {"embedding": "768 numbers in brackets, or empty."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # PathField.formfield() insists on its own form class (Meta.field_classes is overridden); refine it here.
        # (A view-only user's form has no fields: everything is shown read-only.)
        if "path" in self.fields:
            self.fields["path"].__class__ = TextPathFormField
            self.fields["path"].widget.attrs["class"] = "vLargeTextField"  # deep paths fit (48em, less on phones)

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

class CompactInline(HostileInputMixin, admin.TabularInline):
    """One line per row: text columns as one-row text areas (they grow when typed into), a date and time as one
    text box, nullable booleans as checkboxes. On a phone the table scrolls sideways in its own box; a refused
    form is shown with the first field error's column in view (kgsite/admin_inline_errors.js)."""

    extra = 0

    class Media:
        js = ("kgsite/admin_inline_errors.js",)

    formfield_overrides = {
        **CHECKBOX_BOOLEANS,
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 1, "cols": 24})},
        models.DateTimeField: {"form_class": VerifiedAtField, "widget": VerifiedAtInput},
    }


class NodeAttributeInline(CompactInline):
    model = NodeAttribute
    form = NodeAttributeForm
    formset = NodeAttributeInlineFormSet
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




def _relationship_rows(queryset, other: str) -> str:
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (change_link(rel, rel.relationship_type), change_link(getattr(rel, other)), rel.strength,
             rel.confidence_score, "inferred" if rel.auto_managed else "manual")
            for rel in queryset
        ),
    )
    return format_html(
        '<div class="node-edges-wrap"><table class="node-edges"><thead><tr><th>type</th><th>{}</th>'
        "<th>strength</th><th>confidence</th><th>made</th></tr></thead><tbody>{}</tbody></table></div>",
        "target" if other == "target_node" else "source", rows,
    )


def node_confidence_table(node: Node) -> str:
    """The node's score as its attributes make it (graph.services.confidence), as a small table."""
    explained = node_confidence_explained(node=node, limit=NODE_PAGE_ROWS)
    p = explained.parameters
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} days ago</td><td>{}</td><td>{}</td></tr>",
        (
            (change_link(c.attribute), c.attribute.confidence, c.attribute.source_reliability, f"{c.weight:g}",
             f"{c.age_days:,.0f}", f"{c.effective:.3f}", f"{c.share:.1%}")
            for c in explained.contributions
        ),
    )
    listed = len(explained.contributions)
    note = "" if listed >= NODE_PAGE_ROWS else "all attributes"
    summary = format_html(
        "<p>Weighted mean of the attributes' effective confidence (confidence × source reliability × 0.5 ^ "
        "(age / {} days)), pulled towards 0.5 by a prior of weight {} ({} of the score). Worked out now: "
        "<strong>{}</strong>{}.</p>",
        f"{p.half_life_days:g}", f"{p.prior_weight:g}", f"{explained.prior_share:.1%}", explained.score,
        "" if explained.score == node.confidence_score else format_html(
            " (stored {}: recomputed on the next attribute change or <code>recalculate_confidence</code>)",
            node.confidence_score),
    )
    if not listed:
        return format_html("{}<p>No attributes: the score is the prior, 0.5.</p>", summary)
    return format_html(
        '{}<div class="node-edges-wrap"><table class="node-edges"><thead><tr><th>attribute{}</th><th>confidence</th>'
        "<th>reliability</th><th>weight</th><th>verified</th><th>effective</th><th>share</th></tr></thead>"
        "<tbody>{}</tbody></table></div>",
        summary, f" ({note})" if note else f" (heaviest {listed})", rows,
    )




def _count_text(count: int, noun: str) -> str:
    more = "+" if count > NODE_PAGE_COUNT_CAP else ""
    shown = min(count, NODE_PAGE_COUNT_CAP)
    return f"{shown:,}{more} {noun}{'' if shown == 1 and not more else 's'}"


def embedding_origin_text(obj) -> str:
    """Who made the row's vector (docs/embeddings.md): a provider, a user, or nobody yet."""
    if not obj.pk:
        return "Leave the embedding empty to have one computed from the text by the worker."
    if obj.embedding_model:
        return (f"the {obj.embedding_model} provider, from the text; recomputed when the text changes. Paste a "
                "vector to replace it with your own.")
    if obj.embedding is not None:
        return "supplied by a user (kept as it is: text changes do not replace it). Clear it to have one computed."
    return "nobody yet: the worker computes it from the text (run_worker, or manage.py embed_nodes)."


@admin.register(Node)
class NodeAdmin(NodeSearchMixin, BigTableAdmin):
    form = NodeForm

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        """A merged-away node's admin address leads to the node it was merged into (docs/duplicates.md)."""
        node_id = search.term_id(str(object_id))
        survivor = node_redirect(node_id) if node_id is not None else None
        if survivor is None:
            return super()._get_obj_does_not_exist_redirect(request, opts, object_id)
        messages.info(request, f"Node {node_id} was merged into node {survivor}; its address leads here.")
        return HttpResponseRedirect(reverse("admin:graph_node_change", args=[survivor]))
    list_display = ("node_id", "name", "node_type", "path", "confidence_score", "source", "created_at")
    list_display_links = ("node_id", "name")
    list_filter = (distinct_values_filter("node_type", "node type"), distinct_values_filter("source"))
    autocomplete_fields = ("parent_node",)
    readonly_fields = ("confidence_score", "confidence_last_updated", "confidence_explained", "created_at",
                       "updated_at", "created_by", "embedding_origin",
                       "outgoing_relationships_list", "incoming_relationships_list", "references_received_list")
    fieldsets = (
        (None, {"fields": ("name", "node_type", "path", "parent_node", "source")}),
        ("Confidence", {"fields": ("confidence_score", "confidence_last_updated", "confidence_explained")}),
        ("Relationships", {"fields": ("outgoing_relationships_list", "incoming_relationships_list",
                                      "references_received_list")}),
        ("Data", {"fields": ("metadata", "embedding_origin", "embedding"), "classes": ("collapse",)}),
        ("Provenance", {"fields": ("created_by", "created_at", "updated_at")}),
    )
    inlines = (NodeAttributeInline, NodeResourceLinkInline, ReferenceInline)
    actions = ("queue_for_inference",)

    @admin.action(description="Queue the selected nodes for inference", permissions=["change"])
    def queue_for_inference(self, request, queryset):
        ids = selected_ids(self, request, queryset, "nodes")
        if ids is None:
            return
        try:
            queued = inference_queue(node_ids=ids, priority=HAND_QUEUE_PRIORITY)
        except GraphError as exc:  # a selected node deleted meanwhile
            self.message_user(request, f"Nothing was queued: {exc.message} ({exc.code}).", messages.ERROR)
            return
        waiting = len(ids) - queued
        self.message_user(
            request,
            f"Queued {queued:,} of the {len(ids):,} selected node{'' if len(ids) == 1 else 's'} for inference at "
            f"priority {HAND_QUEUE_PRIORITY} (ahead of edits, queued at 5)"
            + (f"; {waiting:,} {'was' if waiting == 1 else 'were'} already waiting at the top priority." if waiting
               else ".")
            + " The worker (run_worker) infers them in priority order; the inference queue page shows its progress.",
            messages.SUCCESS if queued else messages.WARNING)

    def _edges(self, obj, direction: str) -> str:
        """The first ``NODE_PAGE_ROWS`` relationships of one direction, their count, and links to all of them."""
        mine, other = ("source_node", "target_node") if direction == "out" else ("target_node", "source_node")
        edges = Relationship.objects.filter(**{mine: obj})
        count = capped_count(edges, NODE_PAGE_COUNT_CAP)
        if not count:
            return "None."
        shown = edges.select_related(other).only(
            "relationship_id", "relationship_type", "strength", "confidence_score", "auto_managed", "bidirectional",
            f"{other}__node_id", f"{other}__name", f"{other}__node_type",
        ).order_by(other, "relationship_type")[:NODE_PAGE_ROWS]
        url = reverse("admin:graph_relationship_changelist") + f"?{mine}__exact={obj.pk}"
        summary = format_html(
            '<p class="node-edges__count">{} — <a href="{}">{}</a></p>',
            _count_text(count, "relationship"), url,
            "list them all" if count > NODE_PAGE_ROWS else "open as a list",
        )
        return format_html("{}{}", summary, _relationship_rows(shown, other))

    @admin.display(description="embedding made by")
    def embedding_origin(self, obj):
        return embedding_origin_text(obj)

    @admin.display(description="how it is worked out")
    def confidence_explained(self, obj):
        return node_confidence_table(obj) if obj.pk else "—"

    @admin.display(description="outgoing (this node → other)")
    def outgoing_relationships_list(self, obj):
        return self._edges(obj, "out") if obj.pk else "—"

    @admin.display(description="incoming (other → this node)")
    def incoming_relationships_list(self, obj):
        return self._edges(obj, "in") if obj.pk else "—"

    @admin.display(description="references to this node")
    def references_received_list(self, obj):
        if not obj.pk:
            return "—"
        received = Reference.objects.filter(target_node=obj)
        count = capped_count(received, NODE_PAGE_COUNT_CAP)
        if not count:
            return "None."
        shown = received.select_related("source_node", "source_resource").order_by("-reference_id")[:NODE_PAGE_ROWS]
        url = reverse("admin:graph_reference_changelist") + f"?target_node__exact={obj.pk}"
        items = format_html_join("", "<li>{}</li>", ((change_link(ref),) for ref in shown))
        return format_html('<p class="node-edges__count">{} — <a href="{}">{}</a></p><ul>{}</ul>',
                           _count_text(count, "reference"), url,
                           "list them all" if count > NODE_PAGE_ROWS else "open as a list", items)

    def get_queryset(self, request):
        # The change list never shows the 768-number embedding; don't read it for 50 rows per page.
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("embedding", "metadata")
        return queryset


@admin.register(NodeAttribute)
class NodeAttributeAdmin(NodeAttributeSearchMixin, BigTableAdmin):
    form = NodeAttributeForm
    list_display = ("attribute_id", "node", "attribute_type", "attribute_key", "short_value", "confidence", "weight")
    # Newest first, read along the primary key: the model's (type, key) order made the first page join a whole
    # (type, key) group to nodes before keeping 50 rows (145 ms of CPU at 100k; docs/benchmarks.md, "Load").
    ordering = ("-attribute_id",)
    list_select_related = ("node",)
    list_filter = (distinct_values_filter("attribute_type", "attribute type"),)
    autocomplete_fields = ("node",)
    readonly_fields = AUDIT_FIELDS
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request):
        return with_names(super().get_queryset(request), "node")

    @admin.display(description="value")
    def short_value(self, obj):
        return _short(obj.attribute_value)


class RelationshipAdminForm(forms.ModelForm):
    """A link a curator rejected (docs/curation.md) is not made again by hand either: withdraw the rejection."""

    class Meta:
        model = Relationship
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose

    user = None  # set by RelationshipAdmin.get_form

    accepts = False  # unticking auto-managed on an inferred link accepts it (docs/curation.md); set by clean

    def clean(self):
        data = super().clean()
        # Read before the form writes its values into the instance (after clean).
        self.accepts = bool(self.instance.pk and self.instance.auto_managed and "auto_managed" in self.changed_data
                            and data.get("auto_managed") is False)
        if self.accepts and not (self.user and self.user.has_perm(REVIEW_PERMISSION)):
            self.add_error("auto_managed", forms.ValidationError(
                f"{PERMISSION_REFUSED}: accepting an inferred link (unticking auto-managed) requires the permission "
                f"{REVIEW_PERMISSION}", code=PERMISSION_REFUSED))
        source, target, kind = data.get("source_node"), data.get("target_node"), data.get("relationship_type")
        unchanged = self.instance.pk and not {"source_node", "target_node", "relationship_type"} & set(
            self.changed_data)
        if source and target and kind and source != target and not unchanged:
            rejection = rejection_of(source.pk, target.pk, kind)
            if rejection is not None:
                who = rejection.rejected_by.email if rejection.rejected_by else "a curator"
                raise forms.ValidationError(
                    f"{REVIEW_REJECTED_LINK}: {who} rejected this link on {rejection.rejected_at:%Y-%m-%d} "
                    f"(“{rejection.reason[:100]}”); withdraw the rejection (Rejected inferred links) to make it.",
                    code=REVIEW_REJECTED_LINK)
        return data


@admin.register(Relationship)
class RelationshipAdmin(RelationshipSearchMixin, BigTableAdmin):
    form = RelationshipAdminForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user  # a class made for this request
        return form

    def save_model(self, request, obj, form, change):
        accepts = getattr(form, "accepts", False)
        if accepts:
            obj.review_skipped_at = None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if accepts:
                acceptance_by_edit_record(obj, user=request.user)
    list_display = ("relationship_id", "source_node", "relationship_type", "target_node", "strength",
                    "confidence_score", "bidirectional", "auto_managed", "shared")
    list_display_links = ("relationship_id", "relationship_type")
    list_select_related = ("source_node", "target_node")
    list_filter = (distinct_values_filter("relationship_type", "relationship type"),
                   ("auto_managed", YesNoListFilter), ("bidirectional", YesNoListFilter))
    autocomplete_fields = ("source_node", "target_node")
    readonly_fields = ("confidence_score", "confidence_explained", "confidence_last_updated", "created_at",
                       "updated_at", "created_by", "last_inference_update", "shared_attributes_count",
                       "inference_confidence", "inference_explained")
    fieldsets = (
        (None, {"fields": ("source_node", "relationship_type", "target_node", "bidirectional", "strength",
                           "stated_confidence", "source_reliability", "source", "auto_managed")}),
        ("Confidence", {"fields": ("confidence_score", "confidence_explained", "confidence_last_updated")}),
        ("Why inference made this link", {"fields": ("inference_explained", "inference_confidence",
                                                     "shared_attributes_count", "last_inference_update")}),
        ("Data", {"fields": ("metadata",), "classes": ("collapse",)}),
        ("Provenance", {"fields": ("created_by", "created_at", "updated_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not obj.auto_managed and relationship_inference_explained(obj) is None:
            # Made by hand: the inference columns are empty; the section says only that.
            fieldsets = [(name, {**options, "fields": ("inference_explained",)})
                         if "inference_explained" in options["fields"] else (name, options)
                         for name, options in fieldsets]
        return fieldsets

    @admin.display(description="shared", ordering="shared_attributes_count")
    def shared(self, obj):
        """How many attribute values the two nodes share (inferred links only)."""
        return obj.shared_attributes_count if obj.auto_managed else "—"

    @admin.display(description="how the confidence is worked out")
    def confidence_explained(self, obj):
        if not obj.pk:
            return "Worked out by the database when the relationship is saved."
        evidence = relationship_evidence(obj)
        what = "inferred confidence" if evidence is obj.inference_confidence else "stated confidence"
        source, target = obj.source_node.confidence_score, obj.target_node.confidence_score
        return format_html(
            "{} {} × source reliability {} × (0.5 + 0.5 × √(node confidence {} × {})) = <strong>{}</strong>",
            what, evidence, obj.source_reliability, source, target,
            relationship_confidence(evidence=evidence, source_reliability=obj.source_reliability,
                                    source_node_confidence=source, target_node_confidence=target))

    @admin.display(description="shared attributes")
    def inference_explained(self, obj):
        return relationship_inference_table(obj) if obj.pk else "—"

    def get_queryset(self, request):
        # Titles, messages and the delete page name both nodes: read them with the relationship.
        return with_names(super().get_queryset(request), "source_node", "target_node")



class ExternalResourceForm(forms.ModelForm):
    class Meta:
        model = ExternalResource
        fields = "__all__"
        field_classes = {"embedding": EmbeddingFormField}
        widgets = {"url": forms.URLInput(attrs={"size": 60})}


@admin.register(ExternalResource)
class ExternalResourceAdmin(ExternalResourceSearchMixin, BigTableAdmin):
    form = ExternalResourceForm
    list_display = ("resource_id", "title_or_url", "resource_type", "crawl_status", "last_crawled")
    list_filter = ("crawl_status", distinct_values_filter("resource_type", "resource type"))
    readonly_fields = ("created_at", "updated_at", "created_by", "embedding_origin")

    @admin.display(description="embedding made by")
    def embedding_origin(self, obj):
        return embedding_origin_text(obj)

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

    def get_queryset(self, request):
        return with_names(super().get_queryset(request), "node", "resource")


@admin.register(Reference)
class ReferenceAdmin(ReferenceSearchMixin, BigTableAdmin):
    list_display = ("reference_id", "__str__", "reference_type", "page_number", "created_at")
    list_filter = (distinct_values_filter("reference_type", "reference type"),)
    autocomplete_fields = ("source_node", "source_resource", "target_node", "target_resource")
    readonly_fields = AUDIT_FIELDS

    def get_queryset(self, request):
        return with_names(super().get_queryset(request),
                          "source_node", "source_resource", "target_node", "target_resource")


# --- Materialized views: read-only, with when they were refreshed and a refresh button --------------------------

def rounded(field: str, description: str, places: int = 4):
    """A list column showing a number with ``places`` decimals (the views' averages carry 20)."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        value = getattr(obj, field)
        return "—" if value is None else f"{value:.{places}f}"

    column.__name__ = f"{field}_rounded"
    return column


class MaterializedViewAdmin(ReadOnlyAdmin):
    """A read-only list of one materialized view; the header says when it was last refreshed, and staff with the
    permission ``graph.refresh_materialized_views`` get a button that refreshes it (POST, CSRF-protected)."""

    paginator = BigTableAdmin.paginator
    show_full_result_count = False
    list_per_page = 50
    change_list_template = "admin/graph/materialized_view_change_list.html"

    def get_urls(self):
        opts = self.model._meta
        return [
            path("refresh/", self.admin_site.admin_view(self.refresh_view),
                 name=f"{opts.app_label}_{opts.model_name}_refresh"),
            *super().get_urls(),
        ]

    def has_refresh_permission(self, request) -> bool:
        return request.user.has_perm(REFRESH_PERMISSION)

    def view_populated(self, request) -> bool:
        """False for a view created or redefined WITH NO DATA: PostgreSQL refuses to read it, so list nothing."""
        if not hasattr(request, "_view_populated"):
            request._view_populated = materialized_views_populated().get(self.model._meta.db_table, True)
        return request._view_populated

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if self.view_populated(request) else queryset.none()

    def get_list_filter(self, request):
        return super().get_list_filter(request) if self.view_populated(request) else ()

    def changelist_view(self, request, extra_context=None):
        opts = self.model._meta
        extra_context = {
            **(extra_context or {}),
            "view_unpopulated": not self.view_populated(request),
            "view_refresh": materialized_view_refreshes().get(opts.db_table),
            "view_due": materialized_views_due()[opts.db_table],
            "view_name": opts.db_table,
            "can_refresh": self.has_refresh_permission(request),
            "refresh_refusal": materialized_view_request_refusal(opts.db_table),
            "refresh_limit": f"{REQUEST_REFRESH_LIMIT:,}",
            "refresh_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_refresh"),
        }
        return super().changelist_view(request, extra_context)

    def refresh_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_refresh_permission(request):
            raise missing_permission(REFRESH_PERMISSION, "refreshing materialized views")
        opts = self.model._meta
        changelist = HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        try:
            materialized_views_refresh([opts.db_table], user=request.user, in_request=True)
        except PermissionRefused as exc:
            raise PermissionDenied(str(exc)) from exc
        except GraphError as exc:
            self.message_user(request, f"Not refreshed: {exc.message} ({exc.code}).", messages.ERROR)
            return changelist
        refresh = materialized_view_refreshes()[opts.db_table]
        self.message_user(
            request, f"Refreshed {opts.verbose_name_plural} in {refresh.duration_ms:,} ms: "
                     f"{refresh.row_count:,} rows.", messages.SUCCESS,
        )
        return changelist


class NodePairViewAdmin(MaterializedViewAdmin):
    """Views of node pairs (ids only in the view): both nodes by name with links, searchable by node name."""

    list_display_links = None
    search_help_text = "A node's name (rows from or to it)."

    def get_queryset(self, request):
        names = Node.objects.values("name")
        return super().get_queryset(request).annotate(
            source_name=Subquery(names.filter(node_id=OuterRef("source_node_id"))[:1]),
            target_name=Subquery(names.filter(node_id=OuterRef("target_node_id"))[:1]),
        )

    def get_search_fields(self, request):
        return ("source_node_id",)  # shows the search box; get_search_results does the searching

    def get_search_results(self, request, queryset, search_term):
        # The node searches' own rules and indexes (graph.selectors.search), not an UPPER(name) LIKE scan.
        term = search.search_term_clean(search_term)
        if not term:
            return queryset, False
        nodes = search.nodes_named(term)
        return queryset.filter(search.any_of("source_node_id", nodes) | search.any_of("target_node_id", nodes)), False

    def get_object(self, request, object_id, from_field=None):
        """The views' "primary key" (``source_node_id``) is not unique (graph/models/views.py): the first row from
        that node, never ``MultipleObjectsReturned``."""
        node_id = search.term_id(str(object_id))
        if node_id is None:
            return None
        return self.get_queryset(request).filter(source_node_id=node_id).order_by(*self.ordering or ()).first()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A row has no page of its own (several rows share the node id): the list of the rows from that node."""
        node_id = search.term_id(str(object_id))
        if node_id is None or self.get_object(request, object_id) is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        opts = self.model._meta
        self.message_user(request, f"Rows of this view have no page of their own: these are the rows from node "
                                   f"{node_id}.", messages.INFO)
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
                                    + f"?source_node_id={node_id}")

    @admin.display(description="source", ordering="source_node_id")
    def source(self, obj):
        return node_link(obj.source_node_id, obj.source_name)

    @admin.display(description="target", ordering="target_node_id")
    def target(self, obj):
        return node_link(obj.target_node_id, obj.target_name)


@admin.register(NodeConfidenceCache)
class NodeConfidenceCacheAdmin(MaterializedViewAdmin):
    list_display = ("node_id", "name", "node_type", "confidence", "confidence_tier", "confidence_last_updated")
    list_filter = ("confidence_tier",)
    ordering = ("-confidence_score",)
    confidence = rounded("confidence_score", "confidence")


@admin.register(RelationshipStrengthMatrix)
class RelationshipStrengthMatrixAdmin(NodePairViewAdmin):
    list_display = ("source", "relationship_type", "target", "weighted", "source_type", "target_type",
                    "bidirectional")
    list_filter = (distinct_values_filter("relationship_type", "relationship type"),)
    ordering = ("-weighted_strength",)
    weighted = rounded("weighted_strength", "weighted strength")


@admin.register(GraphConnectivityStats)
class GraphConnectivityStatsAdmin(MaterializedViewAdmin):
    list_display = ("node_type", "node_count", "average_confidence", "high_confidence_count", "low_confidence_count",
                    "outgoing_relationships", "incoming_relationships")
    ordering = ("-node_count",)
    average_confidence = rounded("avg_confidence", "average confidence")


@admin.register(PopularEntityRanking)
class PopularEntityRankingAdmin(MaterializedViewAdmin):
    list_display = ("node_id", "name", "node_type", "total_relationship_count", "outgoing_relationship_count",
                    "incoming_relationship_count", "linked_resource_count", "confidence", "relationship_confidence")
    ordering = ("-total_relationship_count",)
    confidence = rounded("confidence_score", "confidence")
    relationship_confidence = rounded("avg_relationship_confidence", "mean relationship confidence")


@admin.register(EmbeddingSimilarityCache)
class EmbeddingSimilarityCacheAdmin(NodePairViewAdmin):
    list_display = ("source", "target", "similarity", "source_type", "target_type")
    ordering = ("-similarity_score",)
    similarity = rounded("similarity_score", "similarity")
