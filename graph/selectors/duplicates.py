"""The duplicate candidates page's data (docs/duplicates.md): stored pairs, best first, with their evidence.

A page reads ``PER_PAGE + 1`` candidates through the score index and, for those only, both nodes, up to
``SHARED_SHOWN`` of the attribute values they share and their attribute and edge counts (each counted up to
``COUNT_CAP``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from graph.errors import DUPLICATE_BAD_OPTION, GraphError
from graph.models import DuplicateCandidate, Node
from kgsite.db import RowCount, filtered_row_count
from kgsite.numbers import page_number

PER_PAGE = 20
MAX_PAGE = 400
SHARED_SHOWN = 6
COUNT_CAP = 1_000


@dataclass
class Side:
    node: Node
    attributes: int
    edges: int
    children: int


@dataclass
class CandidateRow:
    candidate: DuplicateCandidate
    low: Side
    high: Side
    shared: list[tuple[str, str, str]] = field(default_factory=list)  # (type, key, value)


@dataclass
class CandidatePage:
    rows: list[CandidateRow]
    page: int
    more: bool
    total: RowCount

    @property
    def first_shown(self) -> int:
        return (self.page - 1) * PER_PAGE + 1

    @property
    def last_shown(self) -> int:
        return (self.page - 1) * PER_PAGE + len(self.rows)


def candidates(*, node_type: str | None = None, min_score: float = 0.0):
    query = DuplicateCandidate.objects.filter(score__gte=min_score)
    if node_type:
        query = query.filter(node_low__node_type=node_type)
    return query


def _counts(node_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    if not node_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT n.id,
                   (SELECT count(*) FROM (SELECT 1 FROM node_attributes WHERE node_id = n.id LIMIT %(cap)s) a),
                   (SELECT count(*) FROM (SELECT 1 FROM relationships WHERE source_node_id = n.id LIMIT %(cap)s) o)
                   + (SELECT count(*) FROM (SELECT 1 FROM relationships WHERE target_node_id = n.id LIMIT %(cap)s) i),
                   (SELECT count(*) FROM (SELECT 1 FROM nodes WHERE parent_node_id = n.id LIMIT %(cap)s) c)
            FROM unnest(%(ids)s::integer[]) AS n(id)
        """, {"ids": node_ids, "cap": COUNT_CAP})
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _shared(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], list[tuple[str, str, str]]]:
    if not pairs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT p.lo, p.hi, s.attribute_type, s.attribute_key, left(s.attribute_value, 120)
            FROM unnest(%s::integer[], %s::integer[]) AS p(lo, hi)
            CROSS JOIN LATERAL (
                SELECT x.attribute_type, x.attribute_key, x.attribute_value
                FROM node_attributes x JOIN node_attributes y ON y.node_id = p.hi AND y.value_key = x.value_key
                WHERE x.node_id = p.lo
                ORDER BY x.attribute_type, x.attribute_key LIMIT %s
            ) s
        """, [[p[0] for p in pairs], [p[1] for p in pairs], SHARED_SHOWN])
        shared: dict[tuple[int, int], list] = {}
        for lo, hi, kind, key, value in cursor.fetchall():
            shared.setdefault((lo, hi), []).append((kind, key, value))
    return shared


def page_checked(value, name: str = "page") -> int:
    return page_number(value, high=MAX_PAGE, code=DUPLICATE_BAD_OPTION, name=name, error=GraphError)


def candidate_page(*, node_type: str | None = None, min_score: float = 0.0, page: int = 1) -> CandidatePage:
    query = candidates(node_type=node_type, min_score=min_score)
    found = list(query.order_by("-score", "candidate_id")[(page - 1) * PER_PAGE:page * PER_PAGE + 1])
    shown = found[:PER_PAGE]
    node_ids = sorted({c.node_low_id for c in shown} | {c.node_high_id for c in shown})
    nodes = {n.pk: n for n in Node.objects.filter(pk__in=node_ids).defer("embedding")}
    counts = _counts(node_ids)
    shared = _shared([(c.node_low_id, c.node_high_id) for c in shown])
    rows = []
    for c in shown:
        if c.node_low_id not in nodes or c.node_high_id not in nodes:
            continue
        low, high = (Side(nodes[i], *counts.get(i, (0, 0, 0))) for i in (c.node_low_id, c.node_high_id))
        rows.append(CandidateRow(candidate=c, low=low, high=high, shared=shared.get((c.node_low_id,
                                                                                     c.node_high_id), [])))
    return CandidatePage(rows=rows, page=page, more=len(found) > PER_PAGE, total=filtered_row_count(query))
