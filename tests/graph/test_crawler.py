"""Crawling external resources (docs/crawling.md; graph/services/crawler.py, ``manage.py crawl_resources``).

A local ``ThreadingHTTPServer`` on 127.0.0.1 (allow-listed for most tests) serves pages, files, large and slow
bodies, redirects and errors, and counts what it was asked for. Nothing reaches a real host: host names other than
IP literals are resolved by a fake ``getaddrinfo`` (or are ``localhost``).

* Address guard: every address that is not public is refused (IPv4, IPv6, IPv4-mapped, metadata), unless the
  allow-list names it; every address a name resolves to is checked; only http and https; the connection goes to
  the checked address, with the host name in Host (and SNI and the certificate check for https).
* States: pending → crawling → completed or failed (reason, back-off, not retried before due), completed → stale
  after ``crawl_stale_after_days``, interrupted crawls claimed again after their lease, ``--stale-only``.
* Content hash: an unchanged body rewrites nothing and queues no embedding; a changed one does.
* Limits: size cap, timeouts (per read and in all), redirect limit, redirect loops, redirects to refused
  addresses or schemes.
* Two crawlers at once never fetch one resource twice; the command's output and bad arguments; the worker's job.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from config_admin.selectors import config_cache_clear
from config_admin.services import config_set
from graph.choices import CrawlStatus
from graph.models import EmbeddingQueueItem, ExternalResource, MaintenanceRun
from graph.services import crawler, maintenance
from graph.services.crawler import (
    CrawlFailed,
    CrawlLimits,
    Fetched,
    address_refusal,
    crawl_backoff,
    page_summary,
    resources_crawl,
    resources_mark_stale,
    url_fetch,
    url_target,
)
from graph.services.embeddings import embedding_queue_drain
from tests.factories import ExternalResourceFactory

BASE_DIR = Path(__file__).resolve().parent.parent.parent
ACTOR = "crawler tests"
CRAWL_MIGRATION = importlib.import_module("graph.migrations.0015_imports_and_crawling")
transactional = pytest.mark.django_db(transaction=True)

PAGE = (b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>  The Rust\n  Programming Language </title>"
        b"<meta name='description' content='A language empowering everyone.'>"
        b"<meta property='og:title' content='Rust (og)'></head><body><h1>Rust</h1></body></html>")
OG_PAGE = (b"<html><head><meta property='og:title' content='Only &amp; Open Graph'>"
           b"<meta property='og:description' content='Described by og.'></head><body><title>not this</title>"
           b"</body></html>")
LATIN1_PAGE = "<html><head><title>Café crème</title></head></html>".encode("iso-8859-1")
META_CHARSET_PAGE = ("<html><head><meta charset=windows-1252><title>Ærø – “quoted”</title></head></html>"
                     .encode("cp1252"))
NOTES = b"\n   \nFirst line of the notes\nsecond line\n"
BINARY = bytes(range(256)) * 4


# --- The local server ----------------------------------------------------------------------------------------------

class Site:
    """What the server serves and what it was asked for."""

    def __init__(self):
        self.port = 0
        self.requests: list[str] = []
        self.hosts: list[str] = []
        self.lock = threading.Lock()
        self.changing = b"<html><head><title>Version 1</title></head></html>"
        self.scheme = "http"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def asked(self, path: str) -> int:
        with self.lock:
            return sum(1 for request in self.requests if request == path)

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.hosts.clear()
        self.changing = b"<html><head><title>Version 1</title></head></html>"


def handler_for(site: Site):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status: int, body: bytes = b"", content_type: str | None = "text/html; charset=utf-8",
                   length: bool = True, headers: dict | None = None):
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            if length:
                self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            with site.lock:
                site.requests.append(path)
                site.hosts.append(self.headers.get("Host", ""))
            try:
                self.route(path, query)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def route(self, path, query):
            if path == "/page.html":
                self.answer(200, PAGE)
            elif path == "/og.html":
                self.answer(200, OG_PAGE)
            elif path == "/latin1.html":
                self.answer(200, LATIN1_PAGE, "text/html; charset=ISO-8859-1")
            elif path == "/meta-charset.html":
                self.answer(200, META_CHARSET_PAGE, "text/html")
            elif path == "/untyped":
                self.answer(200, PAGE, content_type=None)
            elif path == "/notes.txt":
                self.answer(200, NOTES, "text/plain; charset=utf-8")
            elif path == "/data.bin":
                self.answer(200, BINARY, "application/octet-stream")
            elif path == "/changing.html":
                self.answer(200, site.changing)
            elif path == "/echo-host":
                self.answer(200, self.headers.get("Host", "").encode(), "text/plain")
            elif path.startswith("/n/"):
                time.sleep(0.05)
                self.answer(200, f"<title>Page {path[3:]}</title>".encode())
            elif path == "/exactly-16k":
                self.answer(200, b"x" * 16 * 1024, "application/octet-stream")
            elif path == "/large":
                self.answer(200, b"x" * 17 * 1024, "application/octet-stream")
            elif path == "/large-unsized":  # no Content-Length: the cap is found while reading
                self.answer(200, b"x" * 17 * 1024, "application/octet-stream", length=False)
            elif path == "/slow":
                time.sleep(2.5)
                self.answer(200, PAGE)
            elif path == "/drip":  # a byte every 0.25 s: every read is within the timeout, the whole is not
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                for _ in range(40):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.25)
            elif path == "/redirect":
                self.answer(int(query.get("status", ["302"])[0]), b"", headers={"Location": query["to"][0]})
            elif path == "/no-location":
                self.answer(302, b"")
            elif path.startswith("/chain/"):
                left = int(path.rsplit("/", 1)[1])
                self.answer(301, b"", headers={"Location": f"/chain/{left - 1}" if left else "/page.html"})
            elif path == "/loop-a":
                self.answer(302, b"", headers={"Location": "/loop-b"})
            elif path == "/loop-b":
                self.answer(302, b"", headers={"Location": "/loop-a"})
            elif path == "/hang-up":
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            elif path == "/gone":
                self.answer(410, b"gone")
            else:
                self.answer(404, b"not here")

    return Handler


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hung up (a timeout test), a TLS handshake the client refused


def serve(site: Site, wrap=None) -> QuietServer:
    server = QuietServer(("127.0.0.1", 0), handler_for(site))
    if wrap:
        server.socket = wrap(server.socket)
    site.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, name="crawler-test-site", daemon=True).start()
    return server


@pytest.fixture(scope="module")
def local_site():
    site = Site()
    server = serve(site)
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(local_site):
    local_site.reset()
    return local_site


@pytest.fixture(autouse=True)
def crawl_parameters(request, migrated_data):
    """The crawl_* parameters (graph.0015), put back after a transactional test's flush (tests/migrated_rows.py
    restores the parameters of the migrations before it)."""
    if not request.node.get_closest_marker("django_db"):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM system_config WHERE parameter_name = 'crawl_batch_size'")
        if not cursor.fetchone()[0]:
            cursor.execute(CRAWL_MIGRATION.PARAMETERS_SQL)
    config_cache_clear()


@pytest.fixture(autouse=True)
def allow_the_local_site(settings):
    settings.KGSITE_CRAWL_ALLOWED_NETWORKS = ["127.0.0.1"]


def parameter(name: str, value) -> None:
    config_set(name=name, value=str(value), actor=ACTOR)


def resource(url: str, **fields) -> ExternalResource:
    return ExternalResourceFactory(url=url, **fields)


def fresh(row: ExternalResource) -> ExternalResource:
    return ExternalResource.objects.get(pk=row.pk)


def crawl(**options) -> tuple[crawler.CrawlReport, list[crawler.CrawlOutcome]]:
    outcomes: list[crawler.CrawlOutcome] = []
    report = resources_crawl(on_resource=outcomes.append, **options)
    return report, outcomes


def queued(row: ExternalResource) -> bool:
    return EmbeddingQueueItem.objects.filter(resource_id=row.pk).exists()


def fake_dns(monkeypatch, table: dict[str, list[str] | Exception]) -> list[str]:
    """``getaddrinfo`` answers for the names in ``table`` (a list of addresses, or an exception to raise); other
    hosts (IP literals) go to the real one. Returns the names asked for, in order."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        answer = table[host]
        if isinstance(answer, Exception):
            raise answer
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0)) if ":" in a else
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answer]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


