"""The synthetic graph has the shapes the benchmarks rely on (graph/services/generator.py), at a small size.

One graph of 2,500 nodes is generated (and committed) for the module, then removed; the tests only read it, or
write inside their own rolled-back transaction.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.db.models.functions import Length

from graph.errors import GRAPH_NOT_EMPTY, GRAPH_TOO_SMALL, GraphError
from graph.models import Node, NodeAttribute, Relationship
from graph.services.generator import (
    COLUMNS,
    NODE_TYPES,
    TABLES,
    IdBase,
    attribute_chunk,
    graph_generate,
    graph_plan_build,
    node_embeddings,
    node_rows,
    plan_counts,
    table_rows,
)

NODES = 2500
SEED = 11


def _catalog() -> tuple[set, set]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [list(TABLES)])
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = ANY(%s::regclass[])", [list(TABLES)])
        constraints = set(cursor.fetchall())
    return indexes, constraints


@pytest.fixture(scope="module")
def graph(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        before = _catalog()
        report = graph_generate(nodes=NODES, seed=SEED)
        yield report, before
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")


@pytest.fixture
def report(graph):
    return graph[0]


def _degrees() -> np.ndarray:
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(*) FROM (SELECT source_node_id AS n FROM relationships
                                  UNION ALL SELECT target_node_id FROM relationships) e GROUP BY n
        """)
        return np.array([row[0] for row in cursor.fetchall()])


@pytest.mark.django_db
def test_rows_match_the_report_and_the_catalog_is_restored(graph):
    report, before = graph
    assert report.counts == plan_counts(graph_plan_build(nodes=NODES, seed=SEED))
    with connection.cursor() as cursor:
        for table, count in report.counts.items():
            cursor.execute(f"SELECT count(*) FROM {table}")
            assert cursor.fetchone()[0] == count, table
    assert 5 * NODES <= report.counts["node_attributes"] <= 15 * NODES
    assert report.indexes_rebuilt
    assert _catalog() == before  # every index and foreign key back, with the same definition


@pytest.mark.django_db
def test_ids_come_from_the_sequences(report):
    node = Node.objects.create(name="Made afterwards", node_type="concept")
    assert node.node_id > Node.objects.exclude(pk=node.pk).order_by("-node_id").first().node_id
    attribute = NodeAttribute.objects.create(node=node, attribute_type="t", attribute_key="k", attribute_value="v")
    assert attribute.attribute_id > report.counts["node_attributes"] - 1


@pytest.mark.django_db
def test_typed_hierarchy_several_levels_deep(report):
    types = Counter(Node.objects.values_list("node_type", flat=True))
    assert set(types) == {name for name, _ in NODE_TYPES}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM nodes WHERE parent_node_id IS NULL AND nlevel(path) = 1")
        assert cursor.fetchone()[0] == len(NODE_TYPES)
        cursor.execute("""
            SELECT count(*) FROM nodes c LEFT JOIN nodes p ON p.node_id = c.parent_node_id
            WHERE c.parent_node_id IS NOT NULL AND NOT (p.path @> c.path AND nlevel(c.path) = nlevel(p.path) + 1
                                                         AND p.node_type = c.node_type)
        """)
        assert cursor.fetchone()[0] == 0  # a child's path extends its parent's, within its type
        cursor.execute("SELECT max(nlevel(path)), percentile_disc(0.5) WITHIN GROUP (ORDER BY nlevel(path)) "
                       "FROM nodes")
        deepest, median = cursor.fetchone()
    assert deepest >= 6 and median >= 3


@pytest.mark.django_db
def test_paths_are_unique_and_extend_the_parent_path_by_one_label(report):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT path), count(path) FROM nodes")
        assert len(set(cursor.fetchone())) == 1  # every node has a path, and no two the same
        cursor.execute("""
            SELECT count(*) FROM nodes c JOIN nodes p ON p.node_id = c.parent_node_id
            WHERE c.path IS DISTINCT FROM p.path || subpath(c.path, -1)
        """)
        assert cursor.fetchone()[0] == 0  # parent's path plus exactly one label
        cursor.execute("SELECT node_type, path::text FROM nodes WHERE parent_node_id IS NULL ORDER BY node_id")
        roots = cursor.fetchall()
    assert roots == [(name, name) for name, _ in NODE_TYPES]  # one root per type: no parent, a one-label path


def test_sibling_labels_are_made_unique():
    plan = graph_plan_build(nodes=20_000, seed=0)  # big enough for siblings with the same name
    assert len(set(plan.paths)) == plan.nodes
    suffixed = 0
    for i in range(len(NODE_TYPES), plan.nodes):
        head, label = plan.paths[i].rsplit(".", 1)
        assert head == plan.paths[plan.parent[i]]
        suffixed += bool(re.search(r"_[0-9]+$", label)) and not plan.names[i][-1].isdigit()
    assert suffixed >= 1
    assert graph_plan_build(nodes=20_000, seed=0).paths == plan.paths


def test_rows_have_one_value_per_copy_column():
    assert tuple(COLUMNS) == TABLES
    plan = graph_plan_build(nodes=50, seed=1)
    for table in TABLES:
        row = next(iter(next(table_rows(plan, IdBase(), table))))
        assert len(row) == len(COLUMNS[table]), table


