"""The admin of curation (docs/curation.md, docs/admin.md "Review"): the inferred links waiting for a decision (with
the actions Accept, Reject and Skip, each confirmed on a page that states the count), the rejections in force
(with Withdraw) and the record of decisions (read-only).

The decisions go through ``graph.services.curation`` like the review page's: one statement, audited, at most
``BULK_LIMIT`` links at once. Reading needs ``graph.view_relationship``; deciding ``graph.review_relationship``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import F, OuterRef, Subquery
from django.db.models.expressions import RawSQL
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from graph.admin_links import node_link, with_names
from graph.admin_links import shorten as _short
from graph.errors import GraphError
from graph.models import InferenceRejection, Node, PendingLink, ReviewDecision
from graph.services.curation import BULK_LIMIT, REASON_MAX_LENGTH, REVIEW_PERMISSION, rejections_withdraw, review_decide
from kgsite.admin import BigTableAdmin, ReadOnlyAdmin, distinct_values_filter
from kgsite.db import filtered_row_count
from kgsite.errors import PermissionRefused

VERBS = {"accept": "Accept", "reject": "Reject", "skip": "Skip"}
_HOLDING_SQL = """(SELECT string_agg(s.attribute_key || ' = ' || left(s.attribute_value, 30), ', '
                                   ORDER BY s.contribution DESC)
                   FROM (SELECT x.attribute_key, x.attribute_value, x.contribution FROM inference_reasons x
                         WHERE x.relationship_id = relationships.relationship_id AND x.gone_at IS NULL
                         ORDER BY x.contribution DESC LIMIT 3) AS s)"""
_GONE_SQL = """(SELECT count(*) FROM inference_reasons x
                WHERE x.relationship_id = relationships.relationship_id AND x.gone_at IS NOT NULL)"""


class _CurationAdmin(ReadOnlyAdmin, BigTableAdmin):
    """The proxy and the curation tables are read with the relationship permission; nobody adds, changes or
    deletes their rows by hand (decisions go through the actions). A node's rejections go with the node (the
    database cascades): deleting the node needs no permission on them."""

    deleted_only_by_cascade = True
    show_facets = admin.ShowFacets.NEVER

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("graph.view_relationship")

    def has_review_permission(self, request):
        return request.user.has_perm(REVIEW_PERMISSION)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_review_permission(request):
            actions.clear()
        return actions

    @admin.display(description="node", ordering="source_node_id")
    def source_shown(self, obj):
        return node_link(obj.source_node_id, obj.source_node.name)

    @admin.display(description="other node", ordering="target_node_id")
    def target_shown(self, obj):
        return node_link(obj.target_node_id, obj.target_node.name)


def _set_filter(field: str, title: str, parameter: str) -> type[admin.SimpleListFilter]:
    """Yes / No on whether ``field`` (a timestamp) is set."""

    class SetFilter(admin.SimpleListFilter):
        def lookups(self, request, model_admin):
            return [("yes", "Yes"), ("no", "No")]

        def queryset(self, request, queryset):
            if self.value() == "yes":
                return queryset.filter(**{f"{field}__isnull": False})
            if self.value() == "no":
                return queryset.filter(**{f"{field}__isnull": True})
            return queryset

    SetFilter.title, SetFilter.parameter_name = title, parameter
    return SetFilter


@admin.register(PendingLink)
class PendingLinkAdmin(_CurationAdmin):
    list_display = ("link", "source_shown", "target_shown", "score", "impact", "reasons", "created_at", "stale")
    list_display_links = None
    list_filter = (distinct_values_filter("relationship_type", "relationship type"),
                   _set_filter("stale_since", "stale (a reason changed)", "stale"),
                   _set_filter("review_skipped_at", "skipped", "skipped"))
    actions = ("accept_links", "reject_links", "skip_links")
    ordering = (F("review_impact").desc(nulls_last=True), "relationship_id")
    id_search_fields = ("source_node_id", "target_node_id", "relationship_id")

    def get_queryset(self, request):
        # The strongest reasons that hold and the number gone, read with the page's rows (a subquery per row).
        return with_names(super().get_queryset(request).filter(auto_managed=True), "source_node", "target_node") \
            .annotate(holding=RawSQL(_HOLDING_SQL, []), gone=RawSQL(_GONE_SQL, []))

    @admin.display(description="link", ordering="relationship_id")
    def link(self, obj):
        """The relationship's own admin page (its reasons, in full)."""
        return format_html('<a href="{}">{}</a>', reverse("admin:graph_relationship_change", args=[obj.pk]), obj.pk)

    @admin.display(description="score", ordering="inference_confidence")
    def score(self, obj):
        return obj.inference_confidence if obj.inference_confidence is not None else "—"

    @admin.display(description="impact", ordering="review_impact")
    def impact(self, obj):
        return f"{obj.review_impact:.2f}" if obj.review_impact is not None else "—"

    @admin.display(description="inferred because both have")
    def reasons(self, obj):
        if not obj.holding and not obj.gone:
            return f"{obj.shared_attributes_count or 0} shared attributes (no reasons recorded)"
        return format_html("{}{}", obj.holding or "nothing that still holds",
                           format_html(" <small>({} gone)</small>", obj.gone) if obj.gone else "")

    @admin.display(description="stale since", ordering="stale_since")
    def stale(self, obj):
        return obj.stale_since.strftime("%Y-%m-%d %H:%M") if obj.stale_since else "—"

    def _decide(self, request, queryset, action: str):
        """The confirmation page (the count, a reason), then on its post the decision."""
        if request.POST.get("confirmed") == "yes":
            try:
                result = review_decide(action, queryset, user=request.user, reason=request.POST.get("reason", ""))
            except (GraphError, PermissionRefused) as exc:
                self.message_user(request, f"Nothing was decided: {exc.message} ({exc.code}).", messages.ERROR)
                return None
            self.message_user(request, result.summary(),
                              messages.SUCCESS if not result.left_alone else messages.WARNING)
            return None
        count = filtered_row_count(queryset)
        return TemplateResponse(request, "admin/graph/pendinglink/decide.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": f"{VERBS[action]} links?",
            "action": f"{action}_links", "verb": VERBS[action], "decision": action, "count": count,
            "taken": min(count.value, BULK_LIMIT), "limit": BULK_LIMIT, "reason_max": REASON_MAX_LENGTH,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "reason": request.POST.get("reason", ""),
        })

    @admin.action(description="Accept the selected links (they become curated)")
    def accept_links(self, request, queryset):
        return self._decide(request, queryset, "accept")

    @admin.action(description="Reject the selected links (deleted; never inferred again)")
    def reject_links(self, request, queryset):
        return self._decide(request, queryset, "reject")

    @admin.action(description="Skip the selected links (they wait behind the others)")
    def skip_links(self, request, queryset):
        return self._decide(request, queryset, "skip")


