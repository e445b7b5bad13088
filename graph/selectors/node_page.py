"""Everything the node page (``/nodes/<id>/``) shows about one node, in a bounded number of queries.

Every list is capped and every count reads at most a cap's worth of index entries, so a hub with 50,000
relationships costs what a leaf costs plus one indexed sort of its edges per direction (the page shows the
strongest first, ``RELATIONSHIPS_PER_PAGE`` at a time). About fifteen queries, whatever the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F

from graph.errors import EXPLORE_BAD_PARAMETER, EXPLORE_UNKNOWN_NODE, GraphError, GraphNotFound
from graph.models import Node, NodeResourceLink, Reference, Relationship
from graph.selectors.review import inferred_visible
from graph.selectors.similarity import SimilarityHit, SimilarityQuery, similarity_search
from graph.services.confidence import NodeConfidenceExplanation, node_confidence_explained
from graph.services.inference import InferenceExplanation, relationships_inference_explained

RELATIONSHIPS_PER_PAGE = 25
MAX_PAGE = 4_000  # 100,000 relationships: deeper offsets are refused rather than scanned
RELATIONSHIP_COUNT_CAP = 100_000
LIST_CAP = 50  # children, attributes, resources, references listed
OTHER_COUNT_CAP = 10_000  # children, resource links and references counted up to this
SIMILAR_NODES = 8
_NODE_COLUMNS = ("node_id", "name", "node_type", "path", "confidence_score")


@dataclass(frozen=True)
class CappedTotal:
    value: int
    capped: bool  # more than ``value`` exist

    def __str__(self):
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


@dataclass(frozen=True)
class RelationshipRow:
    relationship: Relationship
    other: Node  # the node at the other end
    explanation: InferenceExplanation | None  # what inference recorded, for an inferred link

    @property
    def weighted_strength(self) -> float:
        return float(self.relationship.confidence_score) * float(self.relationship.strength)


@dataclass(frozen=True)
class RelationshipPage:
    direction: str  # "outgoing" or "incoming"
    rows: list[RelationshipRow]
    total: CappedTotal
    page: int
    per_page: int = RELATIONSHIPS_PER_PAGE
    more: bool = False  # rows exist after this page

    @property
    def first_shown(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last_shown(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)

    @property
    def has_next(self) -> bool:
        return self.more

    @property
    def has_previous(self) -> bool:
        return self.page > 1


@dataclass
class NodePage:
    node: Node
    ancestors: list[Node]
    children: list[Node]
    children_total: CappedTotal
    confidence: NodeConfidenceExplanation
    attributes_total: int
    outgoing: RelationshipPage
    incoming: RelationshipPage
    resource_links: list[NodeResourceLink]
    resource_links_total: CappedTotal
    references_made: list[Reference]
    references_made_total: CappedTotal
    references_received: list[Reference]
    references_received_total: CappedTotal
    similar: list[SimilarityHit] = field(default_factory=list)
    similar_note: str = ""  # why no similar nodes are listed
    has_embedding: bool = False
    pending_hidden: bool = False  # inferred links awaiting review are left out (review_inferred_visible)


def page_number(value: str | None, *, name: str) -> int:
    """A ``?out_page=`` style parameter: a whole number from 1 to ``MAX_PAGE`` (missing: 1)."""
    if value is None:
        return 1
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) < 10) or not 1 <= int(text) <= MAX_PAGE:
        raise GraphError(f"the page number {name} must be a whole number from 1 to {MAX_PAGE:,}, not “{text[:20]}”",
                         code=EXPLORE_BAD_PARAMETER, parameter=name)
    return int(text)


# The page's six counts in one statement, each reading at most its cap + 1 index entries.
_COUNTS_SQL = """
SELECT (SELECT count(*) FROM (SELECT 1 FROM relationships WHERE source_node_id = %(id)s LIMIT %(rel)s) AS o),
       (SELECT count(*) FROM (SELECT 1 FROM relationships WHERE target_node_id = %(id)s LIMIT %(rel)s) AS i),
       (SELECT count(*) FROM (SELECT 1 FROM nodes WHERE parent_node_id = %(id)s LIMIT %(list)s) AS c),
       (SELECT count(*) FROM (SELECT 1 FROM node_resource_links WHERE node_id = %(id)s LIMIT %(list)s) AS l),
       (SELECT count(*) FROM (SELECT 1 FROM reference_tracking WHERE source_node_id = %(id)s LIMIT %(list)s) AS m),
       (SELECT count(*) FROM (SELECT 1 FROM reference_tracking WHERE target_node_id = %(id)s LIMIT %(list)s) AS r)