# --- The address guard ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback address"),
    ("127.8.9.10", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("169.254.170.2", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("169.254.10.20", "a link-local address"),
    ("0.0.0.0", "an unspecified address"),
    ("224.0.0.251", "a multicast address"),
    ("100.64.0.1", "not a public address"),  # carrier-grade NAT: neither private nor global
    ("192.0.2.10", "a private address"),  # documentation range
    ("::1", "a loopback address"),
    ("::", "an unspecified address"),
    ("fe80::1", "a link-local address"),
    ("fc00::5", "a private address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("ff02::1", "a multicast address"),
    ("fec0::1", "a site-local address"),
    ("::ffff:127.0.0.1", "a loopback address"),
    ("::ffff:10.0.0.1", "a private address"),
    ("::ffff:169.254.169.254", "a cloud metadata address"),
    ("2002:7f00:1::", "an address that leads to 127.0.0.1, a loopback address"),  # 6to4
    ("2002:a9fe:a9fe::", "an address that leads to 169.254.169.254, a cloud metadata address"),
])
def test_the_guard_refuses_every_address_that_is_not_public(address, kind):
    refusal = address_refusal(address)
    assert refusal is not None and refusal.endswith(f" is {kind}"), refusal


def test_the_guard_names_an_ipv4_mapped_address_by_its_ipv4_form():
    assert address_refusal("::ffff:7f00:1") == "::ffff:127.0.0.1 is a loopback address"


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8",
                                     "2002:808:808::"])
def test_public_addresses_pass(address):
    assert address_refusal(address) is None


