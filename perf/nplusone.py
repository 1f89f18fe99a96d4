"""N+1 detection: one SELECT shape run K times or more in one request or block.

Use ``detect_n_plus_one()`` as a context manager or decorator around any code (commands,
tests); the middleware applies it to every request. ``allow_repeats(reason)`` marks a
legitimate repeat. What happens on detection follows ``PERF['NPLUSONE_MODE']``:
``raise`` (dev, tests), ``log`` (staging, prod: a structured warning and a metric), ``off``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ContextDecorator, contextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from perf import metrics
from perf import sql as sqlmod
from perf.callsite import Origin
from perf.conf import NPlusOneMode, perf_settings
from perf.recording import (
    Allowance,
    Recording,
    allowed_patterns,
    pattern_matches,
    record_queries,
)

logger = structlog.get_logger("perf.nplusone")


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


def find_repeats(recording: Recording, threshold: int) -> list[Repeat]:
    """SELECT shapes run at least ``threshold`` times, most repeated first."""
    allowed = recording.allowed_counts
    delegated = recording.delegated_counts
    repeats = [
        Repeat(shape, n, recording.origins.get(shape))
        for shape, n in recording.shape_counts().items()
        if n - allowed.get(shape, 0) - delegated.get(shape, 0) >= threshold
        and sqlmod.is_select(shape)
    ]
    return sorted(repeats, key=lambda r: -r.count)


def report(
    recording: Recording,
    *,
    context: str = "",
    mode: NPlusOneMode | None = None,
    labels: dict[str, str] | None = None,
    allow: tuple[str, ...] = (),
) -> list[Repeat]:
    """Act on the N+1 repeats of a finished recording according to the mode.

    ``allow``: patterns of shapes to pass over (matched as allow_repeats matches them),
    for callers that know the whole recording's context (the pytest marker).
    """
    conf = perf_settings()
    mode = mode or conf.NPLUSONE_MODE
    if mode == "off":
        return []
    repeats = [
        r
        for r in find_repeats(recording, conf.NPLUSONE_THRESHOLD)
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
        self.recording: Recording | None = None

    def __enter__(self) -> detect_n_plus_one:
        self._cm = record_queries()
        self.recording = self._cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)
        if exc[0] is None and self.recording is not None:
            report(self.recording, context=self.context, mode=self.mode)


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
