"""The soak test: each worker's memory against its requests, the fit, and the verdict.

Unit tests feed the fit synthetic series (a flat worker with one allocator step, a
leaking one) and sample real processes; the slow tests run the short CI soak against
gunicorn twice: the code as it is must pass, and the test-only leak
(``SHELFWISE_TEST_LEAK_KB``, tests/performance/leak.py) must fail it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from benchmarks.loadtest import memory
from benchmarks.loadtest.memory import MB, MemorySample
from benchmarks.loadtest.scenarios import SCENARIOS

# The short CI soak (README, "Soak test"): 2 workers, sampled every second for 60 s and
# fitted after 20 s, workers warmed up by time only (none serves the long soak's 3,000
# requests in a minute). Unchanged code measured 42-127 MB per 10,000 requests over 11 such
# runs on this shared 2-core machine (load average 12-20; copy-on-write and the allocator
# still settling that early); with the leak, 668-688 at 64 KB a request (4 runs) and
# 1,276-1,309 at 128 KB (3 runs). The leak is 128 KB and the bound 400: three times the
# worst unchanged run, under a third of the leak.
CI_RUN_TIME = "60s"
CI_WARMUP_S = 20.0
CI_INTERVAL_S = 1.0
CI_MAX_MB_PER_10K = 400.0
CI_LEAK_KB = 128


def _series(pid: int, *, n=60, rate=5.0, base_mb=60.0, kb_per_request=0.0, step_at=None):
    """n samples a second apart of a worker serving `rate` requests a second."""
    rows = []
    for i in range(n):
        requests = int(i * rate)
        uss = base_mb * MB + requests * kb_per_request * 1024
        if step_at is not None and i >= step_at:
            uss += 2 * MB  # a new arena, kept: a step, not a slope
        uss += (i % 3) * 4096  # page-sized jitter
        rows.append(MemorySample(float(i), pid, requests, int(uss + 20 * MB), int(uss), int(uss)))
    return rows


# -- the fit ------------------------------------------------------------------------------


def test_segmented_slope_ignores_one_step_that_moves_least_squares():
    xs = [float(i) for i in range(90)]
    ys = [0.0 if i < 45 else 10.0 for i in range(90)]
    plain = memory.least_squares_slope(xs, ys)
    assert plain is not None and plain > 0.15  # about 1.5 x the step / the span
    assert memory.segmented_slope(xs, ys) == pytest.approx(0.0, abs=1e-9)
    growing = [2.0 * x + 5 for x in xs]
    assert memory.segmented_slope(xs, growing) == pytest.approx(2.0)
    assert memory.segmented_slope(xs[:6], growing[:6]) is None  # under 3 points a span


def test_a_flat_worker_with_a_step_passes_and_a_leaking_worker_fails():
    flat = _series(101, step_at=40) + _series(102, step_at=25)
    report = memory.verdict(memory.analyze(flat, warmup_s=10, interval_s=1), max_mb_per_hour=1.0)
    assert report.passed, report.problems
    assert report.mb_per_10k is not None and abs(report.mb_per_10k) < 0.2
    worker = report.workers[0]
    assert (worker.pid, worker.samples, worker.requests) == (101, 50, 245)
    assert worker.requests_per_hour == pytest.approx(18_000, rel=0.01)
    # Least squares over the window reads the kept step as growth; the segments do not.
    assert worker.least_squares_mb_per_10k is not None and worker.least_squares_mb_per_10k > 100

    # 1 KB per request: 9.77 MB per 10,000 requests, 17.6 MB an hour at 5 requests/s.
    leaking = _series(101, kb_per_request=1) + _series(102, kb_per_request=1, step_at=30)
    report = memory.verdict(memory.analyze(leaking, warmup_s=10, interval_s=1), max_mb_per_hour=1.0)
    assert report.mb_per_10k == pytest.approx(10_000 / 1024, rel=0.02)
    assert report.mb_per_hour == pytest.approx(18_000 / 1024, rel=0.02)
    assert not report.passed
    assert report.problems == [
        f"memory growth: {report.mb_per_hour:.3f} MB per hour per worker at this run's rate "
        "(USS, workers pooled) > bound 1"
    ]
    per_10k = memory.verdict(
        memory.analyze(leaking, warmup_s=10, interval_s=1), max_mb_per_10k=10.0
    )
    assert per_10k.passed  # 9.8 MB per 10k is within a 10 MB bound
    table = memory.format_memory(report)
    assert "USS start" in table and "Workers pooled: 9.8" in table and "bound: 1 MB/h" in table


def test_workers_pool_by_requests_served_and_a_nearly_idle_one_is_not_fitted():
    # One busy worker leaking 1 KB a request, one that served 60 requests and grew 3 MB
    # meeting code for the first time: 500 MB per 10k of its requests, on 60 requests.
    busy = _series(101, kb_per_request=1, rate=10)
    idle = [
        MemorySample(
            s.t, 102, s.t, s.rss + int(s.t * 0.05 * MB), s.pss, s.uss + int(s.t * 0.05 * MB)
        )
        for s in _series(102, rate=0)
    ]
    report = memory.analyze(busy + idle, warmup_s=0, interval_s=1, min_requests=100)
    assert [w.mb_per_10k is None for w in report.workers] == [False, True]
    assert report.mb_per_10k == pytest.approx(10_000 / 1024, rel=0.02)
    both = memory.analyze(busy + idle, warmup_s=0, interval_s=1, min_requests=50)
    # Fitted, it counts for its 59 requests against the busy worker's 590.
    idle_fit = both.workers[1]
    assert idle_fit.requests == 59 and idle_fit.mb_per_10k == pytest.approx(500, rel=0.02)
    expected = (10_000 / 1024 * 590 + idle_fit.mb_per_10k * 59) / 649
    assert both.mb_per_10k == pytest.approx(expected, rel=0.02)


def test_each_worker_is_fitted_only_after_its_own_warm_up_requests():
    # Growing 5 KB a request over its first 250 requests (meeting code for the first time,
    # copying the master's pages), then flat: one worker busy, one slower.
    def settling(pid, rate):
        return [
            MemorySample(s.t, pid, s.requests, s.rss, s.pss,
                         s.uss + min(s.requests, 250) * 5 * 1024)
            for s in _series(pid, rate=rate, n=120)
        ]  # fmt: skip

    samples = settling(101, 10) + settling(102, 3)
    by_time = memory.analyze(samples, warmup_s=10, interval_s=1)
    assert by_time.mb_per_10k is not None and by_time.mb_per_10k > 5  # the slow one settles late
    by_requests = memory.analyze(samples, warmup_s=10, warmup_requests=250, interval_s=1)
    assert by_requests.mb_per_10k == pytest.approx(0, abs=0.5)
    assert [w.first_requests for w in by_requests.workers] == [250, 252]  # int(84 * 3)


def test_growth_within_the_run_s_churn_is_noted_not_failed():
    # No leak: USS saws 1.5 MB up and down (the collector, arenas), 20 requests a second.
    def sawing(pid, kb_per_request=0.0):
        return [
            MemorySample(s.t, pid, s.requests, s.rss, s.pss,
                         s.uss + int((s.t % 17) / 17 * 1.5 * MB))
            for s in _series(pid, rate=20, n=120, kb_per_request=kb_per_request)
        ]  # fmt: skip

    churn = memory.verdict(
        memory.analyze(sawing(101), warmup_s=0, interval_s=1), max_mb_per_hour=1.0
    )
    assert churn.mb_per_hour is not None and churn.mb_per_hour > 1.0  # over the bound ...
    assert churn.resolution_mb_per_hour is not None
    assert churn.mb_per_hour < churn.resolution_mb_per_hour  # ... but not resolved
    assert churn.passed and "within this run's resolution" in churn.notes[0]
    # 2 KB a request on top of the same churn: resolved, and failed.
    leak = memory.verdict(
        memory.analyze(sawing(101, kb_per_request=2), warmup_s=0, interval_s=1),
        max_mb_per_hour=1.0,
    )
    assert leak.mb_per_10k is not None and leak.resolution_mb_per_10k is not None
    assert leak.mb_per_10k > leak.resolution_mb_per_10k
    assert not leak.passed and "memory growth" in leak.problems[0]


def test_a_soak_that_could_fit_no_worker_fails():
    short = _series(101, n=12)  # 2 samples after the warm-up
    report = memory.verdict(memory.analyze(short, warmup_s=10, interval_s=1), max_mb_per_hour=1)
    assert not report.passed and "no worker had enough samples" in report.problems[0]
    assert "101: too few samples or requests" in report.notes[0]


def test_samples_round_trip_through_their_file(tmp_path):
    samples = _series(7, n=3)
    memory.save_samples(samples, tmp_path / "m.json")
    assert memory.load_samples(tmp_path / "m.json") == samples


# -- sampling real processes --------------------------------------------------------------


@pytest.mark.slow  # samples a real child process
def test_sampler_reads_each_child_s_memory_and_its_request_count():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sampler = memory.MemorySampler(
            __import__("os").getpid(), lambda: {child.pid: 7}, interval_s=60
        )
        with sampler:
            deadline = time.monotonic() + 10
            while not sampler.samples and time.monotonic() < deadline:
                time.sleep(0.05)
        mine = [s for s in sampler.samples if s.pid == child.pid]
        assert mine, sampler.samples
        assert mine[0].requests == 7
        assert 0 < mine[0].uss <= mine[0].pss <= mine[0].rss
    finally:
        child.kill()
        child.wait()


def test_request_counts_come_from_each_worker_s_prometheus_counter_file(tmp_path):
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    def write(pid: int, values: dict[tuple[str, str], float]) -> None:
        db = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        for (name, status), value in values.items():
            key = mmap_key("shelfwise_http_responses", name, ["status"], [status], "help")
            db.write_value(key, value, 0.0)
        db.close()

    write(11, {("shelfwise_http_responses_total", "2xx"): 40,
               ("shelfwise_http_responses_total", "4xx"): 2,
               ("shelfwise_http_responses_created", "2xx"): 1.7e9})  # fmt: skip
    write(12, {("shelfwise_http_responses_total", "2xx"): 5})
    (tmp_path / "histogram_11.db").write_bytes(b"")  # other metric files are not read
    counts = memory.prometheus_request_counts(tmp_path, "shelfwise_http_responses_total")
    assert counts() == {11: 42, 12: 5}


# -- the short CI soak, end to end --------------------------------------------------------


def test_the_soak_scenario_drives_the_soak_mix_and_samples_memory():
    soak = SCENARIOS["soak"]
    assert soak.memory and [p.name for p in soak.locustfiles] == ["soak.py"]
    assert not any(s.memory for name, s in SCENARIOS.items() if name != "soak")


def test_a_soak_refuses_a_remote_host():
    with pytest.raises(CommandError, match="no --host"):
        call_command("loadtest", scenario="soak", host="http://127.0.0.1:9")


def _ci_soak(out, stdout, stderr):
    call_command(
        "loadtest",
        scenario="soak",
        run_time=CI_RUN_TIME,
        workers=2,
        warmup=CI_WARMUP_S,
        sample_interval=CI_INTERVAL_S,
        warmup_requests=0,
        min_fit_requests=100,
        max_mb_per_10k=CI_MAX_MB_PER_10K,
        out=out,
        stdout=stdout,
        stderr=stderr,
    )


@pytest.mark.slow
@pytest.mark.allow_repeats("seeding and the load data are prepared per tenant of the mix")
@pytest.mark.parametrize("leak_kb", [0, CI_LEAK_KB], ids=["unchanged", "leaking"])
def test_short_soak_passes_unchanged_code_and_fails_a_leak(
    transactional_db, tmp_path, monkeypatch, leak_kb
):
    from tests.performance.test_p99_regression import _Sink

    call_command("seed", scale=0.01, no_progress=True, stdout=_Sink(), stderr=_Sink())
    if leak_kb:
        monkeypatch.setenv("SHELFWISE_TEST_LEAK_KB", str(leak_kb))
    out, stdout, stderr = tmp_path / "soak", _Sink(), _Sink()
    if leak_kb:
        with pytest.raises(CommandError, match="gate failed"):
            _ci_soak(out, stdout, stderr)
        assert "memory growth" in stderr.text and "> bound 400" in stderr.text, stderr.text
    else:
        _ci_soak(out, stdout, stderr)
        assert "Gate passed" in stdout.text
    report = json.loads((out / "memory.json").read_text())
    # Both workers kept for the whole run (no recycling); gunicorn may give one of them
    # most of the requests, and one that served under 100 is not fitted.
    assert len({w["pid"] for w in report["workers"]}) == 2, report
    assert sum(w["requests"] for w in report["workers"] if w["mb_per_10k"] is not None) > 300
    # The leak's own size, per 10,000 requests, is the least it can add.
    if leak_kb:
        assert report["mb_per_10k"] > leak_kb * 10_000 / 1024 * 0.8, report
    else:
        assert report["mb_per_10k"] < CI_MAX_MB_PER_10K, report