def test_the_allow_list_opens_what_it_names_and_nothing_more():
    assert address_refusal("127.0.0.1", allowed=["127.0.0.1"]) is None
    assert address_refusal("127.0.0.2", allowed=["127.0.0.1"]) == "127.0.0.2 is a loopback address"
    assert address_refusal("::ffff:127.0.0.1", allowed=["127.0.0.1"]) is None  # the same host
    assert address_refusal("::1", allowed=["127.0.0.1"]) == "::1 is a loopback address"
    assert address_refusal("10.20.30.40", allowed=["10.0.0.0/8"]) is None
    assert address_refusal("192.168.0.1", allowed=["10.0.0.0/8"]) == "192.168.0.1 is a private address"
    assert address_refusal("fd12::1", allowed=["fd12::/16"]) is None
    # A network does not open the metadata service inside it; naming the address does.
    assert address_refusal("169.254.169.254", allowed=["169.254.0.0/16"]) == \
        "169.254.169.254 is a cloud metadata address"
    assert address_refusal("169.254.10.1", allowed=["169.254.0.0/16"]) is None
    assert address_refusal("169.254.169.254", allowed=["169.254.169.254"]) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://8.8.8.8/file", "unsupported scheme ftp: only http and https are crawled"),
    ("file:///etc/passwd", "unsupported scheme file: only http and https are crawled"),
    ("gopher://8.8.8.8:70/_x", "unsupported scheme gopher: only http and https are crawled"),
    ("javascript:alert(1)", "unsupported scheme javascript: only http and https are crawled"),
    ("//8.8.8.8/no-scheme", "unsupported scheme (none): only http and https are crawled"),
    ("http://user:secret@8.8.8.8/", "refused: a user name or password in the URL"),
    ("http://8.8.8.8\\@127.0.0.1/", "refused: a user name or password in the URL"),
    ("http:///path-only", "bad URL: no host"),
    ("http://8.8.8.8:0/", "bad URL: port 0"),
    ("http://8.8.8.8:99999/", "bad URL: Port out of range 0-65535"),
    ("http://[::1/", "bad URL: Invalid IPv6 URL"),
    ("http://127.0.0.1/", "refused: 127.0.0.1 is a loopback address"),
    ("http://10.0.0.1/", "refused: 10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a cloud metadata address"),
    ("http://[::1]:8000/", "refused: ::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "refused: ::ffff:127.0.0.1 is a loopback address"),
    ("http://[fd00:ec2::254]/", "refused: fd00:ec2::254 is a cloud metadata address"),
    ("http://2130706433/", "refused: 2130706433 resolves to 127.0.0.1, a loopback address"),  # 127.0.0.1 as a number
])
def test_url_checks(url, reason):
    with pytest.raises(CrawlFailed) as failed:
        url_target(url, allowed=[])
    assert str(failed.value) == reason


def test_localhost_is_refused_by_its_addresses():
    with pytest.raises(CrawlFailed, match=r"^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address$"):
        url_target("http://localhost:8000/", allowed=[])


def test_a_public_url_becomes_a_target_with_its_request_path():
    target = url_target("https://8.8.8.8/a b/é?q=ü&x=1#fragment", allowed=[])
    assert (target.scheme, target.host, target.port, target.addresses) == ("https", "8.8.8.8", 443,
                                                                          (ipaddress.ip_address("8.8.8.8"),))
    assert target.request_path == "/a%20b/%C3%A9?q=%C3%BC&x=1"


def test_every_address_a_name_resolves_to_is_checked(monkeypatch):
    fake_dns(monkeypatch, {"mixed.test": ["93.184.216.34", "10.0.0.1"],
                           "dual.test": ["93.184.216.34", "::1"],
                           "mapped.test": ["2606:4700::1", "::ffff:169.254.169.254"],
                           "public.test": ["93.184.216.34", "2606:4700::1"],
                           "nowhere.test": socket.gaierror(socket.EAI_NONAME, "Name or service not known")})
    for host, reason in (("mixed.test", "10.0.0.1, a private address"), ("dual.test", "::1, a loopback address"),
                         ("mapped.test", "::ffff:169.254.169.254, a cloud metadata address")):
        with pytest.raises(CrawlFailed) as failed:
            url_target(f"http://{host}/", allowed=[])
        assert str(failed.value) == f"refused: {host} resolves to {reason}"
    target = url_target("http://Public.TEST:8080/x", allowed=[])
    assert (target.host, target.port, [str(a) for a in target.addresses]) == (
        "public.test", 8080, ["93.184.216.34", "2606:4700::1"])
    with pytest.raises(CrawlFailed, match=r"^dns: nowhere\.test does not resolve \(Name or service not known\)$"):
        url_target("http://nowhere.test/", allowed=[])


def test_a_resolver_that_hangs_is_given_up(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: time.sleep(2))
    started = time.monotonic()
    with pytest.raises(CrawlFailed, match=r"^dns: slow\.test did not resolve within 0\.2 s$"):
        url_target("http://slow.test/", allowed=[], resolve_timeout=0.2)
    assert time.monotonic() - started < 1


def test_back_off_doubles_per_failure_up_to_seven_days():
    assert [crawl_backoff(n, base_minutes=15) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2)]
    assert crawl_backoff(11, base_minutes=15) == timedelta(days=7)  # 15 × 1024 minutes is more
    assert crawl_backoff(10_000, base_minutes=1440) == timedelta(days=7)


# --- What a page says about itself ----------------------------------------------------------------------------------

def fetched(body: bytes, content_type: str = "text/html", charset: str | None = None) -> Fetched:
    return Fetched(url="http://8.8.8.8/", status=200, content_type=content_type, charset=charset, body=body,
                   redirects=0)


