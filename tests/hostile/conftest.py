"""Fixtures of the hostile-input suite (docs/testing.md, "Hostile input"): a small graph with every kind of row,
a superuser's client whose every request runs in a savepoint, and a checksum of the tables input could change."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection, transaction
from django.test import Client

from graph.models import InferenceQueueItem
from graph.services.matviews import materialized_views_refresh
from tests.factories import (
    ExternalResourceFactory,
    NodeAttributeFactory,
    NodeFactory,
    NodeResourceLinkFactory,
    ReferenceFactory,
    RelationshipFactory,
)

# The tables a hostile request or command could write to; their rows are compared before and after.
CHECKED_TABLES = ("nodes", "node_attributes", "relationships", "external_resources", "node_resource_links",
                  "reference_tracking", "relationship_inference_queue", "system_config", "config_audit_log", "users")


def data_checksum() -> dict[str, tuple[int, str]]:
    """Per checked table: (rows, md5 of all rows as text)."""
    result = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        present = {row[0] for row in cursor.fetchall()}
        for table in CHECKED_TABLES:
            assert table in present, f"the hostile suite checks {table}, which does not exist"
            cursor.execute(f'SELECT count(*), md5(coalesce(string_agg(t::text, \',\' ORDER BY t::text), \'\')) '
                           f'FROM "{table}" t')
            result[table] = cursor.fetchone()
    return result


@dataclass
class Graph:
    alpha: object
    beta: object
    gamma: object
    resource: object


@pytest.fixture
def graph(superuser):
    """Three nodes (alpha with two outgoing links, so the relationship view holds two rows from it), an attribute,
    a resource with a link and a reference, a queued item, and the materialized views refreshed."""
    alpha = NodeFactory(name="alpha", node_type="concept", created_by=superuser)
    beta = NodeFactory(name="beta", node_type="concept", created_by=superuser)
    gamma = NodeFactory(name="gamma", node_type="person", created_by=superuser)
    NodeAttributeFactory(node=alpha, attribute_key="colour", attribute_value="red")
    RelationshipFactory(source_node=alpha, target_node=beta, relationship_type="related_to")
    RelationshipFactory(source_node=alpha, target_node=gamma, relationship_type="influenced")
    resource = ExternalResourceFactory(url="https://example.org/doc")
    NodeResourceLinkFactory(node=alpha, resource=resource)
    ReferenceFactory(source_node=alpha, target_resource=resource)
    InferenceQueueItem.objects.get_or_create(node=gamma, defaults={"batch_id": "batch-1"})
    materialized_views_refresh(None)
    return Graph(alpha, beta, gamma, resource)


class SavepointClient:
    """A logged-in client whose requests each run in a savepoint: a request that fails in the database (a bug this
    suite looks for) answers 500 without spoiling the test's transaction for the next request."""

    def __init__(self, user):
        self.client = Client(raise_request_exception=False)
        self.client.force_login(user)

    def _send(self, method, *args, **kwargs):
        savepoint = transaction.savepoint()
        response = getattr(self.client, method)(*args, **kwargs)
        if response.status_code >= 500:
            transaction.savepoint_rollback(savepoint)
        else:
            transaction.savepoint_commit(savepoint)
        return response

    def get(self, *args, **kwargs):
        return self._send("get", *args, **kwargs)

    def post(self, *args, **kwargs):
        return self._send("post", *args, **kwargs)


@pytest.fixture
def hostile_client(superuser):
    return SavepointClient(superuser)


def text_of(response) -> str:
    return response.content.decode("utf-8", "replace")
