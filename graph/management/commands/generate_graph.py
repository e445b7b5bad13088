"""``manage.py generate_graph --nodes N [--seed S] [--append]``: fill the database with a synthetic graph."""

from __future__ import annotations

from graph.services.generator import graph_generate
from kgsite.management.base import DomainCommand, whole_number

# Ten times the largest benchmark scale: the plan is held in memory (about 1.5 GB per million nodes).
MAX_NODES = 10_000_000
MAX_SEED = 2**32 - 1


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Generate a synthetic knowledge graph shaped like real ones (typed hierarchy, Zipf-distributed attribute "
        "values, hub-heavy relationships, clustered embeddings, resources, links, references) with COPY. Refuses "
        "when the graph already has nodes, unless --append. Locks the graph tables while it runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--nodes", type=whole_number(1, MAX_NODES), required=True,
                            help=f"Number of nodes to generate (at least 10, at most {MAX_NODES:,}).")
        parser.add_argument("--seed", type=whole_number(0, MAX_SEED), default=0,
                            help="Random seed: the same seed gives the same graph.")
        parser.add_argument("--append", action="store_true", help="Add to a graph that already has nodes.")

    def handle(self, *args, nodes, seed, append, **options):
        progress = self.stdout.write if options["verbosity"] > 1 else None
        report = graph_generate(nodes=nodes, seed=seed, append=append, progress=progress)
        self.stdout.write(report.summary())