def test_titles_and_descriptions_from_html():
    summary = page_summary(fetched(PAGE, charset="utf-8"))
    assert (summary.title, summary.description) == ("The Rust Programming Language", "A language empowering everyone.")
    summary = page_summary(fetched(OG_PAGE))  # no <title> in the head: Open Graph's, entities decoded
    assert (summary.title, summary.description) == ("Only & Open Graph", "Described by og.")
    assert page_summary(fetched(LATIN1_PAGE, charset="iso-8859-1")).title == "Café crème"
    assert page_summary(fetched(META_CHARSET_PAGE)).title == "Ærø – “quoted”"
    assert page_summary(fetched(PAGE, content_type="")).title == "The Rust Programming Language"  # sniffed
    assert page_summary(fetched(b"<title>caf\xe9</title>", charset="no-such-charset")).title == "caf\ufffd"
    assert page_summary(fetched(b"<title>x</title>", charset="base64")).title == "x"  # not a text encoding


def test_long_or_dirty_values_are_tidied():
    long_title = "word " * 200
    summary = page_summary(fetched(f"<title>{long_title}</title><meta name=description content='a\x00b\x07c'>"
                                   .encode()))
    assert len(summary.title) == crawler.TITLE_MAX_LENGTH and summary.title.endswith("…")
    assert summary.description == "abc"
    assert page_summary(fetched(b"<html><head><title> </title></head></html>")) == crawler.PageSummary(None, None)


def test_plain_text_and_other_types():
    assert page_summary(fetched(NOTES, "text/plain")) == crawler.PageSummary("First line of the notes", None)
    assert page_summary(fetched(BINARY, "application/octet-stream")) == crawler.PageSummary(None, None)
    assert page_summary(fetched(PAGE, "application/pdf")) == crawler.PageSummary(None, None)


# --- Fetching ------------------------------------------------------------------------------------------------------

LIMITS = CrawlLimits(timeout=5, max_bytes=2048 * 1024, max_redirects=5)


def test_the_connection_goes_to_the_checked_address_with_the_host_name(monkeypatch, site):
    # DNS rebinding: the name resolves to an allowed address when checked, to a private one afterwards. The
    # crawler asks once and connects to what it checked.
    answers = iter([["127.0.0.1"]] + [["10.0.0.1"]] * 10)
    asked = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in next(answers)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    result = url_fetch(site.url("/echo-host", host="rebind.test"), limits=LIMITS, allowed=["127.0.0.1"])
    assert result.body == f"rebind.test:{site.port}".encode()
    assert asked == ["rebind.test"]


def test_the_next_address_is_tried_when_one_refuses_the_connection(monkeypatch, site):
    fake_dns(monkeypatch, {"two.test": ["127.0.0.2", "127.0.0.1"]})  # nothing listens on 127.0.0.2
    result = url_fetch(site.url("/page.html", host="two.test"), limits=LIMITS, allowed=["127.0.0.0/8"])
    assert result.body == PAGE


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``site.test``, signed by it (openssl's command line)."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)

    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kgsite test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *curve, "-keyout", "site.key", "-out", "site.csr", "-subj", "/CN=site.test")
    (directory / "site.ext").write_text("subjectAltName=DNS:site.test\nbasicConstraints=CA:FALSE\n"
                                        "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n")
    run("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-out", "site.pem", "-extfile", "site.ext")
    return directory / "ca.pem", directory / "site.pem", directory / "site.key"


