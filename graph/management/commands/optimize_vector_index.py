"""``manage.py optimize_vector_index [--dry-run] [--table nodes|external_resources] [--type ivfflat|hnsw] [--force]``:
check the vector indexes, rebuild them when their tables have changed enough, and measure their recall."""

from __future__ import annotations

from django.core.management.base import CommandError

from config_admin.services import actor_label
from graph.choices import VectorIndexOutcome, VectorIndexType, VectorTable
from graph.services.vector_index import parameters_text, vector_index_optimize
from kgsite.management.base import DomainCommand


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Count the rows with an embedding, compute the recommended index parameters (IVFFlat lists = rows/1000, "
        "sqrt(rows) beyond 1M), and rebuild the vector index without blocking reads or writes (CREATE INDEX "
        "CONCURRENTLY and swap) when the change is significant, the rows grew past vector_index_rebuild_threshold, "
        "or the type changes; then measure recall@10 against exact search and raise probes / ef_search until "
        "vector_index_target_recall is met. Configuration changes are audited; each run is recorded in "
        "vector_index_builds (docs/vector-indexes.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Show what would be done; change nothing (no configuration, no record).")
        parser.add_argument("--table", choices=VectorTable.values,
                            help="Only this table (default: both).")
        parser.add_argument("--type", choices=VectorIndexType.values, dest="index_type",
                            help="Build this index type, and store the choice in vector_index_hnsw.")
        parser.add_argument("--force", action="store_true", help="Rebuild even when nothing calls for it.")

    def handle(self, *args, dry_run, table, index_type, force, **options):
        failed = []
        for name in [table] if table else VectorTable.values:
            build = vector_index_optimize(table=name, index_type=index_type, dry_run=dry_run, force=force,
                                          actor=actor_label(command=True))
            self.report(build)
            if build.outcome == VectorIndexOutcome.FAILED:
                failed.append(name)
        if failed:
            raise CommandError(f"the rebuild of {', '.join(failed)} failed: see the reason above (and the "
                               "vector_index_builds row)")

    def report(self, build) -> None:
        plan, status = build.plan, build.plan.status
        say = self.stdout.write
        say(f"{build.table_name} ({build.index_name})")
        before = status.rows_at_last_build
        say(f"  rows with an embedding: {status.rows}"
            f" ({'no build recorded' if before is None else f'{before:,} at the last build'})")
        index = status.index
        size = "" if index.size_bytes is None else f", {index.size_bytes / 1024 / 1024:,.1f} MB"
        say(f"  index now: {index.describe()}{size}; {status.search_parameter} = {status.search_value}")
        recommended = {key: value for key, value in plan.recommended.items() if key != "index_type"}
        say(f"  recommended: {plan.index_type} {parameters_text(recommended)}")
        say(f"  decision: {plan.decision()}")
        for name, (current, new) in plan.config_changes.items():
            say(f"  {'would set' if build.outcome == VectorIndexOutcome.DRY_RUN else 'set'} {name}: "
                f"{current} → {new}")
        if build.outcome == VectorIndexOutcome.DRY_RUN:
            say("  dry run: nothing was changed or recorded")
            return
        if build.outcome == VectorIndexOutcome.FAILED:
            say(f"  FAILED: {build.reason}")
            return
        if build.outcome == VectorIndexOutcome.REBUILT:
            say(f"  rebuilt in {build.build_seconds:.2f} s: {build.index_type} {parameters_text(build.parameters)}")
        if build.recall_at_10 is None:
            if status.rows.value:
                say("  recall: not measured (too few rows)")
            return
        for step in build.tuning:
            say(f"  tuning: {step}")
        say(f"  recall@10: {build.recall_at_10:.3f} over {build.sample_queries} queries with "
            f"{parameters_text(build.search_parameters)} (target {status.target_recall:.2f})")
        speedup = ""
        if build.latency_ms_median and build.exact_latency_ms_median:
            speedup = f" ({build.exact_latency_ms_median / build.latency_ms_median:,.1f}× faster)"
        say(f"  latency: approximate median {_ms(build.latency_ms_median)}, p95 {_ms(build.latency_ms_p95)}; "
            f"exact median {_ms(build.exact_latency_ms_median)}, p95 {_ms(build.exact_latency_ms_p95)}{speedup}")
