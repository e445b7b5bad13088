"""``manage.py generate_graph --nodes N [--seed S] [--append]``: fill the database with a synthetic graph."""

from __future__ import annotations

from graph.services.generator import graph_generate
from kgsite.errors import InvalidArgument
from kgsite.management.base import DomainCommand


class Command(DomainCommand):
    help = (
        "Generate a synthetic knowledge graph shaped like real ones (typed hierarchy, Zipf-distributed attribute "
        "values, hub-heavy relationships, clustered embeddings, resources, links, references) with COPY. Refuses "
        "when the graph already has nodes, unless --append. Locks the graph tables while it runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--nodes", type=int, required=True, help="Number of nodes to generate (at least 10).")
        parser.add_argument("--seed", type=int, default=0, help="Random seed: the same seed gives the same graph.")
        parser.add_argument("--append", action="store_true", help="Add to a graph that already has nodes.")

    def handle(self, *args, nodes, seed, append, **options):
        if seed < 0:
            raise InvalidArgument(f"--seed must be zero or positive; got {seed}")
        progress = self.stdout.write if options["verbosity"] > 1 else None
        report = graph_generate(nodes=nodes, seed=seed, append=append, progress=progress)
        self.stdout.write(report.summary())
