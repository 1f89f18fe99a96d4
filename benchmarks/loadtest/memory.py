"""Soak tests: each server worker's memory against the requests it served, and a verdict.

``MemorySampler`` (a thread) samples every child of a server's master process (gunicorn's
workers) every few seconds: RSS, PSS and USS from psutil, and the requests that worker
has served so far, read by a callable the caller hands in (``prometheus_request_counts``
reads them from prometheus_client's multiprocess files). ``analyze`` fits each worker's
growth after a warm-up and ``verdict`` holds it to a bound.

Which figure is fitted: USS (memory unique to the process). A forked worker starts by
sharing all of the master's pages; RSS counts every shared page the worker merely reads,
so it climbs for a long while as requests reach more of the code and data loaded before
the fork, without any new memory being used. USS counts only pages the worker owns: what
it allocated, plus the master's pages it wrote to (copy on write; ``gc.freeze`` keeps the
collector from writing to every frozen object, but reference counts still copy the pages
they touch). That copying is bounded by the master's size and settles during the warm-up;
a leak keeps growing. PSS splits shared pages among the processes sharing them, so it moves
when a sibling starts or stops. RSS and PSS are recorded and reported beside it.

The fit: requests served (x) against USS (y), per worker. Python's allocator grows in
steps (a new arena, a cache filled once, a collection freeing a batch), and one step moves a
least-squares line over the whole window by up to 1.5 times its height. So the window is
cut into ``segments`` equal spans of requests, each gets its own least-squares slope, and
the growth is the median of those slopes: one step lands in one segment and moves one
slope, while a leak raises every segment. The plain least-squares slope over the window
is reported too (over a window of R requests, a kept step of h MB halfway through moves it
by 1.5 h/R).

The run's figure pools the workers: their slopes weighted by the requests each served in
the window. gunicorn's workers share the load unevenly (a kept-alive connection stays with
the worker that accepted it: one of two workers served 36 requests to the other's 519 in a
minute measured here), and a nearly idle worker, whose few requests still meet code for
the first time, would read that one-off growth as a huge rate per request. A leak grows
with the requests each worker serves, so it shows in the pooled slope all the same.
Workers that served fewer than ``min_requests`` in the window are reported, not fitted.

The resolution: how much growth the run could read from churn alone. USS rises and falls
as the collector frees batches and the allocator takes and returns arenas (about 1.5 MB
up and down over 16,000 requests of a worker with no leak); a segment's churn is the spread
of its samples about its own least-squares line, and spread over the whole window the
median segment's churn is a slope the run cannot tell from noise. The verdict fails only
growth above the bound and above that resolution, as the p99 gate's noise floor does for
latency: a short soak cannot resolve a slow leak, and says so, rather than failing code
that does not leak.

The soaks behind these choices: docs/load-and-soak.md, "The bound". Imports psutil and the
standard library only (prometheus_client lazily); no Django.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024
PER_REQUESTS = 10_000  # growth is reported per this many requests served by a worker
MEMORY_VERSION = 1


@dataclass(frozen=True)
class MemorySample:
    t: float  # seconds since the sampler started
    pid: int
    requests: int  # served by this worker so far
    rss: int  # bytes
    pss: int
    uss: int


RequestCounts = Callable[[], Mapping[int, int]]


def prometheus_request_counts(directory: Path, sample_name: str) -> RequestCounts:
    """Requests served per worker pid, from prometheus_client's multiprocess files.

    Each worker writes its counters to ``counter_<pid>.db`` in ``directory``
    (``PROMETHEUS_MULTIPROC_DIR``); ``sample_name`` is the counter's sample counted once per
    response (``<name>_total``), summed over its labels.
    """
    from prometheus_client.mmap_dict import MmapedDict

    def counts() -> dict[int, int]:
        found: dict[int, int] = {}
        for path in glob.glob(os.path.join(directory, "counter_*.db")):
            try:
                pid = int(Path(path).stem.rsplit("_", 1)[1])
                values = MmapedDict.read_all_values_from_file(path)  # type: ignore[no-untyped-call]
                found[pid] = int(
                    sum(value for key, value, *_ in values if json.loads(key)[1] == sample_name)
                )
            except (OSError, ValueError, IndexError):
                continue  # a worker creating its file right now: next sample
        return found

    return counts


class MemorySampler:
    """Samples the master's children every ``interval_s`` seconds until ``stop()``."""

    def __init__(
        self, master_pid: int, request_counts: RequestCounts, *, interval_s: float = 5.0
    ) -> None:
        self.master_pid = master_pid
        self.request_counts = request_counts
        self.interval_s = interval_s
        self.samples: list[MemorySample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)
        self._started = 0.0

    def __enter__(self) -> MemorySampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def sample_once(self) -> list[MemorySample]:
        try:
            workers = psutil.Process(self.master_pid).children()
        except psutil.NoSuchProcess:
            return []
        counts = self.request_counts()
        now = round(time.monotonic() - self._started, 3)
        taken = []
        for worker in workers:
            try:
                info = worker.memory_full_info()  # reads /proc/<pid>/smaps_rollup
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            taken.append(
                MemorySample(
                    now, worker.pid, counts.get(worker.pid, 0), info.rss, info.pss, info.uss
                )
            )
        self.samples.extend(taken)
        return taken

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._stop.wait(self.interval_s)