def test_https_checks_the_certificate_for_the_host_name_over_the_checked_address(monkeypatch, tmp_path):
    ca, certificate, key = make_certificates(tmp_path)
    server_names = []
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificate, key)
    server_context.sni_callback = lambda sock, name, context: server_names.append(name)
    tls_site = Site()
    tls_site.scheme = "https"
    server = serve(tls_site, wrap=lambda sock: server_context.wrap_socket(sock, server_side=True))
    try:
        monkeypatch.setattr(crawler, "_tls_context", lambda: ssl.create_default_context(cafile=str(ca)))
        fake_dns(monkeypatch, {"site.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        result = url_fetch(tls_site.url("/page.html", host="site.test"), limits=LIMITS, allowed=["127.0.0.1"])
        assert result.body == PAGE and server_names == ["site.test"]
        assert tls_site.hosts == [f"site.test:{tls_site.port}"]
        with pytest.raises(CrawlFailed, match=r"^tls: the certificate is not valid for other\.test \(Hostname "
                                              r"mismatch"):
            url_fetch(tls_site.url("/page.html", host="other.test"), limits=LIMITS, allowed=["127.0.0.1"])
        # Without the test CA, the system's trust store does not know the certificate.
        monkeypatch.setattr(crawler, "_tls_context", ssl.create_default_context)
        with pytest.raises(CrawlFailed, match=r"^tls: the certificate is not valid for site\.test"):
            url_fetch(tls_site.url("/page.html", host="site.test"), limits=LIMITS, allowed=["127.0.0.1"])
        assert tls_site.asked("/page.html") == 1  # no request went out over an unverified connection
    finally:
        server.shutdown()
        server.server_close()


# --- Crawling: states, content hash, stale marking, failures ------------------------------------------------------

@pytest.mark.django_db
def test_a_pending_resource_is_crawled_to_completed(site):
    row = resource(site.url("/page.html"), title="Rust — official website", description=None)
    assert row.crawl_status == CrawlStatus.PENDING
    before = timezone.now()
    report, outcomes = crawl()
    row = fresh(row)
    assert (report.completed, report.unchanged, report.failed, report.marked_stale) == (1, 0, 0, 0)
    assert row.crawl_status == CrawlStatus.COMPLETED
    assert (row.title, row.description) == ("The Rust Programming Language", "A language empowering everyone.")
    assert row.content_hash == hashlib.sha256(PAGE).hexdigest()
    assert before <= row.last_crawled <= timezone.now()
    assert (row.crawl_failures, row.crawl_error, row.next_crawl_at) == (0, None, None)
    assert [outcome.line() for outcome in outcomes] == [
        f"#{row.pk} {row.url}: completed, “The Rust Programming Language”"]
    assert queued(row)  # the trigger queued its new title for an embedding
    assert site.hosts == [f"127.0.0.1:{site.port}"]
    assert crawl()[0].crawled == 0  # completed and fresh: nothing is due


@pytest.mark.django_db
def test_an_unchanged_content_hash_rewrites_nothing_and_queues_no_embedding(site):
    row = resource(site.url("/changing.html"))
    crawl()
    ExternalResource.objects.filter(pk=row.pk).update(title="A curator's title")
    embedding_queue_drain()
    embedded = fresh(row)
    assert embedded.embedding is not None and not queued(row)
    first_hash = embedded.content_hash

    ExternalResource.objects.filter(pk=row.pk).update(last_crawled=timezone.now() - timedelta(days=31))
    report, outcomes = crawl()
    again = fresh(row)
    assert (report.marked_stale, report.unchanged, report.completed) == (1, 1, 0)
    assert outcomes[0].line() == f"#{row.pk} {row.url}: unchanged (same content hash)"
    assert again.crawl_status == CrawlStatus.COMPLETED and again.last_crawled > embedded.last_crawled
    assert (again.title, again.content_hash) == ("A curator's title", first_hash)
    assert list(again.embedding) == list(embedded.embedding) and not queued(row)

    site.changing = b"<html><head><title>Version 2</title><meta name=description content=New></head></html>"
    ExternalResource.objects.filter(pk=row.pk).update(crawl_status=CrawlStatus.STALE)
    report, _ = crawl()
    changed = fresh(row)
    assert report.completed == 1
    assert (changed.title, changed.description) == ("Version 2", "New")
    assert changed.content_hash == hashlib.sha256(site.changing).hexdigest() != first_hash
    assert queued(row)
    embedding_queue_drain()
    assert list(fresh(row).embedding) != list(embedded.embedding)


@pytest.mark.django_db
def test_completed_resources_become_stale_after_the_configured_age(site):
    now = timezone.now()
    recent = resource(site.url("/n/1"), crawl_status=CrawlStatus.COMPLETED, last_crawled=now - timedelta(days=29))
    old = resource(site.url("/n/2"), crawl_status=CrawlStatus.COMPLETED, last_crawled=now - timedelta(days=31))
    undated = resource(site.url("/n/3"), crawl_status=CrawlStatus.COMPLETED, last_crawled=None)
    failed = resource(site.url("/n/4"), crawl_status=CrawlStatus.FAILED, last_crawled=now - timedelta(days=90),
                      next_crawl_at=now + timedelta(hours=1))
    assert resources_mark_stale() == 2
    statuses = dict(ExternalResource.objects.values_list("pk", "crawl_status"))
    assert statuses == {recent.pk: "completed", old.pk: "stale", undated.pk: "stale", failed.pk: "failed"}
    parameter("crawl_stale_after_days", 7)
    assert resources_mark_stale() == 1
    assert fresh(recent).crawl_status == CrawlStatus.STALE
    report, _ = crawl()
    assert (report.completed, report.crawled) == (3, 3)  # the failed one waits for its back-off
    assert fresh(failed).crawl_status == CrawlStatus.FAILED and site.asked("/n/4") == 0


@pytest.mark.django_db
def test_a_failure_records_why_backs_off_and_is_not_retried_before_due(site):
    row = resource(site.url("/gone"))
    report, outcomes = crawl()
    row = fresh(row)
    assert report.failed == 1
    assert (row.crawl_status, row.crawl_error, row.crawl_failures) == (CrawlStatus.FAILED, "HTTP 410 Gone", 1)
    assert row.last_crawled is None and row.content_hash is None
    assert timedelta(minutes=14) < row.next_crawl_at - timezone.now() <= timedelta(minutes=15)
    assert outcomes[0].line() == (f"#{row.pk} {row.url}: failed, HTTP 410 Gone; failure 1 in a row, next try after "
                                  f"{row.next_crawl_at:%Y-%m-%d %H:%M} UTC")
    assert crawl()[0].crawled == 0 and site.asked("/gone") == 1  # not before its next_crawl_at

    ExternalResource.objects.filter(pk=row.pk).update(next_crawl_at=timezone.now() - timedelta(seconds=1))
    crawl()
    row = fresh(row)
    assert (row.crawl_failures, site.asked("/gone")) == (2, 2)
    assert timedelta(minutes=29) < row.next_crawl_at - timezone.now() <= timedelta(minutes=30)

    # Once it succeeds, the failure record is cleared.
    ExternalResource.objects.filter(pk=row.pk).update(url=site.url("/page.html"), next_crawl_at=None)
    crawl()
    row = fresh(row)
    assert (row.crawl_status, row.crawl_failures, row.crawl_error, row.next_crawl_at) == (
        CrawlStatus.COMPLETED, 0, None, None)


@pytest.mark.django_db
def test_a_completed_resource_that_fails_keeps_what_it_had(site):
    row = resource(site.url("/changing.html"))
    crawl()
    kept = fresh(row)
    ExternalResource.objects.filter(pk=row.pk).update(url=site.url("/missing"), crawl_status=CrawlStatus.STALE)
    crawl()
    row = fresh(row)
    assert (row.crawl_status, row.crawl_error) == (CrawlStatus.FAILED, "HTTP 404 Not Found")
    assert (row.title, row.content_hash, row.last_crawled) == (kept.title, kept.content_hash, kept.last_crawled)


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "error"), [
    ("/missing", "HTTP 404 Not Found"),
    ("/no-location", "HTTP 302 without a Location"),
    ("/hang-up", "bad response: the server closed the connection without answering"),
    ("/redirect?to=ftp://8.8.8.8/file", "unsupported scheme ftp: only http and https are crawled"),
    ("/redirect?to=http://10.0.0.1/admin", "refused: 10.0.0.1 is a private address"),
    ("/redirect?to=http://169.254.169.254/latest/meta-data/&status=307",
     "refused: 169.254.169.254 is a cloud metadata address"),
    ("/redirect?to=http://[::1]/&status=308", "refused: ::1 is a loopback address"),
    ("/redirect?to=http://[fd00:ec2::254]/", "refused: fd00:ec2::254 is a cloud metadata address"),
    ("/redirect?to=http://user:pw@127.0.0.1/page.html", "refused: a user name or password in the URL"),
    ("/loop-a", "redirect loop: http://127.0.0.1:{port}/loop-a again"),
    ("/chain/5", "too many redirects (5)"),  # /chain/N takes N + 1 redirects
])
def test_failures_and_refused_redirects(site, path, error):
    row = resource(site.url(path))
    crawl()
    row = fresh(row)
    assert (row.crawl_status, row.crawl_error) == (CrawlStatus.FAILED, error.format(port=site.port))


