"""Crawling external resources (docs/crawling.md): fetch each resource's URL safely, keep its title, description
and content hash current, mark old crawls stale, and back off from failures.

**States** (``crawl_status``): ``pending`` (never crawled) and ``stale`` (crawled more than
``crawl_stale_after_days`` ago) are due; a crawler claims one, makes it ``crawling`` with ``next_crawl_at`` as its
lease (``LEASE``: a crawler killed meanwhile leaves it claimable again once the lease ends), fetches it outside any
transaction and writes ``completed`` or ``failed`` (``crawl_error``, ``crawl_failures`` + 1 and ``next_crawl_at`` =
now + ``crawl_retry_base_minutes × 2^(failures − 1)``, at most 7 days). A failed resource is due again at its
``next_crawl_at``. A claim is one short transaction (``FOR UPDATE SKIP LOCKED``), so two crawlers never fetch the
same resource; each outcome is another, and it is written only while the claim is still the crawler's own.

**Content hash.** ``content_hash`` is the SHA-256 of the body. When it is unchanged the crawl only records the
time: title and description are not rewritten, so the embedding triggers (graph/sql/embeddings.sql) queue
nothing. When it changed, the title and description the page gives replace the stored ones (a value the page
does not give is kept) and the triggers queue the resource for the worker's embedding.

**Safety.** Only http and https, no user name or password in the URL, a host required. Every address the host
resolves to (IPv4 and IPv6) must be a public internet address: loopback, private, link-local, multicast,
reserved, unspecified, shared (100.64/10) and cloud metadata addresses are refused, IPv4 addresses inside IPv6
ones (IPv4-mapped, 6to4, Teredo, NAT64) are judged as the IPv4 address, unless ``KGSITE_CRAWL_ALLOWED_NETWORKS``
(a Django setting, so that editing the configuration cannot open the internal network) lists the address; a
metadata address only when listed by itself. The connection goes to the checked address (never to what the name
resolves to a moment later: DNS rebinding), with the host name in ``Host`` and, for https, in SNI and the
certificate check. Redirects are followed by hand, at most ``crawl_max_redirects``, each target checked again. A
connect or read waits at most ``crawl_timeout_seconds``, the whole fetch at most ``DEADLINE_FACTOR`` times that;
the body is read up to ``crawl_max_kb``; only 2xx succeeds. No proxy from the environment is used.
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import quote, urldefrag, urljoin, urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from config_admin.selectors import config_get
from graph.choices import CrawlStatus
from graph.models import ExternalResource

logger = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

USER_AGENT = "kgsite-crawler/1.0"
LEASE = timedelta(minutes=10)  # longer than the longest fetch (DEADLINE_FACTOR × 120 s, the timeout's maximum)
DEADLINE_FACTOR = 3  # a whole fetch, redirects included, takes at most this many crawl_timeout_seconds
BACKOFF_CAP = timedelta(days=7)
TITLE_MAX_LENGTH = 500
DESCRIPTION_MAX_LENGTH = 2000
ERROR_MAX_LENGTH = 1000
HEAD_SCAN_BYTES = 512 * 1024  # the part of an HTML page parsed for its title and description
TEXT_SCAN_BYTES = 64 * 1024  # the part of a plain-text file searched for its first line
READ_CHUNK = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
STALE_LOCK = "kgsite.crawler.mark_stale"

# Cloud instance metadata services: credentials live there. Refused even inside an allow-listed network, unless
# the allow-list names the address by itself.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(address) for address in (
    "169.254.169.254",  # AWS, Google Cloud, Azure, Oracle, DigitalOcean, OpenStack
    "169.254.170.2",  # AWS ECS task metadata
    "169.254.170.23",  # AWS EKS pod identity
    "169.254.0.23",  # Tencent Cloud
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",  # AWS over IPv6
    "fd00:ec2::23",  # AWS EKS pod identity over IPv6
))
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
_KINDS = (  # checked in this order: 127.0.0.1 is private too, but "loopback" says more
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_private", "a private address"),
    ("is_reserved", "a reserved address"),
)


class CrawlFailed(Exception):
    """Why one resource could not be crawled, as stored in ``crawl_error`` (a short stable token first:
    ``refused:``, ``dns:``, ``timeout``, ``HTTP 404``, ``too large:``, ...). Not a DomainError: nobody is refused
    anything, the resource records it and backs off."""


# --- The address guard ------------------------------------------------------------------------------------------

def allowed_networks(entries: Sequence[str | Network] | None = None) -> tuple[Network, ...]:
    """``KGSITE_CRAWL_ALLOWED_NETWORKS`` (or ``entries``) as networks; a bare address is a network of one."""
    entries = settings.KGSITE_CRAWL_ALLOWED_NETWORKS if entries is None else entries
    return tuple(entry if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network)
                 else ipaddress.ip_network(str(entry).strip()) for entry in entries)


def _allowed(address: Address, allowed: Sequence[Network]) -> bool:
    for network in allowed:
        if address.version == network.version and address in network:
            if address in METADATA_ADDRESSES and network.num_addresses != 1:
                continue
            return True
    return False


def _kind(address: Address) -> str | None:
    """What makes ``address`` something other than a public internet address, or None."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for flag, kind in _KINDS:
        if getattr(address, flag):
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if not address.is_global:  # 100.64.0.0/10 (carrier-grade NAT) and the like
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through a translation or tunnel (6to4, Teredo, NAT64)."""
    embedded = []
    if address.sixtofour:
        embedded.append(address.sixtofour)
    if address.teredo:
        embedded.extend(address.teredo)
    if address in NAT64_PREFIX:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return embedded


def _refusal(address: Address, allowed: Sequence[Network]) -> tuple[str, str] | None:
    """(the address as shown, what it is) when the crawler must not connect to it, else None."""
    shown = str(address)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        # The same host as the IPv4 address: judged (and allow-listed) as it.
        address = address.ipv4_mapped
        shown = f"::ffff:{address}"
    if _allowed(address, allowed):
        return None
    kind = _kind(address)
    if kind:
        return shown, kind
    if isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(address):
            inner_kind = None if _allowed(inner, allowed) else _kind(inner)
            if inner_kind:
                return shown, f"an address that leads to {inner}, {inner_kind}"
    return None


def address_refusal(address: str | Address, *, allowed: Sequence[str | Network] = ()) -> str | None:
    """Why the crawler must not connect to ``address`` ("127.0.0.1 is a loopback address"), or None."""
    if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        address = ipaddress.ip_address(address)
    refusal = _refusal(address, allowed_networks(allowed))
    return f"{refusal[0]} is {refusal[1]}" if refusal else None


@dataclass(frozen=True)
class Target:
    """A URL the guard has let through: where to connect and what to ask for."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) and lower case: the Host header, SNI and the name the certificate must carry
    port: int
    request_path: str
    addresses: tuple[Address, ...]  # every address the host resolved to, all of them checked


