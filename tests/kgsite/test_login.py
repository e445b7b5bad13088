"""Login protection: every page needs a login (LoginRequiredMiddleware), the admin needs staff, and the
login, logout and password-change pages work (case-insensitive email, POST-only logout, CSRF enforced)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from tests.factories import USER_PASSWORD

# Views that anonymous visitors may open (decorated with login_not_required). Anything else that opts out of
# the login requirement must be added here on purpose, or test_only_known_views_skip_login fails.
PUBLIC_URL_NAMES = {
    "login",
    "admin:login",
    # Operations (docs/deployment.md): health checks have no session; /metrics checks a token or a permission
    # itself and answers anonymous requests 401 (tests/graph/test_ops_endpoints.py).
    "healthz",
    "healthz_web",
    "metrics",
}

# Admin URLs that take arguments, tried as well (the admin answers any of them with its login page).
ADMIN_URLS_WITH_ARGUMENTS = [
    "/admin/graph/",
    "/admin/graph/node/",
    "/admin/graph/node/1/change/",
    "/admin/graph/node/1/delete/",
    "/admin/graph/node/1/history/",
    "/admin/graph/relationship/1/change/",
    "/admin/kgsite/user/1/change/",
    "/admin/kgsite/user/1/password/",
    "/admin/config_admin/systemconfig/1/change/",
    "/admin/r/1/1/",
    "/admin/no-such-page/",
]


def _walk(patterns, namespace=""):
    """(full name, pattern) for every named URL pattern, descending into include()s."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


def _named_patterns():
    return list(_walk(get_resolver().url_patterns))


def _urls_without_arguments():
    urls = {}
    for name, _pattern in _named_patterns():
        if name in urls:
            continue
        try:
            urls[name] = reverse(name)
        except NoReverseMatch:  # needs arguments
            continue
    return sorted(urls.items())


PROTECTED = [(name, url) for name, url in _urls_without_arguments() if name not in PUBLIC_URL_NAMES]


def _assert_redirects_to(response, login_path, url):
    assert response.status_code == 302, f"{url}: {response.status_code}"
    location = urlsplit(response["Location"])
    assert location.path == login_path, f"{url} redirected to {response['Location']}"
    assert parse_qs(location.query).get("next") == [url], response["Location"]


def test_url_list_is_complete():
    names = {name for name, _url in PROTECTED}
    # The walk really descends into the project's includes.
    assert {"home", "password_change", "logout", "admin:index"} <= names
    assert "login" not in names


def _assert_sent_to_a_login_page(response, url):
    """Admin URLs: LoginRequiredMiddleware sends anonymous visitors to /accounts/login/; the admin's own views
    that opt out of it (its login page) send non-staff users to /admin/login/. Either way: no page content."""
    assert response.status_code != 200, f"{url} answered 200 to an anonymous visitor"
    assert response.status_code == 302, f"{url}: {response.status_code}"
    location = urlsplit(response["Location"])
    assert location.path in {"/accounts/login/", reverse("admin:login")}, response["Location"]
    assert parse_qs(location.query).get("next") == [url], response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "url"), PROTECTED, ids=[name for name, _url in PROTECTED])
def test_anonymous_is_sent_to_login(client, name, url):
    response = client.get(url)
    if name.startswith("admin:"):
        _assert_sent_to_a_login_page(response, url)
    else:
        _assert_redirects_to(response, "/accounts/login/", url)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["home", "password_change", "password_change_done"])
def test_anonymous_post_is_sent_to_login(client, name):
    url = reverse(name)
    _assert_redirects_to(client.post(url, {}), "/accounts/login/", url)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ADMIN_URLS_WITH_ARGUMENTS)
def test_anonymous_cannot_open_admin_pages_with_arguments(client, url):
    _assert_sent_to_a_login_page(client.get(url), url)


def test_only_known_views_skip_login():
    """A view made public (login_not_required) must be listed in PUBLIC_URL_NAMES, i.e. be public on purpose."""
    public = {
        name for name, pattern in _named_patterns() if getattr(pattern.callback, "login_required", True) is False
    }
    assert public <= PUBLIC_URL_NAMES, f"views open to anonymous visitors: {sorted(public - PUBLIC_URL_NAMES)}"


