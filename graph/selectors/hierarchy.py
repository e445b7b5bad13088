"""The node hierarchy, one level at a time: the roots, or a node with its ancestors and a page of its children.

Kept cheap at a million nodes (docs/schema.md, "Path and parent agree", says why path and parent always agree):

* a node is found by its path through the unique btree on ``path`` (``unique_node_path``), its ancestors by the
  same index, all at once (``path = ANY(every prefix)``);
* children are read through the parent index (``idx_nodes_parent``), a page at a time (``per_page`` + 1 rows, so
  "next" needs no count), ordered by name ignoring case, then id;
* every count is capped (``SELECT count(*) FROM (SELECT 1 ... LIMIT cap + 1)``): a subtree with more than
  ``SUBTREE_COUNT_CAP`` descendants shows as "10,000+", so a page of 50 children reads at most 50 × 10,001 index
  entries. A subtree is written both as ``path <@ p`` (the GiST index ``idx_nodes_path``) and as the btree range
  ``p < path < p || '-'`` (a subtree is contiguous in ltree order, ``-`` is the smallest character a label may
  hold), so the planner may count it by an index-only scan of the unique btree;
* nodes without a path are not in the tree; the roots level counts them (capped) through the same btree
  (``path IS NULL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from graph.errors import EXPLORE_BAD_PARAMETER, EXPLORE_UNKNOWN_NODE, GraphError, GraphNotFound
from graph.selectors.search import term_path

SUBTREE_COUNT_CAP = 10_000  # descendants counted per node at most ("10,000+")
CHILDREN_COUNT_CAP = 10_000  # children counted at most, for "page 3 of 200+"
UNPLACED_COUNT_CAP = 10_000  # nodes without a path counted at most
PER_PAGE = 50
MAX_PAGE = 10_000  # a deeper page costs an OFFSET over that many pages of children
PATH_MAX_LENGTH = 2_000  # characters of a path asked for

_NODE_COLUMNS = "n.node_id, n.name, n.node_type, n.path::text, n.confidence_score"
_BELOW = ("(SELECT count(*) FROM (SELECT 1 FROM nodes d WHERE d.path <@ n.path AND d.path > n.path "
          "AND d.path < (n.path::text || '-')::ltree LIMIT %s) AS below)")


@dataclass(frozen=True)
class CappedCount:
    value: int
    capped: bool  # there are more than ``value``

    def __str__(self):
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"

    @classmethod
    def of(cls, counted: int, cap: int) -> CappedCount:
        return cls(cap, True) if counted > cap else cls(counted, False)


@dataclass(frozen=True)
class TreeNode:
    node_id: int
    name: str
    node_type: str
    path: str
    confidence: Decimal

    @property
    def labels(self) -> list[str]:
        return self.path.split(".")

    @property
    def label(self) -> str:
        return self.labels[-1]


@dataclass(frozen=True)
class TreeChild:
    node: TreeNode
    descendants: CappedCount

    @property
    def has_children(self) -> bool:
        return self.descendants.value > 0


@dataclass(frozen=True)
class HierarchyLevel:
    """``node`` None: the roots level (``children`` are the roots, ``unplaced`` counts the nodes without a
    path). Otherwise the node at the path asked for, its ancestors (root first) and a page of its children."""

    node: TreeNode | None
    ancestors: list[TreeNode]
    descendants: CappedCount | None  # of ``node``
    children: list[TreeChild]
    children_count: CappedCount
    page: int
    per_page: int
    has_next: bool
    unplaced: CappedCount | None = None

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.children else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.children)

    @property
    def page_count(self) -> CappedCount:
        pages = max(1, -(-self.children_count.value // self.per_page))
        return CappedCount(pages, self.children_count.capped)


def _tree_node(row) -> TreeNode:
    return TreeNode(node_id=row[0], name=row[1], node_type=row[2], path=row[3], confidence=row[4])


def _refuse(message: str):
    raise GraphError(message, code=EXPLORE_BAD_PARAMETER)


def hierarchy_path_checked(path: str) -> str:
    """``path`` if it is a well-formed ltree path (labels of letters, digits, ``_`` and ``-`` joined by dots),
    else ``GraphError`` RG-EXPLORE-001."""
    if len(path) > PATH_MAX_LENGTH:
        _refuse(f"a hierarchy path has at most {PATH_MAX_LENGTH:,} characters, not {len(path):,}")
    if term_path(path) is None:
        shown = path[:60] + ("…" if len(path) > 60 else "")
        _refuse(f"“{shown}” is not a hierarchy path: labels of letters, digits, _ and -, separated by single dots "
                "(science.physics)")
    return path


def _capped(cursor, sql: str, params: list, cap: int) -> CappedCount:
    cursor.execute(f"SELECT count(*) FROM ({sql} LIMIT %s) AS counted", [*params, cap + 1])
    return CappedCount.of(cursor.fetchone()[0], cap)


def hierarchy_level(*, path: str | None = None, page: int = 1, per_page: int | None = None) -> HierarchyLevel:
    """The roots (``path`` None or empty) or the node at ``path`` with its ancestors and a page of children.

    Raises ``GraphError`` RG-EXPLORE-001 for a malformed path or a page out of range, ``GraphNotFound``
    RG-EXPLORE-002 when no node has the path. ``per_page`` defaults to ``PER_PAGE``."""
    per_page = PER_PAGE if per_page is None else per_page
    if not 1 <= page <= MAX_PAGE:
        _refuse(f"the page must be from 1 to {MAX_PAGE:,}, not {page:,}")
    if not 1 <= per_page <= 500:
        _refuse(f"a page holds 1 to 500 children, not {per_page:,}")
    with connection.cursor() as cursor:
        if path:
            labels = hierarchy_path_checked(path).split(".")
            prefixes = [".".join(labels[:end]) for end in range(1, len(labels) + 1)]
            cursor.execute(f"SELECT {_NODE_COLUMNS} FROM nodes n WHERE n.path = ANY(%s::ltree[]) "
                           "ORDER BY nlevel(n.path)", [prefixes])
            found = [_tree_node(row) for row in cursor.fetchall()]
            if not found or found[-1].path != path:
                raise GraphNotFound(f"no node has the hierarchy path {path[:200]}", code=EXPLORE_UNKNOWN_NODE,
                                    path=path)
            node, ancestors = found[-1], found[:-1]
            descendants = _capped(cursor, "SELECT 1 FROM nodes d WHERE d.path <@ %s::ltree AND d.path > %s::ltree "
                                  "AND d.path < (%s || '-')::ltree", [path, path, path], SUBTREE_COUNT_CAP)
            where, params = "n.parent_node_id = %s", [node.node_id]
        else:
            node, ancestors, descendants = None, [], None
            where, params = "n.parent_node_id IS NULL AND n.path IS NOT NULL", []

        cursor.execute(f"SELECT {_NODE_COLUMNS}, {_BELOW} FROM nodes n WHERE {where} "
                       "ORDER BY lower(n.name), n.node_id LIMIT %s OFFSET %s",
                       [SUBTREE_COUNT_CAP + 1, *params, per_page + 1, (page - 1) * per_page])
        rows = cursor.fetchall()
        children = [TreeChild(_tree_node(row), CappedCount.of(row[5], SUBTREE_COUNT_CAP)) for row in rows[:per_page]]
        children_count = _capped(cursor, f"SELECT 1 FROM nodes n WHERE {where}", params, CHILDREN_COUNT_CAP)
        unplaced = None if node else _capped(cursor, "SELECT 1 FROM nodes WHERE path IS NULL", [],
                                             UNPLACED_COUNT_CAP)
    level = HierarchyLevel(node=node, ancestors=ancestors, descendants=descendants, children=children,
                           children_count=children_count, page=page, per_page=per_page,
                           has_next=len(rows) > per_page, unplaced=unplaced)
    if page > 1 and not children:
        _refuse(f"page {page:,} is past the last page ({level.page_count})")
    return level
