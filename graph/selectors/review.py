"""The review queue (docs/curation.md): inferred links waiting for a curator, strongest impact first, and the
flow's figures for the dashboard.

A link is **pending** while it is auto-managed: accepting makes it curated, rejecting deletes it. The queue reads
the partial index ``idx_relationships_review`` (pending links by ``review_impact``, then id) in order and stops
after a page, so the first page costs the same at 100 or 100,000 pending links; filters are checked on the rows as
the index is walked. Counts are exact up to 10,000 and the planner's estimate beyond (never a full count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from config_admin.selectors import config_get
from graph.errors import REVIEW_BAD_FILTER, GraphError
from graph.models import InferenceRejection, Node, Relationship, ReviewDecision
from graph.services.inference import InferenceExplanation, relationships_inference_explained
from kgsite.db import RowCount, filtered_row_count, row_count

PER_PAGE = 25
MAX_PAGE = 400  # 10,000 rows deep; deeper pages are refused rather than scanned (narrow the filters instead)
MAX_AGE_DAYS = 36_500
SKIPPED_CHOICES = ("hide", "only", "all")


def inferred_visible() -> bool:
    """Whether pages show inferred links a curator has not accepted yet (``review_inferred_visible``)."""
    return bool(config_get("review_inferred_visible"))


@dataclass(frozen=True)
class ReviewFilters:
    relationship_type: str = ""
    node_type: str = ""  # links with either end of this node type
    subtree: str = ""  # an ltree path: links with either end in the subtree
    min_score: Decimal | None = None
    max_score: Decimal | None = None
    older_than_days: int | None = None  # waiting at least this many days
    newer_than_days: int | None = None  # waiting at most this many days
    skipped: str = "hide"  # hide the skipped links (default), show only them, or all
    stale_only: bool = False

    def checked(self) -> ReviewFilters:
        def refuse(message: str):
            raise GraphError(message, code=REVIEW_BAD_FILTER)

        for name, bound in (("minimum score", self.min_score), ("maximum score", self.max_score)):
            if bound is not None and not (bound.is_finite() and 0 <= bound <= 1):
                refuse(f"the {name} must be between 0 and 1, not {bound}")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            refuse(f"the minimum score ({self.min_score}) is above the maximum ({self.max_score})")
        for name, days in (("older than", self.older_than_days), ("newer than", self.newer_than_days)):
            if days is not None and not 0 <= days <= MAX_AGE_DAYS:
                refuse(f"“{name}” must be from 0 to {MAX_AGE_DAYS:,} days, not {days}")
        if self.skipped not in SKIPPED_CHOICES:
            refuse(f"skipped must be one of {', '.join(SKIPPED_CHOICES)}, not {self.skipped[:20]!r}")
        return self


def pending_links(filters: ReviewFilters | None = None) -> QuerySet:
    """The pending links that pass ``filters``, in the queue's order (impact, then id)."""
    filters = (filters or ReviewFilters()).checked()
    links = Relationship.objects.filter(auto_managed=True)
    if filters.relationship_type:
        links = links.filter(relationship_type=filters.relationship_type)
    for ends in (Node.objects.filter(node_type=filters.node_type) if filters.node_type else None,
                 Node.objects.filter(path__descendants=filters.subtree) if filters.subtree else None):
        if ends is not None:
            links = links.filter(Exists(ends.filter(pk=OuterRef("source_node_id")))
                                 | Exists(ends.filter(pk=OuterRef("target_node_id"))))
    if filters.min_score is not None:
        links = links.filter(inference_confidence__gte=filters.min_score)
    if filters.max_score is not None:
        links = links.filter(inference_confidence__lte=filters.max_score)
    now = timezone.now()
    if filters.older_than_days is not None:
        links = links.filter(created_at__lte=now - timedelta(days=filters.older_than_days))
    if filters.newer_than_days is not None:
        links = links.filter(created_at__gte=now - timedelta(days=filters.newer_than_days))
    if filters.skipped == "hide":
        links = links.filter(review_skipped_at__isnull=True)
    elif filters.skipped == "only":
        links = links.filter(review_skipped_at__isnull=False)
    if filters.stale_only:
        links = links.filter(stale_since__isnull=False)
    return links.order_by(F("review_impact").desc(nulls_last=True), "relationship_id")


@dataclass(frozen=True)
class ReviewRow:
    relationship: Relationship
    explanation: InferenceExplanation | None

    @property
    def waiting(self) -> timedelta | None:
        created = self.relationship.created_at
        return timezone.now() - created if created else None


@dataclass
class ReviewPage:
    rows: list[ReviewRow]
    total: RowCount
    page: int
    per_page: int = PER_PAGE
    more: bool = False

    @property
    def first_shown(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last_shown(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


def review_page(*, filters: ReviewFilters, page: int = 1) -> ReviewPage:
    """One page of the queue: the links, both nodes, their reasons (one query), and the count of the filter."""
    if not 1 <= page <= MAX_PAGE:
        raise GraphError(f"the page must be from 1 to {MAX_PAGE}, not {page}", code=REVIEW_BAD_FILTER)
    links = pending_links(filters)
    start = (page - 1) * PER_PAGE
    listed = list(links.select_related("source_node", "target_node").defer(
        "source_node__embedding", "target_node__embedding", "source_node__metadata", "target_node__metadata",
    )[start:start + PER_PAGE + 1])
    explained = relationships_inference_explained(listed[:PER_PAGE])
    rows = [ReviewRow(rel, explained[rel.pk]) for rel in listed[:PER_PAGE]]
    return ReviewPage(rows=rows, total=filtered_row_count(links), page=page, more=len(listed) > PER_PAGE)


@dataclass(frozen=True)
class ReviewFlow:
    """The dashboard's figures: what waits, what was decided, and how long the oldest has waited."""
    pending: RowCount
    accepted: RowCount  # accept decisions recorded
    rejected: RowCount  # rejections in force
    oldest_pending_at: datetime | None
    inferred_visible: bool = True
    decided_last_week: RowCount = field(default_factory=lambda: RowCount(0, True))

    @property
    def oldest_pending_age(self) -> timedelta | None:
        return timezone.now() - self.oldest_pending_at if self.oldest_pending_at else None


def review_flow() -> ReviewFlow:
    pending = Relationship.objects.filter(auto_managed=True)
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).filter(
        created_at__isnull=False).first()
    week_ago = timezone.now() - timedelta(days=7)
    return ReviewFlow(
        pending=filtered_row_count(pending),
        accepted=filtered_row_count(ReviewDecision.objects.filter(action="accept")),
        rejected=row_count(InferenceRejection),
        oldest_pending_at=oldest,
        inferred_visible=inferred_visible(),
        decided_last_week=filtered_row_count(ReviewDecision.objects.filter(
            ~Q(action="skip"), decided_at__gte=week_ago)),
    )
