"""A database created from the spec's SQL, holding data, is taken over with its data intact."""

from __future__ import annotations

import pytest

from kgsite.catalog import snapshot
from tests.graph.test_schema_matches_spec import assert_spec_catalog
from tests.scratch import connect, load_spec_sql, manage, scratch_database

pytestmark = pytest.mark.slow

SEED_SQL = """
INSERT INTO users (email, password_hash, first_name) VALUES ('Owner@Example.com', '!unusable', 'Olga');
INSERT INTO nodes (name, node_type, path, created_by) VALUES ('Science', 'domain', 'science', 1);
INSERT INTO nodes (name, node_type, path, parent_node_id, created_by)
    VALUES ('Physics', 'field', 'science.physics', 1, 1);
INSERT INTO node_attributes (node_id, attribute_type, attribute_key, attribute_value, confidence)
    VALUES (2, 'fact', 'founded', 'antiquity', 0.9);
INSERT INTO relationships (source_node_id, target_node_id, relationship_type, strength) VALUES (2, 1, 'part_of', 0.8);
INSERT INTO external_resources (url, title) VALUES ('https://example.org/physics', 'Physics');
INSERT INTO node_resource_links (node_id, resource_id) VALUES (2, 1);
INSERT INTO reference_tracking (source_node_id, target_resource_id, reference_type) VALUES (2, 1, 'cites');
INSERT INTO relationship_inference_queue (node_id) VALUES (2);
UPDATE system_config SET parameter_value = '200' WHERE parameter_name = 'inference_batch_size';
"""

DATA_SQL = """
SELECT (SELECT string_agg(node_id || ':' || name || ':' || path::text || ':' || coalesce(parent_node_id, 0), ','
                          ORDER BY node_id) FROM nodes),
       (SELECT string_agg(attribute_value || ':' || confidence, ',') FROM node_attributes),
       (SELECT string_agg(source_node_id || '>' || target_node_id || ':' || strength, ',') FROM relationships),
       (SELECT count(*) FROM node_resource_links), (SELECT count(*) FROM reference_tracking),
       (SELECT count(*) FROM relationship_inference_queue),
       (SELECT parameter_value FROM system_config WHERE parameter_name = 'inference_batch_size'),
       (SELECT email || ':' || password_hash FROM users)
"""


def test_adopt_spec_database_keeps_data_and_matches_migrated_schema():
    with scratch_database("kgsite_adopt") as adopted, scratch_database("kgsite_fresh") as fresh:
        load_spec_sql(adopted)
        with connect(adopted, autocommit=True) as conn:
            assert_spec_catalog(snapshot(conn.cursor()), "the database made from the spec's SQL")
            conn.execute(SEED_SQL)
            before = conn.execute(DATA_SQL).fetchone()
        assert None not in before, f"the seed data is incomplete: {before}"

        result = manage(adopted, "adopt_database")
        assert "Adopted" in result.stdout

        manage(fresh, "migrate", "--verbosity", "0")
        with connect(adopted) as adopted_conn, connect(fresh) as fresh_conn:
            assert adopted_conn.execute(DATA_SQL).fetchone() == before
            adopted_catalog = snapshot(adopted_conn.cursor(), include_config_rows=False)
            fresh_catalog = snapshot(fresh_conn.cursor(), include_config_rows=False)
        assert_spec_catalog(fresh_catalog, "the migrated database")
        assert adopted_catalog.diff(fresh_catalog) == {}
        # The adopted database is now fully migrated: nothing left to apply.
        plan = manage(adopted, "migrate", "--plan")
        assert "No planned migration operations" in plan.stdout

        # The application works on it: a user found case-insensitively, new rows get the next ids.
        shell = manage(adopted, "shell", "--no-imports", "-c", (
            "from graph.models import Node; from kgsite.models import User;"
            "user = User.objects.get_by_natural_key('owner@example.com');"
            "physics = Node.objects.get(path='science.physics');"
            "optics = Node.objects.create(name='Optics', node_type='field', path='science.physics.optics',"
            " parent_node=physics, created_by=user);"
            "print(user.first_name, optics.node_id, Node.objects.count())"
        ))
        assert shell.stdout.split() == ["Olga", "3", "3"]


def test_adopt_refuses_a_database_already_managed_and_one_without_the_spec():
    with scratch_database("kgsite_adopt2") as db:
        refused = manage(db, "adopt_database", check=False)
        assert refused.returncode != 0
        assert "RG-ADOPT-002" in refused.stderr and "table nodes" in refused.stderr
        with connect(db) as conn:
            assert conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0] is None

        manage(db, "migrate", "--verbosity", "0")
        again = manage(db, "adopt_database", check=False)
        assert again.returncode != 0
        assert "RG-ADOPT-001" in again.stderr
        assert "Traceback" not in again.stderr


def test_failed_adoption_changes_nothing():
    """A spec database whose data breaks a kgsite migration is left exactly as it was."""
    with scratch_database("kgsite_adopt3") as db:
        load_spec_sql(db)
        with connect(db, autocommit=True) as conn:
            # Two emails differing only in case: kgsite.0002's case-insensitive unique index cannot be built.
            conn.execute(
                "INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x'), ('A@example.com', 'y')"
            )
            before = snapshot(conn.cursor())
        assert_spec_catalog(before, "the database made from the spec's SQL")
        result = manage(db, "adopt_database", check=False)
        assert result.returncode != 0
        with connect(db) as conn:
            after = snapshot(conn.cursor())
            assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2
            applied = conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0]
        assert before.diff(after) == {}
        assert applied is None
