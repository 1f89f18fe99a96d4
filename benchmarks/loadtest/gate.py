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
- Normalised: when both runs measured the same reference endpoint (``stats``), the ratios
  compared are of the normalised figures (the median after the warm-up, when the policy
  sets ``median_max_ratio``, and the gate p99, each divided by the reference's median in
  the same run), so a baseline made on another machine, or on this one when it was less
  busy, still applies: a machine twice as slow doubles both. The noise floor then applies
  to the excess over what the baseline predicts at this run's speed (baseline normalised
  figure x this run's reference median). The reference itself is not latency-gated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from benchmarks.loadtest.stats import EndpointStats, RunStats


@dataclass(frozen=True)
class GatePolicy:
    max_ratio: float = 1.2
    noise_floor_ms: float = 10.0
    min_samples: int = 100
    # Normalised runs only: also gate the median (gate_p50 / reference) at this ratio.
    median_max_ratio: float | None = None
    min_median_samples: int = 30


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
        if normalised and name == current.reference:
            result.notes.append(f"{name}: the reference, latency not gated")
        elif normalised:
            _compare_normalised(name, cur, base, current, baseline, policy, result)
        else:
            _compare_ms(name, cur, base, policy, result)
    for name in current.endpoints.keys() - baseline.endpoints.keys():
        result.notes.append(f"{name}: new, not in the baseline")
    return result


def _judge(
    result: GateResult, name: str, what: str, ratio: float, limit: float, excess: float,
    change: str, policy: GatePolicy,
) -> None:  # fmt: skip
    if ratio <= limit:
        return
    if excess > policy.noise_floor_ms:
        result.latency[name] = f"{what} regression: {change}"
    else:
        result.notes.append(f"{what} within the {ms(policy.noise_floor_ms)} noise floor: {change}")


def _compare_ms(
    name: str, cur: EndpointStats, base: EndpointStats, policy: GatePolicy, result: GateResult
) -> None:
    if cur.gate_p99 is None or base.gate_p99 is None:
        return
    measured = min(cur.measured, base.measured)
    if measured < policy.min_samples:
        result.notes.append(
            f"{name}: p99 not gated, {measured} measured requests < {policy.min_samples}"
        )
        return
    ratio = cur.gate_p99 / base.gate_p99 if base.gate_p99 > 0 else float("inf")
    change = f"{name} {ms(base.gate_p99)} -> {ms(cur.gate_p99)} ({ratio:.0%} of baseline)"
    _judge(result, name, "p99", ratio, policy.max_ratio, cur.gate_p99 - base.gate_p99, change,
           policy)  # fmt: skip


def _compare_normalised(
    name: str,
    cur: EndpointStats,
    base: EndpointStats,
    current: RunStats,
    baseline: RunStats,
    policy: GatePolicy,
    result: GateResult,
) -> None:
    """The median (when the policy gates it) and the p99, each divided by the reference's
    median in its own run; the noise floor applies to the excess over what the baseline
    predicts at this run's reference."""
    reference_ms = current.reference_ms or 0.0
    measured = min(cur.measured, base.measured)
    figures = [("p99", cur.gate_p99, cur.normalised_p99, base.normalised_p99,
                policy.max_ratio, policy.min_samples)]  # fmt: skip
    if policy.median_max_ratio is not None:
        figures.insert(0, ("median", cur.gate_p50, cur.normalised_p50, base.normalised_p50,
                           policy.median_max_ratio, policy.min_median_samples))  # fmt: skip
    for what, value_ms, now, then, limit, needed in figures:
        if value_ms is None or now is None or then is None or then <= 0:
            continue
        if measured < needed:
            result.notes.append(
                f"{name}: {what} not gated, {measured} measured requests < {needed}"
            )
            continue
        ratio = now / then
        expected = then * reference_ms
        change = (
            f"{name} {then:.2f}x -> {now:.2f}x the reference's median ({ratio:.0%} of "
            f"baseline, limit {limit:.0%}; {ms(value_ms)} where the baseline predicts "
            f"{ms(expected)} at this run's reference {ms(reference_ms)}, baseline's "
            f"{ms(baseline.reference_ms or 0.0)})"
        )
        _judge(result, name, what, ratio, limit, value_ms - expected, change, policy)
        if name in result.latency:
            return