# -- the fit ------------------------------------------------------------------------------


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 2:
        return None
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx


def _segments(
    xs: Sequence[float], ys: Sequence[float], segments: int
) -> list[list[tuple[float, float]]] | None:
    """``segments`` equal spans of x, each with its points; None with fewer than 3 in one."""
    if not xs:
        return None
    low, high = min(xs), max(xs)
    if high <= low:
        return None
    width = (high - low) / segments
    spans = []
    for i in range(segments):
        start, end = low + i * width, low + (i + 1) * width
        last = i == segments - 1
        span = [
            (x, y) for x, y in zip(xs, ys, strict=True) if start <= x < end or (last and x == end)
        ]
        if len(span) < 3:
            return None
        spans.append(span)
    return spans


def segmented_slope(xs: Sequence[float], ys: Sequence[float], segments: int = 3) -> float | None:
    """The median of the least-squares slopes of ``segments`` equal spans of x: one step
    in y moves one of them (see the module's docstring). None with fewer than 3 points in
    a span."""
    spans = _segments(xs, ys, segments)
    if spans is None:
        return None
    slopes = []
    for span in spans:
        slope = least_squares_slope([x for x, _ in span], [y for _, y in span])
        if slope is None:
            return None
        slopes.append(slope)
    return statistics.median(slopes)


def churn_resolution(xs: Sequence[float], ys: Sequence[float], segments: int = 3) -> float | None:
    """The median segment's spread about its own least-squares line, over the whole window
    of x: the slope that churn alone could show (see the module's docstring)."""
    spans = _segments(xs, ys, segments)
    if spans is None:
        return None
    spreads = []
    for span in spans:
        sx, sy = [x for x, _ in span], [y for _, y in span]
        slope = least_squares_slope(sx, sy) or 0.0
        mean_x, mean_y = statistics.fmean(sx), statistics.fmean(sy)
        residuals = [y - (mean_y + slope * (x - mean_x)) for x, y in span]
        spreads.append(max(residuals) - min(residuals))
    return statistics.median(spreads) / (max(xs) - min(xs))


@dataclass
class WorkerGrowth:
    pid: int
    samples: int  # after the warm-up
    requests: int  # served after the warm-up
    first_requests: int  # served when the measured window began
    rss_start_mb: float
    rss_end_mb: float
    uss_start_mb: float
    uss_end_mb: float
    pss_end_mb: float
    requests_per_hour: float
    # USS growth; None when the worker had too few samples after the warm-up.
    mb_per_10k: float | None
    mb_per_hour: float | None
    least_squares_mb_per_10k: float | None
    # Growth that churn alone could show over this window (MB per 10k requests).
    resolution_mb_per_10k: float | None = None


@dataclass
class MemoryReport:
    interval_s: float
    warmup_s: float
    warmup_requests: int
    duration_s: float
    workers: list[WorkerGrowth]
    segments: int
    # The fitted workers' slopes weighted by their requests; per hour: that growth at the
    # fitted workers' mean request rate.
    mb_per_10k: float | None
    mb_per_hour: float | None
    resolution_mb_per_10k: float | None = None  # pooled as the growth is
    resolution_mb_per_hour: float | None = None
    max_mb_per_10k: float | None = None
    max_mb_per_hour: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = MEMORY_VERSION
        return data


