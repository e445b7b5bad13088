"""What a benchmark run prints and writes: the machine, the PostgreSQL settings in force, the results table."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from bench.harness import Result

_TABLE_ORDER = ("nodes", "node_attributes", "relationships", "external_resources", "node_resource_links",
                "reference_tracking")
PG_SETTINGS = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size",
               "random_page_cost", "max_parallel_workers_per_gather", "jit")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict:
    import django
    import numpy
    import psycopg

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "django": django.get_version(), "psycopg": psycopg.__version__, "numpy": numpy.__version__}


def postgres_settings(cursor) -> dict:
    """The settings in force on the benchmark connection, as PostgreSQL shows them, plus pgvector's version."""
    cursor.execute("SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", [list(PG_SETTINGS)])
    settings = dict(cursor.fetchall())
    cursor.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('vector', 'ltree')")
    settings.update({f"{name}_version": version for name, version in cursor.fetchall()})
    return settings


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "rows/s":
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"


def result_row(result: Result) -> list[str]:
    if result.error:
        return [result.name, result.unit, "error", "", "", result.error[:60], ""]
    ratio = f"{result.ratio:.2f}x" if result.ratio is not None else "-"
    queries = "-"
    if result.ours and result.ours.queries is not None:
        queries = f"{result.ours.queries} / {result.baseline.queries if result.baseline else '-'}"
    return [result.name, result.unit, _number(result.figure("ours"), result.unit),
            _number(result.figure("baseline"), result.unit), ratio, result.quality or "-", queries]


HEADER = ["benchmark", "unit", "ours", "baseline", "ratio", "quality", "queries (ours / baseline)"]


def table_format(results: list[Result], markdown: bool = False) -> str:
    rows = [HEADER] + [result_row(result) for result in results]
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    numeric = {2, 3, 4}
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(w) if i in numeric and n else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report_format(*, results: list[Result], graph: dict, machine_info: dict, postgres: dict,
                  markdown: bool = False) -> str:
    counts = graph.get("counts") or {}
    counts = {t: counts[t] for t in _TABLE_ORDER if t in counts} | {
        t: n for t, n in counts.items() if t not in _TABLE_ORDER}
    generated = (f"generated in {graph['seconds']:.0f} s ({graph['nodes_per_second']:,} nodes/s, "
                 f"{graph['rows_per_second']:,} rows/s)" if graph.get("seconds") else "")
    lines = [
        f"Scale {graph.get('scale')}: {', '.join(f'{n:,} {t}' for t, n in counts.items()) or graph.get('nodes')} "
        f"(seed {graph.get('seed')}, generator v{graph.get('generator')}) {generated}".rstrip(),
        f"Machine: {machine_info['cores']} cores ({machine_info['cpu']}), {machine_info['memory_gib']} GiB; "
        f"{machine_info['os']}; Python {machine_info['python']}, Django {machine_info['django']}, "
        f"psycopg {machine_info['psycopg']}, numpy {machine_info['numpy']}",
        "PostgreSQL: " + ", ".join(f"{name}={value}" for name, value in postgres.items()),
        "",
        table_format(results, markdown=markdown),
        "",
        "Figures are medians of the timed runs (after untimed warm-ups), ours and the baseline interleaved in the "
        "same run. ratio = baseline time / our time: above 1, ours is faster.",
    ]
    for result in results:
        runs = len(result.ours.seconds) if result.ours else 0
        lines.append(f"- {result.name}: {result.description}; baseline: {result.baseline_label} "
                     f"({runs} runs, {result.warmup} warm-up).")
    return "\n".join(lines)


def json_write(path: str | os.PathLike, *, results: list[Result], graph: dict, machine_info: dict,
               postgres: dict, command: str) -> None:
    document = {"command": command, "graph": graph, "machine": machine_info, "postgres": postgres,
                "results": [result.as_dict() for result in results]}
    Path(path).write_text(json.dumps(document, indent=2, default=str) + "\n")
