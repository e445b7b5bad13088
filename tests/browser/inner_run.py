"""A pytest run of its own, in a temporary directory, for tests that prove the browser harness's hooks
(``test_artifacts.py``, ``test_faults.py``): its conftest gets a Chromium ``browser`` fixture (no site, so it
stays cheap) plus what the calling test adds, and it runs with this checkout importable as ``tests``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.browser.server import BASE_DIR

BROWSER_FIXTURE = """
import pytest

from tests.browser import server as harness


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright)
        yield browser
        browser.close()
"""


def run_inner_pytest(directory: Path, *, conftest: str, tests: str) -> tuple[int, str]:
    """Write ``conftest.py`` (``BROWSER_FIXTURE`` + ``conftest``) and ``test_inner.py`` into ``directory`` (the
    inner run's rootdir), run pytest there and return ``(returncode, output)``."""
    (directory / "pytest.ini").write_text("[pytest]\n")
    (directory / "conftest.py").write_text(textwrap.dedent(BROWSER_FIXTURE) + textwrap.dedent(conftest))
    (directory / "test_inner.py").write_text(textwrap.dedent(tests))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")]))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django", "test_inner.py"],
        cwd=directory, env=env, capture_output=True, text=True, timeout=120,
    )
    return result.returncode, result.stdout + result.stderr
