"""Production settings (docs/deployment.md): what production refuses to start with, `check --deploy`, the
security headers every page sends, and which forwarded headers are believed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
GOOD_KEY = "kgsite-production-key-" + "q8Zr-Lp3Xw_" * 4
PRODUCTION = {"KGSITE_MODE": "production", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "kg.example.org",
              "DATABASE_URL": "postgres://kg:secret@db.invalid:5432/kgsite"}


def manage(*args: str, **env_changes) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "KGSITE_MODE", "SECRET_KEY", "ALLOWED_HOSTS", "KGSITE_TRUSTED_PROXIES"}}
    env.update({key: value for key, value in env_changes.items() if value is not None})
    return subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=BASE_DIR, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.parametrize(("change", "message"), [
    ({"SECRET_KEY": None}, "SECRET_KEY must be set"),
    ({"SECRET_KEY": "short-key"}, "SECRET_KEY must be at least 50 characters"),
    ({"SECRET_KEY": "ab" * 30}, "at least 5 different ones"),
    ({"SECRET_KEY": "django-insecure-" + "k3y-Xq9-" * 8}, "not a django-insecure- key"),
    ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must be set"),
    ({"DATABASE_URL": None}, "DATABASE_URL must be set"),
], ids=["no-key", "short-key", "repetitive-key", "insecure-key", "no-hosts", "no-database"])
def test_production_refuses_to_start_with_a_clear_line(change, message):
    result = manage("check", **{**PRODUCTION, **change})
    assert result.returncode == 1
    assert result.stderr.startswith("RG-SET-001: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.slow
def test_check_deploy_reports_nothing():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("proxies", "expected"), [("0", "None"), ("1", "('HTTP_X_FORWARDED_PROTO', 'https')")])
def test_forwarded_proto_is_believed_only_behind_configured_proxies(proxies, expected):
    result = manage("shell", "-c", "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)",
                    KGSITE_TRUSTED_PROXIES=proxies, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


@pytest.mark.django_db
def test_every_page_sends_the_security_headers(client, superuser):
    client.force_login(superuser)
    for url in ("/", "/admin/", "/accounts/password_change/"):
        response = client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert "camera=()" in response["Permissions-Policy"]
        assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
        assert b'rel="icon" href="/static/kgsite/favicon' in response.content, url  # no /favicon.ico 404
    login = client.get("/accounts/login/")
    assert "Content-Security-Policy" in login.headers and b'rel="icon"' in login.content


def test_no_template_has_an_inline_script():
    """The policy allows scripts from the site's files only: an inline script or javascript: link would be
    blocked in the browser, so none may be written."""
    offenders = []
    for path in (BASE_DIR / "templates").rglob("*.html"):
        text = path.read_text()
        for line_number, line in enumerate(text.splitlines(), 1):
            lowered = line.lower()
            if ("<script" in lowered and "src=" not in lowered and 'type="application/json"' not in lowered) \
                    or '="javascript:' in lowered or " onclick=" in lowered or " onload=" in lowered:
                offenders.append(f"{path.relative_to(BASE_DIR)}:{line_number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.slow
def test_the_served_site_collects_its_static_files_when_it_starts(tmp_path):
    """gunicorn with kgsite/gunicorn_conf.py, on an empty STATIC_ROOT: the first page and its stylesheet load."""
    import re
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "KGSITE_MODE"}}
    env.update(KGSITE_BIND=f"127.0.0.1:{port}", KGSITE_WORKERS="1", DEBUG="false", KGSITE_STATIC_MANIFEST="true",
               STATIC_ROOT=str(tmp_path / "static"), KGSITE_DATA_DIR=str(tmp_path / "pgdata"))
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "kgsite/gunicorn_conf.py", "kgsite.wsgi"],
                              cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        page = None
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5) as response:
                    page = response.read().decode()
                    break
            except OSError:
                time.sleep(0.25)
        assert page is not None, "the site did not answer"
        stylesheet = re.search(r'href="(/static/kgsite/site\.[0-9a-f]{12}\.css)"', page)
        assert stylesheet, "the page does not link the hashed stylesheet"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{stylesheet.group(1)}", timeout=5) as response:
            assert response.status == 200 and "immutable" in response.headers["Cache-Control"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
