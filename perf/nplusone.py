"""N+1 detection: one SELECT shape run K times or more in one request or block.

Use ``detect_n_plus_one()`` as a context manager or decorator around any code (commands,
tests); the middleware applies it to every request. ``allow_repeats(reason)`` marks a
legitimate repeat. What happens on detection follows ``PERF['NPLUSONE_MODE']``:
``raise`` (dev, tests), ``log`` (staging, prod: a structured warning and a metric), ``off``.

``RepeatCounter`` is the listener (on perf.recording's recorder) that counts each shape
and takes its origin at the first repeat; ``count_repeats()`` puts one in force.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import ContextDecorator, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog

from perf import metrics
from perf import sql as sqlmod
from perf.callsite import Origin, describe_origin
from perf.conf import NPlusOneMode, perf_settings
from perf.recording import QueryEvent, listening

logger = structlog.get_logger("perf.nplusone")


@functools.lru_cache(maxsize=256)
def _word(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(pattern)}(?![\w])")


def pattern_matches(pattern: str, sql: str) -> bool:
    """``*`` matches any statement; any other pattern matches as a whole name or phrase:
    ``catalog_book`` matches ``"catalog_book"."id"`` but not ``"catalog_bookgenre"``."""
    return pattern == "*" or _word(pattern).search(sql) is not None


@dataclass(eq=False)
class Allowance:
    """A statement pattern allowed to repeat (allow_repeats), with its reason and how many
    statements it has let through."""

    pattern: str
    reason: str = ""
    used: int = 0


# Set by allow_repeats(): the allowances in force, innermost last.
allowed_patterns: ContextVar[tuple[Allowance, ...]] = ContextVar("perf_allowed", default=())


def _is_allowed(event: QueryEvent) -> bool:
    # Once per statement (QueryEvent.once), however many counters are nested: ``used``
    # counts statements.
    for allowance in allowed_patterns.get():
        if pattern_matches(allowance.pattern, event.sql):
            allowance.used += 1
            return True
    return False


def _flat_params(params: Any) -> tuple[object, ...]:
    if isinstance(params, dict):
        return tuple(params.values())
    if isinstance(params, list | tuple):
        return tuple(params)
    return ()


@dataclass(eq=False)
class RepeatCounter:
    """The listener behind N+1 detection: how often each statement shape ran in a block,
    and where each repeated shape came from."""

    # A request's counter: its N+1s are judged per request, by the middleware.
    is_request: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    # Where each repeated shape came from, taken from the stack at its first repeat: the
    # stack is walked once per repeated shape, never for every query.
    origins: dict[str, Origin] = field(default_factory=dict)
    # Occurrences run under allow_repeats(), per shape.
    allowed_counts: dict[str, int] = field(default_factory=dict)
    # Occurrences that ran inside a request nested in this block, per shape: counted,
    # but left to that request's own N+1 check (five requests that each authenticate once
    # are not an N+1).
    delegated_counts: dict[str, int] = field(default_factory=dict)
    # The parameters of each shape's first run, until its second.
    _first_params: dict[str, Any] = field(default_factory=dict)

    def notify(self, event: QueryEvent) -> None:
        if event.ignored:
            return
        shape = event.shape
        if event.once(_is_allowed):
            self.allowed_counts[shape] = self.allowed_counts.get(shape, 0) + 1
        if any(isinstance(r, RepeatCounter) and r.is_request for r in event.inner(self)):
            self.delegated_counts[shape] = self.delegated_counts.get(shape, 0) + 1
        n = self.counts.get(shape, 0) + 1
        self.counts[shape] = n
        if shape not in self.origins:
            if n == 1:
                # Kept until the second run: the value that changed between the two
                # names the relation (relations.from_queryset).
                self._first_params[shape] = event.params
            elif n == 2:
                previous = self._first_params.pop(shape, None)
                self.origins[shape] = describe_origin(
                    event.frame, event.sql, _flat_params(previous)
                )


@contextmanager
def count_repeats(*, is_request: bool = False) -> Iterator[RepeatCounter]:
    """Count the block's statement shapes."""
    counter = RepeatCounter(is_request=is_request)
    with listening(counter):
        yield counter


