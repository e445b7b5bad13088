"""Finding the node a person means by what they typed: the search page's "similar to this node" query and its
autocomplete (docs/search.md).

``node_lookup(term=...)`` reads a node id or an exact name:

1. an id (digits) of an existing node is that node (an id wins over a node *named* "42");
2. otherwise the nodes whose name equals the term ignoring case (``lower(name) = lower(term)``, the btree
   ``idx_nodes_name_lower``): one is the node; several are narrowed to those with the same case as typed, and if
   that leaves one it is the node, else they are the choices (``NodeLookup.choices``, at most ``CHOICES_MAX``);
3. nothing: ``GraphError`` ``RG-SEARCH-003`` whose ``suggestions`` context holds the nodes the autocomplete
   would offer (so that the page without JavaScript can offer them as links).

``node_suggestions(term=...)`` is the autocomplete: the admin's ranked node search (exact name or id, names
starting with the term, names containing it, a path's subtree; shorter names first), at most ``SUGGESTIONS_MAX``
rows read through the tiers' own indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db.models.functions import Lower

from graph.errors import SEARCH_BAD_QUERY, SEARCH_NODE_WITHOUT_EMBEDDING, SEARCH_UNKNOWN_NODE, GraphError
from graph.models import Node
from graph.selectors.search import (
    NODE_ORDER,
    lower_equals,
    node_ranked_tiers,
    ranked_search,
    search_term_clean,
    term_id,
)

SUGGESTIONS_MAX = 10
CHOICES_MAX = 20
_FIELDS = ("node_id", "name", "node_type", "path")


@dataclass(frozen=True)
class NodeChoice:
    """A node as the search page names it (no vector, no metadata)."""

    id: int
    name: str
    node_type: str
    path: str | None

    @classmethod
    def of(cls, node: Node) -> NodeChoice:
        return cls(id=node.node_id, name=node.name, node_type=node.node_type,
                   path=str(node.path) if node.path else None)

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "type": self.node_type, "path": self.path}


@dataclass(frozen=True)
class NodeLookup:
    """What a node term resolved to: ``node`` and its ``embedding``, or (ambiguous name) ``choices``."""

    term: str
    node: NodeChoice | None = None
    embedding: np.ndarray | None = None
    choices: list[NodeChoice] = field(default_factory=list)
    more_choices: bool = False  # more than CHOICES_MAX nodes have that name


def node_suggestions(*, term: str, limit: int = SUGGESTIONS_MAX) -> list[NodeChoice]:
    """The autocomplete's nodes for ``term`` (empty for an empty term)."""
    term = search_term_clean(term)
    if not term:
        return []
    limit = max(1, min(limit, SUGGESTIONS_MAX))
    queryset = ranked_search(Node.objects.only(*_FIELDS), node_ranked_tiers(term), NODE_ORDER, limit=limit)
    return [NodeChoice.of(node) for node in queryset[:limit]]


def _with_embedding(term: str, node: Node) -> NodeLookup:
    if node.embedding is None:
        raise GraphError(f"the node “{node.name}” (id {node.node_id}) has no embedding yet: the worker (or "
                         "manage.py embed_nodes) gives it one soon", code=SEARCH_NODE_WITHOUT_EMBEDDING,
                         node_id=node.node_id)
    return NodeLookup(term=term, node=NodeChoice.of(node), embedding=np.asarray(node.embedding, dtype=np.float32))


def node_lookup(*, term: str) -> NodeLookup:
    """The node ``term`` (an id or an exact name) names, or the choices when several share that name; raises
    ``GraphError``: RG-SEARCH-001 for an empty term, RG-SEARCH-003 for no such node (with ``suggestions``),
    RG-SEARCH-004 for a node without an embedding."""
    term = search_term_clean(term)
    if not term:
        raise GraphError("type a node's id or name", code=SEARCH_BAD_QUERY)
    nodes = Node.objects.only(*_FIELDS, "embedding")
    node_id = term_id(term)
    if node_id is not None:
        node = nodes.filter(node_id=node_id).first()
        if node is not None:
            return _with_embedding(term, node)
    named = list(nodes.filter(lower_equals(Lower("name"), term.lower())).order_by(*NODE_ORDER)[:CHOICES_MAX + 1])
    if len(named) > 1:
        same_case = [node for node in named if node.name == term]
        if len(same_case) == 1:
            named = same_case
    if len(named) == 1:
        return _with_embedding(term, named[0])
    if named:
        return NodeLookup(term=term, choices=[NodeChoice.of(node) for node in named[:CHOICES_MAX]],
                          more_choices=len(named) > CHOICES_MAX)
    raise GraphError(f"no node has the id or name “{term[:100]}”", code=SEARCH_UNKNOWN_NODE,
                     suggestions=node_suggestions(term=term))
