"""A SIGTERM or a closed terminal (SIGHUP) unwinds like Ctrl-C: the ``finally`` blocks of
a run stop the servers and locust it started and revoke its tokens."""

from __future__ import annotations

import signal
from types import FrameType


def exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def unwind_on_signals() -> None:
    """Install ``exit_on_signal`` for SIGTERM and SIGHUP."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, exit_on_signal)
