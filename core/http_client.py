"""One pooled HTTP client per outside service: kept-alive connections, connect and read
timeouts, bounded retries with jittered backoff, and a circuit breaker.

Built on httpx. A ``ResilientClient`` is meant to live as long as the process (one per
service, built lazily by its owner) and is safe to share between threads: httpx's pool
hands each request a free kept-alive connection, so N calls cost at most
``max_connections`` TCP handshakes, not N.

Retries happen only where another attempt can help: a 5xx answer or a timeout. A 4xx
answer, a refused connection or a broken body are answers, returned or raised at once.
Every call also takes a ``deadline`` (a ``time.monotonic()`` instant): no attempt starts,
and no attempt waits, past it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx


@dataclass(frozen=True, slots=True)
class ClientConfig:
    base_url: str
    connect_timeout_s: float
    read_timeout_s: float
    retries: int
    backoff_s: float
    max_connections: int
    keepalive_expiry_s: float
    breaker_failures: int
    breaker_reset_s: float


class CallFailed(Exception):
    """The service gave no usable answer (after the retries): 5xx, timeout, transport
    error, the circuit open, or no time left."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoTimeLeft(CallFailed):
    """The deadline passed before the first attempt: no verdict on the service."""

    def __init__(self) -> None:
        super().__init__("deadline")


class CircuitOpen(CallFailed):
    def __init__(self) -> None:
        super().__init__("circuit_open")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed: calls go through; ``failures`` failed calls in a row open it. Open: calls
    fail at once for ``reset_s``. Then half-open: one call (the probe) goes through, the
    others still fail at once; the probe's success closes it, its failure opens it again.

    Thread-safe; per process (a service that fails for one worker is not asked by the
    others' breakers, which learn it themselves)."""

    def __init__(
        self, *, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = max(1, failures)
        self._reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._reset_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow(self) -> bool:
        """May a call go out now? In half-open, True for the one probe only: the caller
        must then report its outcome with ``succeeded`` or ``failed``."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def release_probe(self) -> None:
        """A call ended without a verdict on the service: let another probe go."""
        with self._lock:
            self._probing = False

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._probing = False


def _retryable(response: httpx.Response) -> bool:
    return response.status_code >= 500


class ResilientClient:
    """``get(path, deadline=...)``: the response of a 2xx-4xx answer, else CallFailed."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.breaker = CircuitBreaker(
            failures=config.breaker_failures, reset_s=config.breaker_reset_s
        )
        self._sleep = sleep
        # Jitter only spreads retries out; it protects nothing (S311 does not apply).
        self._rng = rng or random.Random()  # noqa: S311
        self._client = httpx.Client(
            base_url=config.base_url,
            timeout=httpx.Timeout(
                connect=config.connect_timeout_s,
                read=config.read_timeout_s,
                write=config.read_timeout_s,
                # Waiting for a free pooled connection counts like connecting.
                pool=config.connect_timeout_s,
            ),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
                keepalive_expiry=config.keepalive_expiry_s,
            ),
            headers={"Accept": "application/json", "User-Agent": "ShelfWise/2"},
            follow_redirects=True,
            max_redirects=3,
        )

    def close(self) -> None:
        self._client.close()

    def _timeout(self, remaining: float) -> httpx.Timeout:
        """The configured timeouts, cut to the time left before the deadline."""
        config = self.config
        connect = min(config.connect_timeout_s, remaining)
        read = min(config.read_timeout_s, remaining)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)

    def _backoff(self, attempt: int) -> float:
        # Full jitter: uniform in [0, base x 2^attempt].
        return self._rng.uniform(0, self.config.backoff_s * (2**attempt))

    def get(self, path: str, *, deadline: float) -> httpx.Response:
        if not self.breaker.allow():
            raise CircuitOpen()
        try:
            response = self._get_with_retries(path, deadline=deadline)
        except NoTimeLeft:
            self.breaker.release_probe()
            raise
        except CallFailed:
            self.breaker.failed()
            raise
        except BaseException:
            # Not the service's doing (a bug, an interrupt): counts neither way.
            self.breaker.release_probe()
            raise
        self.breaker.succeeded()
        return response

    def _get_with_retries(self, path: str, *, deadline: float) -> httpx.Response:
        reason = "deadline"
        for attempt in range(self.config.retries + 1):
            if attempt:
                pause = self._backoff(attempt - 1)
                if time.monotonic() + pause >= deadline:
                    break
                self._sleep(pause)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if not attempt:
                    raise NoTimeLeft()
                break
            try:
                response = self._client.get(path, timeout=self._timeout(remaining))
            except httpx.TimeoutException:
                reason = "timeout"
                continue
            except httpx.HTTPError as exc:
                # Refused, reset, too many redirects: another attempt would not help.
                raise CallFailed(f"transport: {type(exc).__name__}") from None
            if _retryable(response):
                reason = f"http_{response.status_code}"
                continue
            return response
        raise CallFailed(reason)
