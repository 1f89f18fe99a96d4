"""A small progress bar for long management commands (no dependency, safe without a TTY)."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """Redraws one line on a terminal; prints at most every 10% otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total: int, label: str) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.started = time.perf_counter()
        self._tty = getattr(stream, "isatty", lambda: False)()
        self._last_decile = -1

    def advance(self, n: int) -> None:
        self.done = min(self.done + n, self.total)
        if self._tty:
            self._draw("\r")
        else:
            decile = self.done * 10 // self.total
            if decile != self._last_decile:
                self._last_decile = decile
                self._draw("")
                self.stream.write("\n")
        self.stream.flush()

    def finish(self) -> None:
        self.done = self.total
        if self._tty:
            self._draw("\r")
            self.stream.write("\n")
        elif self._last_decile != 10:
            self._draw("")
            self.stream.write("\n")
        self.stream.flush()

    def _draw(self, prefix: str) -> None:
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        elapsed = time.perf_counter() - self.started
        self.stream.write(
            f"{prefix}  {self.label:<28} [{bar}] {self.done:>7,}/{self.total:,} {elapsed:5.1f}s"
        )
