"""The load test's numbers and its regression gate: baseline vs current stats.

Unit tests build stats from synthetic samples (exact, unrounded times) and doctor saved
stats files; the slow test runs the smoke scenario end to end against gunicorn and the
embedded PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from benchmarks.baselines import LOADTEST_SMOKE as SMOKE_BASELINE
from benchmarks.loadtest import gate
from benchmarks.loadtest.policy import NORMALISED_GATE, REFERENCE, gate_policy, query_budgets_for
from benchmarks.loadtest.protocol import response_figures
from benchmarks.loadtest.report import format_table
from benchmarks.loadtest.runner import Scenario, parse_duration
from benchmarks.loadtest.scenarios import SCENARIOS
from benchmarks.loadtest.stats import RunStats, median_run, percentile, summarize

BOOKS = "GET /api/v2/books"
DETAIL = "GET /api/v2/books/{id}"
# The views' declared budgets, under the names the load test gives those endpoints.
QUERY_BUDGETS = query_budgets_for([BOOKS, DETAIL, "GET /api/v2/books/search"])
T0 = 1_800_000_000.0
ROOT = Path(__file__).resolve().parents[2]


def _payload(endpoints: dict[str, list[tuple[float, float, int | None, int]]], seconds=60):
    return {"version": 1, "started": T0, "stopped": T0 + seconds, "endpoints": endpoints}


def _steady(ms: float, *, n=600, seconds=60, queries=4, spike_every=0, spike_ms=0.0):
    """n requests spread over the run, every `spike_every`-th one slow."""
    rows = []
    for i in range(n):
        slow = spike_every and i % spike_every == 0
        rows.append((T0 + seconds * i / n, spike_ms if slow else ms + (i % 7) * 0.1, queries, 1))
    return rows


def _stats(endpoints, *, warmup=10.0, rounds=5, seconds=60, reference=None) -> RunStats:
    return summarize(
        _payload(endpoints, seconds),
        scenario="normal",
        users=50,
        spawn_rate=5,
        run_time_s=seconds,
        warmup_s=warmup,
        rounds=rounds,
        reference=reference,
    )


def _baseline() -> RunStats:
    return _stats({BOOKS: _steady(40.0, spike_every=50, spike_ms=40.0), DETAIL: _steady(8.0)})


# -- numbers ------------------------------------------------------------------------------


def test_percentile_interpolates_between_unrounded_samples():
    values = [10.37, 11.02, 12.5, 101.4]
    assert percentile(values, 0.0) == 10.37
    assert percentile(values, 1.0) == 101.4
    assert percentile(values, 0.5) == pytest.approx((11.02 + 12.5) / 2)
    # Locust's buckets (10 ms wide above 100 ms) would say 100; the sample says 101.4.
    assert percentile([99.0, 101.4, 104.9], 0.5) == 101.4


def test_summary_counts_queries_failures_and_excludes_the_warm_up_from_the_gate():
    cold = [(T0 + i * 0.01, 900.0, 5, 1) for i in range(50)]  # first second: cold workers
    rows = cold + _steady(20.0)
    rows.append((T0 + 30, 25.0, None, 0))  # a failure without a query header
    stats = _stats({BOOKS: rows})
    books = stats.endpoints[BOOKS]
    assert (books.requests, books.failures) == (651, 1)
    assert books.queries == 4  # median over successful responses
    assert books.mean_queries == pytest.approx((50 * 5 + 600 * 4) / 650, abs=0.001)
    assert books.max == 900.0 and books.p99 == 900.0  # the table shows the whole run
    assert len(books.round_p99) == 5
    assert books.gate_p99 is not None and books.gate_p99 < 21  # the gate does not see it


def test_summary_and_table_give_the_mean_app_cpu_per_request():
    # (start, ms, queries, ok, app CPU ms): 2.0 and 4.0 ms on successes; a failure's
    # figure and a response without the header (prod profile) are left out.
    rows = [(T0 + i * 0.1, 20.0, 4, 1, 2.0 if i % 2 else 4.0) for i in range(100)]
    rows += [(T0 + 11, 30.0, None, 0, 90.0), (T0 + 12, 20.0, None, 1, None)]
    stats = _stats({BOOKS: rows, DETAIL: _steady(8.0)})
    assert stats.endpoints[BOOKS].mean_app_cpu_ms == 3.0
    assert stats.endpoints[DETAIL].mean_app_cpu_ms is None  # the recorder's older rows
    assert stats.total.mean_app_cpu_ms == 3.0
    header, *_, total = format_table(stats).splitlines()[1:]
    assert header.split()[-5:] == ["queries", "app", "CPU", "gate", "p99"]
    assert total.split()[-2] == "3.00"
    saved = stats.to_json()
    assert saved["endpoints"][BOOKS]["mean_app_cpu_ms"] == 3.0
    # A stats file saved before the column (a kept baseline) still loads.
    del saved["endpoints"][BOOKS]["mean_app_cpu_ms"]
    assert RunStats.from_json(saved).endpoints[BOOKS].mean_app_cpu_ms is None


def test_the_recorder_reads_query_count_and_app_cpu_from_the_headers():
    headers = {"X-Query-Count": "4", "X-Query-Time-Ms": "1.20", "X-App-CPU-Ms": "3.25"}
    assert response_figures(headers) == (4, 3.25)
    assert response_figures({}) == (None, None)
    assert response_figures({"X-Query-Count": "x", "X-App-CPU-Ms": "nan"}) == (None, None)


def test_one_noisy_round_does_not_move_the_gate_p99():
    quiet = _stats({BOOKS: _steady(20.0, n=1000)})
    rows = _steady(20.0, n=1000)
    # A neighbour's burst: every request of the second round (20-30 s) takes 200 ms.
    noisy = [(t, 200.0 if 20 <= t - T0 < 30 else ms, q, ok) for t, ms, q, ok in rows]
    stats = _stats({BOOKS: noisy})
    assert stats.endpoints[BOOKS].p99 == 200.0
    assert stats.endpoints[BOOKS].gate_p99 == quiet.endpoints[BOOKS].gate_p99


def test_scenarios_match_the_issue():
    sizes = {n: (s.users, s.spawn_rate, s.run_time_s) for n, s in SCENARIOS.items()}
    assert sizes["normal"] == (50, 5, 300)
    assert sizes["peak"] == (150, 15, 600)
    assert sizes["onboarding"] == (50, 10, 900)  # the seed's: 10/s for 15 minutes
    assert 20 <= sizes["smoke"][2] <= 30
    assert len(SCENARIOS["onboarding"].locustfiles) == 2
    assert parse_duration("1h2m3s") == 3723 and parse_duration("90") == 90
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert Scenario("x", 50, 5, "5m", ()).effective_warmup_s == 15


@pytest.mark.slow  # a fresh interpreter's imports
def test_the_loadtest_engine_imports_no_app_and_the_django_side_never_imports_locust():
    code = (
        "import sys; import benchmarks.loadtest.gate, benchmarks.loadtest.report, "
        "benchmarks.loadtest.runner, benchmarks.loadtest.stats, perf.process; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('catalog', 'orders', 'tenants', 'shelfwise', 'locust', 'gevent', 'django')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- the gate -----------------------------------------------------------------------------


def test_gate_passes_on_identical_stats(tmp_path):
    path = tmp_path / "baseline.json"
    _baseline().save(path)
    result = gate.compare(RunStats.load(path), RunStats.load(path))
    assert result.passed, result.messages()


def test_gate_fails_on_a_p99_regression_with_a_clear_message():
    slower = _stats(
        {BOOKS: _steady(40.0, spike_every=50, spike_ms=40.0), DETAIL: _steady(8.0)}
        | {BOOKS: _steady(55.0)}
    )
    result = gate.compare(slower, _baseline())
    assert not result.passed
    assert not result.problems  # latency only: the command may measure again
    (problem,) = result.latency.values()
    assert problem.startswith("p99 regression: GET /api/v2/books 41 ms -> 56 ms (")
    assert problem.endswith("% of baseline)")


def test_gate_tolerates_20_percent_and_rises_under_the_noise_floor():
    within_ratio = _stats({BOOKS: _steady(47.0), DETAIL: _steady(8.0)})
    assert gate.compare(within_ratio, _baseline()).passed
    # 8 ms -> 12 ms is +50%, but 4 ms is within the 5 ms floor: a note, not a failure.
    fast_jitter = _stats({BOOKS: _steady(40.0), DETAIL: _steady(12.0)})
    result = gate.compare(fast_jitter, _baseline())
    assert result.passed
    assert any("noise floor" in note for note in result.notes)
    strict = gate.GatePolicy(noise_floor_ms=0)
    assert not gate.compare(fast_jitter, _baseline(), strict).passed


def test_gate_fails_on_any_changed_query_count_and_any_failure():
    more_queries = _stats({BOOKS: _steady(40.0, queries=5), DETAIL: _steady(8.0)})
    assert gate.compare(more_queries, _baseline()).problems == [
        "queries per request: GET /api/v2/books 4 -> 5"
    ]
    fewer = _stats({BOOKS: _steady(40.0, queries=3), DETAIL: _steady(8.0)})
    assert not gate.compare(fewer, _baseline()).passed  # exact: update the baseline

    failing = _steady(40.0)
    failing[100] = (failing[100][0], 30.0, None, 0)
    result = gate.check_failures(_stats({BOOKS: failing}))
    assert result.problems == ["failed requests: GET /api/v2/books 1 of 600"]


def test_gate_does_not_judge_p99_on_a_handful_of_requests():
    few = _stats({BOOKS: _steady(40.0, n=30)})
    slow_few = _stats({BOOKS: _steady(400.0, n=30)})
    result = gate.compare(slow_few, few)
    assert result.passed
    assert any("not gated" in note for note in result.notes)


READY = "GET /api/v2/ready"


def _machine(speed: float, *, books_ms: float = 40.0) -> RunStats:
    """A run on a machine `speed` times as slow as the baseline's: every request, the
    reference too, takes `speed` times as long."""
    return _stats(
        {
            BOOKS: _steady(books_ms * speed),
            DETAIL: _steady(8.0 * speed),
            READY: _steady(2.0 * speed, n=200),
        },
        reference=READY,
    )


def test_summary_normalises_each_gate_p99_by_the_reference_median():
    stats = _machine(1.0)
    assert stats.reference == READY
    # _steady adds (i % 7) * 0.1 ms: the median of 2.0 .. 2.6 ms is 2.3.
    assert stats.reference_ms == pytest.approx(2.3)
    books = stats.endpoints[BOOKS]
    assert books.normalised_p99 == pytest.approx(books.gate_p99 / 2.3, rel=1e-3)
    assert RunStats.from_json(stats.to_json()).endpoints[BOOKS].normalised_p99 == (
        books.normalised_p99
    )
    assert _stats({BOOKS: _steady(40.0)}, reference=READY).reference is None  # not requested


def test_a_normalised_gate_passes_a_slower_machine_and_fails_one_slower_endpoint():
    baseline = _machine(1.0)
    slower_machine = _machine(2.5)
    in_ms = gate.compare(dataclasses.replace(slower_machine, reference=None), baseline)
    assert in_ms.latency.keys() == {BOOKS, DETAIL}  # compared in ms: a false alarm
    policy = gate.GatePolicy(noise_floor_ms=5.0)
    assert gate.compare(slower_machine, baseline, policy).passed  # normalised: none

    regressed = _machine(2.5, books_ms=80.0)  # books 2x on that slower machine
    result = gate.compare(regressed, baseline, policy)
    (message,) = result.latency.values()
    assert message.startswith(
        f"p99 regression: {BOOKS} 17.65x -> 37.85x the reference's median (214% of baseline, "
        "limit 120%; 201 ms where the baseline predicts 94 ms at this run's reference 5.3 ms, "
    )
    assert message.endswith("baseline's 2.3 ms)")


def test_a_normalised_gate_can_hold_the_median_too():
    baseline = _machine(1.0)
    # Books' median doubles, its tail does not (a CPU regression under a queue-bound tail).
    rows = _steady(80.0)
    tail_kept = [(t, 40.6 if i % 20 == 0 else ms_, q, ok) for i, (t, ms_, q, ok) in enumerate(rows)]
    current = _stats(
        {BOOKS: tail_kept, DETAIL: _steady(8.0), READY: _steady(2.0, n=200)}, reference=READY
    )
    policy = gate.GatePolicy(max_ratio=3.0, median_max_ratio=1.5, noise_floor_ms=5.0)
    (message,) = gate.compare(current, baseline, policy).latency.values()
    assert message.startswith(f"median regression: {BOOKS} 17.52x -> 34.91x the reference's")
    assert gate.compare(current, baseline, gate.GatePolicy(max_ratio=3.0)).passed


def test_a_baseline_from_several_runs_takes_each_figure_s_median(tmp_path):
    runs = [_machine(1.0, books_ms=ms_) for ms_ in (30.0, 60.0, 40.0)]
    merged = median_run(runs)
    books = merged.endpoints[BOOKS]
    assert books.gate_p50 == runs[2].endpoints[BOOKS].gate_p50
    assert books.normalised_p50 == runs[2].endpoints[BOOKS].normalised_p50
    assert merged.reference_ms == runs[0].reference_ms and merged.reference == READY
    paths = []
    for i, run in enumerate(runs):
        paths.append(tmp_path / f"run{i}.json")
        run.save(paths[-1])
    with pytest.raises(CommandError, match="gate failed"):  # 4 queries: not the budgets
        call_command(
            "loadtest", from_stats=paths, save_baseline=tmp_path / "b.json", stdout=_Sink(),
            stderr=_Sink(),
        )  # fmt: skip
    assert RunStats.load(tmp_path / "b.json").endpoints[BOOKS].gate_p99 == books.gate_p99
    odd = _machine(1.0)
    odd.endpoints[BOOKS].queries = 5
    with pytest.raises(ValueError, match="disagree on its query count"):
        median_run([*runs, odd])


def test_a_normalised_rise_within_the_noise_floor_passes():
    baseline = _machine(1.0)
    fast = _stats(  # detail 8 -> 12 ms on the same machine: +50%, but only 4 ms
        {BOOKS: _steady(40.0), DETAIL: _steady(12.0), READY: _steady(2.0, n=200)},
        reference=READY,
    )
    result = gate.compare(fast, baseline, gate.GatePolicy(noise_floor_ms=5.0))
    assert result.passed
    assert any("noise floor" in note for note in result.notes)


def test_a_baseline_without_the_reference_is_compared_in_ms():
    baseline = _stats({BOOKS: _steady(40.0), DETAIL: _steady(8.0)})
    result = gate.compare(_machine(1.0), baseline)
    assert result.passed
    assert not any("normalised" in note for note in result.notes)
    result = gate.compare(_stats({BOOKS: _steady(40.0), DETAIL: _steady(8.0)}), _machine(1.0))
    assert "baseline is normalised by GET /api/v2/ready, this run by nothing" in " ".join(
        result.notes
    )


def test_query_budgets_are_exact():
    stats = _stats({BOOKS: _steady(40.0, queries=4), DETAIL: _steady(8.0, queries=3)})
    assert gate.check_budgets(stats, {BOOKS: 4, DETAIL: 3}).passed
    assert gate.check_budgets(stats, {BOOKS: 4, DETAIL: 2}).problems == [
        "query budget: GET /api/v2/books/{id} runs 3 queries per request, budget 2"
    ]


def test_command_gates_a_doctored_stats_file_and_passes_an_identical_one(tmp_path):
    baseline = tmp_path / "baseline.json"
    stats = _stats(
        {
            BOOKS: _steady(40.0, queries=QUERY_BUDGETS[BOOKS]),
            DETAIL: _steady(8.0, queries=QUERY_BUDGETS[DETAIL]),
        }
    )
    stats.save(baseline)
    call_command("loadtest", from_stats=baseline, baseline=baseline, stdout=_Sink())

    doctored = json.loads(baseline.read_text())
    doctored["endpoints"][BOOKS]["gate_p99"] *= 1.5
    current = tmp_path / "current.json"
    current.write_text(json.dumps(doctored))
    err = _Sink()
    with pytest.raises(CommandError, match="gate failed: 1 problem"):
        call_command("loadtest", from_stats=current, baseline=baseline, stdout=_Sink(), stderr=err)
    assert "p99 regression: GET /api/v2/books 41 ms -> 61 ms (150% of baseline)" in err.text


class _Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


# -- end to end ---------------------------------------------------------------------------


def test_the_committed_smoke_baseline_is_normalised_budgeted_and_says_where_it_was_made():
    baseline = RunStats.load(SMOKE_BASELINE)
    assert (baseline.scenario, baseline.users) == ("smoke", SCENARIOS["smoke"].users)
    assert baseline.reference == REFERENCE and baseline.reference_ms
    for name, budget in query_budgets_for(baseline.endpoints).items():
        assert baseline.endpoints[name].queries == budget, name  # a budget moved: remake it
    assert baseline.meta["machine"]["cpus"] and baseline.meta["handicap"] is None
    assert gate_policy(baseline, {}) == NORMALISED_GATE


@pytest.mark.slow
@pytest.mark.allow_repeats("seeding and the load data are prepared per tenant of the mix")
def test_smoke_scenario_against_gunicorn_passes_the_committed_baseline(transactional_db, tmp_path):
    """CI's load-test gate: no failed request, every query count on its budget, and each
    endpoint's median and p99, divided by the reference's median from the same run, within
    NORMALISED_GATE of the committed baseline's (made on the data seeded here)."""
    call_command("seed", scale=0.01, no_progress=True, stdout=_Sink(), stderr=_Sink())
    out = tmp_path / "run"
    stdout, stderr = _Sink(), _Sink()
    try:
        call_command(
            "loadtest", scenario="smoke", workers=2, out=out, baseline=SMOKE_BASELINE,
            attempts=1, stdout=stdout, stderr=stderr,
        )  # fmt: skip
    except CommandError:
        pytest.fail(f"{stdout.text}\n{stderr.text}")
    stats = RunStats.load(out / "stats.json")
    assert stats.total.failures == 0 and stats.reference == REFERENCE
    for name in ("GET /api/v2/books", "GET /api/v2/books/{id}", "GET /api/v2/books/search"):
        assert stats.endpoints[name].queries == QUERY_BUDGETS[name], name
        # The recorder read X-App-CPU-Ms too (the test profile sends the query headers).
        assert (stats.endpoints[name].mean_app_cpu_ms or 0) > 0, name
    assert (out / "report.html").stat().st_size > 0
    assert "Gate passed (failures, query budgets, baseline)" in stdout.text