@pytest.mark.django_db
def test_attribute_values_are_zipf_like(report):
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(DISTINCT node_id) FROM node_attributes GROUP BY attribute_key, attribute_value
            ORDER BY 1 DESC
        """)
        nodes_per_value = np.array([row[0] for row in cursor.fetchall()])
    # A few values are shared by a large part of the graph ...
    assert nodes_per_value[0] >= 0.2 * NODES
    assert (nodes_per_value >= 0.05 * NODES).sum() >= 5
    assert nodes_per_value[0] >= 3 * nodes_per_value[9]  # ... falling off quickly with rank ...
    # ... and most distinct values are rare.
    assert (nodes_per_value == 1).mean() >= 0.7
    per_node = Counter(NodeAttribute.objects.values_list("node_id", flat=True))
    assert min(per_node.values()) >= 5 and max(per_node.values()) <= 15


@pytest.mark.django_db
def test_long_values_are_present_and_varied(report):
    long_values = list(NodeAttribute.objects.annotate(length=Length("attribute_value")).filter(length__gt=3000)
                       .values_list("attribute_value", flat=True))
    assert len(long_values) >= 5
    for value in long_values:
        assert len(set(value.split())) >= 200  # varied words, not one phrase repeated
        assert len(zlib.compress(value.encode())) >= 0.2 * len(value)


@pytest.mark.django_db
def test_relationships_have_hubs(report):
    degrees = _degrees()
    top = np.sort(degrees)[::-1]
    assert top[0] >= 20 * np.median(degrees)
    assert top[: max(1, len(top) // 100)].sum() >= 0.15 * degrees.sum()  # the top 1% hold a large share
    assert not Relationship.objects.filter(source_node=F("target_node")).exists()


@pytest.mark.django_db
def test_embeddings_cluster_by_type(report):
    rows = list(Node.objects.order_by("node_id").values_list("node_type", "embedding"))
    types = np.array([node_type for node_type, _ in rows])
    vectors = np.array([embedding for _, embedding in rows], dtype=np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    sample = np.random.default_rng(0).choice(len(rows), 200, replace=False)
    similarity = vectors[sample] @ vectors.T
    similarity[np.arange(len(sample)), sample] = -2.0
    neighbours = np.argsort(-similarity, axis=1)[:, :10]
    same_type = (types[neighbours] == types[sample][:, None]).mean()
    shares = np.array(list(Counter(types).values())) / len(types)
    chance = (shares ** 2).sum()
    assert same_type >= 0.6 and same_type >= 4 * chance
    assert abs(np.median(similarity[similarity > -2])) < 0.1  # most pairs are unrelated, not one blob


def test_plan_is_deterministic_for_a_seed():
    a, b, c = (graph_plan_build(nodes=600, seed=seed) for seed in (3, 3, 4))
    assert a.names == b.names and a.paths == b.paths
    for part in ("edges", "resources", "links", "references"):
        for name, column in getattr(a, part).items():
            assert np.array_equal(column, getattr(b, part)[name]), (part, name)
    assert np.array_equal(node_embeddings(a, 0), node_embeddings(b, 0))
    ids = np.arange(1, 601)
    assert all(np.array_equal(x, y) for x, y in zip(attribute_chunk(a, 0, ids).values(),
                                                     attribute_chunk(b, 0, ids).values()))
    assert [row[:5] for row in node_rows(a, IdBase(), 0)] == [row[:5] for row in node_rows(b, IdBase(), 0)]
    assert a.names != c.names
    assert not np.array_equal(node_embeddings(a, 0), node_embeddings(c, 0))


@pytest.mark.django_db
def test_database_rows_follow_the_plan(report):
    plan = graph_plan_build(nodes=NODES, seed=SEED)
    names = list(Node.objects.order_by("node_id").values_list("name", flat=True))
    assert names == plan.names


@pytest.mark.django_db
def test_refuses_a_graph_with_nodes_unless_appending(report):
    with pytest.raises(GraphError) as refused:
        graph_generate(nodes=20, seed=1)
    assert refused.value.code == GRAPH_NOT_EMPTY
    appended = graph_generate(nodes=20, seed=1, append=True)
    assert Node.objects.count() == NODES + 20
    assert appended.counts["nodes"] == 20
    # The appended graph's roots get a suffix, so every path stays unique.
    assert Node.objects.filter(parent_node__isnull=True, path="concept_2").exists()
    assert Node.objects.values("path").distinct().count() == NODES + 20
    graph_generate(nodes=20, seed=1, append=True)
    assert Node.objects.filter(parent_node__isnull=True, path="concept_3").exists()


def test_too_few_nodes():
    with pytest.raises(GraphError, match="at least 10 nodes") as refused:
        graph_plan_build(nodes=9)
    assert refused.value.code == GRAPH_TOO_SMALL


@pytest.mark.django_db
def test_command(report):
    with pytest.raises(CommandError, match="^RG-GEN-002: the graph already has"):
        call_command("generate_graph", "--nodes", "20", stdout=StringIO())
    with pytest.raises(CommandError, match="^RG-GEN-001: .*at least 10"):
        call_command("generate_graph", "--nodes", "3", "--append", stdout=StringIO())
    with pytest.raises(CommandError, match="RG-CMD-001: argument --seed: '-1' is not a whole number"):
        call_command("generate_graph", "--nodes", "30", "--seed", "-1", "--append", stdout=StringIO())
    out = StringIO()
    call_command("generate_graph", "--nodes", "30", "--seed", "2", "--append", stdout=out)
    assert "Generated 30 nodes" in out.getvalue() and "rows/s" in out.getvalue()