@dataclass(frozen=True)
class Repeat:
    shape: str
    count: int
    origin: Origin | None

    def describe(self) -> str:
        o = self.origin
        lines = [f"N+1 query: the same statement ran {self.count} times", f"  shape: {self.shape}"]
        if o is not None:
            lines.extend(o.lines(call_site_label="first call site"))
        return "\n".join(lines)


class NPlusOneError(AssertionError):
    """Raised in raise mode; an AssertionError so that test runners report it as a failure."""

    def __init__(self, repeats: list[Repeat], context: str) -> None:
        self.repeats = repeats
        body = "\n\n".join(r.describe() for r in repeats)
        super().__init__(f"{context}\n{body}" if context else body)


def find_repeats(counter: RepeatCounter, threshold: int) -> list[Repeat]:
    """SELECT shapes run at least ``threshold`` times, most repeated first."""
    allowed = counter.allowed_counts
    delegated = counter.delegated_counts
    repeats = [
        Repeat(shape, n, counter.origins.get(shape))
        for shape, n in counter.counts.items()
        if n - allowed.get(shape, 0) - delegated.get(shape, 0) >= threshold
        and sqlmod.is_select(shape)
    ]
    return sorted(repeats, key=lambda r: -r.count)


def report(
    counter: RepeatCounter,
    *,
    context: str = "",
    mode: NPlusOneMode | None = None,
    labels: dict[str, str] | None = None,
    allow: tuple[str, ...] = (),
) -> list[Repeat]:
    """Act on the N+1 repeats of a finished block according to the mode.

    ``allow``: patterns of shapes to pass over (matched as allow_repeats matches them),
    for callers that know the whole recording's context (the pytest marker).
    """
    conf = perf_settings()
    mode = mode or conf.NPLUSONE_MODE
    if mode == "off":
        return []
    repeats = [
        r
        for r in find_repeats(counter, conf.NPLUSONE_THRESHOLD)
        if not any(pattern_matches(a, r.shape) for a in allow)
    ]
    if not repeats:
        return []
    if mode == "raise":
        raise NPlusOneError(repeats, context)
    for r in repeats:
        o = r.origin
        logger.warning(
            "n_plus_one",
            context=context,
            count=r.count,
            shape=r.shape,
            table=o.table if o else None,
            relation=f"{o.relation.model}.{o.relation.name}" if o and o.relation else None,
            call_site=o.call_site if o else None,
            serializer_field=o.serializer_path if o else None,
            fix=o.fix if o else None,
        )
    metrics.record_n_plus_one(labels or {}, len(repeats))
    return repeats


class detect_n_plus_one(ContextDecorator):
    """Detect N+1 queries in a block of code: ``with detect_n_plus_one(): ...``."""

    def __init__(self, context: str = "", *, mode: NPlusOneMode | None = None) -> None:
        self.context = context
        self.mode = mode
        self._cm: Any = None
        self.counter: RepeatCounter | None = None

    def __enter__(self) -> detect_n_plus_one:
        self._cm = count_repeats()
        self.counter = self._cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)
        if exc[0] is None and self.counter is not None:
            report(self.counter, context=self.context, mode=self.mode)


@contextmanager
def _allow(allowance: Allowance) -> Iterator[None]:
    token = allowed_patterns.set((*allowed_patterns.get(), allowance))
    try:
        yield
    finally:
        allowed_patterns.reset(token)


class allow_repeats(ContextDecorator):
    """Allow a legitimate repeated statement, with the reason on record.

    ``with allow_repeats("each row locks its own book", match="catalog_book"):`` allows
    statements naming ``catalog_book`` as a whole name (not ``catalog_bookgenre``; all
    statements when ``match`` is omitted). When it let a repeat through (two statements
    or more), it logs ``repeats_allowed`` with its reason, at INFO.
    """

    def __init__(self, reason: str, *, match: str = "*") -> None:
        if not reason.strip():
            raise ValueError("allow_repeats needs a reason")
        self.reason = reason
        self.match = match
        self._cm: Any = None
        self._allowance: Allowance | None = None

    def __enter__(self) -> allow_repeats:
        self._allowance = Allowance(self.match, self.reason)
        self._cm = _allow(self._allowance)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)
        if self._allowance is not None and self._allowance.used >= 2:
            logger.info(
                "repeats_allowed",
                reason=self.reason,
                match=self.match,
                statements=self._allowance.used,
            )
