"""Writing many rows fast: binary COPY, deferred index and foreign-key builds, blocks of ids from sequences.

For services that load a large batch of rows into a few tables in one transaction: the synthetic-graph generator
(``graph/services/generator.py``) today, the graph importer next. The pieces, in the order a load uses them:

* ``ids_reserve``: take a block of consecutive ids from the sequence behind a table's id column, so the rows can
  be written with their ids (and refer to each other) while the application keeps inserting normally afterwards.
* ``indexes_and_foreign_keys_drop`` / ``indexes_and_foreign_keys_recreate``: drop the secondary indexes and the
  foreign keys of a set of tables before the load and recreate them from the same definitions (read from the
  catalog) afterwards. Each index is then built once by sorting instead of row by row, and each foreign key is
  checked once with a join. Worth it when the new rows are many compared with those present.
* ``copy_columns`` and ``copy_rows``: ``COPY ... FROM STDIN (FORMAT BINARY)`` of Python rows, with binary dumpers
  for ``ltree`` (a ``str``) and ``vector`` (a numpy array or a list of floats). The column types are read from the
  catalog, so a changed column type is followed.

Everything takes a psycopg 3 cursor (``connections[alias].connection.cursor()``: Django's cursor wrapper has no
``copy``) inside a transaction the caller owns, so a failure leaves the database as it was. Tables are plain
names in the current schema, as in a model's ``db_table``. This module is the project's bottom layer: it imports
no app; callers pass their model classes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pgvector.psycopg.vector import VectorBinaryDumper
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

__all__ = [
    "DeferredDefinitions",
    "copy_columns",
    "copy_rows",
    "ids_reserve",
    "indexes_and_foreign_keys_drop",
    "indexes_and_foreign_keys_recreate",
]


# --- Columns -----------------------------------------------------------------------------------------------------

def copy_columns(model, *, exclude: Iterable[str] = ()) -> list[str]:
    """The concrete column names of ``model``'s table in field order, without ``exclude`` (columns left to their
    database defaults). An excluded name that is not a column is a mistake and raises ``ValueError``.
    """
    columns = [f.column for f in model._meta.concrete_fields]
    unknown = sorted(set(exclude) - set(columns))
    if unknown:
        raise ValueError(f"{model._meta.db_table} has no column(s) {', '.join(unknown)}")
    left_out = set(exclude)
    return [column for column in columns if column not in left_out]


# --- COPY --------------------------------------------------------------------------------------------------------

class _LtreeBinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()  # ltree's binary format: version 1, then the text


class _VectorBinaryDumper(VectorBinaryDumper):
    def dump(self, obj) -> bytes:
        if isinstance(obj, np.ndarray):  # the fast path: no pgvector.Vector per row
            return struct.pack(">HH", len(obj), 0) + np.asarray(obj, dtype=">f4").tobytes()
        return super().dump(obj)


def _column_types(cursor, table: str, columns: Sequence[str]) -> list[int]:
    cursor.execute("SELECT attname, atttypid FROM pg_attribute "
                   "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", [table])
    oids = dict(cursor.fetchall())
    missing = [column for column in columns if column not in oids]
    if missing:
        raise ValueError(f"{table} has no column(s) {', '.join(missing)}")
    return [oids[column] for column in columns]


def copy_rows(cursor, table: str, columns: Sequence[str], batches: Iterable[Iterable[Sequence[Any]]]) -> int:
    """``COPY table (columns) FROM STDIN (FORMAT BINARY)`` of every row of every batch; returns the row count.

    A row holds one plain Python value per column, in ``columns`` order (``None`` for NULL): ``ltree`` values as
    ``str``, ``vector`` values as numpy arrays (fastest) or lists, ``jsonb`` as dicts, timestamps as datetimes.
    Batches only let the caller make rows lazily, chunk by chunk; they all go into one COPY.
    """
    vector_oid, ltree_oid = cursor.execute("SELECT to_regtype('vector')::oid, to_regtype('ltree')::oid").fetchone()
    if ltree_oid:
        cursor.adapters.register_dumper(None, type("LtreeDumper", (_LtreeBinaryDumper,), {"oid": ltree_oid}))
    if vector_oid:
        cursor.adapters.register_dumper(None, type("VectorDumper", (_VectorBinaryDumper,), {"oid": vector_oid}))
    types = _column_types(cursor, table, columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    written = 0
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        for batch in batches:
            for row in batch:
                copy.write_row(row)
                written += 1
    return written


# --- Indexes and foreign keys: dropped before a load, recreated from the same definitions after -------------------

@dataclass
class DeferredDefinitions:
    """What ``indexes_and_foreign_keys_drop`` dropped, as the catalog defined it."""

    indexes: list[tuple[str, str]] = field(default_factory=list)  # (qualified name, CREATE INDEX ...)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)  # (table, quoted name, definition)


def indexes_and_foreign_keys_drop(cursor, tables: Sequence[str]) -> DeferredDefinitions:
    """Drops the plain indexes of ``tables`` (not those behind a PRIMARY KEY, UNIQUE or EXCLUDE constraint, which
    the load needs or which others' foreign keys rely on) and the foreign keys defined on ``tables``; returns their
    definitions for ``indexes_and_foreign_keys_recreate``. Lock the tables first (ACCESS EXCLUSIVE), in the same
    transaction: nobody must see them without their indexes.
    """
    deferred = DeferredDefinitions()
    cursor.execute(
        """
        SELECT quote_ident(i.schemaname) || '.' || quote_ident(i.indexname), i.indexdef
        FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                          WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)
        ORDER BY i.tablename, i.indexname
        """,
        [list(tables)],
    )
    deferred.indexes = cursor.fetchall()
    cursor.execute(
        """
        SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)
        FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY 1, 2
        """,
        [list(tables)],
    )
    deferred.foreign_keys = cursor.fetchall()
    for table, name, _ in deferred.foreign_keys:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for name, _ in deferred.indexes:
        cursor.execute(f"DROP INDEX {name}")
    return deferred


def indexes_and_foreign_keys_recreate(cursor, deferred: DeferredDefinitions) -> None:
    """Recreates what ``indexes_and_foreign_keys_drop`` dropped, from the same definitions. Raise
    ``maintenance_work_mem`` first (``SET LOCAL``) so the index builds sort in memory.
    """
    # Vector (IVFFlat, HNSW) indexes last: they are the slowest, and IVFFlat wants every row present for its lists.
    for _, definition in sorted(deferred.indexes, key=lambda item: " ivfflat " in item[1] or " hnsw " in item[1]):
        cursor.execute(definition)
    for table, name, definition in deferred.foreign_keys:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


# --- Ids ---------------------------------------------------------------------------------------------------------

def ids_reserve(cursor, *, table: str, column: str, count: int) -> int:
    """Takes ``count`` (≥ 1) consecutive values from the sequence behind ``table.column`` (serial or identity);
    returns the first. The block is the caller's only while nobody else draws from the sequence: lock ``table``
    first (an insert takes its lock before it evaluates the column's default).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}")
    sequence = cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column]).fetchone()[0]
    if sequence is None:
        raise ValueError(f"{table}.{column} has no sequence")
    first = cursor.execute("SELECT nextval(%s::regclass)", [sequence]).fetchone()[0]
    cursor.execute("SELECT setval(%s::regclass, %s)", [sequence, first + count - 1])
    return first