@pytest.mark.django_db
def test_unknown_url_is_404_not_a_login_redirect_loop(client):
    # LoginRequiredMiddleware only sees resolved URLs; an unknown one is a plain 404.
    assert client.get("/no-such-page/").status_code == 404


@pytest.mark.django_db
def test_login_page_is_public(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="username"' in content and 'name="password"' in content
    assert "csrfmiddlewaretoken" in content


@pytest.mark.django_db
def test_login_page_keeps_next(client, user):
    response = client.get("/accounts/login/?next=/accounts/password_change/")
    assert response.status_code == 200
    assert 'name="next" value="/accounts/password_change/"' in response.content.decode()

    response = client.post(
        "/accounts/login/", {"username": user.email, "password": USER_PASSWORD, "next": "/accounts/password_change/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_change/"


@pytest.mark.django_db
def test_login_refuses_offsite_next(client, user):
    response = client.post(
        "/accounts/login/", {"username": user.email, "password": USER_PASSWORD, "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


@pytest.mark.django_db
def test_login_then_home(client, user):
    response = client.post(reverse("login"), {"username": user.email, "password": USER_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert user.email in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("letter_case", [str.title, str.upper, str.lower], ids=["title", "upper", "lower"])
def test_login_email_ignores_letter_case(client, user, letter_case):
    response = client.post(reverse("login"), {"username": letter_case(user.email), "password": USER_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert int(client.session["_auth_user_id"]) == user.pk


@pytest.mark.django_db
def test_login_wrong_password_shows_error(client, user):
    response = client.post(reverse("login"), {"username": user.email, "password": "not-the-password"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert response.context["form"].non_field_errors()
    content = response.content.decode()
    assert "That email address and password do not match an active account." in content
    assert 'role="alert"' in content
    # The email stays in the form; the password does not.
    assert f'value="{user.email}"' in content
    assert "not-the-password" not in content


@pytest.mark.django_db
def test_inactive_user_cannot_log_in(client, user):
    user.is_active = False
    user.save()
    response = client.post(reverse("login"), {"username": user.email, "password": USER_PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_non_staff_user_is_kept_out_of_admin(client, user):
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code != 200
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("admin:login")
    for url in ADMIN_URLS_WITH_ARGUMENTS:
        response = client.get(url)
        assert response.status_code == 302, f"{url}: {response.status_code}"
        assert urlsplit(response["Location"]).path == reverse("admin:login")


@pytest.mark.django_db
def test_staff_user_opens_admin(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_header_links_follow_staff_status(client, user, staff_user):
    client.force_login(user)
    content = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("admin:index")}"' not in content
    assert f'href="{reverse("password_change")}"' in content
    assert f'action="{reverse("logout")}"' in content

    client.force_login(staff_user)
    content = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("admin:index")}"' in content
    assert staff_user.email in content


@pytest.mark.django_db
def test_logout_needs_post(client, user):
    client.force_login(user)
    assert client.get(reverse("logout")).status_code == 405
    assert client.get(reverse("home")).status_code == 200  # still logged in


@pytest.mark.django_db
def test_logout_by_post(client, user):
    client.force_login(user)
    response = client.post(reverse("logout"))
    assert response.status_code == 200
    assert "registration/logged_out.html" in [t.name for t in response.templates]
    assert reverse("login") in response.content.decode()  # offers to log in again
    assert "_auth_user_id" not in client.session
    _assert_redirects_to(client.get(reverse("home")), "/accounts/login/", reverse("home"))


@pytest.mark.django_db
def test_password_change_flow(client, user):
    client.force_login(user)
    url = reverse("password_change")
    response = client.get(url)
    assert response.status_code == 200
    assert 'name="old_password"' in response.content.decode()

    new = "another-Passw0rd-42"
    # The old password is required, and checked.
    response = client.post(url, {"old_password": "wrong", "new_password1": new, "new_password2": new})
    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    response = client.post(url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    user.refresh_from_db()
    assert user.check_password(USER_PASSWORD)

    # The two new passwords must match.
    response = client.post(url, {"old_password": USER_PASSWORD, "new_password1": new, "new_password2": new + "x"})
    assert response.status_code == 200
    assert "new_password2" in response.context["form"].errors

    response = client.post(url, {"old_password": USER_PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    done = client.get(response["Location"])
    assert done.status_code == 200
    assert "Password changed" in done.content.decode()

    user.refresh_from_db()
    assert user.check_password(new)
    assert not user.check_password(USER_PASSWORD)
    # This session survives the change (its auth hash was updated).
    assert client.get(reverse("home")).status_code == 200

    other = Client()
    assert other.post(reverse("login"), {"username": user.email, "password": USER_PASSWORD}).status_code == 200
    assert other.post(reverse("login"), {"username": user.email, "password": new}).status_code == 302


@pytest.mark.django_db
def test_password_change_rejects_weak_password(client, user):
    client.force_login(user)
    response = client.post(
        reverse("password_change"), {"old_password": USER_PASSWORD, "new_password1": "123", "new_password2": "123"}
    )
    assert response.status_code == 200
    assert "new_password2" in response.context["form"].errors
    user.refresh_from_db()
    assert user.check_password(USER_PASSWORD)


@pytest.mark.django_db
def test_login_without_csrf_token_is_refused(user):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": user.email, "password": USER_PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_login_with_csrf_token_works(user):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"))
    token = page.context["csrf_token"]
    response = client.post(
        reverse("login"), {"username": user.email, "password": USER_PASSWORD, "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_logout_and_password_change_without_csrf_token_are_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(reverse("logout")).status_code == 403
    new = "another-Passw0rd-42"
    response = client.post(
        reverse("password_change"), {"old_password": USER_PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.check_password(USER_PASSWORD)
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.django_db
def test_admin_password_change_uses_the_site_template(client, staff_user):
    # templates/registration/password_change_form.html also serves /admin/password_change/ (project templates
    # come before the admin's): its form posts back to whichever URL showed it.
    client.force_login(staff_user)
    url = reverse("admin:password_change")
    response = client.get(url)
    assert response.status_code == 200
    assert 'name="old_password"' in response.content.decode()
    new = "another-Passw0rd-42"
    response = client.post(url, {"old_password": USER_PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:password_change_done")
    assert client.get(response["Location"]).status_code == 200
    staff_user.refresh_from_db()
    assert staff_user.check_password(new)


@pytest.mark.django_db
def test_one_login_page_admin_login_leads_to_the_site_login(client):
    response = client.get(reverse("admin:login") + "?next=/admin/graph/node/")
    _assert_redirects_to(response, "/accounts/login/", "/admin/graph/node/")
    # An anonymous visit to the admin ends on the site's login page, never on Django's admin login form.
    final = client.get("/admin/", follow=True)
    assert final.request["PATH_INFO"] == "/accounts/login/"
    assert "kgsite administration" not in final.content.decode()
    assert parse_qs(urlsplit(final.redirect_chain[-1][0]).query).get("next") == ["/admin/"]


@pytest.mark.django_db
def test_admin_login_without_next_leads_back_to_the_admin(client):
    _assert_redirects_to(client.get(reverse("admin:login")), "/accounts/login/", "/admin/")


@pytest.mark.django_db
def test_wrong_password_message_agrees_with_the_page(client, user):
    response = client.post("/accounts/login/", {"username": user.email.upper(), "password": "wrong-" + USER_PASSWORD})
    assert response.status_code == 200
    html = response.content.decode()
    assert "may be case-sensitive" not in html
    assert "its letter case matters (the email address&#x27;s does not)" in html
    assert "Your email address is your login (in any letter case); the password is case-sensitive." in html
    # And the email really is case-insensitive: the right password with the upper-cased address logs in.
    ok = client.post("/accounts/login/", {"username": user.email.upper(), "password": USER_PASSWORD})
    assert ok.status_code == 302
