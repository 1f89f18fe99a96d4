"""The per-endpoint table printed at the end of a run."""

from __future__ import annotations

from benchmarks.loadtest.stats import EndpointStats, RunStats

_HEADER = (
    f"{'endpoint':<34} {'requests':>9} {'fails':>6} {'rps':>7} {'p50':>8} {'p95':>8} "
    f"{'p99':>8} {'max':>8} {'queries':>8} {'app CPU':>8} {'gate p99':>9}"
)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _row(s: EndpointStats) -> str:
    queries = "-" if s.mean_queries is None else f"{s.mean_queries:.2f}"
    cpu = "-" if s.mean_app_cpu_ms is None else f"{s.mean_app_cpu_ms:.2f}"
    return (
        f"{s.name:<34} {s.requests:>9,} {s.failures:>6,} {s.rps:>7.1f} {_ms(s.p50):>8} "
        f"{_ms(s.p95):>8} {_ms(s.p99):>8} {_ms(s.max):>8} {queries:>8} {cpu:>8} "
        f"{_ms(s.gate_p99):>9}"
    )


def format_table(stats: RunStats) -> str:
    lines = [
        f"Scenario {stats.scenario}: {stats.users} users, spawn {stats.spawn_rate:g}/s, "
        f"{stats.duration_s:.0f} s; times in ms; queries = mean X-Query-Count per request; "
        "app CPU = mean X-App-CPU-Ms per request; "
        f"gate p99 = median p99 of {stats.rounds} rounds after a {stats.warmup_s:.0f} s "
        "warm-up",
        _HEADER,
        "-" * len(_HEADER),
        *(_row(s) for s in stats.endpoints.values()),
        "-" * len(_HEADER),
        _row(stats.total),
    ]
    return "\n".join(lines)
