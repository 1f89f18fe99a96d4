"""The load test's scenarios and the locustfiles they run (locust/, beside the project)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from benchmarks.loadtest.runner import Scenario

ROOT = Path(settings.BASE_DIR)
LOCUSTFILE = ROOT / "locust" / "locustfile.py"
BULK_IMPORT = ROOT / "locust" / "bulk_import.py"
SOAK = ROOT / "locust" / "soak.py"

SCENARIOS = {
    s.name: s
    for s in (
        Scenario("smoke", 10, 5, "25s", (LOCUSTFILE,), "CI-sized: every endpoint, briefly",
                 rounds=3),
        Scenario("normal", 50, 5, "5m", (LOCUSTFILE,), "a normal day"),
        Scenario("peak", 150, 15, "10m", (LOCUSTFILE,), "a sale: three times the users"),
        # The seed's onboarding: 50 users spawned at 10/s for 15 minutes, bulk imports
        # running beside the browsing mix.
        Scenario("onboarding", 50, 10, "15m", (LOCUSTFILE, BULK_IMPORT),
                 "a distributor onboarding: bulk imports beside the browsing mix"),
        # Leak detection: every endpoint for a long run, each worker's memory sampled.
        Scenario("soak", 20, 5, "15m", (SOAK,),
                 "a soak: every endpoint, each worker's memory against its requests",
                 memory=True),
    )
}  # fmt: skip


def uses_onboarding(scenario: Scenario) -> bool:
    """The bulk-import operator and the soak's operator manage the onboarding tenant."""
    return bool({BULK_IMPORT, SOAK} & set(scenario.locustfiles))
