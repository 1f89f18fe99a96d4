"""The cost gate (benchmarks/cost/): the comparison and the ratchet (fast), the callgrind
dump reader (fast), and the gate itself against the committed baseline (slow: it runs the
measurement, valgrind included, in about half a minute here)."""

from __future__ import annotations

import copy

import pytest

from benchmarks.baselines import COST
from benchmarks.cost import callgrind, gate
from benchmarks.cost import run as cost

BASELINE = {
    "endpoints": {
        "export": {
            "label": "export",
            "instructions": 1_000_000,
            "buffers": 100,
            "rows": 1000,
            "queries": 3,
            "selects": 3,
            "functions": {
                "book_export_ndjson (catalog/serializers.py)": 900_000,
                "_export_rows (catalog/selectors.py)": 500_000,
                "orjson.dumps": 300_000,
            },
        }
    }
}


def _changed(**figures: object) -> dict:
    result = copy.deepcopy(BASELINE)
    result["endpoints"]["export"].update(figures)
    return result


def test_the_gate_passes_the_same_figures_and_noise():
    assert gate.compare(BASELINE, BASELINE, COST).passed
    assert gate.compare(_changed(instructions=1_049_000), BASELINE, COST).passed
    assert gate.compare(_changed(instructions=951_000), BASELINE, COST).passed


def test_buffers_are_gated_only_against_a_baseline_of_the_same_postgresql_major():
    grown = _changed(buffers=120)
    on_18 = {**BASELINE, "postgres": 18}
    assert not gate.compare({**grown, "postgres": 18}, on_18, COST).passed
    other = gate.compare({**grown, "postgres": 15}, on_18, COST)
    assert other.passed, other.report()
    assert (
        "buffers not compared: the baseline is from PostgreSQL 18, this server is PostgreSQL 15"
        in other.report()
    )
    # Instructions and queries are the app's: still gated on another server.
    assert not gate.compare({**_changed(queries=4), "postgres": 15}, on_18, COST).passed


def test_more_than_five_percent_more_instructions_fails_naming_the_culprit():
    grown = _changed(
        instructions=1_300_000,
        functions={
            "book_export_ndjson (catalog/serializers.py)": 1_200_000,
            "_export_rows (catalog/selectors.py)": 500_000,
            "dumps (json/__init__.py)": 600_000,
        },
    )
    verdict = gate.compare(grown, BASELINE, COST)
    report = verdict.report()
    assert not verdict.passed
    assert "export: instructions grew +30.00%: 1,000,000 -> 1,300,000" in report
    # The innermost function carrying the growth comes first; its callers after it.
    lines = report.splitlines()
    first = next(i for i, line in enumerate(lines) if "dumps (json/__init__.py)" in line)
    caller = next(i for i, line in enumerate(lines) if "book_export_ndjson" in line)
    assert first < caller
    # Missing from the old list: it cost at most the list's last figure there.
    assert "+300,000  dumps (json/__init__.py)  (under 300,000 -> 600,000)" in lines[first]
    assert "orjson.dumps" not in report
    assert "--save-baseline" in report


def test_any_buffer_or_query_growth_fails():
    for figure, value in (("buffers", 101), ("queries", 4)):
        report = gate.compare(_changed(**{figure: value}), BASELINE, COST).report()
        assert f"export: {figure} grew" in report, report
        assert "no growth" in report


def test_an_improvement_beyond_five_percent_fails_with_the_command_that_locks_it_in():
    for figure, value in (("instructions", 900_000), ("buffers", 90)):
        verdict = gate.compare(_changed(**{figure: value}), BASELINE, "b/cost.json")
        assert not verdict.passed
        report = verdict.report()
        assert f"export: {figure} improved" in report
        assert "python manage.py bench --cost --save-baseline b/cost.json`" in report


def test_a_new_or_missing_endpoint_fails():
    empty = {"endpoints": {}}
    assert "not measured" in gate.compare(empty, BASELINE, COST).report()
    assert "not in the baseline" in gate.compare(BASELINE, empty, COST).report()


def test_saving_keeps_noise_and_refuses_a_raise_without_a_reason():
    noisy = _changed(instructions=1_000_400)
    assert gate.new_baseline(noisy, BASELINE, None)["endpoints"]["export"]["instructions"] == (
        1_000_000
    )
    lower = gate.new_baseline(_changed(instructions=800_000), BASELINE, None)
    assert lower["endpoints"]["export"]["instructions"] == 800_000
    raised = _changed(instructions=1_100_000, buffers=120)
    with pytest.raises(gate.RaiseWithoutReason, match=r"export.instructions: 1,000,000"):
        gate.new_baseline(raised, BASELINE, None)
    saved = gate.new_baseline(raised, BASELINE, "the export now checks stock")
    entry = saved["endpoints"]["export"]
    assert entry["instructions"] == 1_100_000
    assert entry["reasons"] == {
        "instructions": "the export now checks stock",
        "buffers": "the export now checks stock",
    }
    # A reason stays beside its figure when a later save does not raise it again.
    again = gate.new_baseline(raised, saved, None)
    assert again["endpoints"]["export"]["reasons"]["buffers"] == "the export now checks stock"


DUMP = """\
version: 1
creator: callgrind-3.19.0
pid: 4242
events: Ir
fl=(1) app.py
fn=(1) 0x0000000000001000
1 10
cfn=(2) 0x0000000000002000
calls=1 0
1 100
cfn=(3) helper_c
calls=2 0
1 30
fn=(2)
1 60
cfn=(2) 0x0000000000002000'2
calls=1 0
1 40
fn=(2) 0x0000000000002000'2
1 40
fn=(3)
1 30
totals: 140
"""


def test_a_dump_is_read_by_name_and_recursion_counts_once(tmp_path):
    dump = tmp_path / "callgrind.out.1"
    dump.write_text(DUMP)
    perf_map = tmp_path / "perf-4242.map"
    perf_map.write_text(
        f"1000 10 py::handle:{tmp_path}/app.py\n2000 10 py::Walker.walk:/elsewhere/w.py\n"
    )
    names = callgrind.perf_map(perf_map, tmp_path)
    profile = callgrind.parse(dump, names)
    assert profile.total == 140
    # walk called itself: its recursive level is inside its first level, not added.
    assert profile.inclusive == {"Walker.walk (/elsewhere/w.py)": 100, "helper_c": 30}
    assert profile.top(5) == [("Walker.walk (/elsewhere/w.py)", 100), ("helper_c", 30)]
    assert profile.top(5, below=0.5) == [("helper_c", 30)]


@pytest.mark.slow
@pytest.mark.django_db
def test_the_cost_gate_holds_against_the_committed_baseline():
    if problem := callgrind.missing_tools():
        pytest.skip(problem)
    result = cost.measure(lambda message: None)
    verdict = gate.compare(result, gate.load(COST), "benchmarks/baselines/cost.json")
    assert verdict.passed, verdict.report()
