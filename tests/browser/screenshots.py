"""Screenshots of the main pages at 1400 and 390 px: ``python -m tests.browser.screenshots``.

Serves the site exactly as the browser tests do (``tests/browser/server.py``: collectstatic with hashed names,
gunicorn with ``DEBUG=false``, the demo graph, a superuser and a few audited configuration changes, plus
``seed_inference``: the demo graph inferred by the worker, a few failed and waiting queue items, the maintenance
jobs run once) on a database of its own, created on the same PostgreSQL server (``KGSITE_SCREENSHOT_DATABASE``, default
``test_kgsite_screenshots``; dropped at the end), logs in through the login form with Debian's Chromium and writes
full-page PNGs named ``<page>-<width>.png`` into ``docs/screenshots/`` (or ``--out``). A page the browser saw a
fault on (a 4xx/5xx response, a failed request, a console error, a stylesheet or image that did not load) stops
it with an error naming the fault: no screenshot of a broken page.

    python -m tests.browser.screenshots                     # every page, both widths
    python -m tests.browser.screenshots --only node-change --width 390 --out /tmp/shots
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from tests.browser import server as harness
from tests.browser.faults import FaultLog, page_problems

DEFAULT_DATABASE = "test_kgsite_screenshots"
WIDTHS = (1400, 390)
# name -> path; {node} is the demo's Python, {inferred} an inferred relationship (Go ↔ Rust), {survivor} and
# {merged} the seeded duplicate pair (Haskell, "Haskell language").
PAGES = {
    "dashboard": "/",
    "node-page": "/nodes/{node}/",
    "neighbourhood": "/nodes/{node}/neighbourhood/?depth=2",
    "paths": "/paths/?from=Alan+Kay&to=Rich+Hickey",
    "hierarchy": "/hierarchy/?path=computing.languages",
    "node-list": "/admin/graph/node/",
    "node-change": "/admin/graph/node/{node}/change/",
    "relationship-add": "/admin/graph/relationship/add/",
    "relationship-inferred": "/admin/graph/relationship/{inferred}/change/",
    "inference-queue": "/admin/graph/inferencequeueitem/",
    "config-list": "/admin/config_admin/systemconfig/",
    "audit-log": "/admin/config_admin/configauditlog/",
    "search-text": "/search/?text=functional+programming+language",
    "search-node-hybrid": "/search/?node={node}&mode=hybrid",
    "vector-index-health": "/admin/graph/vectorindexbuild/health/",
    "import-upload": "/admin/graph/importjob/add/",
    "import-checked": "/admin/graph/importjob/{checked}/change/",
    "import-invalid": "/admin/graph/importjob/{invalid}/change/",
    "review": "/review/",
    "review-admin": "/admin/graph/pendinglink/",
    "review-rejections": "/admin/graph/inferencerejection/",
    "duplicates": "/duplicates/?type=language",
    "merge-confirm": "/duplicates/merge/?survivor={survivor}&merged={merged}",
    "node-history": "/nodes/{node}/history/",
    "history": "/history/",
}
# The inferred relationship shown: two languages of the demo graph that share several values.
INFERRED_PAIR = ("Go", "Rust")
WORKER = "kg-worker-1:48213"  # the worker named on the queue page
FAILURES = {  # node name -> the error its queue item failed with
    "COBOL": "OperationalError: canceling statement due to statement timeout\nCONTEXT: SQL statement in "
             "relationships_infer (batch of 250 nodes)",
    "Fortran": "OperationalError: could not obtain lock on row in relation \"relationships\"",
}


def seed_inference() -> dict:
    """What the inference pages show, committed: the worker infers the whole demo graph (real relationships with
    their explanations, real completions), two items fail with an error, a worker holds one, three wait; the
    maintenance jobs run once. Returns ``inferred_id`` (the ``INFERRED_PAIR`` relationship)."""
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    from graph.models import InferenceQueueItem, Node, Relationship
    from graph.services.inference import inference_queue
    from graph.services.inference_worker import inference_worker_run
    from graph.services.maintenance import MaintenanceSchedule

    inference_worker_run()  # drains the queue the demo graph's load filled
    nodes = {node.name: node for node in Node.objects.filter(name__in=[*FAILURES, *INFERRED_PAIR, "Python",
                                                                         "Kotlin", "Swift", "Haskell"])}
    now = timezone.now()
    for name, error in FAILURES.items():
        InferenceQueueItem.objects.create(
            node=nodes[name], status="failed", retry_count=3, max_retries=3, error_message=error,
            queued_at=now - timedelta(minutes=50), started_at=now - timedelta(minutes=12),
            completed_at=now - timedelta(minutes=11), processing_node=WORKER)
    InferenceQueueItem.objects.create(
        node=nodes["Haskell"], status="processing", processing_node=WORKER, batch_id="5f0c2a9e",
        started_at=now - timedelta(seconds=20), estimated_completion=now + timedelta(minutes=5))
    inference_queue(node_ids=[nodes[name].pk for name in ("Python", "Kotlin", "Swift")], priority=8)
    MaintenanceSchedule(worker=WORKER).tick()
    low, high = sorted((nodes[INFERRED_PAIR[0]].pk, nodes[INFERRED_PAIR[1]].pk))
    inferred = Relationship.objects.get(Q(source_node_id=low, target_node_id=high), auto_managed=True)
    return {"inferred_id": inferred.pk}


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m tests.browser.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=harness.BASE_DIR / "docs" / "screenshots",
                        help="directory for the PNGs (default docs/screenshots)")
    parser.add_argument("--only", action="append", choices=sorted(PAGES), help="a page to shoot (repeatable)")
    parser.add_argument("--width", action="append", type=int,
                        help="a viewport width (repeatable; default 1400 and 390)")
    return parser.parse_args(argv)


def _setup_django(database: str):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kgsite.settings")
    import django

    django.setup()
    from django.db import connection

    connection.settings_dict["TEST"]["NAME"] = database
    return connection


def shoot(*, base_url: str, node_id: int, inferred_id: int, out: Path, pages: list[str],
          widths: list[int], imports: dict) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright)
        try:
            login = browser.new_context(viewport={"width": 1400, "height": 900})
            harness.log_in(login.new_page(), base_url)
            state = login.storage_state()
            login.close()
            for width in widths:
                context = browser.new_context(
                    viewport={"width": width, "height": harness.VIEWPORT_HEIGHTS.get(width, 900)}, storage_state=state
                )
                faults = FaultLog()
                faults.watch(context)
                page = context.new_page()
                for name in pages:
                    response = page.goto(base_url + PAGES[name].format(node=node_id, inferred=inferred_id,
                                                                       checked=imports["checked_import_id"],
                                                                       invalid=imports["invalid_import_id"],
                                                                       survivor=imports["duplicate_pair"][0],
                                                                       merged=imports["duplicate_pair"][1]))
                    if response is None or not response.ok:
                        raise harness.BrowserHarnessError(f"{name}: {response.status if response else 'no answer'}")
                    problems = page_problems(page)
                    if problems or faults.faults:  # a shot of a page with a broken stylesheet is no documentation
                        raise harness.BrowserHarnessError(f"{name}: " + "; ".join(faults.faults + problems))
                    target = out / f"{name}-{width}.png"
                    page.screenshot(path=str(target), full_page=True)
                    written.append(target)
                context.close()
        finally:
            browser.close()
    return written


def main(argv=None) -> int:
    args = _arguments(argv)
    connection = _setup_django(os.environ.get("KGSITE_SCREENSHOT_DATABASE") or DEFAULT_DATABASE)
    with tempfile.TemporaryDirectory(prefix="kgsite-screenshots-") as tmp:
        tmp = Path(tmp)
        harness.collect_static(tmp / "static")
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        server = None
        try:
            harness.require_test_database(connection.settings_dict)
            seeded = harness.seed_site()
            seeded.update(seed_inference())
            connection.close()
            server = harness.SiteServer(db_url=harness.database_url(connection.settings_dict),
                                        static_root=tmp / "static", log_path=tmp / "gunicorn.log").start()
            written = shoot(base_url=server.base_url, node_id=seeded["showcase_node_id"],
                            inferred_id=seeded["inferred_id"], out=args.out, imports=seeded,
                            pages=args.only or list(PAGES), widths=args.width or list(WIDTHS))
        except harness.BrowserHarnessError as exc:
            print(f"screenshots: {exc}", file=sys.stderr)
            return 1
        finally:
            if server is not None:
                server.stop()
                harness.wait_for_server_sessions_to_end(connection.settings_dict["NAME"])
            connection.creation.destroy_test_db(old_name, verbosity=0)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
