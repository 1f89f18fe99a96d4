"""deploy/prometheus: the alert rules name metrics the app exports and levels it emits,
and (with Debian's prometheus package) pass promtool's own check and unit tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from perf import metrics  # noqa: F401 - registers the app's metrics
from perf.conf import PerfSettings, query_level

RULES_DIR = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
RULES = RULES_DIR / "alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: install Debian's prometheus package"
)


def _rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def _exported() -> set[str]:
    """Every sample name the app's registry can expose (histograms' _bucket and so on)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count"))
    return names


def test_rules_use_only_metrics_the_app_exports():
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    used = {
        name
        for rule in _rules()
        for name in re.findall(r"\b(?:route:)?shelfwise_[a-z_:0-9]+", rule["expr"])
    }
    unknown = sorted(used - _exported() - recorded)
    assert unknown == [], f"alerts.yml names metrics nobody exports: {unknown}"


def test_the_query_levels_in_the_rules_are_the_levels_the_app_emits():
    emitted = {query_level(n, PerfSettings()) for n in range(200)} - {None}
    in_rules = {
        level for rule in _rules() for level in re.findall(r'level="([a-z]+)"', rule["expr"])
    }
    assert in_rules == emitted == {"warn", "alert", "page"}


def test_every_alert_has_a_severity_and_says_what_to_do():
    alerts = [rule for rule in _rules() if "alert" in rule]
    assert {rule["alert"] for rule in alerts} >= {
        "QueryCountWarn",
        "QueryCountAlert",
        "QueryCountPage",
        "RouteP99LatencyHigh",
        "RouteErrorRateHigh",
    }
    for rule in alerts:
        assert rule["labels"]["severity"] in {"ticket", "warning", "page"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@needs_promtool
def test_promtool_checks_the_rules(child_process):
    done = child_process(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_each_alert_fires_on_its_series_and_stays_quiet_otherwise(child_process):
    done = child_process(
        [PROMTOOL, "test", "rules", "alerts_test.yml"],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
