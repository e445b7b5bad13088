"""``manage.py move_node NODE_ID (--parent PARENT_ID | --root)``: move a node and its subtree in the hierarchy."""

from __future__ import annotations

from graph.services.hierarchy import node_move
from kgsite.errors import InvalidArgument
from kgsite.management.base import DomainCommand
from kgsite.numbers import whole_number

MAX_ID = 2**31 - 1  # node ids are PostgreSQL integers


def _node_id(text: str) -> int:
    node_id = whole_number(text, 1, MAX_ID)  # ASCII digits, never int() of thousands of digits
    if node_id is None:
        raise InvalidArgument(f"a node id is a whole number from 1 to {MAX_ID}; got {text[:40]!r}")
    return node_id


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Move a node, with its whole subtree, under another node (--parent) or to the top of the hierarchy "
        "(--root). The node keeps its label; every descendant's path follows, in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("node", help="Id of the node to move.")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--parent", help="Id of the node to move it under.")
        where.add_argument("--root", action="store_true", help="Make it a root (a one-label path, no parent).")

    def handle(self, *args, node, parent, root, **options):
        report = node_move(node_id=_node_id(node), parent_id=None if root else _node_id(parent))
        moved = f" with {report.descendants:,} descendant{'s' if report.descendants != 1 else ''}"
        self.stdout.write(f"Moved {report.node}{moved if report.descendants else ''}: "
                          f"{report.old_path or '(no path)'} -> {report.new_path or '(no path)'}")
