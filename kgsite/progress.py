"""A progress bar for long-running commands, written to a stream (a command's stderr).

On a terminal it redraws one line (``\\r``): label, bar, percentage, done/total, rate. Elsewhere (a log, a pipe,
``call_command`` in tests) it writes a plain line at each tenth of the way, so a log shows progress without a
thousand lines. The standard library's ``shutil.get_terminal_size`` gives the width.
"""

from __future__ import annotations

import shutil
import time
from typing import TextIO


class Progress:
    """``with Progress(total, "nodes", stream) as bar: ... bar.advance(n)``; ``total`` 0 or unknown is fine."""

    def __init__(self, total: int, label: str, stream: TextIO, *, done: int = 0):
        self.total = max(total, 0)
        self.label = label
        self.stream = stream
        self.done = done
        self.started = time.monotonic()
        self.is_terminal = bool(getattr(stream, "isatty", lambda: False)())
        self._last_tenth = self._tenth()
        self._printed_done: int | None = None

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc_info) -> None:
        self._draw(force=True)
        if self.is_terminal:
            self.stream.write("\n")
        self.stream.flush()

    def advance(self, count: int) -> None:
        self.done += count
        self._draw()

    def _tenth(self) -> int:
        return 10 * self.done // self.total if self.total else 0

    def text(self, width: int = 80) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = f"{self.done / elapsed:,.0f}/s"
        if not self.total:
            return f"{self.label}: {self.done:,} done, {rate}"
        share = min(self.done / self.total, 1.0)
        counts = f"{share:6.1%} {self.done:,}/{self.total:,} {rate}"
        room = width - len(self.label) - len(counts) - 5
        bar = f" [{'#' * round(share * room)}{'.' * (room - round(share * room))}]" if room >= 10 else ""
        return f"{self.label}:{bar} {counts}"

    def _draw(self, force: bool = False) -> None:
        if self.is_terminal:
            width = shutil.get_terminal_size((80, 24)).columns - 1
            self.stream.write("\r" + self.text(width).ljust(width)[:width])
            self.stream.flush()
            return
        tenth = self._tenth()
        if (force or tenth > self._last_tenth) and self.done != self._printed_done:
            self._last_tenth, self._printed_done = tenth, self.done
            self.stream.write(self.text() + "\n")