def _mb(value: float) -> float:
    return round(value / MB, 3)


def analyze(
    samples: Sequence[MemorySample],
    *,
    warmup_s: float,
    interval_s: float,
    warmup_requests: int = 0,
    segments: int = 3,
    min_samples: int = 9,
    min_requests: int = 100,
) -> MemoryReport:
    """Each worker's USS growth after ``warmup_s`` seconds of the run and after it served
    ``warmup_requests``: a worker settles after serving enough of the mix (measured here:
    about 3,000 requests of the soak's), whenever that is, and busy and idle workers
    get there at different times."""
    duration = max((s.t for s in samples), default=0.0)
    by_pid: dict[int, list[MemorySample]] = {}
    for sample in sorted(samples, key=lambda s: s.t):
        by_pid.setdefault(sample.pid, []).append(sample)
    workers = []
    for pid, series in sorted(by_pid.items()):
        measured = [s for s in series if s.t >= warmup_s and s.requests >= warmup_requests]
        if len(measured) < 2:
            continue
        first, last = measured[0], measured[-1]
        served = last.requests - first.requests
        seconds = last.t - first.t
        per_hour = served / seconds * 3600 if seconds > 0 else 0.0
        xs = [float(s.requests) for s in measured]
        ys = [s.uss / MB for s in measured]
        enough = len(measured) >= min_samples and served >= min_requests
        slope = segmented_slope(xs, ys, segments) if enough else None
        plain = least_squares_slope(xs, ys)
        churn = churn_resolution(xs, ys, segments) if slope is not None else None
        workers.append(
            WorkerGrowth(
                pid=pid,
                samples=len(measured),
                requests=served,
                first_requests=first.requests,
                rss_start_mb=_mb(first.rss),
                rss_end_mb=_mb(last.rss),
                uss_start_mb=_mb(first.uss),
                uss_end_mb=_mb(last.uss),
                pss_end_mb=_mb(last.pss),
                requests_per_hour=round(per_hour, 1),
                mb_per_10k=round(slope * PER_REQUESTS, 4) if slope is not None else None,
                mb_per_hour=round(slope * per_hour, 4) if slope is not None else None,
                least_squares_mb_per_10k=(
                    round(plain * PER_REQUESTS, 4) if plain is not None else None
                ),
                resolution_mb_per_10k=(
                    round(churn * PER_REQUESTS, 4) if churn is not None else None
                ),
            )
        )
    pooled = [
        (w.mb_per_10k, w.resolution_mb_per_10k or 0.0, w.requests_per_hour, w.requests)
        for w in workers
        if w.mb_per_10k is not None
    ]
    served = sum(n for *_, n in pooled)
    per_10k = sum(slope * n for slope, _, _, n in pooled) / served if served else None
    churn_10k = sum(churn * n for _, churn, _, n in pooled) / served if served else None
    mean_rate = statistics.fmean(rate for _, _, rate, _ in pooled) if pooled else 0.0
    return MemoryReport(
        interval_s=interval_s,
        warmup_s=warmup_s,
        warmup_requests=warmup_requests,
        duration_s=duration,
        workers=workers,
        segments=segments,
        mb_per_10k=round(per_10k, 4) if per_10k is not None else None,
        mb_per_hour=round(per_10k / PER_REQUESTS * mean_rate, 4) if per_10k is not None else None,
        resolution_mb_per_10k=round(churn_10k, 4) if churn_10k is not None else None,
        resolution_mb_per_hour=(
            round(churn_10k / PER_REQUESTS * mean_rate, 4) if churn_10k is not None else None
        ),
    )


