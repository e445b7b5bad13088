"""The first step of an import (docs/import-format.md): files into temporary staging tables, with no parsing in
Python beyond what COPY needs.

* ``import_sources`` turns the command's paths (JSON Lines files, CSV files named after their kind, directories of
  them, ZIP archives of them; any of them gzip-compressed as ``.gz``) into ``ImportSource`` objects.
* ``sources_stage`` copies every source into ``import_records (file, line, kind, doc jsonb)``, a temporary table
  dropped at the end of the transaction, and records in ``import_errors`` what cannot be staged (a line that is
  not JSON, a CSV header naming an unknown field). Lines are numbered from 1 in each file, blank ones included; a
  CSV's "line" is its record number plus one (the header is line 1), which is its line in the file unless a quoted
  cell holds a line break.

JSON Lines go through ``COPY ... FROM STDIN`` in text format as whole chunks of the file (backslashes, tabs and
carriage returns escaped, so that each line arrives as one text value); the line numbers come from a sequence
that ``COPY`` draws in file order; ``pg_input_is_valid(raw, 'jsonb')`` then sorts the lines that are JSON from
those that are not, set-based. CSV files go through ``COPY ... (FORMAT csv, HEADER)`` into a table with one text
column per header field, then into ``import_records`` as JSON objects (empty cells left out; ``metadata``,
``context`` and ``embedding`` cells parsed as JSON when they are JSON).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from psycopg import errors as pg_errors
from psycopg import sql

from graph.choices import ImportFormat
from graph.errors import UNREADABLE_FILE, GraphError

KINDS = ("node", "attribute", "relationship", "resource", "link", "reference")
# Fields per kind: (required, optional). The validation (graph/services/imports.py) checks types and ranges.
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "node": (("key", "name", "node_type"), ("path", "parent", "metadata", "embedding")),
    "attribute": (("node", "type", "key", "value"),
                  ("weight", "confidence", "source_reliability", "last_verified", "metadata")),
    "relationship": (("source", "target", "type"),
                     ("strength", "stated_confidence", "source_reliability", "bidirectional", "metadata")),
    "resource": (("url",), ("title", "description", "resource_type", "metadata", "embedding")),
    "link": (("node", "resource"), ("link_type", "confidence", "context")),
    "reference": (("reference_type",), ("source_node", "source_resource", "target_node", "target_resource",
                                        "page_number", "section", "quote", "context")),
}
CSV_FILES = {f"{kind}s.csv" if kind != "relationship" else "relationships.csv": kind for kind in KINDS}
JSON_CELLS = ("metadata", "context", "embedding")  # CSV cells that hold JSON
BOOLEAN_CELLS = ("bidirectional",)
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ImportSource:
    """One file to import: ``name`` for messages (``graph.jsonl``, ``export.zip:nodes.csv``), ``kind`` for a CSV
    file (from its name), ``size`` in bytes when known (progress), ``open`` returning a binary stream."""

    name: str
    format: str
    open: Callable[[], BinaryIO]
    kind: str | None = None
    size: int | None = None


def _unreadable(problem: str):
    raise GraphError(problem, code=UNREADABLE_FILE)


def _csv_kind(name: str) -> str:
    base = Path(name).name.lower().removesuffix(".gz")
    if base not in CSV_FILES:
        _unreadable(f"{name}: a CSV file must be named after its kind: {', '.join(sorted(CSV_FILES))}")
    return CSV_FILES[base]


def _format_of(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return ImportFormat.JSONL
    if name.endswith((".csv", ".zip")) or path.is_dir():
        return ImportFormat.CSV
    _unreadable(f"{path}: cannot tell the format from the name (.jsonl, .csv, a directory or a .zip of CSV files); "
                "give --format")


def _opener(path: Path) -> Callable[[], BinaryIO]:
    if path.name.lower().endswith(".gz"):
        return lambda: gzip.open(path, "rb")
    return lambda: open(path, "rb")  # noqa: SIM115 (the caller closes it)


def _zip_sources(label: str, archive: zipfile.ZipFile, file_format: str) -> list[ImportSource]:
    members = [m for m in archive.infolist() if not m.is_dir() and not Path(m.filename).name.startswith(".")]
    if not members:
        _unreadable(f"{label}: the ZIP archive holds no file")
    sources = []
    for member in sorted(members, key=lambda m: m.filename):
        name = f"{label}:{member.filename}"
        if file_format == ImportFormat.JSONL:
            sources.append(ImportSource(name, file_format, lambda m=member: archive.open(m), size=member.file_size))
        else:
            sources.append(ImportSource(name, file_format, lambda m=member: archive.open(m),
                                        kind=_csv_kind(member.filename), size=member.file_size))
    return sources


def import_sources(*, paths: list[str | Path], file_format: str | None = None) -> list[ImportSource]:
    """The files behind ``paths``; ``GraphError`` (``UNREADABLE_FILE``) for a path that is missing, unreadable or
    of no known format."""
    sources: list[ImportSource] = []
    for raw in paths:
        path = Path(raw)
        if "\x00" in str(raw):
            _unreadable(f"{str(raw)!r}: a path cannot hold a NUL character")
        if not path.exists():
            _unreadable(f"{path}: no such file or directory")
        fmt = file_format or _format_of(path)
        if path.is_dir():
            if fmt != ImportFormat.CSV:
                _unreadable(f"{path}: a directory can only hold CSV files (one per kind)")
            files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
            if not files:
                _unreadable(f"{path}: the directory holds no CSV file ({', '.join(sorted(CSV_FILES))})")
            sources.extend(ImportSource(str(p), fmt, _opener(p), kind=_csv_kind(p.name), size=p.stat().st_size)
                           for p in files)
        elif path.name.lower().endswith(".zip"):
            try:
                archive = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                _unreadable(f"{path}: not a readable ZIP archive ({exc})")
            sources.extend(_zip_sources(str(path), archive, fmt))
        elif fmt == ImportFormat.CSV:
            sources.append(ImportSource(str(path), fmt, _opener(path), kind=_csv_kind(path.name),
                                        size=path.stat().st_size))
        else:
            sources.append(ImportSource(str(path), fmt, _opener(path), size=path.stat().st_size))
    return sources


def upload_sources(*, name: str, content: bytes, file_format: str) -> list[ImportSource]:
    """The files of an upload (the admin's import): a JSON Lines file, or a ZIP archive of them or of CSV files."""
    if content[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
        except zipfile.BadZipFile as exc:
            _unreadable(f"{name}: not a readable ZIP archive ({exc})")
        return _zip_sources(name, archive, file_format)
    if file_format == ImportFormat.CSV:
        return [ImportSource(name, file_format, lambda: io.BytesIO(content), kind=_csv_kind(name), size=len(content))]
    if content[:2] == b"\x1f\x8b":
        return [ImportSource(name, file_format, lambda: gzip.open(io.BytesIO(content), "rb"))]
    return [ImportSource(name, file_format, lambda: io.BytesIO(content), size=len(content))]


# --- Staging ---------------------------------------------------------------------------------------------------------

STAGING_SQL = """
DROP TABLE IF EXISTS import_files, import_errors, import_records, import_raw, import_csv;
DROP SEQUENCE IF EXISTS import_line;
CREATE TEMP TABLE import_files (file integer PRIMARY KEY, name text NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE import_errors (file integer, line bigint, field text, message text NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE import_records (file integer NOT NULL, line bigint NOT NULL, kind text, doc jsonb NOT NULL)
    ON COMMIT DROP;
CREATE TEMP SEQUENCE import_line;
CREATE TEMP TABLE import_raw (line bigint NOT NULL DEFAULT nextval('import_line'), raw text) ON COMMIT DROP;
"""
# Where COPY stopped, from its error's context: "COPY import_raw, line 12: ..."
_COPY_LINE = re.compile(r"COPY \w+, line (\d+)")


def _copy_failure(exc: pg_errors.Error, source: ImportSource, offset: int = 0) -> tuple[int | None, str]:
    context = (exc.diag.context or "") if exc.diag else ""
    match = _COPY_LINE.search(context)
    line = int(match.group(1)) + offset if match else None
    primary = exc.diag.message_primary if exc.diag and exc.diag.message_primary else str(exc).splitlines()[0]
    if isinstance(exc, pg_errors.CharacterNotInRepertoire | pg_errors.UntranslatableCharacter):
        primary = f"not UTF-8 text ({primary})"
    return line, primary


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def _stage_jsonl(cursor, number: int, source: ImportSource, advance: Callable[[bytes], None]) -> None:
    cursor.execute("ALTER SEQUENCE import_line RESTART WITH 1")
    with source.open() as stream:
        with cursor.copy("COPY import_raw (raw) FROM STDIN") as copy:
            last = b"\n"
            for chunk in _chunks(stream):
                # Text-format COPY reads backslash escapes: double them, and escape the two characters that would
                # split a line into columns or end it early; every line then arrives as written.
                copy.write(chunk.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\r", b"\\r"))
                advance(chunk)
                last = chunk[-1:]
            if last != b"\n":
                copy.write(b"\n")
    # The common case first: every line is JSON, one cast of the whole table. Else line by line, naming the bad ones.
    cursor.execute("SAVEPOINT import_jsonl")
    try:
        cursor.execute("INSERT INTO import_records (file, line, kind, doc) SELECT %(file)s, line, doc->>'kind', doc "
                       "FROM (SELECT line, raw::jsonb AS doc FROM import_raw WHERE btrim(raw, E' \\t\\r') <> '') p",
                       {"file": number})
        cursor.execute("RELEASE SAVEPOINT import_jsonl")
    except pg_errors.DataError:
        cursor.execute("ROLLBACK TO SAVEPOINT import_jsonl")
        cursor.execute(
            """
            WITH parsed AS (
                SELECT line, raw, pg_input_is_valid(raw, 'jsonb') AS is_json FROM import_raw
                WHERE btrim(raw, E' \\t\\r') <> ''
            ), bad AS (
                INSERT INTO import_errors (file, line, field, message)
                SELECT %(file)s, line, NULL, 'not valid JSON: ' || e.message || coalesce(' (' || e.detail || ')', '')
                FROM parsed CROSS JOIN LATERAL pg_input_error_info(raw, 'jsonb') e WHERE NOT is_json
            )
            INSERT INTO import_records (file, line, kind, doc)
            SELECT %(file)s, line, doc->>'kind', doc FROM (SELECT line, raw::jsonb AS doc FROM parsed WHERE is_json) p
            """,
            {"file": number},
        )
    cursor.execute("TRUNCATE import_raw")


def _header(source: ImportSource) -> list[str]:
    with source.open() as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        row = next(csv.reader(text), None)
    return [] if row is None else [cell.strip() for cell in row]


def _stage_csv(cursor, number: int, source: ImportSource, advance: Callable[[bytes], None]) -> None:
    kind = source.kind
    required, optional = FIELDS[kind]
    header = _header(source)
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    problems = []
    if not header or header == [""]:
        problems.append((None, "the file is empty: a CSV file starts with a header row naming its fields"))
    unknown = [name for name in header if name not in required + optional]
    repeated = sorted({name for name in header if header.count(name) > 1})
    missing = [name for name in required if name not in header]
    if header and header != [""]:
        problems += [(name or "(empty)", f"unknown field {name!r} in the header; {kind} records have "
                                         f"{', '.join(required + optional)}") for name in unknown]
        problems += [(name, f"field {name!r} appears more than once in the header") for name in repeated]
        problems += [(name, f"the header lacks the required field {name!r}") for name in missing]
    if problems:
        cursor.executemany("INSERT INTO import_errors (file, line, field, message) VALUES (%s, 1, %s, %s)",
                           [(number, field, message) for field, message in problems])
        return
    columns = [f"c{i}" for i in range(len(header))]
    cursor.execute(sql.SQL("CREATE TEMP TABLE import_csv (line bigint NOT NULL DEFAULT nextval('import_line'), {}) "
                           "ON COMMIT DROP").format(sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c))
                                                                      for c in columns)))
    cursor.execute("ALTER SEQUENCE import_line RESTART WITH 2")
    try:
        with source.open() as stream:
            statement = sql.SQL("COPY import_csv ({}) FROM STDIN (FORMAT csv, HEADER true)").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)))
            with cursor.copy(statement) as copy:
                for chunk in _chunks(stream):
                    copy.write(chunk)
                    advance(chunk)
    except pg_errors.DataError as exc:  # a bad quote, a cell count that differs from the header, bad UTF-8
        cursor.execute("ROLLBACK TO SAVEPOINT import_csv")
        line, message = _copy_failure(exc, source)
        cursor.execute("INSERT INTO import_errors (file, line, field, message) VALUES (%s, %s, NULL, %s)",
                       [number, line, f"not a readable CSV file: {message}"])
        return
    pairs = []
    for name, column in zip(header, columns):
        cell = sql.SQL("nullif({}, '')").format(sql.Identifier(column))
        if name in JSON_CELLS:
            cell = sql.SQL("CASE WHEN pg_input_is_valid({c}, 'jsonb') THEN {c}::jsonb ELSE to_jsonb({c}) END").format(
                c=cell)
        elif name in BOOLEAN_CELLS:
            cell = sql.SQL("CASE WHEN lower({c}) IN ('true', 't', '1') THEN 'true'::jsonb "
                           "WHEN lower({c}) IN ('false', 'f', '0') THEN 'false'::jsonb ELSE to_jsonb({c}) END"
                           ).format(c=cell)
        else:
            cell = sql.SQL("to_jsonb({})").format(cell)
        pairs.append(sql.SQL("{}, {}").format(sql.Literal(name), cell))
    cursor.execute(sql.SQL(
        "INSERT INTO import_records (file, line, kind, doc) "
        "SELECT %s, line, %s, jsonb_strip_nulls(jsonb_build_object({}) || jsonb_build_object('kind', %s)) "
        "FROM import_csv").format(sql.SQL(", ").join(pairs)), [number, kind, kind])
    cursor.execute("DROP TABLE import_csv")


