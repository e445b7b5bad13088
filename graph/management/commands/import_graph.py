"""``manage.py import_graph PATH... [--format jsonl|csv] [--dry-run] [--on-conflict update|skip|error]``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from graph.choices import ImportFormat, OnConflict
from graph.errors import BAD_RECORD, GraphError
from graph.services.import_staging import import_sources
from graph.services.imports import ImportProgress, graph_import
from kgsite.errors import InvalidArgument
from kgsite.management.base import DomainCommand

SHOWN_PROBLEMS = 50


class ProgressLine:
    """Import progress on stderr: one redrawn line on a terminal (phase, share, rows/s, ETA), else a line per
    phase and per tenth of the reading."""

    def __init__(self, stream, *, verbose: bool):
        self.stream = stream
        self.verbose = verbose
        self.is_terminal = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.phase = None
        self.phase_started = self.started
        self.last_draw = 0.0
        self.last_tenth = -1
        self.last_state: ImportProgress | None = None

    def __call__(self, state: ImportProgress) -> None:
        if not (self.is_terminal or self.verbose):
            return
        now = time.monotonic()
        new_phase = state.phase != self.phase
        if new_phase:
            if self.is_terminal and self.phase is not None:
                self._draw(self.last_state, now, final=True)
                self.stream.write("\n")
            self.phase, self.phase_started, self.last_tenth = state.phase, now, -1
        self.last_state = state
        if self.is_terminal:
            if new_phase or now - self.last_draw >= 0.2:
                self._draw(state, now)
        elif new_phase:
            self.stream.write(f"{state.phase}...\n")
        elif state.total:
            tenth = int(10 * min(state.done / state.total, 1))
            if tenth > self.last_tenth:
                self.last_tenth = tenth
                self.stream.write(f"  {self._text(state, now)}\n")

    def _text(self, state: ImportProgress, now: float) -> str:
        elapsed = now - self.phase_started
        parts = [f"{state.phase}:"]
        share = min(state.done / state.total, 1) if state.total else None
        if share is not None:
            parts.append(f"{share:6.1%}")
        if state.rows:
            parts.append(f"{state.rows:,} rows")
            if elapsed >= 0.1:
                parts.append(f"{state.rows / elapsed:,.0f} rows/s")
        if share and elapsed >= 0.1 and share < 1:
            parts.append(f"ETA {elapsed / share - elapsed:,.0f} s")
        parts.append(f"({elapsed:.1f} s)")
        return " ".join(parts)

    def _draw(self, state: ImportProgress, now: float, final: bool = False) -> None:
        self.last_draw = now
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self.stream.write("\r" + self._text(state, now).ljust(width)[:width])
        self.stream.flush()

    def close(self) -> None:
        if self.is_terminal and self.phase is not None:
            self._draw(self.last_state, time.monotonic(), final=True)
            self.stream.write("\n")
        self.stream.flush()


class Command(DomainCommand):
    requires_migrated_database = True
    help = (
        "Import nodes, attributes, relationships, resources, links and references from JSON Lines or CSV files "
        "(docs/import-format.md). The files are staged with COPY and validated as a whole first: any error is "
        "reported with its file, line and field, and nothing is written. Then everything is applied in one "
        "transaction; importing the same files again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH",
                            help="JSON Lines files, CSV files named after their kind (nodes.csv, ...), directories "
                                 "or ZIP archives of them; .gz files are read compressed.")
        parser.add_argument("--format", choices=ImportFormat.values, dest="file_format",
                            help="jsonl or csv (default: from each path's name).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Check the files and report what would change, writing nothing.")
        parser.add_argument("--on-conflict", choices=OnConflict.values, default=OnConflict.UPDATE,
                            help="A record already in the database: update it where the file differs (default), "
                                 "skip it, or refuse the files.")
        parser.add_argument("--defer-indexes", choices=("auto", "always", "never"), default="auto",
                            help="Drop the graph tables' secondary indexes during the load and rebuild them after "
                                 "(auto: when the load is big compared with the tables; docs/import-format.md).")
        parser.add_argument("--errors-file", metavar="FILE",
                            help=f"Write every error to FILE (the terminal shows the first {SHOWN_PROBLEMS}).")

    def handle(self, *args, paths, file_format, dry_run, on_conflict, defer_indexes, errors_file, **options):
        if errors_file and not Path(errors_file).parent.is_dir():
            raise InvalidArgument(f"--errors-file: the directory of {errors_file} does not exist")
        sources = import_sources(paths=paths, file_format=file_format)
        progress = ProgressLine(getattr(self.stderr, "_out", self.stderr), verbose=options["verbosity"] > 1)
        try:
            report = graph_import(sources=sources, on_conflict=on_conflict, dry_run=dry_run, progress=progress,
                                  defer_indexes=defer_indexes, problem_limit=10_000_000 if errors_file else 1000)
        finally:
            progress.close()
        if errors_file and report.problems:
            Path(errors_file).write_text("".join(f"{problem}\n" for problem in report.problems), encoding="utf-8")
        if not report.ok:
            lines = report.lines()
            for line in lines[1:SHOWN_PROBLEMS + 1]:
                self.stderr.write(line)
            if report.problem_count > SHOWN_PROBLEMS:
                more = report.problem_count - SHOWN_PROBLEMS
                where = f"; all of them are in {errors_file}" if errors_file else "; --errors-file FILE lists all"
                self.stderr.write(f"... and {more:,} more{where}")
            raise GraphError(lines[0], code=BAD_RECORD)
        for line in report.lines():
            self.stdout.write(line)
