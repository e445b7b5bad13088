"""``manage.py crawl_resources [--stale-only] [--limit N]``: fetch the external resources that are due."""

from __future__ import annotations

from graph.services.crawler import resources_crawl
from kgsite.management.base import DomainCommand, whole_number


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Crawl the external resources that are due (docs/crawling.md): first mark completed ones crawled more than "
        "crawl_stale_after_days ago stale, then fetch new (pending) and stale resources and failed ones whose "
        "back-off has passed, one at a time, and store their title, description and content hash (an unchanged "
        "hash rewrites nothing, so nothing is embedded again). Only http and https, public addresses only unless "
        "KGSITE_CRAWL_ALLOWED_NETWORKS lists them, with the crawl_* parameters' timeouts, size cap and redirect "
        "limit. Safe to run beside run_worker and other crawlers: each resource is claimed by one. Prints a "
        "summary; -v 2 adds a line per resource."
    )

    def add_arguments(self, parser):
        parser.add_argument("--stale-only", action="store_true",
                            help="Only resources crawled before (stale ones, failed ones whose back-off has passed, "
                                 "interrupted crawls); never-crawled (pending) resources wait.")
        parser.add_argument("--limit", type=whole_number(1, 100_000), metavar="N",
                            help="Crawl at most N resources (1 to 100,000; default: the crawl_batch_size "
                                 "parameter).")

    def handle(self, *args, stale_only, limit, **options):
        say = self.stdout.write
        report = resources_crawl(stale_only=stale_only, limit=limit,
                                 on_resource=(lambda outcome: say(outcome.line())) if options["verbosity"] > 1
                                 else None)
        say(report.line())