@pytest.mark.django_db
def test_revoke_tokens_ends_every_live_load_test_token(tenant):
    import io

    from django.core.management import call_command

    from tenants.models import ApiToken
    from tenants.services import api_token_issue
    from tests.factories import UserFactory

    user = UserFactory(tenant=tenant)
    api_token_issue(user=user, name="loadtest")
    kept, _ = api_token_issue(user=user, name="integration")
    out = io.StringIO()
    call_command("loadtest", "--revoke-tokens", stdout=out)
    assert "Revoked 1 load-test token(s)." in out.getvalue()
    assert not ApiToken.objects.filter(name="loadtest", revoked_at__isnull=True).exists()
    kept.refresh_from_db()
    assert kept.revoked_at is None


def test_command_gates_query_counts_against_the_views_declared_budgets(tmp_path):
    budget = QUERY_BUDGETS[BOOKS]
    run = tmp_path / "run.json"
    _stats({BOOKS: _steady(40.0, queries=budget + 1)}).save(run)
    err = _Sink()
    with pytest.raises(CommandError, match="gate failed: 1 problem"):
        call_command("loadtest", from_stats=run, stdout=_Sink(), stderr=err)
    assert f"GET /api/v2/books runs {budget + 1} queries per request, budget {budget}" in err.text
