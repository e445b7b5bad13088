"""EstimatedCountPaginator: counts filtered rows up to a cap, and trusts a count its caller already knows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from graph.models import Node
from kgsite.db import EstimatedCountPaginator, known_count, with_known_count
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def test_a_known_count_is_used_without_a_query():
    nodes = NodeFactory.create_batch(3)
    queryset = with_known_count(Node.objects.filter(pk__in=[node.pk for node in nodes]), 3).order_by("-node_id")
    with CaptureQueriesContext(connection) as queries:
        assert EstimatedCountPaginator(queryset, 2).count == 3
    assert len(queries) == 0


def test_a_further_filter_voids_the_known_count():
    nodes = NodeFactory.create_batch(3)
    marked = with_known_count(Node.objects.filter(pk__in=[node.pk for node in nodes]), 3)
    narrowed = marked.filter(pk=nodes[0].pk)
    assert known_count(narrowed) is None
    assert EstimatedCountPaginator(narrowed, 2).count == 1  # counted, not the stale 3


def test_search_pages_count_once(admin_client_for):
    """A materialized search (references) reads the matching ids once and does not count them again."""
    from tests.factories import ReferenceFactory

    source = NodeFactory(name="Citing work")
    for _ in range(3):
        ReferenceFactory(source_node=source)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client_for.get("/admin/graph/reference/?q=Citing+work")
    assert response.context["cl"].result_count == 3
    assert not [q for q in queries if q["sql"].startswith("SELECT COUNT(*)") and "reference_tracking" in q["sql"]]