@pytest.mark.django_db
def test_a_redirect_to_a_loopback_address_not_allow_listed_is_refused(site):
    # 127.0.0.1 is allowed, 127.0.0.2 (the same machine) is not: the redirect's target is checked, not trusted.
    row = resource(site.url("/redirect?to=" + site.url("/page.html", host="127.0.0.2")))
    crawl()
    assert fresh(row).crawl_error == "refused: 127.0.0.2 is a loopback address"
    assert site.requests == ["/redirect"]


@pytest.mark.django_db
def test_without_the_allow_list_the_local_server_is_never_asked(site, settings):
    settings.KGSITE_CRAWL_ALLOWED_NETWORKS = []
    page = resource(site.url("/page.html"))
    named = resource(f"http://localhost:{site.port}/page.html")
    crawl()
    assert fresh(page).crawl_error == "refused: 127.0.0.1 is a loopback address"
    assert re.fullmatch(r"refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address",
                        fresh(named).crawl_error)
    assert site.requests == []


@pytest.mark.django_db
def test_redirects_within_the_limit_are_followed(site):
    relative = resource(site.url("/redirect?to=/og.html"))
    chain = resource(site.url("/chain/4"))  # 5 redirects: the limit
    crawl()
    assert fresh(relative).title == "Only & Open Graph"
    assert fresh(chain).content_hash == hashlib.sha256(PAGE).hexdigest()
    parameter("crawl_max_redirects", 0)
    none_allowed = resource(site.url("/chain/0"))
    crawl()
    assert fresh(none_allowed).crawl_error == "too many redirects (0)"


@pytest.mark.django_db
def test_the_size_cap(site):
    parameter("crawl_max_kb", 16)
    exact = resource(site.url("/exactly-16k"))
    announced = resource(site.url("/large"))
    unannounced = resource(site.url("/large-unsized"))
    crawl()
    assert fresh(exact).crawl_status == CrawlStatus.COMPLETED
    assert fresh(announced).crawl_error == "too large: more than 16 KB"
    assert fresh(unannounced).crawl_error == "too large: more than 16 KB"


@pytest.mark.django_db
def test_timeouts_per_read_and_in_all(site):
    parameter("crawl_timeout_seconds", 1)
    slow = resource(site.url("/slow"))
    drip = resource(site.url("/drip"))
    started = time.monotonic()
    crawl()
    assert time.monotonic() - started < 6  # 1 s for the slow one, 3 s (3 × the timeout) for the drip
    assert fresh(slow).crawl_error == "timeout after 1 s"
    assert fresh(drip).crawl_error == "timeout after 3 s in all"


@pytest.mark.django_db
def test_plain_text_binary_and_charsets(site):
    notes = resource(site.url("/notes.txt"), description="Kept")
    binary = resource(site.url("/data.bin"), title="Curated", description="Curated too")
    latin1 = resource(site.url("/latin1.html"))
    untyped = resource(site.url("/untyped"))
    crawl()
    assert (fresh(notes).title, fresh(notes).description) == ("First line of the notes", "Kept")
    binary = fresh(binary)
    assert (binary.title, binary.description, binary.crawl_status) == ("Curated", "Curated too", "completed")
    assert binary.content_hash == hashlib.sha256(BINARY).hexdigest()
    assert fresh(latin1).title == "Café crème"
    assert fresh(untyped).title == "The Rust Programming Language"


