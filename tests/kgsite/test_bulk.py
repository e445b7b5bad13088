"""kgsite.bulk on scratch tables made inside the test's transaction (rolled back with it)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from kgsite.bulk import (
    DeferredDefinitions,
    copy_columns,
    copy_rows,
    ids_reserve,
    indexes_and_foreign_keys_drop,
    indexes_and_foreign_keys_recreate,
)
from kgsite.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def cursor():
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        yield cursor


def test_copy_columns_follow_the_model():
    columns = [f.column for f in User._meta.concrete_fields]
    assert copy_columns(User) == columns
    assert copy_columns(User, exclude=["password_hash", "last_login"]) == [
        c for c in columns if c not in ("password_hash", "last_login")
    ]
    with pytest.raises(ValueError, match="no column"):
        copy_columns(User, exclude=["password"])  # a field name, not its column


def test_copy_rows_writes_every_type(cursor):
    cursor.execute("""
        CREATE TABLE bulk_scratch (id integer PRIMARY KEY, path ltree, embedding vector(3), data jsonb,
                                   at timestamp, score numeric(5, 4), note text)
    """)
    at = datetime.datetime(2025, 5, 1, 12, 30)
    rows = [
        (1, "a.b_c.d", np.array([1.0, 0.5, -2.0], dtype=np.float32), {"k": [1, "x"]}, at, Decimal("0.1234"), "é"),
        (2, None, [0.25, 0.0, 1.0], {}, None, None, None),
    ]
    columns = ["id", "path", "embedding", "data", "at", "score", "note"]
    assert copy_rows(cursor, "bulk_scratch", columns, [rows[:1], iter(rows[1:])]) == 2
    cursor.execute("SELECT id, path::text, embedding::text, data::text, at, score, note FROM bulk_scratch ORDER BY id")
    assert cursor.fetchall() == [
        (1, "a.b_c.d", "[1,0.5,-2]", '{"k": [1, "x"]}', at, Decimal("0.1234"), "é"),
        (2, None, "[0.25,0,1]", "{}", None, None, None),
    ]
    with pytest.raises(ValueError, match="no column"):
        copy_rows(cursor, "bulk_scratch", ["id", "colour"], [])


def _definitions(cursor) -> tuple[set, set]:
    cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('bulk_parent', 'bulk_child')")
    indexes = set(cursor.fetchall())
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid IN ('bulk_parent'::regclass, 'bulk_child'::regclass)")
    return indexes, set(cursor.fetchall())


def test_indexes_and_foreign_keys_are_dropped_and_recreated(cursor):
    cursor.execute("""
        CREATE TABLE bulk_parent (id integer PRIMARY KEY, code text UNIQUE);
        CREATE TABLE bulk_child (id integer PRIMARY KEY, parent_id integer REFERENCES bulk_parent (id),
                                 code text REFERENCES bulk_parent (code), name text, path ltree);
        CREATE INDEX bulk_child_name ON bulk_child (name);
        CREATE UNIQUE INDEX bulk_child_path ON bulk_child (path);
        CREATE INDEX bulk_child_path_gist ON bulk_child USING gist (path);
    """)
    before = _definitions(cursor)
    deferred = indexes_and_foreign_keys_drop(cursor, ["bulk_parent", "bulk_child"])
    assert isinstance(deferred, DeferredDefinitions)
    assert sorted(name.rsplit(".", 1)[1] for name, _ in deferred.indexes) == [
        "bulk_child_name", "bulk_child_path", "bulk_child_path_gist"]
    assert len(deferred.foreign_keys) == 2
    indexes, constraints = _definitions(cursor)
    # What constraints own stays: the primary keys and the UNIQUE the second foreign key points to.
    assert {name for name, _ in indexes} == {"bulk_parent_pkey", "bulk_parent_code_key", "bulk_child_pkey"}
    assert not any(definition.startswith("FOREIGN KEY") for _, definition in constraints)
    cursor.execute("INSERT INTO bulk_parent VALUES (1, 'a'); INSERT INTO bulk_child VALUES (1, 1, 'a', 'x', 'a.b')")
    indexes_and_foreign_keys_recreate(cursor, deferred)
    assert _definitions(cursor) == before


def test_ids_reserve_takes_a_block_from_the_sequence(cursor):
    cursor.execute("CREATE TABLE bulk_ids (id serial PRIMARY KEY, name text)")
    cursor.execute("INSERT INTO bulk_ids (name) VALUES ('before')")
    first = ids_reserve(cursor, table="bulk_ids", column="id", count=5)
    assert first == 2
    cursor.execute("INSERT INTO bulk_ids (name) VALUES ('after') RETURNING id")
    assert cursor.fetchone()[0] == first + 5
    with pytest.raises(ValueError, match="at least 1"):
        ids_reserve(cursor, table="bulk_ids", column="id", count=0)
    with pytest.raises(ValueError, match="no sequence"):
        ids_reserve(cursor, table="bulk_ids", column="name", count=1)
