"""The benchmark contract and the measuring loop.

A benchmark compares **our** code path with a **baseline** that does the same work (the stock Django way, or the
straightforward SQL), in the same process, against the same database, in the same run. Each is called
``warmup`` times untimed, then ``repeat`` times each, interleaved (ours, baseline, ours, ...) so that drift of the
machine affects both alike; the figure is the median. ``ratio`` is baseline time / our time: above 1 we are
faster (for rates it equals our rate / the baseline's). ``quality`` is a short text where speed alone would
mislead: recall, overlap of the results, errors.
"""

from __future__ import annotations

import statistics
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

UNITS = ("ms", "rows/s")
SIDES = ("ours", "baseline")


@dataclass
class Sample:
    """What a side may return when only part of the call counts: its own timing of that part."""

    seconds: float | None = None


@dataclass
class Context:
    """What the runner hands to each benchmark's ``setup``."""

    scale: str
    nodes: int
    database: str
    say: Any = print
    extra: dict = field(default_factory=dict)


class Benchmark:
    """Subclass, set the class attributes, implement ``ours`` and ``run_baseline``; register with ``@register``."""

    name: str = ""
    description: str = ""
    baseline: str = ""  # what the baseline is, in a few words
    unit: str = "ms"  # "ms": time per run (lower is better); "rows/s": ``rows`` per run (higher is better)
    rows: int = 0
    repeat: int = 7
    warmup: int = 2

    def setup(self, context: Context) -> None:
        pass

    def teardown(self) -> None:
        pass

    def before_each(self, side: str) -> None:
        """Untimed, before every call of a side (e.g. empty the tables a load writes to)."""

    def after_each(self, side: str, final: bool) -> None:
        """Untimed, after every call of a side; ``final`` on its last timed run."""

    def ours(self) -> Sample | None:
        raise NotImplementedError

    def run_baseline(self) -> Sample | None:
        raise NotImplementedError

    def quality(self) -> str | None:
        return None

    def baseline_runs(self, context: Context) -> bool:
        """False where the baseline cannot finish (the spec's quadratic view at 100k): ours is measured alone."""
        return True

    def queries(self, side: str) -> int | None:
        """SQL queries one call of ``side`` makes, counted on an extra untimed call; None if not counted."""
        return None


@dataclass
class SideResult:
    seconds: list[float]
    queries: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass
class Result:
    name: str
    unit: str
    description: str
    baseline_label: str
    rows: int = 0
    warmup: int = 0
    ours: SideResult | None = None
    baseline: SideResult | None = None
    quality: str | None = None
    error: str | None = None

    def figure(self, side: str) -> float | None:
        measured = getattr(self, side)
        if measured is None:
            return None
        if self.unit == "rows/s":
            return self.rows / measured.median if measured.median else float("inf")
        return measured.median * 1000.0

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.baseline is None or not self.ours.median:
            return None
        return self.baseline.median / self.ours.median

    def as_dict(self) -> dict:
        return {
            "name": self.name, "unit": self.unit, "description": self.description, "baseline": self.baseline_label,
            "rows": self.rows, "ours": self.figure("ours"), "baseline_figure": self.figure("baseline"),
            "ratio": self.ratio, "quality": self.quality, "error": self.error, "warmup": self.warmup,
            "ours_seconds": self.ours.seconds if self.ours else None,
            "baseline_seconds": self.baseline.seconds if self.baseline else None,
            "ours_queries": self.ours.queries if self.ours else None,
            "baseline_queries": self.baseline.queries if self.baseline else None,
        }


REGISTRY: dict[str, type[Benchmark] | Benchmark] = {}


def register(benchmark):
    """Class decorator (or call with an instance): makes the benchmark known to the runner under its ``name``."""
    if not benchmark.name:
        raise ValueError(f"{benchmark!r} has no name")
    if benchmark.unit not in UNITS:
        raise ValueError(f"{benchmark.name}: unit must be one of {UNITS}, not {benchmark.unit!r}")
    if benchmark.name in REGISTRY:
        raise ValueError(f"a benchmark named {benchmark.name!r} is already registered")
    REGISTRY[benchmark.name] = benchmark
    return benchmark


def _instance(benchmark) -> Benchmark:
    return benchmark() if isinstance(benchmark, type) else benchmark


def _call(benchmark: Benchmark, side: str) -> Sample:
    benchmark.before_each(side)
    function = benchmark.ours if side == "ours" else benchmark.run_baseline
    started = time.perf_counter()
    returned = function()
    elapsed = time.perf_counter() - started
    sample = returned if isinstance(returned, Sample) else Sample()
    if sample.seconds is None:
        sample.seconds = elapsed
    return sample


def benchmark_run(benchmark, context: Context) -> Result:
    """Set up, warm up, measure both sides interleaved, compute the quality figure, tear down."""
    benchmark = _instance(benchmark)
    result = Result(name=benchmark.name, unit=benchmark.unit, description=benchmark.description,
                    baseline_label=benchmark.baseline, warmup=benchmark.warmup)
    try:
        benchmark.setup(context)
        sides = SIDES if benchmark.baseline_runs(context) else ("ours",)
        try:
            for _ in range(benchmark.warmup):
                for side in sides:
                    _call(benchmark, side)
                    benchmark.after_each(side, final=False)
            samples: dict[str, list[Sample]] = {side: [] for side in sides}
            for run in range(benchmark.repeat):
                for side in sides:
                    samples[side].append(_call(benchmark, side))
                    benchmark.after_each(side, final=run == benchmark.repeat - 1)
            result.rows = benchmark.rows
            result.ours, result.baseline = (
                SideResult([s.seconds for s in samples[side]], benchmark.queries(side)) if side in samples else None
                for side in SIDES
            )
            result.quality = benchmark.quality()
        finally:
            benchmark.teardown()
    except Exception as exc:  # one broken benchmark must not hide the others' figures
        result.error = f"{type(exc).__name__}: {exc}"
        context.say(traceback.format_exc())
    return result


def benchmarks_select(only: str | None = None) -> list:
    """Registered benchmarks in registration order; ``only``: those whose name contains it."""
    chosen = [b for name, b in REGISTRY.items() if not only or only in name]
    if only and not chosen:
        raise LookupError(f"no benchmark name contains {only!r}; known: {', '.join(REGISTRY)}")
    return chosen
