"""Our migrations produce the spec's schema, except for the deviations documented in docs/schema.md.

Every input of the comparison (the vendored spec SQL, the list of deviations, the two catalog snapshots) is
checked before it is used: a missing file or an empty parse fails the test with its reason, never makes it pass.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import Path

import pytest

from kgsite.catalog import CatalogSnapshot, snapshot
from tests.scratch import BASE_DIR, connect, load_spec_sql, manage, scratch_database

SPEC_MARKDOWN = BASE_DIR.parent / "shared" / "spec" / "rustygpt-tables.md"
VENDORED_SQL = BASE_DIR / "graph" / "sql" / "spec_schema.sql"
SCHEMA_DOC = BASE_DIR / "docs" / "schema.md"
KEY_PATTERN = re.compile(r"`((?:column|view-column|constraint|index|view|sequence|extension|config|\*) \S+)`")

# What the spec's SQL creates: a comparison that does not see all of these compares nothing worth comparing.
SPEC_TABLES = frozenset({
    "users", "nodes", "node_attributes", "relationships", "relationship_inference_queue", "external_resources",
    "node_resource_links", "reference_tracking", "system_config", "config_audit_log",
})
SPEC_VIEWS = frozenset({
    "mv_node_confidence_cache", "mv_relationship_strength_matrix", "mv_graph_connectivity_stats",
    "mv_popular_entity_rankings", "mv_embedding_similarity_cache",
})
SPEC_CONFIG_PARAMETERS = 16
# sha256 of the vendored SQL's body (spec_sql_body), recorded when it was last compared with the spec's markdown.
VENDORED_SQL_SHA256 = "c4fb6fb51fb68d5d964af3690cb739dd03deb7f783c7a67ad183b7942e2d7fa0"


def read_spec_sql(path: Path = VENDORED_SQL) -> str:
    """The vendored spec SQL; fails the test unless the file exists and creates every spec table and view."""
    if not path.is_file():
        pytest.fail(f"{path} is missing: the schema comparison needs the spec's SQL")
    text = path.read_text()
    tables = set(re.findall(r"^CREATE TABLE (\w+)", text, re.M))
    views = set(re.findall(r"^CREATE MATERIALIZED VIEW (\w+)", text, re.M))
    missing = sorted((SPEC_TABLES - tables) | (SPEC_VIEWS - views))
    if missing:
        pytest.fail(f"{path} does not create {', '.join(missing)}: it is not the spec's SQL")
    return text


def spec_sql_body(text: str) -> str:
    """The vendored SQL below its header comment."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    return "".join(lines)


def extract_spec_sql(markdown: str) -> str:
    """The spec document's SQL blocks joined in order, without the call to a function the spec never defines."""
    blocks = re.findall(r"```sql\n(.*?)```", markdown, re.S)
    if not blocks:
        pytest.fail("the spec's markdown holds no ```sql blocks")
    return "\n".join(blocks).replace(
        "SELECT refresh_materialized_views();",
        "-- SELECT refresh_materialized_views();  (dropped: the spec never defines this function)",
    )


def documented_deviations(path: Path = SCHEMA_DOC) -> list[str]:
    """The catalog keys (fnmatch patterns) under "## Catalog differences"; fails the test if there are none."""
    if not path.is_file():
        pytest.fail(f"{path} is missing: it lists the documented deviations from the spec")
    text = path.read_text()
    if "\n## Catalog differences" not in text:
        pytest.fail(f'{path} has no "## Catalog differences" section')
    section = text.split("\n## Catalog differences", 1)[1].split("\n## ", 1)[0]
    keys = KEY_PATTERN.findall(section)
    if not keys:
        pytest.fail(f'{path}: the "## Catalog differences" section lists no backticked catalog keys')
    return keys


def assert_spec_catalog(catalog: CatalogSnapshot, what: str) -> None:
    """Fail unless ``catalog`` holds the spec's tables and views (an empty or wrong snapshot compares nothing)."""
    views = {key.split(" ", 1)[1].split(".", 1)[0] for key in catalog.entries if key.startswith("view ")}
    missing = sorted((SPEC_TABLES - catalog.tables()) | (SPEC_VIEWS - views))
    if missing:
        pytest.fail(f"the catalog of {what} lacks {', '.join(missing)} ({len(catalog.entries)} entries in all)")


def test_vendored_spec_sql_creates_the_spec_objects():
    body = spec_sql_body(read_spec_sql())
    assert body.startswith("CREATE EXTENSION"), "the vendored file starts with more than its header comment"
    assert body.count("CREATE MATERIALIZED VIEW") == len(SPEC_VIEWS)


def test_vendored_spec_sql_is_current():
    """The vendored copy is the spec's SQL blocks, joined in order.

    Beside a checkout with shared/ it is compared with the spec itself; everywhere (a clean clone in CI has no
    shared/) its body must still hash to the value recorded when it was last compared, so an edit of the vendored
    file without the spec fails here instead of going unnoticed.
    """
    body = spec_sql_body(read_spec_sql())
    if SPEC_MARKDOWN.is_file():
        assert body == extract_spec_sql(SPEC_MARKDOWN.read_text())
    assert hashlib.sha256(body.encode()).hexdigest() == VENDORED_SQL_SHA256, (
        "graph/sql/spec_schema.sql changed: compare it with the spec (shared/spec/rustygpt-tables.md) and record "
        "the new hash here"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is missing"),
        ("", "does not create"),
        ("-- the header only\n", "does not create"),
        ("CREATE TABLE nodes (node_id serial);\nCREATE MATERIALIZED VIEW mv_node_confidence_cache AS SELECT 1;\n",
         "does not create config_audit_log, "),
    ],
    ids=["missing", "empty", "header-only", "partial"],
)
def test_missing_or_incomplete_spec_sql_fails_loudly(tmp_path, content, message):
    path = tmp_path / "spec_schema.sql"
    if content is not None:
        path.write_text(content)
    with pytest.raises(pytest.fail.Exception, match=message):
        read_spec_sql(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is missing"),
        ("# Schema\n\n## Other decisions\n", 'no "## Catalog differences" section'),
        ("# Schema\n\n## Catalog differences\n\nNone.\n\n## Other decisions\n- `index nodes.idx_x`\n",
         "lists no backticked catalog keys"),
    ],
    ids=["missing", "no-section", "empty-section"],
)
def test_missing_or_empty_deviation_list_fails_loudly(tmp_path, content, message):
    path = tmp_path / "schema.md"
    if content is not None:
        path.write_text(content)
    with pytest.raises(pytest.fail.Exception, match=message):
        documented_deviations(path)


