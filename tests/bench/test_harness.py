"""The benchmark machinery, with fake benchmarks: no database, no timing assertions (timings live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import database, harness, report
from bench.harness import Benchmark, Context, Sample, benchmark_run, benchmarks_select, register
from bench.runner import parser_build


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    monkeypatch.setattr(harness, "REGISTRY", {})
    return harness.REGISTRY


def context(messages=None):
    return Context(scale="10k", nodes=10_000, database="kgsite_bench_10k",
                   say=(messages.append if messages is not None else lambda message: None))


class Fake(Benchmark):
    """Reports its own timings, so the figures are exact: ours 10 ms, the baseline 40 ms."""

    name = "fake.page"
    description = "a fake page view"
    baseline = "a slower fake"
    repeat = 3
    warmup = 2

    def __init__(self):
        self.calls = {"ours": 0, "baseline": 0}
        self.finals = []
        self.torn_down = False

    def ours(self):
        self.calls["ours"] += 1
        return Sample(seconds=[0.010, 0.011, 0.009, 0.010, 0.030][self.calls["ours"] - 1])

    def run_baseline(self):
        self.calls["baseline"] += 1
        return Sample(seconds=0.040)

    def after_each(self, side, final):
        if final:
            self.finals.append(side)

    def quality(self):
        return "overlap 100%"

    def queries(self, side):
        return 4 if side == "ours" else 7

    def teardown(self):
        self.torn_down = True


def test_register_and_select(registry):
    register(Fake)
    assert list(registry) == ["fake.page"]
    assert benchmarks_select() == [Fake] and benchmarks_select("page") == [Fake]
    with pytest.raises(LookupError, match="fake.page"):
        benchmarks_select("nothing")
    with pytest.raises(ValueError, match="already registered"):
        register(Fake)


def test_register_refuses_an_unknown_unit():
    class Wrong(Fake):
        name = "wrong"
        unit = "seconds"

    with pytest.raises(ValueError, match="unit"):
        register(Wrong)


def test_a_run_gives_medians_ratio_quality_and_queries():
    fake = Fake()
    result = benchmark_run(fake, context())
    assert result.error is None
    assert fake.calls == {"ours": 5, "baseline": 5}  # 2 warm-ups + 3 timed runs each
    assert result.ours.seconds == [0.009, 0.010, 0.030] and len(result.baseline.seconds) == 3
    assert result.figure("ours") == pytest.approx(10.0) and result.figure("baseline") == pytest.approx(40.0)
    assert result.ratio == pytest.approx(4.0)
    assert result.quality == "overlap 100%"
    assert (result.ours.queries, result.baseline.queries) == (4, 7)
    assert fake.finals == ["ours", "baseline"] and fake.torn_down


def test_rates_use_rows_per_run():
    class Load(Fake):
        name = "fake.load"
        unit = "rows/s"
        rows = 1000

        def ours(self):
            return Sample(seconds=0.5)

        def run_baseline(self):
            return Sample(seconds=2.0)

    result = benchmark_run(Load(), context())
    assert result.figure("ours") == pytest.approx(2000.0) and result.figure("baseline") == pytest.approx(500.0)
    assert result.ratio == pytest.approx(4.0)


def test_the_harness_times_a_call_that_returns_nothing():
    class Untimed(Fake):
        def ours(self):
            return None

    result = benchmark_run(Untimed(), context())
    assert all(seconds >= 0 for seconds in result.ours.seconds) and len(result.ours.seconds) == 3


def test_a_failing_benchmark_is_reported_not_raised():
    class Broken(Fake):
        def run_baseline(self):
            raise RuntimeError("no baseline today")

    messages = []
    broken = Broken()
    result = benchmark_run(broken, context(messages))
    assert result.error == "RuntimeError: no baseline today" and broken.torn_down
    assert "no baseline today" in "".join(messages)
    assert "error" in report.table_format([result])


def _document():
    result = benchmark_run(Fake(), context())
    graph = {"scale": "10k", "nodes": 10_000, "seed": 42, "generator": 1, "seconds": 3.0, "nodes_per_second": 3333,
             "rows_per_second": 60000, "counts": {"node_attributes": 95_000, "nodes": 10_000}}
    machine = {"cpu": "Test CPU", "cores": 2, "memory_gib": 24.0, "os": "Linux", "python": "3.11", "django": "5.2",
               "psycopg": "3.3", "numpy": "2.4"}
    postgres = {"server_version": "18.6", "work_mem": "16MB"}
    return {"results": [result], "graph": graph, "machine_info": machine, "postgres": postgres}


def test_the_table_prints():
    text = report.report_format(**_document())
    assert "fake.page" in text and "10.0" in text and "40.0" in text and "4.00x" in text
    assert "overlap 100%" in text and "4 / 7" in text
    assert "10,000 nodes, 95,000 node_attributes" in text  # tables in the schema's order
    assert "work_mem=16MB" in text and "2 cores (Test CPU)" in text
    markdown = report.report_format(markdown=True, **_document())
    assert "| fake.page | ms | 10.0 | 40.0 | 4.00x |" in markdown


def test_json_is_written(tmp_path):
    target = tmp_path / "results.json"
    report.json_write(target, command="python -m bench --scale 10k", **_document())
    document = json.loads(target.read_text())
    assert document["command"] == "python -m bench --scale 10k"
    assert document["postgres"]["server_version"] == "18.6"
    (row,) = document["results"]
    assert row["name"] == "fake.page" and row["ratio"] == pytest.approx(4.0)
    assert row["ours_seconds"] == [0.009, 0.010, 0.030] and row["baseline_queries"] == 7


def test_database_urls():
    assert database.database_url("postgresql://postgres@/kgsite?host=/tmp/sock&port=5432", "kgsite_bench_10k") == (
        "postgresql://postgres@/kgsite_bench_10k?host=/tmp/sock&port=5432")
    assert database.database_url("psql://u:p@db.example:5433/app", "kgsite_bench_1m") == (
        "postgresql://u:p@db.example:5433/kgsite_bench_1m")
    assert database.database_name("100k") == "kgsite_bench_100k"


def test_command_line():
    parser = parser_build()
    args = parser.parse_args(["--scale", "100k", "--only", "admin", "--json", "out.json"])
    assert (args.scale, args.only, args.json) == ("100k", "admin", "out.json")
    with pytest.raises(SystemExit):
        parser.parse_args(["--scale", "5"])
    help_text = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True,
                               cwd=database.BASE_DIR, timeout=60)
    assert help_text.returncode == 0 and "--scale" in help_text.stdout