def verdict(
    report: MemoryReport,
    *,
    max_mb_per_10k: float | None = None,
    max_mb_per_hour: float | None = None,
) -> MemoryReport:
    """Fail the report when the workers grew faster than either bound given and faster
    than the run's resolution, or when no worker could be fitted (a soak that measured
    nothing proves nothing)."""
    report.max_mb_per_10k, report.max_mb_per_hour = max_mb_per_10k, max_mb_per_hour
    report.problems = []
    unfitted = [w.pid for w in report.workers if w.mb_per_10k is None]
    if unfitted:
        report.notes.append(
            f"worker(s) {', '.join(map(str, unfitted))}: too few samples or requests after "
            "the warm-up to fit"
        )
    if report.mb_per_10k is None or report.mb_per_hour is None:
        report.problems.append(
            "memory: no worker had enough samples and requests after the warm-up to fit its "
            "growth (run longer, or sample more often)"
        )
        return report
    resolved = report.mb_per_10k > (report.resolution_mb_per_10k or 0.0)
    over = (max_mb_per_10k is not None and report.mb_per_10k > max_mb_per_10k) or (
        max_mb_per_hour is not None and report.mb_per_hour > max_mb_per_hour
    )
    if over and not resolved:
        report.notes.append(
            f"memory growth {report.mb_per_hour:.3f} MB/h is over the bound but within this "
            f"run's resolution ({report.resolution_mb_per_hour:.3f} MB/h, churn): run longer "
            "to resolve it"
        )
        return report
    if max_mb_per_10k is not None and report.mb_per_10k > max_mb_per_10k:
        report.problems.append(
            f"memory growth: {report.mb_per_10k:.3f} MB per 10,000 requests per worker "
            f"(USS, workers pooled) > bound {max_mb_per_10k:g}"
        )
    if max_mb_per_hour is not None and report.mb_per_hour > max_mb_per_hour:
        report.problems.append(
            f"memory growth: {report.mb_per_hour:.3f} MB per hour per worker at this run's "
            f"rate (USS, workers pooled) > bound {max_mb_per_hour:g}"
        )
    return report


def format_memory(report: MemoryReport) -> str:
    header = (
        f"{'worker':>8} {'requests':>9} {'req/h':>8} {'RSS start':>10} {'RSS end':>8} "
        f"{'USS start':>10} {'USS end':>8} {'MB/10k':>8} {'MB/h':>7} {'(LSQ MB/10k)':>13} "
        f"{'resolution':>10}"
    )
    lines = [
        f"Memory per worker after a {report.warmup_s:.0f} s warm-up and its first "
        f"{report.warmup_requests:,} requests (of {report.duration_s:.0f} s; "
        f"sampled every {report.interval_s:g} s; growth = USS, median of "
        f"{report.segments} segment slopes):",
        header,
    ]

    def num(value: float | None, width: int, digits: int = 3) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"

    lines.extend(
        f"{w.pid:>8} {w.requests:>9,} {w.requests_per_hour:>8,.0f} {w.rss_start_mb:>10.1f} "
        f"{w.rss_end_mb:>8.1f} {w.uss_start_mb:>10.1f} {w.uss_end_mb:>8.1f} "
        f"{num(w.mb_per_10k, 8)} {num(w.mb_per_hour, 7)} {num(w.least_squares_mb_per_10k, 13)} "
        f"{num(w.resolution_mb_per_10k, 10)}"
        for w in report.workers
    )
    bounds = [
        f"{b:g} {unit}"
        for b, unit in ((report.max_mb_per_10k, "MB/10k"), (report.max_mb_per_hour, "MB/h"))
        if b is not None
    ]
    median = (
        "-"
        if report.mb_per_10k is None
        else f"{report.mb_per_10k:.3f} MB/10k, {report.mb_per_hour:.3f} MB/h"
    )
    resolution = (
        "-"
        if report.resolution_mb_per_10k is None
        else f"{report.resolution_mb_per_10k:.3f} MB/10k, {report.resolution_mb_per_hour:.3f} MB/h"
    )
    lines.append(
        f"Workers pooled: {median}; resolution (churn): {resolution}; "
        f"bound: {' and '.join(bounds) or 'none'}"
    )
    return "\n".join(lines)


def save_samples(samples: Sequence[MemorySample], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [[s.t, s.pid, s.requests, s.rss, s.pss, s.uss] for s in samples]
    path.write_text(json.dumps({"version": MEMORY_VERSION, "samples": rows}) + "\n")


def load_samples(path: Path) -> list[MemorySample]:
    data = json.loads(path.read_text())
    if data.get("version") != MEMORY_VERSION:
        raise ValueError(f"memory samples format {data.get('version')!r}")
    return [MemorySample(*row) for row in data["samples"]]