def test_empty_or_partial_inputs_fail_loudly():
    with pytest.raises(pytest.fail.Exception, match=r"lacks config_audit_log, .* \(0 entries in all\)"):
        assert_spec_catalog(CatalogSnapshot({}), "an empty database")
    tables_only = CatalogSnapshot({f"column {table}.id": ("integer", True, None) for table in SPEC_TABLES})
    with pytest.raises(pytest.fail.Exception, match="lacks mv_embedding_similarity_cache"):
        assert_spec_catalog(tables_only, "a database without views")
    with pytest.raises(pytest.fail.Exception, match="holds no"):
        extract_spec_sql("# Tables\n\nNo SQL here.\n")


@pytest.fixture(scope="module")
def spec_and_migrated():
    read_spec_sql()  # a clear failure before any database is made
    with scratch_database("kgsite_spec") as spec_db, scratch_database("kgsite_mig") as mig_db:
        load_spec_sql(spec_db)
        manage(mig_db, "migrate", "--verbosity", "0")
        with connect(spec_db) as spec_conn, connect(mig_db) as mig_conn:
            spec, ours = snapshot(spec_conn.cursor()), snapshot(mig_conn.cursor())
        assert_spec_catalog(spec, "the database made from the spec's SQL")
        assert_spec_catalog(ours, "the migrated database")
        yield spec, ours


@pytest.mark.slow
def test_schema_matches_spec_except_documented_deviations(spec_and_migrated):
    spec, ours = spec_and_migrated
    differences = spec.diff(ours)
    documented = documented_deviations()
    assert differences, "our schema equals the spec's, yet docs/schema.md documents deviations"

    undocumented = {key: pair for key, pair in differences.items()
                    if not any(fnmatch.fnmatchcase(key, pattern) for pattern in documented)}
    assert not undocumented, "differences from the spec not listed in docs/schema.md:\n" + "\n".join(
        f"{key}\n    spec: {spec_value}\n    ours: {our_value}" for key, (spec_value, our_value) in undocumented.items()
    )
    stale = [pattern for pattern in documented if not any(fnmatch.fnmatchcase(key, pattern) for key in differences)]
    assert not stale, f"docs/schema.md lists differences that no longer exist: {stale}"


@pytest.mark.slow
def test_snapshot_covers_every_kind_of_object(spec_and_migrated):
    for catalog in spec_and_migrated:
        kinds = {key.split(" ", 1)[0] for key in catalog.entries}
        assert kinds >= {"extension", "column", "view-column", "constraint", "index", "view", "sequence", "config"}
    spec, ours = spec_and_migrated
    def parameters(catalog):
        return {key for key in catalog.entries if key.startswith("config ")}

    assert len(parameters(spec)) == SPEC_CONFIG_PARAMETERS
    assert parameters(ours) >= parameters(spec)  # and those later migrations add, documented in docs/schema.md
    # Spot checks that the comparison sees what the spec is about.
    assert spec.entries["index nodes.idx_nodes_embedding"].endswith(
        "USING ivfflat (embedding vector_cosine_ops) WITH (lists='100')")
    assert "WHERE ((status)::text = 'pending'::text)" in spec.entries[
        "index relationship_inference_queue.idx_inference_queue_processing"]
    assert spec.entries["column nodes.confidence_score"] == ("numeric(5,4)", False, "0.5")


@pytest.mark.slow
def test_comparison_detects_a_difference(spec_and_migrated):
    """The comparison is not vacuous: a changed default, a dropped index and a new column are all reported."""
    spec, ours = spec_and_migrated
    changed = dict(ours.entries)
    changed["column nodes.source"] = ("character varying(50)", False, "'import'::character varying")
    del changed["index nodes.idx_nodes_path"]
    changed["column nodes.extra"] = ("text", False, None)
    differences = spec.diff(CatalogSnapshot(changed))
    assert {"column nodes.source", "index nodes.idx_nodes_path", "column nodes.extra"} <= set(differences)


@pytest.mark.slow
def test_every_migration_is_reversible():
    """Migrate a scratch database to zero and back: the second schema equals the first."""
    with scratch_database("kgsite_rev") as db:
        manage(db, "migrate", "--verbosity", "0")
        with connect(db) as conn:
            before = snapshot(conn.cursor())
        assert_spec_catalog(before, "the migrated database")
        for app in ("graph", "pghistory", "config_admin", "admin", "sessions", "axes", "kgsite", "auth",
                    "contenttypes"):
            manage(db, "migrate", app, "zero", "--verbosity", "0")
        with connect(db) as conn:
            emptied = snapshot(conn.cursor())
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'django_migrations'"
            ).fetchone()[0]
        assert tables == 0
        assert not any(key.startswith(("column ", "view ")) for key in emptied.entries)
        manage(db, "migrate", "--verbosity", "0")
        with connect(db) as conn:
            after = snapshot(conn.cursor())
        assert before.diff(after) == {}
