"""A DomainError that escapes a view is a 400 page (403 for a refused permission), never a 500."""

from __future__ import annotations

import pytest
from django.urls import include, path

from graph.errors import BAD_RECORD, GraphError
from kgsite.errors import PermissionRefused


def refuse(request):
    raise GraphError("nodes[3] ('python'): path 'x..y' is not an ltree path", code=BAD_RECORD)


def forbid(request):
    raise PermissionRefused("you may not move nodes (requires the permission graph.change_node)")


def crash(request):
    raise RuntimeError("a bug")


urlpatterns = [
    path("refuse/", refuse), path("forbid/", forbid), path("crash/", crash), path("", include("kgsite.urls")),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def test_a_domain_error_is_a_400_page_with_its_code(client, user):
    client.force_login(user)
    response = client.get("/refuse/")
    assert response.status_code == 400
    text = response.content.decode()
    assert "RG-IMPORT-001" in text and "is not an ltree path" in text and "Nothing was changed" in text


def test_a_refused_permission_is_a_403(client, user):
    client.force_login(user)
    response = client.get("/forbid/")
    assert response.status_code == 403
    assert "RG-AUTH-001" in response.content.decode()


def test_other_exceptions_stay_bugs(client, user):
    client.force_login(user)
    client.raise_request_exception = True
    with pytest.raises(RuntimeError, match="a bug"):
        client.get("/crash/")
