"""Property-based hostile input to the site's own pages (Hypothesis): every route of the URL configuration that is
not the admin's, its path arguments and every query parameter its forms read, as GET and as POST. Nothing answers
500, and nothing refused changes data. The routes come from the URL configuration (as the permission matrix's
do), so a page added later is probed too."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.conftest import data_checksum
from tests.hostile.test_properties import SETTINGS, encoded_value
from tests.kgsite.test_permission_matrix import routes

pytestmark = pytest.mark.django_db

# Every name the site's forms and views read from a query string or a form (graph/forms*.py, graph/views*.py).
PARAMETERS = ["action", "back", "back_page", "confirmed", "depth", "direction", "format", "ids", "in_page", "limit",
              "max_depth", "max_score", "merged", "min_confidence", "min_score", "min_strength", "mode", "newer_than",
              "node", "node_type", "older_than", "one", "out_page", "page", "parent", "path", "q", "reason", "scope",
              "skipped", "stale", "subtree", "survivor", "target", "term", "text", "threshold", "type", "types",
              "vector", "k", "from", "to", "entry", "size", "csrfmiddlewaretoken"]
# Path arguments: what an int converter lets through (any digits) and what a str one does.
PATH_VALUES = {"int": st.sampled_from(["0", "1", "2147483647", "2147483648", "9" * 30, "00000001"]),
               "str": st.sampled_from(["x", "c", "x0", "x" + "9" * 30, "c" + "0" * 36, "c\x00", "node", "..",
                                       "\ud800", "é" * 300])}
SITE = [route for route in routes() if route.name and not route.name.startswith("admin:")
        and route.name not in {"logout", "metrics"}]


@pytest.fixture
def hostile_site(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("route", SITE, ids=[route.name for route in SITE])
def test_site_page_parameters(hostile_site, route):
    before = data_checksum()
    kinds = {name: "int" if f"int:{name}" in route.pattern else "str" for name in route.converters}

    @SETTINGS
    @given(st.fixed_dictionaries({name: PATH_VALUES[kind] for name, kind in kinds.items()}),
           st.lists(st.tuples(st.sampled_from(PARAMETERS), encoded_value), min_size=1, max_size=4),
           st.booleans())
    def probe(arguments, parameters, post):
        url = reverse(route.name, kwargs=arguments)
        query = "&".join(f"{name}={value}" for name, value in parameters)
        savepoint = transaction.savepoint()
        try:
            if post:
                response = hostile_site.post(url, query, content_type="application/x-www-form-urlencoded")
            else:
                response = hostile_site.get(f"{url}?{query}")
        finally:
            transaction.savepoint_rollback(savepoint)
        answer = response.status_code
        # /healthz answers 503 when a check fails (here: no worker runs); that is its answer, not an error.
        assert answer < 500 or (answer == 503 and route.name.startswith("healthz")), \
            f"{'POST' if post else 'GET'} {url}?{query}: {answer}"

    probe()
    assert data_checksum() == before
