"""The benchmark modules. Each registers its benchmarks with ``bench.harness.register`` when imported."""

from __future__ import annotations

import importlib

MODULES = (
    "bench.benchmarks.bulk_load",
    "bench.benchmarks.admin_changelist",
    "bench.benchmarks.admin_delete",
    "bench.benchmarks.admin_search",
    "bench.benchmarks.confidence",
    "bench.benchmarks.views",
    "bench.benchmarks.inference",
    "bench.benchmarks.exploration",
    "bench.benchmarks.similarity",
    "bench.benchmarks.imports",
    "bench.benchmarks.curation",
    "bench.benchmarks.history",
    "bench.benchmarks.load",
)


def benchmarks_load() -> None:
    """Imports every benchmark module (after ``django.setup()``: they use models)."""
    for module in MODULES:
        importlib.import_module(module)
