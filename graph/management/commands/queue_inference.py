"""``manage.py queue_inference (--all | --node ID ... | --type T) [--priority P]``: queue nodes for inference."""

from __future__ import annotations

from graph.services.inference import inference_queue
from kgsite.management.base import DomainCommand, whole_number


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Queue nodes for relationship inference (docs/inference.md): all of them, some by id, or those of one "
        "type. A node already waiting has its priority raised instead of a second row. The worker "
        "(run_inference, run_worker) processes the queue."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every node.")
        which.add_argument("--node", nargs="+", type=whole_number(1, 2**31 - 1), metavar="ID",
                           help="These node ids.")
        which.add_argument("--type", metavar="T", help="Every node of this node_type.")
        parser.add_argument("--priority", type=whole_number(1, 10), default=5, metavar="P",
                            help="1 (least urgent) to 10 (most); default 5.")

    def handle(self, *args, all, node, type, priority, **options):  # noqa: A002  (argparse's names)
        queued = inference_queue(node_ids=node, all_nodes=all, node_type=type, priority=priority)
        self.stdout.write(f"Queued {queued:,} nodes for inference (priority {priority}; nodes already waiting "
                          "had their priority raised).")
