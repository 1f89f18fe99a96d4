"""The regression gate: failures, query counts and p99 against a baseline.

- Any failed request fails the gate.
- Query counts are deterministic, so they are compared exactly: each endpoint's median
  ``X-Query-Count`` must equal the baseline's (and the project's budget, when it gives one).
- Latency: an endpoint fails when its gate p99 (the median of the rounds' p99, warm-up
  excluded; see ``stats``) is above ``max_ratio`` times the baseline's AND more than
  ``noise_floor_ms`` above it. The floor keeps millisecond-sized jitter on a fast endpoint
  from reading as a 20% regression on a shared machine. Endpoints with fewer than
  ``min_samples`` measured requests (in either run) are reported, not gated: their p99 is
  their maximum.
- Normalised: when both runs measured the same reference endpoint (``stats``), the ratio
  compared is of the normalised p99s (gate p99 / the reference's median in the same run),
  so a baseline made on another machine, or on this one when it was less busy, still
  applies: a machine twice as slow doubles both. The noise floor then applies to the
  excess over what the baseline predicts at this run's speed (baseline normalised p99 x
  this run's reference median).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from perf.loadtest.stats import RunStats


@dataclass(frozen=True)
class GatePolicy:
    max_ratio: float = 1.2
    noise_floor_ms: float = 10.0
    min_samples: int = 100


@dataclass
class GateResult:
    # Deterministic problems (failed requests, query counts): one run proves them.
    problems: list[str] = field(default_factory=list)
    # p99 regressions by endpoint: noise can cause them, so a caller may retry.
    latency: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and not self.latency

    def messages(self) -> list[str]:
        return [*self.problems, *self.latency.values()]

    def extend(self, other: GateResult) -> None:
        self.problems.extend(other.problems)
        self.latency.update(other.latency)
        self.notes.extend(other.notes)


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def check_failures(current: RunStats) -> GateResult:
    result = GateResult()
    for name, stats in current.endpoints.items():
        if stats.failures:
            result.problems.append(f"failed requests: {name} {stats.failures} of {stats.requests}")
    return result


def check_budgets(current: RunStats, budgets: Mapping[str, int]) -> GateResult:
    """Each budgeted endpoint's median query count must be exactly its budget."""
    result = GateResult()
    for name, budget in budgets.items():
        stats = current.endpoints.get(name)
        if stats is None or stats.queries is None:
            continue
        if stats.queries != budget:
            result.problems.append(
                f"query budget: {name} runs {stats.queries} queries per request, budget {budget}"
            )
    for name, stats in current.endpoints.items():
        if name not in budgets and stats.queries is not None:
            result.notes.append(f"no query budget for {name} ({stats.queries} queries)")
    return result


def compare(current: RunStats, baseline: RunStats, policy: GatePolicy | None = None) -> GateResult:
    policy = policy or GatePolicy()
    result = GateResult()
    normalised = bool(
        current.reference
        and current.reference == baseline.reference
        and current.reference_ms
        and baseline.reference_ms
    )
    if baseline.reference and not normalised:
        result.notes.append(
            f"baseline is normalised by {baseline.reference}, this run by "
            f"{current.reference or 'nothing'}: p99 compared in ms"
        )
    if (current.scenario, current.users) != (baseline.scenario, baseline.users):
        result.notes.append(
            f"baseline is scenario {baseline.scenario} with {baseline.users} users; this run "
            f"is {current.scenario} with {current.users}: latencies may not be comparable"
        )
    for name, base in baseline.endpoints.items():
        cur = current.endpoints.get(name)
        if cur is None:
            result.notes.append(f"{name}: in the baseline, not requested in this run")
            continue
        if base.queries is not None and cur.queries is not None and cur.queries != base.queries:
            result.problems.append(f"queries per request: {name} {base.queries} -> {cur.queries}")
        if cur.gate_p99 is None or base.gate_p99 is None:
            continue
        measured = min(cur.measured, base.measured)
        if measured < policy.min_samples:
            result.notes.append(
                f"{name}: p99 not gated, {measured} measured requests < {policy.min_samples}"
            )
            continue
        if (
            normalised
            and cur.normalised_p99 is not None
            and base.normalised_p99 is not None
            and name != current.reference
        ):
            expected = base.normalised_p99 * (current.reference_ms or 0.0)
            ratio = cur.normalised_p99 / base.normalised_p99
            change = (
                f"{name} {base.normalised_p99:.1f}x -> {cur.normalised_p99:.1f}x the "
                f"reference's median ({ratio:.0%} of baseline; {ms(cur.gate_p99)} where the "
                f"baseline predicts {ms(expected)} at this run's reference "
                f"{ms(current.reference_ms or 0.0)}, baseline's {ms(baseline.reference_ms or 0.0)})"
            )
            excess = cur.gate_p99 - expected
        else:
            ratio = cur.gate_p99 / base.gate_p99 if base.gate_p99 > 0 else float("inf")
            change = f"{name} {ms(base.gate_p99)} -> {ms(cur.gate_p99)} ({ratio:.0%} of baseline)"
            excess = cur.gate_p99 - base.gate_p99
        if ratio > policy.max_ratio:
            if excess > policy.noise_floor_ms:
                result.latency[name] = f"p99 regression: {change}"
            else:
                result.notes.append(
                    f"p99 within the {ms(policy.noise_floor_ms)} noise floor: {change}"
                )
    for name in current.endpoints.keys() - baseline.endpoints.keys():
        result.notes.append(f"{name}: new, not in the baseline")
    return result
