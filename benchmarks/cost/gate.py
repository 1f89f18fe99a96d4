"""The cost gate: the figures against the committed baseline, and the ratchet.

- Instructions may grow by up to ``GROWTH`` (5%); buffers and queries may not grow at all.
- An improvement beyond ``GROWTH`` (instructions or buffers) fails too, with the command
  that rewrites the baseline, so that gains are locked in.
- Saving keeps a figure that moved within ``NOISE`` (the reruns' spread is far inside it),
  so re-saving does not churn the file; raising a figure needs a reason, stored beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

GROWTH = 0.05
NOISE = 0.005
GATED = ("instructions", "buffers", "queries")  # rows are reported, not gated
SAVED = ("instructions", "buffers", "rows", "queries", "selects")
TOP_SHOWN = 10
DIFF_SHOWN = 6


class RaiseWithoutReason(ValueError):
    """A saved figure would go up and no --reason says why."""


def save_command(path: Path | str, *, reason: bool = True) -> str:
    command = f"python manage.py bench --cost --save-baseline {path}"
    return command + ' --reason "..."' if reason else command


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    improvements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    path: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures and not self.improvements

    def report(self) -> str:
        if self.passed:
            return "\n".join([*self.notes, "Cost gate: every endpoint within its baseline."])
        lines = [*self.failures, *self.improvements, *self.notes]
        if self.improvements:
            lines.append(
                "Lock the gain in: rewrite the baseline with "
                f"`{save_command(self.path, reason=False)}`"
            )
        elif self.failures:
            lines.append(
                "If the cost is intended, raise the baseline with a reason: "
                f"`{save_command(self.path)}`"
            )
        return "\n".join(lines)


def functions_diff(old: dict[str, int], new: dict[str, int], count: int = DIFF_SHOWN) -> list[str]:
    """The functions that carry the growth, innermost first: those whose inclusive
    instructions grew by at least half the largest growth, the smallest first (every caller
    of the culprit grows by as much; the culprit is the smallest of them). A name missing
    from the old list cost at most that list's last figure there, and one missing from the
    new list at least nothing: each counted so that its growth is the least it can be,
    and a function that only crossed a list's edge does not pass for a culprit."""
    old_floor, new_floor = min(old.values(), default=0), min(new.values(), default=0)
    deltas = {n: new.get(n, 0) - old.get(n, old_floor) for n in set(old) | set(new)}
    largest = max(deltas.values(), default=0)
    if largest <= 0:
        return []
    carriers = sorted(
        (n for n, d in deltas.items() if d >= largest / 2),
        key=lambda n: (new.get(n, new_floor), n),
    )

    def figure(functions: dict[str, int], name: str, floor: int) -> str:
        return f"{functions[name]:,}" if name in functions else f"under {floor:,}"

    return [
        f"    +{deltas[n]:,}  {n}  ({figure(old, n, old_floor)} -> {figure(new, n, new_floor)})"
        for n in carriers[:count]
    ]


def python_functions(functions: dict[str, int], count: int = TOP_SHOWN) -> list[tuple[str, int]]:
    """The first Python functions of a top list (named ``qualname (file)``)."""
    return [(n, c) for n, c in functions.items() if n.endswith(")") and " (" in n][:count]


def _change(old: int, new: int) -> float:
    return (new - old) / old if old else (0.0 if new == old else float("inf"))