def sources_stage(cursor, sources: list[ImportSource], *, advance: Callable[[bytes], None] = lambda chunk: None) -> int:
    """Copies ``sources`` into ``import_records`` (created here, temporary); returns the number of records.
    ``advance`` is called with each chunk read as the files stream in."""
    cursor.execute(STAGING_SQL)
    for number, source in enumerate(sources, 1):
        cursor.execute("INSERT INTO import_files (file, name) VALUES (%s, %s)", [number, source.name])
        cursor.execute("SAVEPOINT import_csv")
        try:
            if source.format == ImportFormat.CSV:
                _stage_csv(cursor, number, source, advance)
            else:
                _stage_jsonl(cursor, number, source, advance)
        except pg_errors.DataError as exc:  # bad UTF-8 or a NUL byte in a JSON Lines file
            cursor.execute("ROLLBACK TO SAVEPOINT import_csv")
            line, message = _copy_failure(exc, source)
            cursor.execute("INSERT INTO import_errors (file, line, field, message) VALUES (%s, %s, NULL, %s)",
                           [number, line, f"cannot be read: {message}"])
        except (OSError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
            cursor.execute("ROLLBACK TO SAVEPOINT import_csv")
            cursor.execute("INSERT INTO import_errors (file, line, field, message) VALUES (%s, NULL, NULL, %s)",
                           [number, f"cannot be read: {exc}"])
        cursor.execute("RELEASE SAVEPOINT import_csv")
    return cursor.execute("SELECT count(*) FROM import_records").fetchone()[0]
