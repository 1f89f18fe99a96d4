"""The race's gate: ratios against a saved race, not absolute times.

A ratio (first contender's req/s over the second's, both measured side by side in the
same rounds) carries over between machines and loads far better than a req/s does; it
still moves between reruns, so an endpoint fails only when its median ratio is below the
baseline's median divided by ``margin`` AND every one of its rounds is below that too: one
noisy round cannot fail it, a real slowdown fails every round. The margin is justified by
measured rerun spread in docs/performance.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MARGIN = 1.5


@dataclass
class GateResult:
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def compare(
    result: Mapping[str, Any], baseline: Mapping[str, Any], margin: float = DEFAULT_MARGIN
) -> GateResult:
    """Gate ``result`` against ``baseline`` (both race results as written by the race)."""
    if margin < 1:
        raise ValueError("the margin is a factor of at least 1")
    gate = GateResult()
    if result["meta"]["contenders"] != baseline["meta"]["contenders"]:
        gate.failures.append(
            f"contenders {result['meta']['contenders']} differ from the baseline's "
            f"{baseline['meta']['contenders']}: the ratios do not compare"
        )
        return gate
    for key, base in baseline["endpoints"].items():
        current = result["endpoints"].get(key)
        base_ratio = base["median"]["ratio"]
        if current is None or base_ratio is None:
            gate.notes.append(f"{key}: not in this run or without a baseline ratio; not gated")
            continue
        floor = base_ratio / margin
        rounds = [r["ratio"] for r in current["rounds"]]
        median = current["median"]["ratio"]
        below = median is None or median < floor
        if below and all(r is None or r < floor for r in rounds):
            shown = ", ".join("-" if r is None else f"{r:.2f}" for r in rounds)
            gate.failures.append(
                f"{key}: ratio {'-' if median is None else f'{median:.2f}'} (rounds {shown}) "
                f"below {floor:.2f} = baseline {base_ratio:.2f} / {margin:g} in every round"
            )
        else:
            gate.notes.append(
                f"{key}: ratio {median:.2f} against baseline {base_ratio:.2f} (floor {floor:.2f})"
                if median is not None
                else f"{key}: no ratio this run, but a round above the floor"
            )
    return gate
