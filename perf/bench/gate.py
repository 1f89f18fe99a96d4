"""The race's gate: ratios against a saved race, not absolute times.

Two ratios per endpoint and round, both "first contender relative to the second", lower
meaning the first is slower: ``ratio`` (req/s over req/s) and ``cpu_ratio`` (the second's
app CPU per request over the first's). An endpoint fails when both have dropped: each
one's median below ``baseline median / margin`` AND every one of its rounds below that
too. One noisy round cannot fail it; a slower request path costs CPU, so it lowers both
ratios in every round.

Why both: on the shared 2-core machine the throughput ratio moved up to 1.95x between
identical reruns (other processes' load shifts the two servers' share of the CPU
differently), while the CPU ratio moved at most 1.3x (docs/performance.md, "Rerun
spread"). A baseline without CPU ratios is gated on throughput alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from perf.bench.race import cpu_ratio

DEFAULT_MARGIN = 1.5
# A cost multiple (contender over reference, per request) this much above the baseline's
# is where the diagnosis points: the CPU ratio's rerun spread on a loaded machine is
# within it (docs/performance.md, "Detection power").
GREW_FACTOR = 1.3


@dataclass
class GateResult:
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _dropped(median: float | None, rounds: Sequence[float | None], floor: float) -> bool:
    below = median is None or median < floor
    return below and all(r is None or r < floor for r in rounds)


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


def diagnosis(current: Mapping[str, Any], base: Mapping[str, Any], names: Sequence[str]) -> str:
    """What to look at for an endpoint that failed: where its extra cost went (the app's
    CPU per request, the database's, or neither: waiting), and the fix that fits."""
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
        return now is not None and then is not None and now > then * GREW_FACTOR

    look = []
    if grew(app_now, app_then):
        look.append(
            f"the Python of GET {target} costs more CPU: profile it (py-spy record on a "
            "worker while racing this endpoint alone, or cProfile of one request) against "
            "the baseline's code, and look for what the change added per request: a slower "
            "serializer or renderer, more columns or rows turned into objects, more work "
            "in middleware or authentication"
        )
    if grew(pg_now, pg_then):
        look.append(
            "its queries cost PostgreSQL more: EXPLAIN (ANALYZE, BUFFERS) them for a scan "
            "where an index (or index-only) scan was, an OFFSET that walks rows, or columns "
            "fetched and thrown away"
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
        verdicts = []
        for kind in ("ratio", "cpu_ratio"):
            base_median = _median(then[kind])
            if base_median is None:
                continue
            floor = base_median / margin
            median = _median(now[kind])
            rounds = ", ".join(_show(r) for r in now[kind])
            verdicts.append(
                (
                    _dropped(median, now[kind], floor),
                    f"{kind} {_show(median)} (rounds {rounds}; baseline {base_median:.3f}, "
                    f"floor {floor:.3f})",
                )
            )
        if not verdicts:
            gate.notes.append(f"{key}: no baseline ratio; not gated")
        elif all(dropped for dropped, _ in verdicts):
            gate.failures.append(
                f"{key}: below baseline / {margin:g} in every round: "
                + "; ".join(text for _, text in verdicts)
                + ". "
                + diagnosis(current, base, names)
            )
        else:
            gate.notes.append(f"{key}: " + "; ".join(text for _, text in verdicts))
    return gate
