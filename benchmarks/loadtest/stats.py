"""Per-endpoint statistics from the recorder's raw samples, and their JSON form.

Percentiles interpolate linearly between the two nearest samples (numpy's default,
Hyndman-Fan type 7) over unrounded response times. The table's p50/p95/p99/max cover
the whole run; the gate compares ``gate_p99``: the warm-up is dropped, the rest of the
run is cut into ``rounds`` equal time windows, and the median of the rounds' p99 is kept,
so that one noisy stretch (a neighbour's burst on a shared machine) moves one round,
not the result.

With a ``reference`` (an endpoint that every run requests, as typical as possible and
slow to change: ShelfWise names its detail page), ``reference_ms`` is the median of its
measured response times, and each endpoint's ``normalised_p50`` and ``normalised_p99`` are
its median and gate p99 after the warm-up divided by it: the endpoint's latency in units
of "one typical request on this machine, now".
A baseline stored that way can be compared across machines and load levels (``gate``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATS_VERSION = 1
TOTAL = "Aggregated"
# A round's p99 needs this many samples to mean more than its maximum; an endpoint with
# fewer measured requests gets fewer rounds (one: the p99 of everything after warm-up).
MIN_ROUND_SAMPLES = 100


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of values, linear between closest ranks; values need not be
    sorted."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class EndpointStats:
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    max: float
    mean_queries: float | None
    # The median query count of successful responses: deterministic per endpoint (the
    # mean also counts rare extra writes such as a token's last-used stamp).
    queries: int | None
    measured: int  # samples after the warm-up
    round_p99: list[float] = field(default_factory=list)
    gate_p99: float | None = None
    # The mean X-App-CPU-Ms of successful responses (None without the header). Last and
    # optional, so that stats saved before it (kept baselines) still load.
    mean_app_cpu_ms: float | None = None
    # The median after the warm-up, and it and gate_p99 divided by the run's reference_ms
    # (None without a reference).
    gate_p50: float | None = None
    normalised_p50: float | None = None
    normalised_p99: float | None = None


@dataclass
class RunStats:
    scenario: str
    users: int
    spawn_rate: float
    run_time_s: float
    duration_s: float
    warmup_s: float
    rounds: int
    endpoints: dict[str, EndpointStats]
    total: EndpointStats
    meta: dict[str, Any] = field(default_factory=dict)
    # The reference endpoint and the median of its measured response times, ms.
    reference: str | None = None
    reference_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = STATS_VERSION
        return data

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunStats:
        version = data.get("version")
        if version != STATS_VERSION:
            raise ValueError(f"stats format {version!r}; expected {STATS_VERSION}")
        fields = {k: v for k, v in data.items() if k != "version"}
        fields["endpoints"] = {k: EndpointStats(**v) for k, v in data["endpoints"].items()}
        fields["total"] = EndpointStats(**data["total"])
        return cls(**fields)

    @classmethod
    def load(cls, path: Path) -> RunStats:
        return cls.from_json(json.loads(path.read_text()))


# (start epoch seconds, ms, queries or None, ok 1/0[, app CPU ms or None])
Sample = Sequence[Any]


def _endpoint(
    name: str,
    rows: Sequence[Sample],
    *,
    duration: float,
    window: tuple[float, float],
    rounds: int,
) -> EndpointStats:
    times = [float(r[1]) for r in rows]
    counts = [int(r[2]) for r in rows if r[2] is not None and r[3]]
    cpu = [float(r[4]) for r in rows if len(r) > 4 and r[4] is not None and r[3]]
    start, end = window
    measured = [r for r in rows if start <= r[0] < end]
    round_p99: list[float] = []
    n_rounds = max(1, min(rounds, len(measured) // MIN_ROUND_SAMPLES))
    if measured and end > start:
        width = (end - start) / n_rounds
        buckets: list[list[float]] = [[] for _ in range(n_rounds)]
        for r in measured:
            buckets[min(n_rounds - 1, int((r[0] - start) / width))].append(float(r[1]))
        round_p99 = [round(percentile(b, 0.99), 3) for b in buckets if b]
    gate_p99 = statistics.median(round_p99) if round_p99 else None
    return EndpointStats(
        name=name,
        requests=len(rows),
        failures=sum(1 for r in rows if not r[3]),
        rps=round(len(rows) / duration, 3) if duration > 0 else 0.0,
        p50=round(percentile(times, 0.50), 3),
        p95=round(percentile(times, 0.95), 3),
        p99=round(percentile(times, 0.99), 3),
        max=round(max(times), 3),
        mean_queries=round(statistics.fmean(counts), 3) if counts else None,
        queries=statistics.median_low(counts) if counts else None,
        measured=len(measured),
        round_p99=round_p99,
        gate_p99=round(gate_p99, 3) if gate_p99 is not None else None,
        mean_app_cpu_ms=round(statistics.fmean(cpu), 3) if cpu else None,
        gate_p50=round(statistics.median(float(r[1]) for r in measured), 3) if measured else None,
    )


def summarize(
    payload: dict[str, Any],
    *,
    scenario: str,
    users: int,
    spawn_rate: float,
    run_time_s: float,
    warmup_s: float,
    rounds: int,
    meta: dict[str, Any] | None = None,
    reference: str | None = None,
) -> RunStats:
    """RunStats from the recorder's JSON payload; with ``reference`` (an endpoint name),
    every endpoint's gate p99 is also given normalised by that endpoint's median."""
    endpoints: dict[str, list[Sample]] = payload.get("endpoints") or {}
    all_rows = [row for rows in endpoints.values() for row in rows]
    if not all_rows:
        raise ValueError("the load test recorded no requests")
    first = min(float(r[0]) for r in all_rows)
    started = float(payload.get("started") or first)
    stopped = float(payload.get("stopped") or max(float(r[0]) for r in all_rows))
    duration = max(stopped - started, 1e-9)
    window = (started + warmup_s, stopped)
    n_rounds = max(1, rounds)
    per_endpoint = {
        name: _endpoint(name, rows, duration=duration, window=window, rounds=n_rounds)
        for name, rows in sorted(endpoints.items())
    }
    total = _endpoint(TOTAL, all_rows, duration=duration, window=window, rounds=n_rounds)
    reference_ms = _reference_ms(endpoints.get(reference or "", []), window)
    if reference_ms:
        for stats in [*per_endpoint.values(), total]:
            if stats.gate_p50 is not None:
                stats.normalised_p50 = round(stats.gate_p50 / reference_ms, 4)
            if stats.gate_p99 is not None:
                stats.normalised_p99 = round(stats.gate_p99 / reference_ms, 4)
    return RunStats(
        scenario=scenario,
        users=users,
        spawn_rate=spawn_rate,
        run_time_s=run_time_s,
        duration_s=round(duration, 3),
        warmup_s=warmup_s,
        rounds=max(1, rounds),
        endpoints=per_endpoint,
        total=total,
        meta=dict(meta or {}),
        reference=reference if reference_ms else None,
        reference_ms=round(reference_ms, 3) if reference_ms else None,
    )


_MEDIAN_FIGURES = ("p50", "p95", "p99", "max", "gate_p50", "gate_p99", "normalised_p50",
                   "normalised_p99", "mean_app_cpu_ms")  # fmt: skip


def median_run(runs: Sequence[RunStats]) -> RunStats:
    """One baseline from repeated runs of one scenario: per endpoint, the median of each
    latency figure (one run's figures carry that run's noise into every comparison); the
    fewest measured requests, so the gate's sample floors stay honest. Query counts are
    exact: runs that disagree on one are refused, as are runs of different scenarios or
    references."""
    first = runs[0]
    for run in runs[1:]:
        if (run.scenario, run.users, run.reference) != (
            first.scenario,
            first.users,
            first.reference,
        ):
            raise ValueError("the runs differ in scenario, users or reference")
    merged = dataclasses.replace(first, endpoints={}, meta=dict(first.meta))
    for name in first.endpoints:
        all_stats = [run.endpoints[name] for run in runs if name in run.endpoints]
        if len(all_stats) < len(runs):
            continue
        if len({s.queries for s in all_stats}) > 1:
            raise ValueError(f"{name}: the runs disagree on its query count")
        merged.endpoints[name] = _median_endpoint(all_stats)
    merged.total = _median_endpoint([run.total for run in runs])
    ref = [run.reference_ms for run in runs if run.reference_ms is not None]
    merged.reference_ms = round(statistics.median(ref), 3) if ref else None
    merged.meta["median_of"] = [run.meta.get("started_at") for run in runs]
    return merged


def _median_endpoint(all_stats: Sequence[EndpointStats]) -> EndpointStats:
    merged = dataclasses.replace(all_stats[0], measured=min(s.measured for s in all_stats),
                                 round_p99=[])  # fmt: skip
    for figure in _MEDIAN_FIGURES:
        values = [getattr(s, figure) for s in all_stats if getattr(s, figure) is not None]
        setattr(merged, figure, round(statistics.median(values), 4) if values else None)
    return merged


def _reference_ms(rows: Sequence[Sample], window: tuple[float, float]) -> float | None:
    """The median response time of the reference's successful requests after the warm-up
    (of all its successful requests if none fell after it)."""
    ok = [float(r[1]) for r in rows if r[3]]
    measured = [float(r[1]) for r in rows if r[3] and window[0] <= r[0] < window[1]]
    times = measured or ok
    return statistics.median(times) if times else None


def load_samples(path: Path) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(path.read_text())
    return payload
