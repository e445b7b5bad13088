"""``manage.py find_duplicates [--type T] [--subtree PATH] [--across-types] [--min-score S] [--neighbours K]``:
score candidate pairs of duplicate nodes (docs/duplicates.md)."""

from __future__ import annotations

import argparse
import math

from graph.models import DuplicateCandidate
from graph.services.duplicates import duplicates_find
from kgsite.management.base import DomainCommand, whole_number


def _score(text: str) -> float:
    if not text.isascii() or len(text) > 20:
        raise argparse.ArgumentTypeError(f"{text[:30]!r} is not a number from 0 to 1")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


_score.__name__ = "score"


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Find pairs of nodes that may be duplicates: each node is compared with its nearest neighbours by name "
        "(pg_trgm) and by embedding (pgvector), of its own type unless --across-types, and each pair scored from "
        "name similarity, embedding similarity and shared attribute values. Pairs scoring at least the lowest "
        "score are stored for the /duplicates/ page; pairs marked \"not the same\" never are. A run replaces the "
        "candidates of its scope (docs/duplicates.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--type", dest="node_type", metavar="T", help="Only nodes of this type.")
        parser.add_argument("--subtree", metavar="PATH", help="Only nodes in this subtree (an ltree path), and pairs "
                                                              "within it.")
        parser.add_argument("--across-types", action="store_true",
                            help="Compare nodes with neighbours of any type (default: their own type).")
        parser.add_argument("--min-score", type=_score, metavar="S",
                            help="Lowest score stored, 0 to 1 (default: the duplicate_min_score parameter).")
        parser.add_argument("--neighbours", type=whole_number(1, 100), metavar="K",
                            help="Neighbours per node, by name and by embedding (default: duplicate_neighbours).")
        parser.add_argument("--top", type=whole_number(0, 1000), default=10, metavar="N",
                            help="Print the best N candidates afterwards (default 10; 0 prints none).")

    def handle(self, *args, node_type, subtree, across_types, min_score, neighbours, top, **options):
        verbose = options["verbosity"] > 1
        report = duplicates_find(
            node_type=node_type, subtree=subtree, across_types=across_types, min_score=min_score,
            neighbours=neighbours,
            progress=(lambda r, step: self.stdout.write(f"  {step}: {r.scanned:,} nodes, {r.stored:,} pairs stored"))
            if verbose else None)
        if top:
            best = DuplicateCandidate.objects.select_related("node_low", "node_high").order_by("-score",
                                                                                            "candidate_id")
            if node_type:
                best = best.filter(node_low__node_type=node_type)
            for candidate in best[:top]:
                self.stdout.write(f"{candidate.score:.3f}  {candidate.node_low.name} ({candidate.node_low_id})  ≈  "
                                  f"{candidate.node_high.name} ({candidate.node_high_id})")
        self.stdout.write(report.summary())
