"""The site quickstart serves behaves like production: no debug pages, friendly errors, cached static files.

The slow test runs ``manage.py quickstart`` for real (gunicorn in a subprocess) against the test database.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import RequestFactory
from django.views.defaults import server_error

from graph.management.commands.quickstart import serving_environment

BASE_DIR = Path(settings.BASE_DIR)


@pytest.mark.django_db
def test_404_page_is_friendly_and_lists_no_urls(admin_client_for):
    response = admin_client_for.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "<code>/no/such/page/</code>" in html
    assert "URLconf" not in html and "admin/" not in re.sub(r'href="[^"]*"', "", html)


def test_500_page_needs_no_request_context():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "Traceback" not in html


def test_quickstart_serves_without_debug_unless_asked():
    served = serving_environment(debug=False)
    assert served["DEBUG"] == "false" and served["KGSITE_STATIC_MANIFEST"] == "true"
    debugging = serving_environment(debug=True)
    assert debugging["DEBUG"] == "true" and debugging["KGSITE_STATIC_MANIFEST"] == "false"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback only)
            return response.status, dict(response.headers), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode(errors="replace")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_quickstart_site_has_no_debug_pages_and_caches_static_files_for_ever(tmp_path):
    db = connection.settings_dict
    url = (f"postgres://{quote(db['USER'], safe='')}@{quote(str(db['HOST']), safe='')}:{db['PORT']}/"
           f"{quote(db['NAME'], safe='')}")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "STATIC_ROOT": str(tmp_path / "static"),
           "KGSITE_ADMIN_PASSWORD": "Served-site-test-2026", "KGSITE_ADMIN_EMAIL": "served@example.com"}
    env.pop("DEBUG", None)
    log = (tmp_path / "quickstart.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "quickstart", "--no-demo", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                status, _headers, login_html = _get(f"http://127.0.0.1:{port}/accounts/login/")
                break
            except (ConnectionError, urllib.error.URLError):
                assert server.poll() is None, (tmp_path / "quickstart.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "quickstart.log").read_text()
                time.sleep(0.3)
        assert status == 200

        # 404 without debug: the friendly page, no list of URL patterns.
        status, _headers, html = _get(f"http://127.0.0.1:{port}/no-such-page/")
        assert status == 404 and "Page not found" in html and "URLconf" not in html

        # Static files have hashed names and are cached for a year, immutable.
        css = re.findall(r'href="(/static/[^"]+\.css)"', login_html)
        assert css and all(re.search(r"\.[0-9a-f]{12}\.css$", path) for path in css), css
        status, headers, _body = _get(f"http://127.0.0.1:{port}{css[0]}")
        cache = headers.get("Cache-Control", "")
        assert status == 200 and "immutable" in cache and int(re.search(r"max-age=(\d+)", cache)[1]) >= 31536000

        # kgsite/gunicorn_conf.py is in use: /healthz turns green once the worker beside it has beaten, and the
        # access log is one JSON object per request, with the request id the client sent.
        while True:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "qs-1"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback only)
                    status, health = response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                status, health = error.code, error.read().decode()
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status == 200 and '"worker": "ok"' in health, (health, (tmp_path / "quickstart.log").read_text())
        def access_lines():
            return [json.loads(line) for line in (tmp_path / "quickstart.log").read_text().splitlines()
                    if line.startswith('{"time"') and '"type": "access"' in line]

        while not any(entry["path"] == "/healthz" and entry["request_id"] == "qs-1" for entry in access_lines()):
            assert time.monotonic() < deadline, access_lines()  # written just after the answer: wait for it
            time.sleep(0.2)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()
