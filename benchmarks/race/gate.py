"""The race's gate: ratios against a saved race, not absolute times.

Two ratios per endpoint and round, both "first contender relative to the second", lower
meaning the first is slower: ``cpu_ratio`` (the second's app CPU per request over the
first's) and ``ratio`` (req/s over req/s). An endpoint fails when the median over rounds
of its CPU ratio is below ``baseline median / margin``; the req/s ratio is shown beside
it, and gated instead only for a baseline without CPU figures.

Why the CPU ratio: the share of the CPU each server gets under load moves its
throughput, not its CPU per request, so on a loaded machine the req/s ratio of unchanged
and slowed code overlaps and the CPU ratio does not. Why its median: single rounds stray
further either way, so no single round decides, and no single round can veto. (Figures:
docs/performance.md, "benchmarks/race/gate.py: why the CPU ratio, and its median".)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.race.engine import cpu_ratio

DEFAULT_MARGIN = 1.5


@dataclass
class GateResult:
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratios(entry: Mapping[str, Any], names: Sequence[str]) -> dict[str, list[float | None]]:
    rounds = entry["rounds"]
    return {
        "ratio": [r["ratio"] for r in rounds],
        "cpu_ratio": [cpu_ratio(r, names) for r in rounds],
    }


def _cost_multiple(entry: Mapping[str, Any], names: Sequence[str], metric: str) -> float | None:
    """The first contender's cost per request as a multiple of the second's (medians over
    rounds): both measured in the same run, so it compares across runs and machines."""
    first = _median([r[names[0]].get(metric) for r in entry["rounds"]])
    second = _median([r[names[1]].get(metric) for r in entry["rounds"]])
    return first / second if first is not None and second else None


def _multiple(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _growth(now: float | None, then: float | None) -> float:
    return now / then if now is not None and then else 0.0


def diagnosis(
    current: Mapping[str, Any],
    base: Mapping[str, Any],
    names: Sequence[str],
    margin: float = DEFAULT_MARGIN,
) -> str:
    """What to look at for an endpoint that failed: where its extra cost went (the app's
    CPU per request, the database's, or neither: waiting), and the fix that fits. A cost
    counts as grown when its multiple of the reference's rose past the gate's margin.

    PostgreSQL's CPU is the whole server's (every backend, autovacuum): on a server that
    other work shares, its multiple moves with that work, so it adds a hint only when it
    grew past the margin and more than the app's did (figures: docs/performance.md,
    "benchmarks/race/gate.py: why the CPU ratio, and its median")."""
    first, second = names
    target = current.get("path") or "this endpoint"
    app_now, app_then = (_cost_multiple(e, names, "app_cpu_ms") for e in (current, base))
    pg_now, pg_then = (_cost_multiple(e, names, "pg_cpu_ms") for e in (current, base))
    figures = (
        f"{first}'s app CPU per request is {_multiple(app_now)} the {second}'s (baseline "
        f"{_multiple(app_then)}), its PostgreSQL CPU per request {_multiple(pg_now)} "
        f"(baseline {_multiple(pg_then)})"
    )

    def grew(now: float | None, then: float | None) -> bool:
        return now is not None and then is not None and now > then * margin

    look = []
    if grew(app_now, app_then):
        look.append(
            f"the Python of GET {target} costs more CPU: profile it (py-spy record on a "
            "worker while racing this endpoint alone, or cProfile of one request) against "
            "the baseline's code, and look for what the change added per request: a slower "
            "serializer or renderer, more columns or rows turned into objects, more work "
            "in middleware or authentication"
        )
    # The whole server's CPU: a hint only where it, not the app's, grew the most.
    if grew(pg_now, pg_then) and _growth(pg_now, pg_then) > _growth(app_now, app_then):
        look.append(
            "PostgreSQL's CPU per request rose too (the whole server's: other work on it "
            "moves it): EXPLAIN (ANALYZE, BUFFERS) the endpoint's queries for a scan where an "
            "index (or index-only) scan was, an OFFSET that walks rows, or columns fetched "
            "and thrown away"
        )
    if not look:
        look.append(
            "neither CPU per request grew past the margin, so the request waits longer: "
            "look for a lock, a sleep or a slower external call added to its path"
        )
    return f"Look at: {figures}; " + "; and ".join(look) + "."


def compare(
    result: Mapping[str, Any], baseline: Mapping[str, Any], margin: float = DEFAULT_MARGIN
) -> GateResult:
    """Gate ``result`` against ``baseline`` (both race results as written by the race)."""
    if margin < 1:
        raise ValueError("the margin is a factor of at least 1")
    gate = GateResult()
    names = result["meta"]["contenders"]
    if names != baseline["meta"]["contenders"]:
        gate.failures.append(
            f"contenders {names} differ from the baseline's "
            f"{baseline['meta']['contenders']}: the ratios do not compare"
        )
        return gate
    for key, base in baseline["endpoints"].items():
        current = result["endpoints"].get(key)
        if current is None:
            gate.notes.append(f"{key}: not in this run; not gated")
            continue
        now, then = _ratios(current, names), _ratios(base, names)
        gated = "cpu_ratio" if _median(then["cpu_ratio"]) is not None else "ratio"
        texts, dropped = [], False
        for kind in (gated, "ratio" if gated == "cpu_ratio" else "cpu_ratio"):
            base_median, median = _median(then[kind]), _median(now[kind])
            rounds = ", ".join(_show(r) for r in now[kind])
            if base_median is None:
                continue
            text = f"{kind} {_show(median)} (rounds {rounds}; baseline {base_median:.3f}"
            if kind == gated:
                floor = base_median / margin
                dropped = median is None or median < floor
                text += f", floor {floor:.3f}"
            texts.append(text + ")")
        if not texts:
            gate.notes.append(f"{key}: no baseline ratio; not gated")
        elif dropped:
            path = current.get("path")
            gate.failures.append(
                (f"{key} ({path})" if path else key)
                + f": {gated} below baseline / {margin:g}: "
                + "; ".join(texts)
                + ". "
                + diagnosis(current, base, names, margin)
            )
        else:
            gate.notes.append(f"{key}: " + "; ".join(texts))
    return gate
