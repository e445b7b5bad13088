"""``manage.py export_graph PATH [--format jsonl|csv|graphml] [--subtree PATH] [--type T] [--embeddings ...]``."""

from __future__ import annotations

import sys

from graph.errors import EXPORT_BAD_OPTION, GraphError
from graph.services.exports import EMBEDDINGS, FORMATS, graph_export
from kgsite.forms import ltree_path_problem
from kgsite.management.base import DomainCommand


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Export the graph (or a subtree, or some node types) in the exchange format of import_graph "
        "(docs/import-format.md): JSON Lines, a directory of CSV files, or GraphML. Streamed: PostgreSQL writes "
        "the records and they go straight to the file, written under a temporary name and renamed at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="PATH", help="The file to write (a directory for CSV; - for stdout).")
        parser.add_argument("--format", choices=FORMATS, default="jsonl", dest="file_format",
                            help="jsonl (default), csv or graphml.")
        parser.add_argument("--subtree", metavar="PATH", help="Only the node at this ltree path and those below it.")
        parser.add_argument("--type", action="append", default=[], dest="types", metavar="T",
                            help="Only nodes of this type (repeat for several).")
        parser.add_argument("--embeddings", choices=EMBEDDINGS, default="supplied",
                            help="Which vectors to write: those users supplied (default), all, or none.")

    def handle(self, *args, path, file_format, subtree, types, embeddings, **options):
        problem = ltree_path_problem(subtree) if subtree is not None else None
        if problem:  # before PostgreSQL would refuse it with a syntax error
            raise GraphError(f"--subtree {subtree[:60]!r} is not a usable ltree path: {problem}",
                             code=EXPORT_BAD_OPTION)
        stdout = sys.stdout.buffer if path == "-" else None
        report = graph_export(path=path, file_format=file_format, subtree=subtree, types=types,
                              embeddings=embeddings, stdout=stdout)
        (self.stderr if path == "-" else self.stdout).write(report.line())