@pytest.mark.django_db
def test_an_interrupted_crawl_is_claimed_again_once_its_lease_is_over(site):
    now = timezone.now()
    leased = resource(site.url("/n/1"), crawl_status=CrawlStatus.CRAWLING, next_crawl_at=now + timedelta(minutes=5))
    expired = resource(site.url("/n/2"), crawl_status=CrawlStatus.CRAWLING, next_crawl_at=now - timedelta(minutes=1))
    unleased = resource(site.url("/n/3"), crawl_status=CrawlStatus.CRAWLING, next_crawl_at=None)
    report, _ = crawl()
    assert report.completed == 2
    assert fresh(leased).crawl_status == CrawlStatus.CRAWLING and site.asked("/n/1") == 0
    assert fresh(expired).crawl_status == fresh(unleased).crawl_status == CrawlStatus.COMPLETED


@pytest.mark.django_db
def test_a_claim_is_a_lease_in_next_crawl_at(site, monkeypatch):
    row = resource(site.url("/page.html"))
    seen = {}
    real_fetch = crawler.url_fetch

    def fetch(url, **kwargs):
        seen["row"] = fresh(row)
        return real_fetch(url, **kwargs)

    monkeypatch.setattr(crawler, "url_fetch", fetch)
    before = timezone.now()
    crawl()
    assert seen["row"].crawl_status == CrawlStatus.CRAWLING
    assert before + crawler.LEASE <= seen["row"].next_crawl_at <= timezone.now() + crawler.LEASE


@pytest.mark.django_db
def test_stale_only_leaves_never_crawled_resources_waiting(site):
    now = timezone.now()
    pending = resource(site.url("/n/1"))
    stale = resource(site.url("/n/2"), crawl_status=CrawlStatus.STALE, last_crawled=now - timedelta(days=40))
    due = resource(site.url("/n/3"), crawl_status=CrawlStatus.FAILED, crawl_failures=2,
                   next_crawl_at=now - timedelta(minutes=1))
    report, _ = crawl(stale_only=True)
    assert report.completed == 2 and report.line().startswith("Crawled 2 resources (stale only) in ")
    assert fresh(pending).crawl_status == CrawlStatus.PENDING
    assert fresh(stale).crawl_status == fresh(due).crawl_status == CrawlStatus.COMPLETED
    assert crawl(stale_only=True)[0].line() == "Nothing to crawl (stale only); 0 marked stale."


@pytest.mark.django_db
def test_new_resources_come_first_and_the_limit_holds(site):
    stale = resource(site.url("/n/1"), crawl_status=CrawlStatus.STALE, last_crawled=timezone.now())
    pending = [resource(site.url(f"/n/{i}")) for i in (2, 3)]
    report, outcomes = crawl(limit=2)
    assert report.crawled == 2 and [o.resource_id for o in outcomes] == [p.pk for p in pending]
    assert fresh(stale).crawl_status == CrawlStatus.STALE


@pytest.mark.django_db
def test_a_result_for_a_resource_edited_or_deleted_meanwhile_is_discarded(site, monkeypatch):
    deleted = resource(site.url("/n/1"))
    edited = resource(site.url("/n/2"))
    real_fetch = crawler.url_fetch

    def fetch(url, **kwargs):
        if url == deleted.url:
            ExternalResource.objects.filter(pk=deleted.pk).delete()
        elif url == edited.url:
            ExternalResource.objects.filter(pk=edited.pk).update(url=site.url("/n/9"))
        return real_fetch(url, **kwargs)

    monkeypatch.setattr(crawler, "url_fetch", fetch)
    report, outcomes = crawl(limit=2)
    assert report.discarded == 2 and report.line().endswith("0 completed, 0 unchanged, 0 failed, 2 discarded; "
                                                            "0 marked stale.")
    assert [(o.resource_id, o.detail) for o in outcomes] == [
        (deleted.pk, "deleted, or taken over by another crawler after its lease ran out"),
        (edited.pk, "its URL changed while it was fetched; it is pending again")]
    edited = fresh(edited)
    assert (edited.crawl_status, edited.content_hash, edited.next_crawl_at) == (CrawlStatus.PENDING, None, None)


@pytest.mark.django_db
def test_a_bug_on_one_page_is_logged_recorded_and_the_batch_goes_on(site, monkeypatch, caplog):
    first, second = resource(site.url("/n/1")), resource(site.url("/n/2"))
    real_summary = crawler.page_summary

    def summary(result):
        if result.url == first.url:
            raise RuntimeError("boom")
        return real_summary(result)

    monkeypatch.setattr(crawler, "page_summary", summary)
    report, _ = crawl()
    assert (report.failed, report.completed) == (1, 1)
    assert fresh(first).crawl_error == "error: RuntimeError: boom"
    assert fresh(second).title == "Page 2"
    assert "crawling resource" in caplog.text


@transactional
def test_two_crawlers_at_once_never_fetch_one_resource_twice(site):
    rows = [resource(site.url(f"/n/{i}")) for i in range(16)]
    reports, errors = [], []

    def crawler_thread():
        try:
            reports.append(resources_crawl(limit=100))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=crawler_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(site.requests) == sorted(f"/n/{i}" for i in range(16))  # each once
    assert sum(report.completed for report in reports) == 16
    assert all(report.completed for report in reports), "both crawlers took part"
    assert set(ExternalResource.objects.filter(pk__in=[r.pk for r in rows]).values_list("crawl_status", flat=True)) \
        == {CrawlStatus.COMPLETED}


