"""The admin of relationship inference (docs/inference.md, docs/admin.md): the queue page with its overview and
the Retry and Cancel actions, the explanation of an inferred relationship, and the helpers the node and
relationship admins use for them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from config_admin.selectors import config_get
from graph.admin_links import node_link, with_names
from graph.admin_links import shorten as _short
from graph.admin_search import InferenceQueueItemSearchMixin
from graph.choices import QueueStatus
from graph.errors import GraphError
from graph.models import InferenceQueueItem, Relationship
from graph.selectors.inference import inference_queue_overview
from graph.services.inference import pair_score, relationship_inference_explained
from graph.services.inference_queue import queue_items_cancel, queue_items_retry
from kgsite.admin import BigTableAdmin
from kgsite.errors import PermissionRefused

ACTION_LIMIT = 10_000  # rows an admin action takes at once ("select all" of a million would be one huge UPDATE)
EXPLAINED_VALUES = 20  # shared values listed in a relationship's explanation; the score counts all


def _shared_value_text(attribute_type: str, attribute_key: str, value: str, length: int = 80) -> str:
    """``type.key = value`` with a long value shortened (the whole of what was kept in its title)."""
    return format_html('<code>{}.{}</code> = <span class="inference-why__value" title="{}">{}</span>',
                       _short(attribute_type, 60), _short(attribute_key, 60), value, _short(value, length))


def relationship_inference_table(relationship: Relationship) -> str:
    """Why inference made ``relationship``: what it recorded in ``metadata['inference']`` when it last scored the
    pair (graph.services.inference), as a table of the shared values with their contributions, the values skipped
    as too common, the score and when, and the formula in one sentence."""
    explained = relationship_inference_explained(relationship)
    if explained is None:
        if relationship.auto_managed:
            return ("Inference made this link but its explanation is missing (its metadata was edited); it is "
                    "written again the next time either node is inferred.")
        return "Made by hand: inference did not make this link, and never changes or removes it."
    source = _short(relationship.source_node.name, 40)
    target = _short(relationship.target_node.name, 40)
    shown = explained.shared[:EXPLAINED_VALUES]
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((_shared_value_text(v.attribute_type, v.attribute_key, v.value), f"{v.carriers:,}",
          f"{v.source_evidence:.4g}", f"{v.target_evidence:.4g}", f"{v.contribution:.4f}", _reason_state(v))
         for v in shown),
    )
    more = len(explained.shared) - len(shown)
    when = (format_html("{} UTC, {} ago", explained.inferred_at.strftime("%Y-%m-%d %H:%M"),
                        _duration(explained.age)) if explained.inferred_at else "at a time not recorded")
    taken_over = "" if relationship.auto_managed else mark_safe(
        " <strong>A curator has taken this link over</strong> (not auto-managed): inference no longer updates or "
        "removes it; this is what it recorded last.")  # a constant: nothing to escape
    gone = len(explained.gone)
    stale = format_html(
        " <strong>{} of its reasons {} changed or gone since</strong>{}.", gone, "has" if gone == 1 else "have",
        ": the next inference pass re-scores it" if relationship.auto_managed else "") if gone else ""
    summary = format_html(
        "<p>Score <strong>{}</strong> from {} shared value{}, inferred {} by rule version {}.{}{}</p>",
        f"{explained.score:.4f}", len(explained.shared), "" if len(explained.shared) == 1 else "s", when,
        explained.rule, taken_over, stale)
    worked = ""
    if shown and not more and len(shown) <= 8:
        product = " × ".join(f"(1 − {v.contribution:.4f})" for v in shown)
        again = f"{pair_score([v.contribution for v in shown]):.4f}"  # the rounded contributions may round off
        worked = format_html(" Here: 1 − {} {} {}.", product, "=" if again == f"{explained.score:.4f}" else "≈",
                             f"{explained.score:.4f}")
    table = format_html(
        '<div class="node-edges-wrap"><table class="node-edges inference-why"><thead><tr><th>shared attribute</th>'
        "<th>nodes with the value</th><th>evidence on {}</th><th>evidence on {}</th><th>contribution</th>"
        "<th>now</th></tr>"
        "</thead><tbody>{}</tbody></table></div>{}",
        source, target, rows,
        format_html("<p>… and {} more shared values of smaller contribution (the score counts them all).</p>",
                    more) if more else "",
    )
    too_common = ""
    if explained.too_common:
        too_common = format_html(
            "<p>Shared but skipped as too common (carried by more than {} nodes, so they say little about this "
            "pair): {}.</p>",
            f"{explained.max_value_nodes:,}",
            format_html_join("; ", "{}", ((_shared_value_text(*item, length=40),)
                                          for item in explained.too_common[:EXPLAINED_VALUES])),
        )
    formula = format_html(
        '<p class="inference-why__formula">Each shared value contributes rarity × √(evidence on {} × evidence '
        "on {}), where evidence is the attribute's weight × confidence × source reliability on that node and rarity "
        "= (1 − α) + α × ln(N / n) / ln(N / 2), with n the nodes carrying the value, N = {} nodes in the graph and "
        "α = {} (<code>inference_rarity_weight</code>); the score is 1 − Π (1 − contribution), each shared value "
        "independent evidence, and a pair is linked when it reaches <code>inference_confidence_threshold</code> "
        "(now {}).{}</p>",
        source, target, f"{explained.nodes:,}", f"{explained.rarity_weight:g}",
        config_get("inference_confidence_threshold"), worked,
    )
    return format_html("{}{}{}{}", summary, table, too_common, formula)


def _reason_state(value) -> str:
    """Whether a reason still holds: an attribute behind it may have been changed or deleted since."""
    if not value.gone:
        return "holds"
    return format_html("<strong>{} {}</strong>", "changed" if value.gone_why == "changed" else "deleted",
                       value.gone_at.strftime("%Y-%m-%d %H:%M UTC"))


def _duration(delta) -> str:
    """A short age: "5 minutes", "3 hours", "2 days"."""
    if delta is None:
        return "—"
    seconds = max(int(delta.total_seconds()), 0)
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count:,} {unit}{'' if count == 1 else 's'}"
    return "less than a minute"


def selected_ids(model_admin, request, queryset, what: str) -> list[int] | None:
    """The selected rows' ids, or None (with a message) when "select all" took more than ``ACTION_LIMIT``."""
    ids = list(queryset.order_by().values_list("pk", flat=True)[: ACTION_LIMIT + 1])
    if len(ids) > ACTION_LIMIT:
        model_admin.message_user(
            request, f"Nothing was done: select at most {ACTION_LIMIT:,} {what} at a time (filter the list "
                     "first).", messages.ERROR)
        return None
    return ids


