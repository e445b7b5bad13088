"""Benchmarks: ``python -m bench [--scale 10k|100k|1m] [--only NAME] [--json FILE]`` (docs/benchmarks.md).

* ``bench.harness``: the ``Benchmark`` contract (ours against a declared baseline, same work), the registry, and
  the measuring loop (warm-up runs, interleaved timed runs, medians).
* ``bench.database``: one generated database per scale on the kgsite server (``kgsite_bench_<scale>``), reused
  while its scale, seed and generator version match.
* ``bench.report``: the machine, the PostgreSQL settings in force, the results table and the JSON file.
* ``bench.benchmarks``: one small module per benchmark, listed in ``bench.benchmarks.MODULES``.
"""
