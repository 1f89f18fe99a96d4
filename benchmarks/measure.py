"""Measuring one code path: query tally, peak memory, and the median and spread of samples.

For benchmarks that run a path many times (``manage.py bench``): unlike
``perf.recording.record_queries``, the tally (a listener on the same recorder) keeps no
statement, so counting 50,000 queries costs no memory, and little time, that would show up
in the figures being measured.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from perf.recording import QueryEvent, listening

_PROC_STATUS = Path("/proc/self/status")
_PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class QueryTally:
    count: int = 0
    seconds: float = 0.0

    @property
    def ms(self) -> float:
        return 1000 * self.seconds


@dataclass(frozen=True, eq=False)
class _Tallying:
    """The listener: adds the statements of some aliases to a tally."""

    tally: QueryTally
    aliases: frozenset[str]

    def notify(self, event: QueryEvent) -> None:
        if event.alias in self.aliases:
            self.tally.count += 1
            self.tally.seconds += event.duration


@contextmanager
def tally_queries(tally: QueryTally, *, aliases: Sequence[str] = ("default",)) -> Iterator[None]:
    """Count the block's statements and the time spent executing them (database round
    trips, as seen from the client). Pass the same tally again to resume counting."""
    with listening(_Tallying(tally, frozenset(aliases))):
        yield


@dataclass
class PeakRss:
    """Peak resident memory of the process above its level at the start, in bytes (None
    where the kernel cannot reset the peak)."""

    bytes: int | None = None

    @property
    def mb(self) -> float | None:
        return None if self.bytes is None else self.bytes / 1e6


def _status_kb(field: str) -> int:
    for line in _PROC_STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def release_memory() -> None:
    """Collect garbage and hand free heap back to the system, so that the next peak
    measures what the next block allocates, not what an earlier one left mapped."""
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        trim = getattr(ctypes.CDLL(libc_name), "malloc_trim", None)
        if trim is not None:
            trim(0)


@contextmanager
def peak_rss() -> Iterator[PeakRss]:
    """Linux: reset the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``),
    run the block, then report VmHWM minus the VmRSS it started from."""
    result = PeakRss()
    try:
        _PROC_CLEAR_REFS.write_text("5")
        start = _status_kb("VmRSS")
    except (OSError, LookupError):
        yield result
        return
    yield result
    result.bytes = max(0, _status_kb("VmHWM") - start) * 1024


@dataclass(frozen=True)
class Spread:
    """Median of the samples and their range."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def as_dict(self) -> dict[str, float | int]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}