def _ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int, timeout: float) -> tuple[Address, ...]:
    """Every IPv4 and IPv6 address of ``host``. getaddrinfo cannot be interrupted, so it runs in a daemon thread
    that is left behind when it takes longer than ``timeout``."""
    result: dict = {}

    def lookup():
        try:
            result["infos"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            result["error"] = exc

    thread = threading.Thread(target=lookup, name="crawler-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise CrawlFailed(f"dns: {host} did not resolve within {timeout:g} s")
    if "error" in result:
        error = result["error"]
        raise CrawlFailed(f"dns: {host} does not resolve ({getattr(error, 'strerror', None) or error})")
    addresses: list[Address] = []
    for family, _type, _proto, _name, sockaddr in result["infos"]:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        raise CrawlFailed(f"dns: {host} has no IPv4 or IPv6 address")
    return tuple(addresses)


_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?[]"


def url_target(url: str, *, allowed: Sequence[str | Network] | None = None, resolve_timeout: float = 10.0) -> Target:
    """Check ``url`` (scheme, host, every address it resolves to) and say where to connect; ``CrawlFailed``
    naming the reason otherwise. ``allowed``: the allow-list (default ``KGSITE_CRAWL_ALLOWED_NETWORKS``)."""
    networks = allowed_networks(allowed)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise CrawlFailed(f"bad URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise CrawlFailed(f"unsupported scheme {scheme or '(none)'}: only http and https are crawled")
    if "@" in parts.netloc:
        raise CrawlFailed("refused: a user name or password in the URL")
    host = parts.hostname or ""
    if not host:
        raise CrawlFailed("bad URL: no host")
    if port == 0:
        raise CrawlFailed("bad URL: port 0")
    port = port or (443 if scheme == "https" else 80)
    literal = _ip_literal(host)
    if literal is None:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise CrawlFailed(f"bad URL: {host!r} is not a valid host name") from None
        addresses = _resolve(host, port, resolve_timeout)
    else:
        addresses = (literal,)
    for address in addresses:
        refusal = _refusal(address, networks)
        if refusal:
            shown, kind = refusal
            if literal is not None:
                raise CrawlFailed(f"refused: {shown} is {kind}")
            raise CrawlFailed(f"refused: {host} resolves to {shown}, {kind}")
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return Target(url=url, scheme=scheme, host=host, port=port, request_path=path, addresses=addresses)


# --- Fetching ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CrawlLimits:
    timeout: float  # seconds per connect and per read
    max_bytes: int
    max_redirects: int

    @property
    def deadline(self) -> float:
        return DEADLINE_FACTOR * self.timeout

    @classmethod
    def configured(cls) -> CrawlLimits:
        return cls(timeout=float(config_get("crawl_timeout_seconds")),
                   max_bytes=int(config_get("crawl_max_kb")) * 1024,
                   max_redirects=int(config_get("crawl_max_redirects")))


@dataclass(frozen=True)
class Fetched:
    url: str  # where the body came from, after redirects
    status: int
    content_type: str  # the media type in lower case; "" when the server sent none
    charset: str | None
    body: bytes
    redirects: int

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def _tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's trust store, for the URL's host name (tests trust their own)."""
    return ssl.create_default_context()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address the guard checked, never to what the host name resolves to by then."""

    def __init__(self, host: str, port: int, *, address: Address, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    pinned_socket: socket.socket | None = None  # kept: http.client drops ``sock`` once the response owns it

    def connect(self):
        self.sock = self.pinned_socket = socket.create_connection((str(self.address), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: SNI and the certificate check use the host name, the socket the checked address."""

    def __init__(self, host: str, port: int, *, address: Address, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address

    pinned_socket: socket.socket | None = None

    def connect(self):
        sock = socket.create_connection((str(self.address), self.port), self.timeout)
        self.pinned_socket = sock  # until the handshake is done (the deadline may cut it short)
        try:
            self.sock = self.pinned_socket = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _cut(holder: dict, expired: threading.Event) -> None:
    """The deadline passed: shut the socket down under the reading thread (a server that sends a byte now and then
    would otherwise keep every read within the timeout for ever)."""
    expired.set()
    sock = getattr(holder.get("connection"), "pinned_socket", None)
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


def _printable(text: str, length: int) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "", text)[:length].strip()


def _failure(exc: BaseException, *, target: Target, limits: CrawlLimits, expired: threading.Event) -> CrawlFailed:
    if expired.is_set():
        return CrawlFailed(f"timeout after {limits.deadline:g} s in all")
    if isinstance(exc, TimeoutError):
        return CrawlFailed(f"timeout after {limits.timeout:g} s")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CrawlFailed(f"tls: the certificate is not valid for {target.host} ({exc.verify_message})")
    if isinstance(exc, ssl.SSLError):
        return CrawlFailed(f"tls: {exc.reason or exc}")
    if isinstance(exc, http.client.RemoteDisconnected):
        return CrawlFailed("bad response: the server closed the connection without answering")
    if isinstance(exc, http.client.HTTPException):
        return CrawlFailed(f"bad response: {type(exc).__name__} {_printable(str(exc), 100)}".strip())
    if isinstance(exc, ConnectionRefusedError):
        return CrawlFailed(f"connection refused by {target.host} port {target.port}")
    if isinstance(exc, ConnectionResetError):
        return CrawlFailed("connection reset")
    return CrawlFailed(f"connection failed: {getattr(exc, 'strerror', None) or exc}")


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str | None = None
    content_type: str = ""
    charset: str | None = None
    body: bytes = b""


def _read_body(response: http.client.HTTPResponse, *, limits: CrawlLimits, deadline: float) -> bytes:
    too_large = CrawlFailed(f"too large: more than {limits.max_bytes // 1024} KB")
    length = (response.getheader("Content-Length") or "").strip()
    if length.isascii() and length.isdigit() and int(length) > limits.max_bytes:
        raise too_large  # said so up front: not a byte read
    body = bytearray()
    while len(body) <= limits.max_bytes:
        chunk = response.read(min(READ_CHUNK, limits.max_bytes + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        if time.monotonic() > deadline:
            raise TimeoutError
    if len(body) > limits.max_bytes:
        raise too_large
    return bytes(body)


def _request(target: Target, *, limits: CrawlLimits, deadline: float) -> _Answer:
    """One GET of ``target``, on the first of its checked addresses that accepts the connection."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise CrawlFailed(f"timeout after {limits.deadline:g} s in all")
    expired = threading.Event()
    holder: dict = {}
    timer = threading.Timer(remaining, _cut, args=(holder, expired))
    timer.daemon = True
    timer.start()
    try:
        for index, address in enumerate(target.addresses):
            timeout = min(limits.timeout, max(deadline - time.monotonic(), 0.001))
            if target.scheme == "https":
                conn = _PinnedHTTPSConnection(target.host, target.port, address=address, timeout=timeout,
                                              context=_tls_context())
            else:
                conn = _PinnedHTTPConnection(target.host, target.port, address=address, timeout=timeout)
            holder["connection"] = conn
            try:
                conn.connect()
            except ssl.SSLError:
                conn.close()
                raise
            except OSError:
                conn.close()
                if index == len(target.addresses) - 1 or expired.is_set():
                    raise
                continue  # the host's next address
            try:
                conn.request("GET", target.request_path, headers={
                    "User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Connection": "close",
                    "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"})
                response = conn.getresponse()
                status = response.status
                if status in REDIRECT_STATUSES:
                    return _Answer(status, location=response.getheader("Location"))
                if not 200 <= status < 300:
                    reason = _printable(response.reason or "", 80)
                    raise CrawlFailed(f"HTTP {status}{' ' + reason if reason else ''}")
                body = _read_body(response, limits=limits, deadline=deadline)
                if expired.is_set():  # a read cut short by the deadline looks like the end of the body
                    raise TimeoutError
                content_type = response.getheader("Content-Type")
                return _Answer(status, content_type=response.headers.get_content_type() if content_type else "",
                               charset=response.headers.get_content_charset(), body=body)
            finally:
                conn.close()
        raise CrawlFailed("connection failed: the host has no address")  # not reached: url_target gives one
    except CrawlFailed:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise _failure(exc, target=target, limits=limits, expired=expired) from None
    finally:
        timer.cancel()


def url_fetch(url: str, *, limits: CrawlLimits | None = None,
              allowed: Sequence[str | Network] | None = None) -> Fetched:
    """GET ``url`` within the safety rules (module docstring), following redirects by hand; ``CrawlFailed`` says
    why not."""
    limits = limits or CrawlLimits.configured()
    networks = allowed_networks(allowed)
    deadline = time.monotonic() + limits.deadline
    current, seen = url, {urldefrag(url.strip())[0]}
    for redirects in range(limits.max_redirects + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CrawlFailed(f"timeout after {limits.deadline:g} s in all")
        target = url_target(current, allowed=networks, resolve_timeout=min(limits.timeout, remaining))
        answer = _request(target, limits=limits, deadline=deadline)
        if answer.status not in REDIRECT_STATUSES:
            return Fetched(url=current, status=answer.status, content_type=answer.content_type,
                           charset=answer.charset, body=answer.body, redirects=redirects)
        if not (answer.location or "").strip():
            raise CrawlFailed(f"HTTP {answer.status} without a Location")
        current = urldefrag(urljoin(current, answer.location.strip()))[0]
        if current in seen:
            raise CrawlFailed(f"redirect loop: {_printable(current, 300)} again")
        seen.add(current)
    raise CrawlFailed(f"too many redirects ({limits.max_redirects})")


# --- What a page says about itself ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PageSummary:
    title: str | None  # None: the page gives none, the stored one is kept
    description: str | None


class _HeadParser(HTMLParser):
    """The title and the description meta tags of an HTML page's head."""

    META = ("description", "og:title", "og:description", "twitter:title", "twitter:description")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.meta: dict[str, str] = {}
        self.in_title = self.title_done = self.done = False

    def handle_starttag(self, tag, attrs):
        if self.done:
            return
        if tag == "title" and not self.title_done:
            self.in_title = True
        elif tag == "meta":
            attributes = {name.lower(): value or "" for name, value in attrs}
            key = (attributes.get("name") or attributes.get("property") or "").strip().lower()
            if key in self.META and "content" in attributes:
                self.meta.setdefault(key, attributes["content"])
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag):
        if tag == "title" and self.in_title:
            self.in_title, self.title_done = False, True
        elif tag == "head":
            self.done = True

    def handle_data(self, data):
        if self.in_title:
            self.title.append(data)


def _tidy(text: str | None, length: int) -> str | None:
    """One line of printable text, at most ``length`` characters (an ellipsis when cut); None when empty."""
    text = re.sub(r"[\x00-\x1f\x7f]", "", " ".join((text or "").split()))
    if len(text) > length:
        text = text[:length - 1].rstrip() + "…"
    return text or None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


def _decode(body: bytes, *, charset: str | None, html: bool) -> str:
    """The text of ``body``: a byte-order mark, the Content-Type charset, an HTML meta charset, else UTF-8; bytes
    that do not decode become U+FFFD."""
    candidates = []
    if body.startswith(codecs.BOM_UTF8):
        candidates.append("utf-8-sig")
    elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.append("utf-16")
    if charset:
        candidates.append(charset)
    if html:
        match = _META_CHARSET.search(body[:2048])
        if match:
            candidates.append(match.group(1).decode("ascii"))
    for encoding in [*candidates, "utf-8"]:
        try:
            return body.decode(encoding, errors="replace")
        except LookupError:  # an unknown name, or not a text encoding (base64, rot13)
            continue
    return body.decode("utf-8", errors="replace")  # pragma: no cover


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def page_summary(fetched: Fetched) -> PageSummary:
    """Title and description: from an HTML page's ``<title>`` and ``<meta name="description">`` (``og:`` and
    ``twitter:`` tags when those are missing); a plain-text file's first line as its title; nothing from other
    types (the stored values are kept; the content hash still tells a change)."""
    media = fetched.content_type
    if media in HTML_TYPES or (not media and _looks_like_html(fetched.body)):
        text = _decode(fetched.body[:HEAD_SCAN_BYTES], charset=fetched.charset, html=True)
        parser = _HeadParser()
        try:
            for start in range(0, len(text), READ_CHUNK):
                parser.feed(text[start:start + READ_CHUNK])
                if parser.done:
                    break
            parser.close()
        except (AssertionError, ValueError):  # markup the parser gives up on: keep what it found
            pass
        meta = parser.meta
        title = _tidy("".join(parser.title), TITLE_MAX_LENGTH) or _tidy(
            meta.get("og:title") or meta.get("twitter:title"), TITLE_MAX_LENGTH)
        description = _tidy(meta.get("description"), DESCRIPTION_MAX_LENGTH) or _tidy(
            meta.get("og:description") or meta.get("twitter:description"), DESCRIPTION_MAX_LENGTH)
        return PageSummary(title, description)
    if media == "text/plain":
        text = _decode(fetched.body[:TEXT_SCAN_BYTES], charset=fetched.charset, html=False)
        first = next((line for line in text.splitlines() if line.strip()), "")
        return PageSummary(_tidy(first, TITLE_MAX_LENGTH), None)
    return PageSummary(None, None)


# --- Crawling the table -----------------------------------------------------------------------------------------

def crawl_backoff(failures: int, *, base_minutes: int) -> timedelta:
    """``base_minutes × 2^(failures − 1)``, at most ``BACKOFF_CAP`` (7 days)."""
    exponent = min(max(failures - 1, 0), 20)  # 2^20 × the smallest base is already past the cap
    return min(timedelta(minutes=base_minutes * 2 ** exponent), BACKOFF_CAP)


def resources_mark_stale(*, now: datetime | None = None) -> int:
    """Make ``stale`` every completed resource crawled more than ``crawl_stale_after_days`` ago (or never dated):
    one UPDATE. Skipped (0) while another crawler is doing the same."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=int(config_get("crawl_stale_after_days")))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [STALE_LOCK])
            if not cursor.fetchone()[0]:
                return 0
        return (ExternalResource.objects.filter(crawl_status=CrawlStatus.COMPLETED)
                .filter(Q(last_crawled__lt=cutoff) | Q(last_crawled__isnull=True))
                .update(crawl_status=CrawlStatus.STALE, updated_at=now))


@dataclass(frozen=True)
class _Claim:
    resource_id: int
    url: str
    lease: datetime  # next_crawl_at while it is ours
    failures: int


def _due_classes(*, stale_only: bool, now: datetime) -> list[tuple[Q, object]]:
    """What a crawler may claim, most deserving first, each with its order: new resources, stale ones (oldest
    crawl first), failed ones whose back-off has passed, crawls whose crawler died (lease over)."""
    due = Q(next_crawl_at__isnull=True) | Q(next_crawl_at__lte=now)
    classes: list[tuple[Q, object]] = [] if stale_only else [
        (Q(crawl_status=CrawlStatus.PENDING) | Q(crawl_status__isnull=True), "resource_id")]
    return classes + [
        (Q(crawl_status=CrawlStatus.STALE), "last_crawled"),  # NULLS LAST: the index on last_crawled serves it
        (Q(crawl_status=CrawlStatus.FAILED) & due, F("next_crawl_at").asc(nulls_first=True)),
        (Q(crawl_status=CrawlStatus.CRAWLING) & due, F("next_crawl_at").asc(nulls_first=True)),
    ]


def _claim(*, stale_only: bool) -> _Claim | None:
    now = timezone.now()
    lease = now + LEASE
    with transaction.atomic():
        for where, order in _due_classes(stale_only=stale_only, now=now):
            row = (ExternalResource.objects.select_for_update(skip_locked=True).filter(where).order_by(order)
                   .values_list("resource_id", "url", "crawl_failures").first())
            if row is not None:
                ExternalResource.objects.filter(pk=row[0]).update(
                    crawl_status=CrawlStatus.CRAWLING, next_crawl_at=lease, updated_at=now)
                return _Claim(resource_id=row[0], url=row[1], lease=lease, failures=row[2] or 0)
    return None


@dataclass(frozen=True)
class CrawlOutcome:
    resource_id: int
    url: str
    result: str  # "completed", "unchanged", "failed" or "discarded"
    detail: str = ""  # the title, why it failed, or why the result was discarded
    failures: int = 0
    retry_at: datetime | None = None

    def line(self) -> str:
        head = f"#{self.resource_id} {self.url}: {self.result}"
        if self.result == "completed":
            return f"{head}, “{self.detail}”" if self.detail else f"{head} (no title)"
        if self.result == "unchanged":
            return f"{head} (same content hash)"
        if self.result == "failed":
            return (f"{head}, {self.detail}; failure {self.failures:,} in a row, next try after "
                    f"{self.retry_at:%Y-%m-%d %H:%M} UTC")
        return f"{head}, {self.detail}"


def _still_ours(claim: _Claim) -> dict | None:
    """The claimed row, locked, if it is still this crawler's claim."""
    return (ExternalResource.objects.select_for_update()
            .filter(pk=claim.resource_id, crawl_status=CrawlStatus.CRAWLING, next_crawl_at=claim.lease)
            .values("url", "content_hash", "title").first())


def _record(claim: _Claim, write: Callable[[dict, datetime], CrawlOutcome]) -> CrawlOutcome:
    now = timezone.now()
    with transaction.atomic():
        current = _still_ours(claim)
        if current is None:
            return CrawlOutcome(claim.resource_id, claim.url, "discarded",
                                "deleted, or taken over by another crawler after its lease ran out")
        if current["url"] != claim.url:  # edited while it was fetched: the result is the old URL's
            ExternalResource.objects.filter(pk=claim.resource_id).update(
                crawl_status=CrawlStatus.PENDING, next_crawl_at=None, updated_at=now)
            return CrawlOutcome(claim.resource_id, claim.url, "discarded",
                                "its URL changed while it was fetched; it is pending again")
        return write(current, now)


def _record_success(claim: _Claim, fetched: Fetched, summary: PageSummary) -> CrawlOutcome:
    digest = fetched.content_hash

    def write(current: dict, now: datetime) -> CrawlOutcome:
        changes = {"crawl_status": CrawlStatus.COMPLETED, "last_crawled": now, "crawl_failures": 0,
                   "crawl_error": None, "next_crawl_at": None, "updated_at": now}
        if current["content_hash"] == digest:  # nothing rewritten, so nothing queued for an embedding
            ExternalResource.objects.filter(pk=claim.resource_id).update(**changes)
            return CrawlOutcome(claim.resource_id, claim.url, "unchanged", current["title"] or "")
        changes["content_hash"] = digest
        if summary.title is not None:
            changes["title"] = summary.title
        if summary.description is not None:
            changes["description"] = summary.description
        ExternalResource.objects.filter(pk=claim.resource_id).update(**changes)
        return CrawlOutcome(claim.resource_id, claim.url, "completed", changes.get("title", current["title"]) or "")

    return _record(claim, write)


def _record_failure(claim: _Claim, reason: str) -> CrawlOutcome:
    failures = claim.failures + 1
    reason = reason[:ERROR_MAX_LENGTH]

    def write(current: dict, now: datetime) -> CrawlOutcome:
        retry_at = now + crawl_backoff(failures, base_minutes=int(config_get("crawl_retry_base_minutes")))
        ExternalResource.objects.filter(pk=claim.resource_id).update(
            crawl_status=CrawlStatus.FAILED, crawl_error=reason, crawl_failures=failures, next_crawl_at=retry_at,
            updated_at=now)
        return CrawlOutcome(claim.resource_id, claim.url, "failed", reason, failures=failures, retry_at=retry_at)

    return _record(claim, write)


def _crawl(claim: _Claim, *, limits: CrawlLimits, allowed: tuple[Network, ...]) -> CrawlOutcome:
    try:
        fetched = url_fetch(claim.url, limits=limits, allowed=allowed)
        summary = page_summary(fetched)
    except CrawlFailed as exc:
        return _record_failure(claim, str(exc))
    except Exception as exc:  # a bug, met on someone else's content: logged, recorded, and the batch goes on
        logger.exception("crawling resource %s (%s) failed", claim.resource_id, claim.url)
        return _record_failure(claim, f"error: {type(exc).__name__}: {exc}")
    return _record_success(claim, fetched, summary)


@dataclass
class CrawlReport:
    stale_only: bool = False
    marked_stale: int = 0
    completed: int = 0  # fetched, and the content (hash) had changed: title and description written
    unchanged: int = 0  # fetched, same content hash: only the time recorded
    failed: int = 0
    discarded: int = 0  # fetched, but the claim was no longer ours (deleted, URL edited, lease over)
    seconds: float = 0.0

    @property
    def crawled(self) -> int:
        return self.completed + self.unchanged + self.failed + self.discarded

    def count(self, outcome: CrawlOutcome) -> None:
        setattr(self, outcome.result, getattr(self, outcome.result) + 1)

    def line(self) -> str:
        stale = f"{self.marked_stale:,} marked stale"
        if not self.crawled:
            return f"Nothing to crawl{' (stale only)' * self.stale_only}; {stale}."
        counts = f"{self.completed:,} completed, {self.unchanged:,} unchanged, {self.failed:,} failed"
        if self.discarded:
            counts += f", {self.discarded:,} discarded"
        return (f"Crawled {self.crawled:,} resource{'s' * (self.crawled != 1)}{' (stale only)' * self.stale_only} "
                f"in {self.seconds:.1f} s: {counts}; {stale}.")


def resources_crawl(*, stale_only: bool = False, limit: int | None = None, seconds: float | None = None,
                    on_resource: Callable[[CrawlOutcome], None] | None = None) -> CrawlReport:
    """Mark old crawls stale, then crawl up to ``limit`` due resources (default ``crawl_batch_size``), one at a
    time: claim (a short transaction), fetch (no transaction), record (another). ``stale_only``: only resources
    crawled before (stale, failed and due, interrupted); never-crawled ones wait. ``seconds``: claim no more once
    this long has passed (the resource in hand is finished). ``on_resource`` is called with each outcome."""
    started = time.perf_counter()
    limit = int(config_get("crawl_batch_size")) if limit is None else limit
    limits = CrawlLimits.configured()
    allowed = allowed_networks()
    report = CrawlReport(stale_only=stale_only, marked_stale=resources_mark_stale())
    while report.crawled < limit and (seconds is None or time.perf_counter() - started < seconds):
        claim = _claim(stale_only=stale_only)
        if claim is None:
            break
        outcome = _crawl(claim, limits=limits, allowed=allowed)
        report.count(outcome)
        if on_resource:
            on_resource(outcome)
    report.seconds = time.perf_counter() - started
    return report