class QueuePriorityFilter(admin.SimpleListFilter):
    """Priority 10 (most urgent) to 1: fixed choices, no query (a SELECT DISTINCT would read the whole queue)."""

    title = "priority"
    parameter_name = "priority"

    def lookups(self, request, model_admin):
        return [(str(priority), str(priority)) for priority in range(10, 0, -1)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(priority=int(value)) if value and value.isdigit() and len(value) < 3 else queryset


@admin.register(InferenceQueueItem)
class InferenceQueueItemAdmin(InferenceQueueItemSearchMixin, BigTableAdmin):
    """The queue, with an overview above the list (graph.selectors.inference) and the actions Retry and Cancel
    (graph.services.inference_queue)."""

    list_display = ("queue_id", "node_shown", "status_shown", "priority", "retries", "error", "queued_at",
                    "started", "completed_at")
    list_display_links = ("queue_id",)
    list_select_related = ("node",)
    list_filter = ("status", QueuePriorityFilter)
    autocomplete_fields = ("node",)
    show_facets = admin.ShowFacets.NEVER  # facets count every status over the whole queue
    empty_value_display = "—"
    actions = ("retry_items", "cancel_items")

    def get_queryset(self, request):
        return with_names(super().get_queryset(request), "node")

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and not request.GET.get(admin.options.IS_POPUP_VAR):
            extra_context = {**(extra_context or {}), "queue_overview": inference_queue_overview(),
                             "queue_changelist_url": reverse("admin:graph_inferencequeueitem_changelist")}
        return super().changelist_view(request, extra_context)

    @admin.display(description="node", ordering="node_id")
    def node_shown(self, obj):
        return node_link(obj.node_id, obj.node.name if obj.node_id else None)

    @admin.display(description="status", ordering="status")
    def status_shown(self, obj):
        label = obj.get_status_display() or "—"
        waiting = ""
        if obj.status == QueueStatus.PENDING and obj.run_after and obj.run_after > timezone.now():
            waiting = format_html('<br><small>retry after {} UTC</small>', obj.run_after.strftime("%Y-%m-%d %H:%M"))
        return format_html('<span class="queue-status queue-status--{}">{}</span>{}', obj.status or "none", label,
                           waiting)

    @admin.display(description="started (by worker)", ordering="started_at")
    def started(self, obj):
        """When a worker took the item and which one (``processing_node``, host:pid): one column for both keeps
        the list on a 1400 px screen."""
        if obj.started_at is None and not obj.processing_node:
            return "—"
        when = obj.started_at.strftime("%Y-%m-%d %H:%M") if obj.started_at else "—"
        if not obj.processing_node:
            return when
        return format_html('<span class="queue-when">{}</span><br><small class="queue-worker">{}</small>', when,
                           _short(obj.processing_node, 60))

    @admin.display(description="retries")
    def retries(self, obj):
        return f"{obj.retry_count if obj.retry_count is not None else 0} / " \
               f"{obj.max_retries if obj.max_retries is not None else 3}"

    @admin.display(description="error")
    def error(self, obj):
        if not obj.error_message:
            return "—"
        return format_html('<span class="queue-error" title="{}">{}</span>', _short(obj.error_message, 500),
                           _short(obj.error_message, 60))

    def _act(self, request, queryset, service, verb: str):
        ids = selected_ids(self, request, queryset, "queue items")
        if ids is None:
            return
        try:
            result = service(queue_ids=ids, user=request.user)
        except (GraphError, PermissionRefused) as exc:
            self.message_user(request, f"Nothing was {verb}: {exc.message} ({exc.code}).", messages.ERROR)
            return
        level = messages.SUCCESS if result.changed and not (result.superseded or result.left_alone) \
            else messages.WARNING
        self.message_user(request, result.summary(), level)

    @admin.action(description="Retry the selected items (failed or cancelled: pending again)",
                  permissions=["change"])
    def retry_items(self, request, queryset):
        self._act(request, queryset, queue_items_retry, "retried")

    @admin.action(description="Cancel the selected items (pending ones)", permissions=["change"])
    def cancel_items(self, request, queryset):
        self._act(request, queryset, queue_items_cancel, "cancelled")

