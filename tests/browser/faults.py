"""What the browser saw go wrong: every browser test fails on it (``tests/browser/conftest.py``).

A ``FaultLog`` watches a Playwright browser context, every page of it:

* a response with a status of 400 or more (a 404 for a stylesheet, a 500 for a page, a 403 nobody expected);
* a request that failed (connection refused, a download the server cut short);
* a message of type ``error`` in the console (a Content-Security-Policy violation is one) and an uncaught
  JavaScript exception.

A test that provokes a refusal on purpose says so first: ``faults.expect(403, "/admin/config_admin/")`` lets
responses with that status whose path starts with that prefix through, once or more (the refusal is what the
test asserts). ``page_problems(page)`` checks what has loaded on a page: every stylesheet applied, every image
decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Net errors that are not faults: a navigation that replaced a page still loading, a download handed to the
# download manager instead of rendered.
_IGNORED_FAILURES = ("net::ERR_ABORTED",)


@dataclass
class FaultLog:
    faults: list[str] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)

    def watch(self, context) -> None:
        context.on("response", self._on_response)
        context.on("requestfailed", self._on_request_failed)
        context.on("console", self._on_console)
        context.on("weberror", self._on_web_error)

    def expect(self, status: int, path_prefix: str) -> None:
        """Responses with ``status`` for paths starting with ``path_prefix`` are what the test asks for."""
        self.expected.append((status, path_prefix))

    def _is_expected(self, status: int, url: str) -> bool:
        path = urlsplit(url).path
        return any(status == wanted and path.startswith(prefix) for wanted, prefix in self.expected)

    def _on_response(self, response) -> None:
        if response.status >= 400 and not self._is_expected(response.status, response.url):
            self.faults.append(f"HTTP {response.status} for {response.request.method} {response.url}")

    def _on_request_failed(self, request) -> None:
        failure = request.failure or ""
        if not any(ignored in failure for ignored in _IGNORED_FAILURES):
            self.faults.append(f"request failed: {request.method} {request.url}: {failure}")

    def _on_console(self, message) -> None:
        if message.type == "error":
            location = message.location or {}
            where = location.get("url") or (message.page.url if message.page else "")
            # A refusal the test expects is also logged by Chromium ("Failed to load resource: ... 403").
            if "Failed to load resource" in message.text and self._expected_load_failure(message.text, where):
                return
            self.faults.append(f"console error on {where}: {message.text}")

    def _expected_load_failure(self, text: str, url: str) -> bool:
        return any(f"status of {status}" in text and urlsplit(url).path.startswith(prefix)
                   for status, prefix in self.expected)

    def _on_web_error(self, web_error) -> None:
        page = web_error.page.url if web_error.page else "a page"
        self.faults.append(f"uncaught JavaScript error on {page}: {web_error.error}")

    def report(self) -> str | None:
        if not self.faults:
            return None
        return "the browser saw faults:\n" + "\n".join(f"  {fault}" for fault in self.faults)


_LOADED_JS = """
() => {
  const problems = [];
  for (const link of document.querySelectorAll('link[rel=stylesheet]')) {
    let rules = null;
    try { rules = link.sheet && link.sheet.cssRules.length; } catch (error) { rules = null; }
    if (!rules) problems.push(`stylesheet not applied: ${link.href}`);
  }
  for (const image of document.images) {
    const broken = !image.complete || image.naturalWidth === 0;
    if (broken) problems.push(`image not loaded: ${image.currentSrc || image.src}`);
  }
  return problems;
}
"""


def page_problems(page) -> list[str]:
    """Stylesheets that did not apply and images that did not load on ``page`` (empty: all loaded)."""
    return page.evaluate(_LOADED_JS)


def assert_page_loaded(page) -> None:
    """Fail naming what did not load on ``page`` (stylesheets, images)."""
    problems = page_problems(page)
    assert not problems, f"{page.url}: " + "; ".join(problems)


def settle(pages) -> None:
    """One round trip to each open page (a pause of 50 ms in it): Playwright's sync API delivers events only while
    it waits, so faults that arrived after a test's last call are in the log afterwards."""
    for page in pages:
        if page.is_closed():
            continue
        try:
            page.evaluate("() => new Promise(resolve => setTimeout(resolve, 50))")
        except Exception:  # a page that crashed or is navigating: what it saw so far is in the log
            continue