def compare(result: dict[str, Any], baseline: dict[str, Any], path: Path | str) -> Verdict:
    verdict = Verdict(path=str(path))
    gated: tuple[str, ...] = GATED
    server, measured_on = result.get("postgres"), baseline.get("postgres")
    if server != measured_on:
        # Another major version stores and plans differently: its buffers say nothing
        # about the code. Instructions and queries are the app's and stay gated.
        gated = tuple(f for f in GATED if f != "buffers")
        verdict.notes.append(
            f"buffers not compared: the baseline is from PostgreSQL {measured_on}, "
            f"this server is PostgreSQL {server}"
        )
    old_endpoints = baseline.get("endpoints", {})
    new_endpoints = result.get("endpoints", {})
    for key in sorted(set(old_endpoints) - set(new_endpoints)):
        verdict.failures.append(f"{key}: in the baseline, not measured")
    for key in sorted(set(new_endpoints) - set(old_endpoints)):
        verdict.improvements.append(f"{key}: measured, not in the baseline")
    for key in [k for k in new_endpoints if k in old_endpoints]:
        old, new = old_endpoints[key], new_endpoints[key]
        grew = []
        for figure in gated:
            before, after = int(old[figure]), int(new[figure])
            change = _change(before, after)
            limit = GROWTH if figure == "instructions" else 0.0
            if change > limit:
                grew.append(
                    f"{key}: {figure} grew {change:+.2%}: {before:,} -> {after:,} "
                    f"(allowed: {'+5%' if limit else 'no growth'})"
                )
            elif figure != "queries" and change < -GROWTH:
                verdict.improvements.append(
                    f"{key}: {figure} improved {change:+.2%}: {before:,} -> {after:,}"
                )
        if grew:
            diff = functions_diff(old.get("functions", {}), new.get("functions", {}))
            if diff:
                grew.append(f"  {key}: the functions whose inclusive instructions grew most:")
                grew.extend(diff)
            verdict.failures.extend(grew)
    return verdict


def new_baseline(
    result: dict[str, Any], old: dict[str, Any] | None, reason: str | None
) -> dict[str, Any]:
    """The baseline to save: figures that moved within NOISE keep their old value; a
    figure that goes up beyond it takes ``reason`` (refused without one)."""
    old_endpoints = (old or {}).get("endpoints", {})
    endpoints: dict[str, Any] = {}
    raised: list[str] = []
    for key, new in result["endpoints"].items():
        before = old_endpoints.get(key)
        entry: dict[str, Any] = {"label": new["label"]}
        reasons = dict(before.get("reasons", {})) if before else {}
        for figure in SAVED:
            value = int(new[figure])
            if before is not None and figure in before:
                previous = int(before[figure])
                if abs(_change(previous, value)) <= (NOISE if figure == "instructions" else 0):
                    value = previous
                elif value > previous:
                    raised.append(f"{key}.{figure}: {previous:,} -> {value:,}")
                    reasons[figure] = reason or ""
            entry[figure] = value
        if before is not None and entry["instructions"] == before["instructions"]:
            entry["functions"] = before.get("functions", new["functions"])
        else:
            entry["functions"] = new["functions"]
        if reasons:
            entry["reasons"] = {k: v for k, v in reasons.items() if k in SAVED}
        endpoints[key] = entry
    if raised and not (reason and reason.strip()):
        raise RaiseWithoutReason(
            "these figures would go up: " + "; ".join(raised) + ". Say why in one line: "
            '--reason "..." (stored beside each raised figure, shown in review)'
        )
    return {"postgres": result.get("postgres"), "endpoints": endpoints}


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"{'endpoint':<12} {'instructions':>14} {'queries':>7} {'buffers':>7} {'rows':>6}  what"
    ]
    for key, e in result["endpoints"].items():
        lines.append(
            f"{key:<12} {e['instructions']:>14,} {e['queries']:>7} {e['buffers']:>7} "
            f"{e['rows']:>6}  {e['label']}"
        )
    for key, e in result["endpoints"].items():
        lines.append(
            f"\n{key}: top {TOP_SHOWN} Python functions by inclusive instructions "
            "(below the handler and middleware chain)"
        )
        total = e["instructions"] or 1
        for name, cost in python_functions(e["functions"]):
            lines.append(f"  {cost:>14,} {cost / total:6.1%}  {name}")
    return "\n".join(lines)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def save(baseline: dict[str, Any], path: Path) -> None:
    path.write_bytes(orjson.dumps(baseline, option=orjson.OPT_INDENT_2) + b"\n")
