"""The load test's gate policy: the limits ``manage.py loadtest`` gates with, each with its
why. The figures behind them (smoke runs and soaks on the loaded 2-core machine):
docs/performance.md, "benchmarks/loadtest/policy.py: the load test's gate and the soak's fit".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from benchmarks.loadtest import gate
from benchmarks.loadtest.stats import RunStats
from perf.budgets import endpoint_budgets

# The in-run reference every endpoint's median and p99 are divided by: the typical API
# request, which queues and slows like the endpoints it measures (/api/v2/ready did not).
REFERENCE = "GET /api/v2/books/{id}"
# The limits for a baseline normalised by REFERENCE: the median catches a 2x CPU catalog
# page that unchanged runs stay under; the p99 (few samples) catches gross tail regressions only.
NORMALISED_GATE = gate.GatePolicy(
    median_max_ratio=1.2, max_ratio=2.0, min_samples=50, min_median_samples=30, noise_floor_ms=10.0
)

# The soak's bound, the seed's "1 MB/hour" per worker at the run's own request rate
# (README, "Soak test"): the mean worker's USS growth per hour after the warm-up.
SOAK_MAX_MB_PER_HOUR = 1.0
# The soak's memory is fitted after this share of the run (unless --warmup): the workers'
# copy-on-write of the master's pages, caches and the allocator's arenas settle first.
SOAK_WARMUP_SHARE = 0.3
# ... and after each worker's first this many requests: a worker's early growth is warm-up.
SOAK_WARMUP_REQUESTS = 3000
# ... and fit only workers that then served this many: over fewer, a page of jitter is a rate.
SOAK_MIN_FIT_REQUESTS = 1000
# A soak's default workers (the config's is 2 per CPU + 1): the same requests over fewer
# workers take each past its warm-up and give it enough requests to fit.
SOAK_WORKERS = 2


def gate_policy(baseline: RunStats, options: dict[str, Any]) -> gate.GatePolicy:
    """The policy for this baseline: a normalised one's limits were measured for it
    (NORMALISED_GATE); the options given override either."""
    policy = NORMALISED_GATE if baseline.reference == REFERENCE else gate.GatePolicy()
    given = {
        name: options.get(name)
        for name in ("max_ratio", "median_max_ratio", "noise_floor_ms")
        if options.get(name) is not None
    }
    return dataclasses.replace(policy, **given)  # type: ignore[arg-type]


def query_budgets_for(names: Iterable[str]) -> dict[str, int]:
    """The declared budgets (``@query_budgets`` on each view, the table the tests assert
    too) of the endpoints a run named, keyed by those names (``GET /api/v2/books/{id}``
    finds ``/api/v2/books/{book_id}``). The gate holds each endpoint's median
    X-Query-Count to it exactly (a token's occasional last-used stamp adds one to a few
    requests, not to the median)."""
    return endpoint_budgets().for_names(list(names))
