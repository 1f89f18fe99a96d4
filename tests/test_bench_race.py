"""`manage.py bench --race` and its ratio gate (perf/bench/)."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.core.management import CommandError, call_command

from perf.bench import gate, race

TENANT = "atlas-distribution"


def _result(ratios: dict[str, list[float]], cpu_ratios: dict[str, list[float]] | None = None):
    """A race result as the race writes it, reduced to what the gate reads: per round the
    req/s ratio and the app CPU per request of both (the CPU ratio, as given, or the same
    as the req/s ratio)."""
    endpoints = {}
    for key, per_round in ratios.items():
        cpu = (cpu_ratios or {}).get(key, per_round)
        rounds = [
            {
                "round": i + 1,
                "ratio": r,
                "shelfwise": {"app_cpu_ms": 10.0},
                "twin": {"app_cpu_ms": 10.0 * c},
            }
            for i, (r, c) in enumerate(zip(per_round, cpu, strict=True))
        ]
        endpoints[key] = {"rounds": rounds}
    return {"meta": {"contenders": ["shelfwise", "twin"]}, "endpoints": endpoints}


BASELINE = _result({"page1": [0.25, 0.27, 0.24], "detail": [0.12, 0.11, 0.13]})


def test_the_gate_passes_equal_ratios():
    assert gate.compare(BASELINE, BASELINE).passed


def test_the_gate_passes_rerun_noise():
    # Rounds off by up to a third either way (the CPU ratio's rerun spread here: 1.3x).
    rerun = _result({"page1": [0.18, 0.30, 0.21], "detail": [0.09, 0.16, 0.10]})
    assert gate.compare(rerun, BASELINE).passed


def test_the_gate_passes_a_throughput_drop_that_costs_no_more_cpu():
    # Measured here: a rerun under heavier machine load halved the req/s ratio of the
    # cursor page while each request cost the same CPU as before.
    busier = _result(
        {"page1": [0.12, 0.11, 0.13], "detail": [0.12, 0.11, 0.13]},
        cpu_ratios={"page1": [0.25, 0.27, 0.24]},
    )
    assert gate.compare(busier, BASELINE).passed


def test_the_gate_fails_a_doctored_2x_slowdown():
    slower = _result({"page1": [0.125, 0.135, 0.12], "detail": [0.12, 0.11, 0.13]})
    checked = gate.compare(slower, BASELINE)
    assert not checked.passed
    (failure,) = checked.failures
    assert failure.startswith("page1: below baseline / 1.5 in every round: ratio 0.125")
    assert "cpu_ratio 0.125" in failure


def test_one_slow_round_alone_does_not_fail_the_gate():
    one_bad = _result({"page1": [0.10, 0.10, 0.26], "detail": [0.12, 0.11, 0.13]})
    assert gate.compare(one_bad, BASELINE).passed


def test_the_gate_refuses_other_contenders():
    other = _result({"page1": [0.25, 0.27, 0.24]}) | {"meta": {"contenders": ["a", "b"]}}
    assert not gate.compare(other, BASELINE).passed


def test_a_missing_wrk_is_a_clear_error_naming_the_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(race.RaceError, match=r"Debian package `wrk`"):
        race.require_wrk()


def test_a_server_that_does_not_start_is_a_clear_error():
    dead = race.Contender("twin", (sys.executable, "-c", "raise SystemExit(3)"), os.environ, "/")
    with pytest.raises(race.RaceError, match=r"twin did not start: .*status 3"):
        race._start(dead, race.RaceConfig())


# --- The proof of identical bodies -------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def two_servers() -> Iterator[tuple[str, str]]:
    """Two tiny servers: the same page, except that the second's last price differs."""

    def app(price: bytes):
        def serve(environ, start_response):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"results":[{"id":1,"price":"1.00"},{"id":2,"price":"' + price + b'"}]}']

        return serve

    servers = [make_server("127.0.0.1", 0, app(p), handler_class=_Quiet) for p in (b"2.00", b"2.5")]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield tuple(f"http://127.0.0.1:{s.server_port}" for s in servers)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_different_bodies_refuse_the_race_with_a_diff(two_servers):
    first, second = two_servers
    same = race.prove_identical({"a": first, "b": first}, [race.Endpoint("x", "/x")], {})
    assert same == {"x": {"path": "/x", "status": 200, "bytes": 61}}
    with pytest.raises(race.RaceError, match="refusing to race") as refused:
        race.prove_identical({"a": first, "b": second}, [race.Endpoint("x", "/x")], {})
    assert '-{"id":2,"price":"2.00"}]}' in str(refused.value)
    assert '+{"id":2,"price":"2.5"}]}' in str(refused.value)


# --- End to end ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (Debian package `wrk`)")
def test_bench_race_end_to_end(tmp_path):
    # A few hundred books: the seeded mix at 0.5% (250 for the largest tenant).
    call_command(
        "seed", "--scale", "0.005", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO()
    )
    result_path = tmp_path / "race.json"
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(
            "bench", "--race", "--rounds", "1", "--duration", "1", "--warmup", "0",
            "--workers", "1", "--connections", "2", "--endpoints", "page1,cursor",
            "--tenant", TENANT, "--json", str(result_path), stdout=out, stderr=err,
        )  # fmt: skip
    finally:
        print(err.getvalue())  # progress, shown when the test fails
    assert "Bodies identical on 2 endpoint(s)." in err.getvalue()
    result = json.loads(result_path.read_text())
    assert result["bodies"]["identical"] is True
    assert set(result["bodies"]["endpoints"]) == {"page1", "cursor"}
    assert result["meta"]["contenders"] == ["shelfwise", "twin"]
    assert result["meta"]["tenant"] == TENANT
    assert result["problems"] == []
    for entry in result["endpoints"].values():
        (only,) = entry["rounds"]
        assert only["order"] == ["shelfwise", "twin"]
        for name in ("shelfwise", "twin"):
            sample = only[name]
            assert sample["requests"] > 0 and sample["errors"] == 0
            assert sample["app_cpu_ms"] > 0 and sample["pg_cpu_ms"] is not None
            assert sample["p50_ms"] <= sample["p99_ms"]
        assert only["ratio"] == round(only["shelfwise"]["rps"] / only["twin"]["rps"], 3)
        assert entry["median"]["ratio"] == only["ratio"]
        cpu = only["twin"]["app_cpu_ms"] / only["shelfwise"]["app_cpu_ms"]
        assert only["cpu_ratio"] == entry["median"]["cpu_ratio"] == round(cpu, 3)
    assert "| catalog page 1 (count) |" in out.getvalue()

    # The gate passes a result compared with itself, read back from its file.
    again = io.StringIO()
    call_command(
        "bench", "--race", "--from-json", str(result_path), "--baseline", str(result_path),
        stdout=again, stderr=io.StringIO(),
    )  # fmt: skip
    assert "Ratio gate passed (margin 1.5)." in again.getvalue()


def test_unknown_endpoints_are_refused():
    with pytest.raises(CommandError, match="unknown"):
        call_command("bench", "--race", "--endpoints", "page1,nope")
