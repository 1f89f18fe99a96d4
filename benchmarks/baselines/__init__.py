"""The committed baselines, one JSON file each; how each was made: docs/performance.md.

Every reader and writer names them through these paths (``--baseline`` and
``--save-baseline`` take any path; these are the ones CI gates against).
"""

from __future__ import annotations

from pathlib import Path

BASELINES = Path(__file__).resolve().parent
# The CI race (benchmarks.race.run.CI_RACE_ARGS) gates its ratios against this one.
RACE_CI = BASELINES / "race_ci.json"
# The smoke load test's, normalised by the reference endpoint (benchmarks.loadtest.policy).
LOADTEST_SMOKE = BASELINES / "loadtest_smoke.json"
# The cost gate's (benchmarks.cost.gate; tests/test_bench_cost.py gates against it).
COST = BASELINES / "cost.json"