# --- The command and the worker ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_command_prints_a_line_per_resource_at_verbosity_2_and_a_summary(site):
    first = resource(site.url("/page.html"))
    second = resource(site.url("/missing"))
    resource(site.url("/n/1"))
    out = StringIO()
    call_command("crawl_resources", "--limit", "2", verbosity=2, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"#{first.pk} {first.url}: completed, “The Rust Programming Language”"
    assert lines[1].startswith(f"#{second.pk} {second.url}: failed, HTTP 404 Not Found; failure 1 in a row, next "
                               "try after ")
    assert lines[2].startswith("Crawled 2 resources in ") and lines[2].endswith(
        ": 1 completed, 0 unchanged, 1 failed; 0 marked stale.")
    assert len(lines) == 3
    out = StringIO()
    call_command("crawl_resources", "--stale-only", stdout=out)
    assert out.getvalue() == "Nothing to crawl (stale only); 0 marked stale.\n"
    out = StringIO()
    call_command("crawl_resources", stdout=out)
    assert out.getvalue().startswith("Crawled 1 resource in ")


@pytest.mark.django_db
def test_the_default_limit_is_crawl_batch_size(site):
    for i in range(3):
        resource(site.url(f"/n/{i}"))
    parameter("crawl_batch_size", 2)
    out = StringIO()
    call_command("crawl_resources", stdout=out)
    assert out.getvalue().startswith("Crawled 2 resources in ")


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "message"), [
    (["--limit", "0"], "0 is out of range: from 1 to 100,000"),
    (["--limit", "100001"], "100001 is out of range: from 1 to 100,000"),
    (["--limit", "ten"], "'ten' is not a whole number"),
    (["--limit", "\u0663"], "is not a whole number"),
    (["--limit"], "expected one argument"),
    (["--stale-only", "extra"], "unrecognized arguments: extra"),
])
def test_bad_arguments(args, message):
    with pytest.raises(CommandError) as refused:
        call_command("crawl_resources", *args, stdout=StringIO())
    assert "RG-CMD-001" in str(refused.value) and message in str(refused.value), str(refused.value)


def crawl_job():
    (job,) = [job for job in maintenance.JOBS if job.name == "crawl_resources"]
    return job


@pytest.mark.django_db
def test_the_worker_crawls_every_crawl_interval_minutes(site):
    job = crawl_job()
    assert job.due(None)
    recent = MaintenanceRun(job=job.name, last_started_at=timezone.now() - timedelta(minutes=50))
    assert not job.due(recent)
    assert job.due(MaintenanceRun(job=job.name, last_started_at=timezone.now() - timedelta(minutes=61)))
    parameter("crawl_interval_minutes", 30)
    assert job.due(recent)

    row = resource(site.url("/page.html"))
    outcome = maintenance.maintenance_job_run(job, worker="worker-1:42")
    assert outcome.ran and outcome.succeeded, outcome
    assert outcome.result.startswith("Crawled 1 resource in ")
    assert fresh(row).crawl_status == CrawlStatus.COMPLETED
    assert not job.due(MaintenanceRun.objects.get(job="crawl_resources"))


@pytest.mark.django_db
def test_the_worker_claims_no_more_once_its_time_is_up(site, monkeypatch):
    for i in range(3):
        resource(site.url(f"/n/{i}"))
    monkeypatch.setattr(maintenance, "CRAWL_JOB_SECONDS", 0)
    outcome = maintenance.maintenance_job_run(crawl_job(), worker="worker-1:42")
    assert outcome.succeeded and outcome.result.startswith("Nothing to crawl; 0 marked stale.")


@pytest.mark.django_db
def test_a_job_whose_parameter_is_missing_waits_and_the_worker_carries_on(caplog):
    MaintenanceRun.objects.create(job="crawl_resources", last_started_at=timezone.now() - timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM system_config WHERE parameter_name = 'crawl_interval_minutes'")
    config_cache_clear()
    outcome = maintenance.maintenance_job_run(crawl_job(), worker="worker-1:42")
    assert (outcome.ran, outcome.succeeded) == (False, False)
    assert outcome.result == ("cannot tell whether it is due: RG-CFG-001: there is no parameter named "
                              "'crawl_interval_minutes'")
    assert "maintenance job crawl_resources: cannot tell whether it is due" in caplog.text


@pytest.mark.parametrize(("value", "accepted"), [("10.0.0.0/8, 127.0.0.1,fd00::/8", True),
                                                 ("10.0.0.1/8", False), ("intranet", False)])
def test_the_allow_list_setting_is_checked_when_the_settings_load(value, accepted):
    environment = {key: val for key, val in os.environ.items() if key not in {"DATABASE_URL", "KGSITE_MODE"}}
    environment["KGSITE_CRAWL_ALLOWED_NETWORKS"] = value
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'kgsite.settings'; django.setup(); "
            "from django.conf import settings; print(settings.KGSITE_CRAWL_ALLOWED_NETWORKS)")
    result = subprocess.run([sys.executable, "-c", code], env=environment, cwd=BASE_DIR, capture_output=True,
                            text=True, timeout=120, check=False)
    if accepted:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['10.0.0.0/8', '127.0.0.1', 'fd00::/8']"
    else:
        assert result.returncode != 0
        assert f"KGSITE_CRAWL_ALLOWED_NETWORKS: {value!r} is not an address or network" in result.stderr
