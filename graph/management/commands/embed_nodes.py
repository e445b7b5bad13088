"""``manage.py embed_nodes [--missing-only | --all] [--batch-size N] [--resources]``: compute embeddings with the
configured provider (docs/embeddings.md)."""

from __future__ import annotations

import contextlib

from config_admin.selectors import config_get
from graph.services.embeddings import EmbedReport, embedding_provider, embeddings_compute, embeddings_scope
from kgsite.management.base import DomainCommand, whole_number
from kgsite.progress import Progress


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Compute the embeddings of nodes (and, with --resources, external resources) with the configured provider "
        "(KGSITE_EMBEDDING_PROVIDER; docs/embeddings.md) in batches, each committed on its own. By default every "
        "provider-made vector is recomputed (run it after switching providers) and vectors supplied by users "
        "(admin, import, SQL) are kept. New and changed rows need no command: run_worker embeds them from the "
        "queue. Progress goes to stderr, the summary to stdout."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--missing-only", action="store_true",
                           help="Only rows without any vector (a provider-made vector is not recomputed).")
        which.add_argument("--all", action="store_true", dest="overwrite_supplied",
                           help="Also replace the vectors users supplied with provider-made ones (they cannot be "
                                "recovered afterwards).")
        parser.add_argument("--resources", action="store_true",
                            help="Embed the external resources too, after the nodes.")
        parser.add_argument("--batch-size", type=whole_number(1, 10_000), metavar="N",
                            help="Rows per batch and transaction (1 to 10,000; default: the embedding_batch_size "
                                 "parameter).")

    def handle(self, *args, missing_only, overwrite_supplied, resources, batch_size, **options):
        batch_size = batch_size or int(config_get("embedding_batch_size"))
        provider = embedding_provider()  # loaded before the bar starts: RG-EMBED-001 if it cannot be
        total = EmbedReport()
        kept = 0
        tables = [(False, "nodes"), (True, "resources")] if resources else [(False, "nodes")]
        for table_resources, label in tables:
            scope = embeddings_scope(resources=table_resources, missing_only=missing_only,
                                     overwrite_supplied=overwrite_supplied)
            kept += scope.supplied_kept
            bar = Progress(scope.to_embed, f"Embedding {label}", self.stderr._out) \
                if options["verbosity"] > 0 else None
            with bar or contextlib.nullcontext():
                report = embeddings_compute(resources=table_resources, missing_only=missing_only,
                                            overwrite_supplied=overwrite_supplied, batch_size=batch_size,
                                            provider=provider, progress=bar.advance if bar else None)
            total.add(report)
            total.seconds += report.seconds
        total.provider = provider.name
        kept_text = f"; {kept:,} vector{'s' * (kept != 1)} supplied by users kept (--all replaces them)" \
            if kept and not missing_only else ""
        self.stdout.write(total.line() + kept_text)
