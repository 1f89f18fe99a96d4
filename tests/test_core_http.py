"""core.http_client: the circuit breaker's states, and the retries' jittered backoff."""

from __future__ import annotations

import random
import time

from core.http_client import BreakerState, CallFailed, CircuitBreaker, ClientConfig, ResilientClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_consecutive_failures_only():
    breaker = CircuitBreaker(failures=3, reset_s=10, clock=Clock())
    for _ in range(2):
        breaker.failed()
    breaker.succeeded()  # the count restarts
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state is BreakerState.CLOSED
    breaker.failed()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()


def test_half_open_lets_one_probe_through():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_s=10, clock=clock)
    breaker.failed()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else, while it runs
    breaker.failed()  # the probe failed: open for another reset_s
    assert breaker.state is BreakerState.OPEN
    clock.now += 10.1
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()


def test_a_probe_without_a_verdict_frees_the_slot():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_s=1, clock=clock)
    breaker.failed()
    clock.now += 2
    assert breaker.allow()
    breaker.release_probe()
    assert breaker.allow()


def test_retries_back_off_with_full_jitter(metadata_server):
    metadata_server.mode = "fail"
    pauses: list[float] = []
    config = ClientConfig(
        base_url=metadata_server.url,
        connect_timeout_s=2,
        read_timeout_s=2,
        retries=3,
        backoff_s=0.1,
        max_connections=1,
        keepalive_expiry_s=30,
        breaker_failures=100,
        breaker_reset_s=30,
    )
    client = ResilientClient(config, sleep=pauses.append, rng=random.Random(7))
    try:
        try:
            client.get("/isbn/9780000000001.json", deadline=time.monotonic() + 30)
        except CallFailed as exc:
            assert exc.reason == "http_500"
        else:
            raise AssertionError("a failing service must raise CallFailed")
    finally:
        client.close()
    assert metadata_server.requests == 4
    assert len(pauses) == 3
    assert all(0 <= pause <= 0.1 * 2**n for n, pause in enumerate(pauses))
    assert len(set(pauses)) == 3  # jittered, not a fixed schedule
    assert metadata_server.connections == 1  # the retries reuse the connection


def test_a_call_with_no_time_left_is_no_failure_of_the_service(metadata_server):
    config = ClientConfig(
        base_url=metadata_server.url,
        connect_timeout_s=2,
        read_timeout_s=2,
        retries=0,
        backoff_s=0.1,
        max_connections=1,
        keepalive_expiry_s=30,
        breaker_failures=1,
        breaker_reset_s=30,
    )
    client = ResilientClient(config)
    try:
        try:
            client.get("/isbn/9780000000001.json", deadline=time.monotonic() - 1)
        except CallFailed as exc:
            assert exc.reason == "deadline"
        else:
            raise AssertionError("a call past its deadline must raise CallFailed")
        assert client.breaker.state is BreakerState.CLOSED
    finally:
        client.close()
    assert metadata_server.requests == 0