"""


def _counts(node_id: int, *, pending: bool) -> list[CappedTotal]:
    caps = (RELATIONSHIP_COUNT_CAP, RELATIONSHIP_COUNT_CAP, *(OTHER_COUNT_CAP,) * 4)
    sql = _COUNTS_SQL if pending else _COUNTS_SQL.replace(
        "FROM relationships WHERE", "FROM relationships WHERE auto_managed IS NOT TRUE AND")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"id": node_id, "rel": RELATIONSHIP_COUNT_CAP + 1, "list": OTHER_COUNT_CAP + 1})
        values = cursor.fetchone()
    return [CappedTotal(min(value, cap), value > cap) for value, cap in zip(values, caps, strict=True)]


def _relationships(node: Node, *, outgoing: bool, page: int, total: CappedTotal, pending: bool
                   ) -> RelationshipPage:
    own, other = ("source_node", "target_node") if outgoing else ("target_node", "source_node")
    base = Relationship.objects.filter(**{own: node})
    start = (page - 1) * RELATIONSHIPS_PER_PAGE
    listed = (base.select_related(other).only(
        "relationship_id", "source_node_id", "target_node_id", "relationship_type", "strength", "confidence_score",
        "auto_managed", "bidirectional", "shared_attributes_count", "inference_confidence", "metadata", "source",
        "stale_since",
        *(f"{other}__{column}" for column in _NODE_COLUMNS),
    ).order_by((F("confidence_score") * F("strength")).desc(), "relationship_id"))
    if not pending:
        listed = listed.exclude(auto_managed=True)
    listed = list(listed[start:start + RELATIONSHIPS_PER_PAGE + 1])
    explained = relationships_inference_explained(listed)  # one query for the page's reasons
    rows = [RelationshipRow(relationship=rel, other=getattr(rel, other), explanation=explained[rel.pk])
            for rel in listed]
    more = len(rows) > RELATIONSHIPS_PER_PAGE
    return RelationshipPage(direction="outgoing" if outgoing else "incoming", rows=rows[:RELATIONSHIPS_PER_PAGE],
                            total=total, page=page, per_page=RELATIONSHIPS_PER_PAGE, more=more)


def node_page(*, node_id: int, out_page: int = 1, in_page: int = 1) -> NodePage:
    """The node page's data; ``GraphNotFound`` (RG-EXPLORE-002, a 404) for an unknown node."""
    node = Node.objects.defer("embedding").filter(pk=node_id).first()
    if node is None:
        raise GraphNotFound(f"there is no node with id {node_id}", code=EXPLORE_UNKNOWN_NODE, node_id=node_id)
    ancestors = []
    if node.path and "." in str(node.path):
        ancestors = list(Node.objects.filter(path__ancestors=node.path).exclude(pk=node.pk)
                         .only(*_NODE_COLUMNS).order_by("path"))
    children_qs = Node.objects.filter(parent_node=node)
    links = NodeResourceLink.objects.filter(node=node)
    made = Reference.objects.filter(source_node=node)
    received = Reference.objects.filter(target_node=node)
    reference_related = ("source_node", "source_resource", "target_node", "target_resource")
    explanation = node_confidence_explained(node=node, limit=LIST_CAP)
    pending = inferred_visible()  # inferred links not yet accepted are shown (review_inferred_visible)
    outgoing, incoming, children, linked, cites, cited = _counts(node.pk, pending=pending)
    page = NodePage(
        node=node,
        ancestors=ancestors,
        children=list(children_qs.only(*_NODE_COLUMNS).order_by("name", "node_id")[:LIST_CAP]),
        children_total=children,
        confidence=explanation,
        attributes_total=explanation.attribute_count,
        outgoing=_relationships(node, outgoing=True, page=out_page, total=outgoing, pending=pending),
        incoming=_relationships(node, outgoing=False, page=in_page, total=incoming, pending=pending),
        pending_hidden=not pending,
        resource_links=list(links.select_related("resource").defer("resource__embedding")
                            .order_by("-confidence", "link_id")[:LIST_CAP]),
        resource_links_total=linked,
        references_made=list(made.select_related(*reference_related)
                             .defer("source_node__embedding", "target_node__embedding",
                                    "source_resource__embedding", "target_resource__embedding")
                             .order_by("-reference_id")[:LIST_CAP]),
        references_made_total=cites,
        references_received=list(received.select_related(*reference_related)
                                 .defer("source_node__embedding", "target_node__embedding",
                                        "source_resource__embedding", "target_resource__embedding")
                                 .order_by("-reference_id")[:LIST_CAP]),
        references_received_total=cited,
    )
    _add_similar(page)
    return page


def _add_similar(page: NodePage) -> None:
    vector = Node.objects.filter(pk=page.node.pk).values_list("embedding", flat=True).first()
    page.has_embedding = vector is not None
    if vector is None:
        page.similar_note = ("This node has no embedding yet; the worker (or manage.py embed_nodes) gives it one, "
                             "and similar nodes appear here then.")
        return
    result = similarity_search(query=SimilarityQuery(vector=vector, exclude_id=page.node.pk, limit=SIMILAR_NODES))
    page.similar = result.hits
    if not page.similar:
        page.similar_note = "No other node has an embedding yet."

