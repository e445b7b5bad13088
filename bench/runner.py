"""``python -m bench [--scale 10k|100k|1m] [--only NAME] [--json FILE] [--regenerate] [--markdown]``.

1. Find the server (``DATABASE_URL`` or the embedded one), create ``kgsite_bench_<scale>`` if missing, migrate it.
2. Point ``DATABASE_URL`` at it, turn ``DEBUG`` off (as in production) and set Django up.
3. Generate the graph unless the database already holds this scale, seed and generator version.
4. Run each registered benchmark (or those whose name contains ``--only``) and print the table, the machine and
   the PostgreSQL settings in force; ``--json FILE`` writes all of it, every timing included.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings

from bench import database, harness, report


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=tuple(database.SCALES), default="10k",
                        help="Graph size: 10k, 100k or 1m nodes (default 10k).")
    parser.add_argument("--only", metavar="NAME", help="Run only the benchmarks whose name contains NAME.")
    parser.add_argument("--json", metavar="FILE", help="Also write the results, machine and settings as JSON.")
    parser.add_argument("--regenerate", action="store_true", help="Generate the graph again even if it matches.")
    parser.add_argument("--markdown", action="store_true", help="Print the table as Markdown (docs/benchmarks.md).")
    return parser


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parser_build().parse_args(argv)
    server = database.server_url()
    dbname = database.database_name(args.scale)
    if database.database_create_if_missing(server, dbname):
        say(f"Created database {dbname}")
    say(f"Migrating {dbname} ...")
    database.database_migrate(database.database_url(server, dbname))

    os.environ["DATABASE_URL"] = database.database_url(server, dbname)
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("KGSITE_STATIC_MANIFEST", "false")  # pages render without running collectstatic
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kgsite.settings")
    warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: no collectstatic, none needed here
    import django

    django.setup()
    from django.db import connection

    from bench.benchmarks import benchmarks_load

    graph = database.bench_graph_ensure(scale=args.scale, regenerate=args.regenerate, say=say)
    benchmarks_load()
    try:
        chosen = harness.benchmarks_select(args.only)
    except LookupError as exc:
        say(str(exc))
        return 2
    context = harness.Context(scale=args.scale, nodes=graph["nodes"], database=dbname, say=say,
                              extra={"server_url": server})
    results = []
    for benchmark in chosen:
        say(f"Running {benchmark.name} ...")
        results.append(harness.benchmark_run(benchmark, context))
    with connection.cursor() as cursor:
        postgres = report.postgres_settings(cursor)
    machine_info = report.machine()
    print(report.report_format(results=results, graph=graph, machine_info=machine_info, postgres=postgres,
                               markdown=args.markdown))
    if args.json:
        command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
        report.json_write(args.json, results=results, graph=graph, machine_info=machine_info, postgres=postgres,
                          command=command.strip())
        say(f"Wrote {args.json}")
    return 1 if any(result.error for result in results) else 0
