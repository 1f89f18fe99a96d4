"""Database failures that are not bugs: the server is unreachable, or a query ran out of
its time (statement_timeout, lock_timeout). errors.py answers them with a 503.

Logging names the cause once: one ``database_unavailable`` error per outage per process,
then one ``database_recovered`` when this process connects again; a timeout is one
warning line. Never a traceback per request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from django.db import utils

logger = structlog.get_logger("shelfwise.database")


@dataclass(frozen=True)
class DatabaseFailure:
    code: str  # the JSON error code
    message: str
    reason: str  # what happened, for logs and the error's details
    retry_after_s: int


UNAVAILABLE = DatabaseFailure(
    "database_unavailable", "The database is unavailable; retry shortly.", "unavailable", 5
)
STATEMENT_TIMEOUT = DatabaseFailure(
    "database_timeout", "The database took too long; retry shortly.", "statement_timeout", 1
)
LOCK_TIMEOUT = DatabaseFailure(
    "database_timeout",
    "A row this request needs is locked by another; retry shortly.",
    "lock_timeout",
    1,
)


def database_failure(exc: BaseException | None) -> DatabaseFailure | None:
    """What ``exc`` says about the database, or None when it is not a database failure
    (an IntegrityError, a ProgrammingError: those are the code's business)."""
    if not isinstance(exc, utils.DatabaseError):
        return None
    cause = exc.__cause__
    if isinstance(cause, psycopg.errors.QueryCanceled):
        return STATEMENT_TIMEOUT
    if isinstance(cause, psycopg.errors.LockNotAvailable):
        return LOCK_TIMEOUT
    # Connection refused, closed, reset or timed out; server shutting down or starting
    # (all OperationalError); a connection Django already knows is closed (InterfaceError);
    # a session the server ended for idling in a transaction.
    if isinstance(exc, utils.OperationalError | utils.InterfaceError) or isinstance(
        cause, psycopg.errors.IdleInTransactionSessionTimeout
    ):
        return UNAVAILABLE
    return None


_lock = threading.Lock()
_outage_started: float | None = None


def report(failure: DatabaseFailure, exc: BaseException, *, path: str) -> None:
    global _outage_started
    error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if failure is not UNAVAILABLE:
        logger.warning("database_timeout", reason=failure.reason, path=path, error=error)
        return
    with _lock:
        if _outage_started is not None:
            return
        _outage_started = time.monotonic()
    logger.error("database_unavailable", path=path, error=error, exception=type(exc).__name__)


def connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created receiver: a new connection ends this process's outage."""
    global _outage_started
    with _lock:
        started, _outage_started = _outage_started, None
    if started is not None:
        logger.info(
            "database_recovered",
            alias=connection.alias,
            outage_s=round(time.monotonic() - started, 2),
        )