@admin.register(InferenceRejection)
class InferenceRejectionAdmin(_CurationAdmin):
    list_display = ("rejection_id", "source_shown", "relationship_type", "target_shown", "reason_shown",
                    "rejected_by", "rejected_at", "score")
    list_display_links = ("rejection_id",)
    list_select_related = ("rejected_by",)
    actions = ("withdraw",)
    id_search_fields = ("source_node_id", "target_node_id")

    def get_queryset(self, request):
        return with_names(super().get_queryset(request), "source_node", "target_node").select_related("rejected_by")

    @admin.display(description="reason")
    def reason_shown(self, obj):
        return _short(obj.reason, 80)

    @admin.action(description="Withdraw the selected rejections (inference may make the links again)")
    def withdraw(self, request, queryset):
        try:
            result = rejections_withdraw(queryset, user=request.user)
        except (GraphError, PermissionRefused) as exc:
            self.message_user(request, f"Nothing was withdrawn: {exc.message} ({exc.code}).", messages.ERROR)
            return
        self.message_user(request, result.summary() + " Both nodes of each are queued for inference.",
                          messages.SUCCESS)


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(_CurationAdmin):
    list_display = ("decision_id", "action", "pair", "relationship_type", "score", "reason_shown", "decided_by",
                    "decided_at", "batch_size")
    list_display_links = ("decision_id",)
    list_filter = ("action",)
    list_select_related = ("decided_by",)
    id_search_fields = ("source_node_id", "target_node_id", "relationship_id")
    actions = None

    def get_queryset(self, request):
        def name(column):
            return Subquery(Node.objects.filter(pk=OuterRef(column)).values("name")[:1])
        return super().get_queryset(request).annotate(source_name=name("source_node_id"),
                                                      target_name=name("target_node_id"))

    @admin.display(description="nodes")
    def pair(self, obj):
        return format_html("{} – {}", node_link(obj.source_node_id, obj.source_name),
                           node_link(obj.target_node_id, obj.target_name))

    @admin.display(description="reason")
    def reason_shown(self, obj):
        return _short(obj.reason, 80) or "—"

