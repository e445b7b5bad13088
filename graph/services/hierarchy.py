"""The node hierarchy: a node's ``path`` and its ``parent_node_id`` always agree.

The rule (docs/schema.md, "Path and parent agree") is enforced by triggers on ``nodes``
(``graph/sql/node_hierarchy.sql``), so the admin, commands, bulk loads and plain SQL all obey it:

* a node with a parent has the parent's path plus exactly one label;
* a node without a parent has a one-label path (a root) or no path;
* paths are unique; no node is its own ancestor.

What a writer leaves out is derived: change only the parent and the path follows (the node keeps its label),
change only the path and the parent follows (the node at the path minus its last label). Moving a node moves its
whole subtree (the descendants' paths are rewritten in the same statement, through the GiST index on ``path``).

``node_placement_resolve`` mirrors the triggers in Python so that forms can show a refusal beside the right field
and show the derived path before saving; ``node_move`` is the service commands and pages call to move a subtree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, transaction

from graph.errors import (
    HIERARCHY_CYCLE,
    NO_NODE_AT_PATH,
    NODE_MISSING,
    PARENT_MISSING,
    PARENT_WITHOUT_PATH,
    PATH_PARENT_MISMATCH,
    PATH_TAKEN,
    GraphError,
)
from graph.models import Node
from kgsite.db import domain_error_from_database
from kgsite.errors import require_permission

_LABEL_JUNK = re.compile(r"[^a-z0-9_]+")


class HierarchyError(GraphError):
    """A placement that breaks the rule; ``field`` names the form field to show it beside."""

    def __init__(self, message: str, *, code: str, field: str = "path", **context):
        super().__init__(message, code=code, field=field, **context)
        self.field = field


def path_label(name: str) -> str | None:
    """The label the database gives a new child that has no path (``node_path_label`` in SQL): its name in lower
    case, runs of other characters as ``_``; None when nothing is left (the database then uses ``node_<id>``)."""
    label = _LABEL_JUNK.sub("_", (name or "").lower()).strip("_")[:200]
    return label or None


def _labels(path) -> list[str]:
    if path is None:
        return []
    return list(path) if not isinstance(path, str) else [label for label in path.split(".") if label]


def node_placement_resolve(*, node: Node | None, name: str, path, parent: Node | None,
                           path_changed: bool = True, parent_changed: bool = True) -> tuple[str | None, Node | None]:
    """The ``(path, parent)`` the database will store for this write, or ``HierarchyError``.

    ``node`` is the node being edited (None for a new one); ``path_changed``/``parent_changed`` say which of the two
    the writer set (an edit form knows from ``changed_data``): the other one is derived, as the triggers do.
    """
    labels = _labels(path)
    old_labels = _labels(node.path) if node is not None else []
    if node is not None:
        if parent_changed and not path_changed:
            labels = old_labels[-1:]  # moved by parent: the node keeps its own label
        elif path_changed and not parent_changed:
            parent = None  # moved by path: the parent follows

    if parent is not None:
        parent_labels = _labels(parent.path)
        if not parent_labels:
            raise HierarchyError(
                f"the parent {parent} has no path; give it a path before adding children",
                code=PARENT_WITHOUT_PATH, field="parent_node",
            )
        if not labels:
            label = path_label(name)
            labels = [*parent_labels, label] if label else []
        elif len(labels) == 1:
            labels = [*parent_labels, *labels]
        elif labels[:-1] != parent_labels:
            raise HierarchyError(
                f"the path {'.'.join(labels)} does not agree with the parent's path {'.'.join(parent_labels)}: a "
                "child's path is its parent's path plus one label (change one of them, or leave the path as the "
                "last label only)", code=PATH_PARENT_MISMATCH,
            )
        parent_path = parent_labels
    elif len(labels) > 1:
        prefix = ".".join(labels[:-1])
        parent = Node.objects.filter(path=prefix).first()
        if parent is None:
            raise HierarchyError(
                f"no node has the path {prefix}, so {'.'.join(labels)} cannot be placed under it; create that "
                "node first or use a one-label path", code=NO_NODE_AT_PATH,
            )
        parent_path = labels[:-1]
    else:
        parent_path = []
        if node is not None and not labels and old_labels and node.children.exists():
            raise HierarchyError(f"{node} has children, so it needs a path", code=PARENT_WITHOUT_PATH)

    if node is not None and old_labels and parent_path[: len(old_labels)] == old_labels:
        raise HierarchyError(
            f"{node} cannot move under {parent}: that is the node itself or one of its descendants",
            code=HIERARCHY_CYCLE, field="parent_node",
        )
    return (".".join(labels) or None), parent


@dataclass(frozen=True)
class MoveReport:
    node: Node
    old_path: str | None
    new_path: str | None
    descendants: int  # nodes whose path changed with it


def node_move(*, node_id: int, parent_id: int | None, user=None) -> MoveReport:
    """Move a node (and its subtree) under ``parent_id``, or make it a root (``parent_id=None``); one transaction.

    The node keeps its label; its descendants' paths follow. Refusals (unknown nodes, a parent without a path, a
    move under its own subtree, a path already taken) are ``HierarchyError``/``GraphError`` with RG-NODE codes.
    """
    require_permission(user, "graph.change_node", "move nodes")
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(pk=node_id).first()
        if node is None:
            raise GraphError(f"there is no node with id {node_id}", code=NODE_MISSING, node_id=node_id)
        if parent_id is not None and not Node.objects.filter(pk=parent_id).exists():
            raise GraphError(f"there is no node with id {parent_id} to move under", code=PARENT_MISSING,
                             node_id=parent_id)
        old_path = str(node.path) if node.path is not None else None
        try:
            with transaction.atomic():
                Node.objects.filter(pk=node_id).update(parent_node_id=parent_id)
        except DatabaseError as exc:
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
            if isinstance(exc, IntegrityError) and constraint == "unique_node_path":
                raise HierarchyError(f"moving {node} there would give it (or one of its descendants) a path another "
                                     "node already has; rename or move that node first", code=PATH_TAKEN,
                                     field="parent_node", node_id=node_id) from exc
            error = domain_error_from_database(exc, GraphError)
            if error is None:
                raise
            raise error from exc
        node.refresh_from_db()
        new_path = str(node.path) if node.path is not None else None
        descendants = Node.objects.filter(path__descendants=new_path).exclude(pk=node_id).count() if new_path else 0
    return MoveReport(node=node, old_path=old_path, new_path=new_path, descendants=descendants)
