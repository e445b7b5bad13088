"""Every route, as every role (docs/roles.md): generated from the URL configuration, so that a new route nobody
classified fails here.

Anonymous users are sent to the login page; a role lacking the permission a route needs gets a 403 page that
names it; a role having it gets the page (200), or for an action its answer (anything but a 403 or a 5xx). What a
route needs is written down here for the site's own pages and the admin's extra views, and read from the admin's
permission rules (changelist, add, change, delete, history) for each registered model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from graph.models import Node, NodeEvent
from graph.services.generator import graph_generate
from graph.services.merges import node_merge
from kgsite.admin import ReadOnlyAdmin
from kgsite.roles import ADMINISTRATOR, EDITOR, VIEWER
from tests.factories import USER_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

LOGIN = "login-only"  # any logged-in user
ROLES = (VIEWER, EDITOR, ADMINISTRATOR)

# The site's own pages: (what a GET needs, what a POST needs). None: that method is not offered (405).
SITE_ROUTES: dict[str, tuple[str | None, str | None]] = {
    "home": (LOGIN, None),
    "search": (LOGIN, None),
    "search_nodes": (LOGIN, None),
    "node_detail": (LOGIN, None),
    "node_neighbourhood": (LOGIN, None),
    "paths": (LOGIN, None),
    "hierarchy": (LOGIN, None),
    "hierarchy_move": (None, "graph.change_node"),
    "review": (LOGIN, None),
    "review_decide": (None, "graph.review_relationship"),
    "duplicates": (LOGIN, None),
    "merge": (LOGIN, "graph.merge_node"),
    "distinct": (None, "graph.merge_node"),
    "unmerge": (None, "graph.merge_node"),
    "node_history": (LOGIN, None),
    "node_restore": (LOGIN, "graph.revert_history"),
    "history": (LOGIN, None),
    "history_entry": (LOGIN, None),
    "history_entry_revert": (LOGIN, "graph.revert_history"),
    "history_event_revert": (LOGIN, "graph.revert_history"),
    "password_change": (LOGIN, LOGIN),
    "password_change_done": (LOGIN, None),
}
# Pages anyone may open.
PUBLIC_ROUTES = {"login", "logout", "healthz", "healthz_web"}
# Routes with their own access rule, tested where they are built: /metrics (a bearer token or a staff login).
OWN_RULE_ROUTES = {"metrics"}

# The admin's own views beyond the per-model ones: (GET needs, POST needs).
ADMIN_ROUTES: dict[str, tuple[str | None, str | None]] = {
    "admin:index": ("staff", None),
    "admin:password_change": ("staff", None),
    "admin:password_change_done": ("staff", None),
    "admin:jsi18n": ("staff", None),
    "admin:autocomplete": ("graph.view_node", None),
    "admin:graph_importjob_confirm": (None, "graph.change_importjob"),
    "admin:graph_importjob_cancel": (None, "graph.change_importjob"),
    "admin:graph_vectorindexbuild_health": ("graph.view_vectorindexbuild", None),
    "admin:graph_vectorindexbuild_rebuild": (None, "graph.rebuild_vector_index"),
    "admin:graph_nodeconfidencecache_refresh": (None, "graph.refresh_materialized_views"),
    "admin:graph_relationshipstrengthmatrix_refresh": (None, "graph.refresh_materialized_views"),
    "admin:graph_graphconnectivitystats_refresh": (None, "graph.refresh_materialized_views"),
    "admin:graph_popularentityranking_refresh": (None, "graph.refresh_materialized_views"),
    "admin:graph_embeddingsimilaritycache_refresh": (None, "graph.refresh_materialized_views"),
    "admin:config_admin_systemconfig_reset": ("config_admin.change_systemconfig", "config_admin.change_systemconfig"),
    "admin:config_admin_systemconfig_apply_postgres": (None, "config_admin.apply_postgres_settings"),
}
# Admin routes the matrix opens differently: the login page (logged-in users are sent on), logout (POST only),
# the per-app index (404 for an app the user may see nothing of) and the "view on site" shortcut.
ADMIN_SPECIAL = {"admin:login", "admin:logout", "admin:app_list", "admin:view_on_site"}
# POSTs that would change the test server itself rather than the test database.
NOT_POSTED = {"admin:config_admin_systemconfig_apply_postgres"}
MODEL_VIEWS = re.compile(r"^admin:(?P<app>\w+?)_(?P<model>[a-z0-9]+)_(?P<view>changelist|add|change|delete|history)$")


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    converters: tuple[str, ...]


def routes() -> list[Route]:
    found = []

    def walk(patterns, prefix="", namespace=None):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
                found.append(Route(name or "", prefix + str(entry.pattern),
                                   tuple(getattr(entry.pattern, "converters", {}))))
    walk(get_resolver().url_patterns)
    return found


def test_every_route_is_classified():
    unclassified = []
    for route in routes():
        if route.name.startswith("admin:") or (not route.name and route.pattern.startswith("admin/")):
            known = (route.name in ADMIN_ROUTES or route.name in ADMIN_SPECIAL or MODEL_VIEWS.match(route.name)
                     or not route.name)  # the admin's unnamed redirects: <object_id>/ to its change page
        else:
            known = route.name in SITE_ROUTES or route.name in PUBLIC_ROUTES or route.name in OWN_RULE_ROUTES
        if not known:
            unclassified.append(f"{route.name or '(no name)'}: {route.pattern}")
    assert not unclassified, "routes without a permission rule in this matrix:\n" + "\n".join(unclassified)


@pytest.fixture
def site(db):
    graph_generate(nodes=30, seed=3)
    first, second, other = Node.objects.order_by("pk")[:3]
    deleted = Node.objects.filter(children__isnull=True).exclude(pk__in=[first.pk, second.pk, other.pk]).first()
    deleted_id = deleted.pk
    deleted.delete()
    merge = node_merge(survivor_id=first.pk, merged_id=second.pk)
    # A failed and a successful login: the login-throttling tables have rows to open.
    Client().post("/accounts/login/", {"username": "nobody@example.com", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    UserFactory(email="someone@example.com")
    Client().post("/accounts/login/", {"username": "someone@example.com", "password": USER_PASSWORD})
    users = {}
    for role in ROLES:
        user = UserFactory(email=f"{role.lower()}@example.com", staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    event = NodeEvent.objects.order_by("pgh_id").first()
    kwargs = {"node_id": first.pk, "other": other.pk, "deleted_id": deleted_id, "merge_id": merge.merge_id,
              "entry": f"c{event.pgh_context_id}" if event.pgh_context_id else f"x{event.pgh_xact}",
              "key": "node", "event_id": event.pgh_id}
    return {"users": users, "kwargs": kwargs}


def role_has(role: str, needs: str) -> bool:
    if needs in (LOGIN, "staff"):
        return True  # every role's users are staff
    return Group.objects.filter(name=role, permissions__content_type__app_label=needs.split(".")[0],
                                permissions__codename=needs.split(".")[1]).exists()


# Query strings a page needs to show anything (else it answers 400, naming what is missing).
QUERIES = {"merge": "?survivor={node_id}&merged={other}"}


# Arguments a route takes from another sample than its name says: a restore is of a deleted node.
ROUTE_KWARGS = {"node_restore": {"node_id": "deleted_id"}}


def site_url(route: Route, kwargs: dict) -> str:
    named = ROUTE_KWARGS.get(route.name, {})
    url = reverse(route.name, kwargs={name: kwargs[named.get(name, name)] for name in route.converters})
    return url + QUERIES.get(route.name, "").format(**kwargs)


# "This page needs the permission graph.add_node (nodes)." or a service's "... requires the permission ...".
NAMES_A_PERMISSION = re.compile(rb"(needs|requires) the permission [a-z_]+\.[a-z_]+")


def check(client: Client, method: str, url: str, allowed: bool, what: str) -> None:
    response = client.get(url) if method == "GET" else client.post(url, {})
    assert response.status_code < 500, f"{what}: {response.status_code}"
    if allowed:
        assert response.status_code != 403, f"{what}: refused"
        if method == "GET":
            assert response.status_code in (200, 302), f"{what}: {response.status_code}"
    else:
        assert response.status_code == 403, f"{what}: {response.status_code}, not refused"
        assert NAMES_A_PERMISSION.search(response.content), f"{what}: the 403 page does not name the permission"


def test_anonymous_users_are_sent_to_the_login_page(client, site):
    for route in routes():
        if route.name in SITE_ROUTES:
            url = site_url(route, site["kwargs"])
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith(reverse("login")), route.name
    for url in ("/admin/", "/admin/graph/node/", "/admin/config_admin/systemconfig/"):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"], url


@pytest.mark.parametrize("role", ROLES)
def test_site_pages_by_role(client, site, role):
    client.force_login(site["users"][role])
    for route in routes():
        if route.name not in SITE_ROUTES:
            continue
        get_needs, post_needs = SITE_ROUTES[route.name]
        url = site_url(route, site["kwargs"])
        if get_needs is not None:
            check(client, "GET", url, role_has(role, get_needs), f"{role} GET {url}")
        if post_needs is not None and post_needs != LOGIN:
            check(client, "POST", url, role_has(role, post_needs), f"{role} POST {url}")


@pytest.mark.parametrize("role", ROLES)
def test_admin_views_by_role(client, site, role):
    client.force_login(site["users"][role])
    user = site["users"][role]
    checked = 0
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        sample = model_admin.get_queryset(_request(user)).order_by("pk").first() if opts.pk else None
        object_id = sample.pk if sample is not None else 2_147_483_000
        may = {action: user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")
               for action in ("view", "add", "change", "delete")}
        pages = {"changelist": (None, may["view"] or may["change"]), "add": (None, may["add"]),
                 "change": (object_id, may["view"] or may["change"]), "history": (object_id, may["view"] or
                                                                          may["change"]),
                 "delete": (object_id, may["delete"])}
        for view, (argument, allowed) in pages.items():
            name = f"admin:{opts.app_label}_{opts.model_name}_{view}"
            try:
                url = reverse(name, args=[argument] if argument is not None else [])
            except Exception:  # the admin does not offer this view for the model
                continue
            response = client.get(url)
            what = f"{role} GET {url}"
            assert response.status_code < 500, f"{what}: {response.status_code}"
            if view == "history" and isinstance(model_admin, ReadOnlyAdmin):
                assert response.status_code == 404, what  # no edit history: nobody edits these rows
            elif allowed:
                # An admin may refuse more than the permission (read-only tables refuse add and delete); a sample
                # row that does not exist is a redirect or a 404.
                assert response.status_code in (200, 302, 403) or (
                    sample is None and response.status_code == 404), f"{what}: {response.status_code}"
                if response.status_code == 403:
                    assert not _admin_allows(model_admin, user, view, sample), f"{what}: refused"
            elif sample is None and view == "history":
                # Django's history page looks the row up before the permission: no row, a redirect (nothing shown).
                assert response.status_code in (302, 403), f"{what}: {response.status_code}"
            else:
                assert response.status_code == 403, f"{what}: {response.status_code}, not refused"
                assert b"needs the permission" in response.content, f"{what}: the 403 names no permission"
            checked += 1
    assert checked > 100
    for name, (get_needs, post_needs) in ADMIN_ROUTES.items():
        url = reverse(name, kwargs=_admin_kwargs(name))
        if name == "admin:autocomplete":
            url += "?app_label=graph&model_name=relationship&field_name=source_node&term=a"
        if get_needs is not None:
            check(client, "GET", url, role_has(role, get_needs), f"{role} GET {url}")
        if post_needs is not None and not (name in NOT_POSTED and role_has(role, post_needs)):
            check(client, "POST", url, role_has(role, post_needs), f"{role} POST {url}")


def _admin_kwargs(name: str) -> dict:
    if name.endswith(("importjob_confirm", "importjob_cancel")):
        return {"job_id": 2_147_483_000}
    if name.endswith("systemconfig_reset"):
        from config_admin.models import SystemConfig

        return {"object_id": SystemConfig.objects.order_by("pk").first().pk}
    return {}


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _admin_allows(model_admin, user, view: str, sample) -> bool:
    request = _request(user)
    return {"changelist": lambda: model_admin.has_view_or_change_permission(request),
            "history": lambda: model_admin.has_view_or_change_permission(request, sample),
            "change": lambda: model_admin.has_view_or_change_permission(request, sample),
            "add": lambda: model_admin.has_add_permission(request),
            "delete": lambda: model_admin.has_delete_permission(request, sample)}[view]()


def test_the_roles_hold_what_their_names_say(site):
    users = site["users"]
    viewer, editor, administrator = users[VIEWER], users[EDITOR], users[ADMINISTRATOR]
    assert viewer.has_perm("graph.view_node") and not viewer.has_perm("graph.change_node")
    assert not any(perm.split(".")[1].startswith(("add_", "change_", "delete_"))
                   for perm in viewer.get_all_permissions())
    assert editor.has_perm("graph.change_node") and editor.has_perm("graph.add_importjob")
    assert editor.has_perm("graph.refresh_materialized_views") and editor.has_perm("graph.merge_node")
    assert not editor.has_perm("config_admin.change_systemconfig")
    assert not editor.has_perm("graph.rebuild_vector_index") and not editor.has_perm("kgsite.change_user")
    assert administrator.has_perm("config_admin.apply_postgres_settings")
    assert administrator.has_perm("graph.rebuild_vector_index") and administrator.has_perm("kgsite.change_user")


def _post_every_action(client, site) -> int:
    posted = 0
    for model, model_admin in admin.site._registry.items():
        sample = model_admin.get_queryset(_request(site["users"][ADMINISTRATOR])).order_by("pk").first()
        if sample is None:
            continue
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        for name in model_admin._get_base_actions() and [action[1] for action in model_admin._get_base_actions()]:
            response = client.post(url, {"action": name, "_selected_action": [sample.pk], "post": "yes",
                                         "index": 0})
            assert response.status_code in (200, 302, 403), f"{name} on {url}: {response.status_code}"
            posted += 1
    return posted


def test_a_viewer_can_run_no_admin_action(client, site):
    """Every action of every registered admin, posted by a Viewer on a real row: refused (403) or not offered, and
    nothing in the graph, the configuration or the users changes (an Administrator's same posts do change it)."""
    from tests.hostile.conftest import data_checksum

    client.force_login(site["users"][VIEWER])
    before = data_checksum()
    assert _post_every_action(client, site) > 10
    assert data_checksum() == before


def test_an_administrator_runs_every_admin_action_without_a_server_error(client, site):
    from tests.hostile.conftest import data_checksum

    client.force_login(site["users"][ADMINISTRATOR])
    before = data_checksum()
    assert _post_every_action(client, site) > 10
    assert data_checksum() != before  # the actions did something: the viewer's refusals above are real
