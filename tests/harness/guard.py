"""The fast tier's rule, enforced: a test not marked ``slow`` starts no process.

At collection, a test that uses a harness fixture declared with
``tests.harness.slow_fixture`` is marked ``slow`` (before ``-m`` deselects anything).
During the setup and the call of any other test, starting a process fails the test:
``subprocess.Popen`` (and so ``run``, ``check_output``, asyncio's subprocesses and
``os.popen``), ``os.fork``, ``os.posix_spawn[p]``, ``os.system`` and multiprocessing's
spawn and forkserver starts. The failure says how to fix it. ``ctypes.util.find_library``
(which runs ldconfig) is let through. Teardown is not guarded: a
session fixture's processes are stopped in whichever test ran last.

The database setup is exempt (``UNGUARDED_FIXTURES``): with DATABASE_URL unset it starts
the shared embedded PostgreSQL on the first test that needs a database, whatever tier.
"""

from __future__ import annotations

import ctypes.util
import functools
import multiprocessing.util
import os
import subprocess
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.harness import SLOW_FIXTURES

UNGUARDED_FIXTURES = frozenset({"django_db_setup"})

# The test being guarded (its node id), or None while processes are allowed.
_guarded: str | None = None
_violations: list[str] = []


class ProcessInFastTest(RuntimeError):
    """A test outside the slow tier started a process."""


def _message(nodeid: str, what: str) -> str:
    harnesses = ", ".join(sorted(SLOW_FIXTURES))
    return (
        f"{nodeid} started a process ({what}) but is not marked slow: the fast tier "
        "(-m 'not slow') starts no process. Mark it @pytest.mark.slow, or start the process "
        f"through a harness fixture of tests/harness ({harnesses}), which marks it slow."
    )


def check(what: str) -> None:
    """Raise (and remember) if a fast-tier test is running; called by every patched entry."""
    if _guarded is not None:
        message = _message(_guarded, what)
        _violations.append(message)
        raise ProcessInFastTest(message)


def take_violations() -> list[str]:
    """The violations recorded so far in this phase, forgotten (for the guard's own test)."""
    taken = list(_violations)
    _violations.clear()
    return taken


def _describe(args: Any) -> str:
    if isinstance(args, str | bytes | os.PathLike):
        return repr(os.fsdecode(args))[:120]
    return repr([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args][:4])[:120]


def _wrap(original: Callable[..., Any], describe: Callable[..., str]) -> Callable[..., Any]:
    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check(describe(*args, **kwargs))
        return original(*args, **kwargs)

    guarded.__wrapped_by_guard__ = True  # type: ignore[attr-defined]
    return guarded


def install() -> None:
    """Patch the process-starting entry points once; each checks the guard state."""
    if getattr(subprocess.Popen._execute_child, "__wrapped_by_guard__", False):
        return
    subprocess.Popen._execute_child = _wrap(  # type: ignore[method-assign]
        subprocess.Popen._execute_child,
        lambda self, args, *rest, **kw: f"subprocess.Popen {_describe(args)}",
    )
    for name in ("fork", "forkpty"):
        if hasattr(os, name):
            setattr(os, name, _wrap(getattr(os, name), lambda *a, _n=name, **k: f"os.{_n}()"))
    for name in ("posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            setattr(
                os,
                name,
                _wrap(getattr(os, name), lambda path, *a, _n=name, **k: f"os.{_n} {path!r}"),
            )
    os.system = _wrap(os.system, lambda command, *a, **k: f"os.system {command!r:.120}")
    # The standard library's own lookup (ldconfig -p), not a process of the test's:
    # benchmarks.measure.release_memory (the story bench) finds libc this way.
    ctypes.util.find_library = _unguarded(ctypes.util.find_library)
    multiprocessing.util.spawnv_passfds = _wrap(  # type: ignore[attr-defined]
        multiprocessing.util.spawnv_passfds,  # type: ignore[attr-defined]
        lambda path, args, *a, **k: f"multiprocessing {_describe(args)}",
    )


def _unguarded(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def allowed(*args: Any, **kwargs: Any) -> Any:
        with guarding(None):
            return original(*args, **kwargs)

    allowed.__wrapped_by_guard__ = True  # type: ignore[attr-defined]
    return allowed


def pytest_configure(config: pytest.Config) -> None:
    install()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a slow harness fixture (before -m deselects)."""
    for item in items:
        uses = SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@contextmanager
def guarding(nodeid: str | None) -> Iterator[None]:
    """Guard (a node id) or allow (None) process starts within the block."""
    global _guarded
    previous, _guarded = _guarded, nodeid
    try:
        yield
    finally:
        _guarded = previous


def _guarded_phase(item: pytest.Item) -> Generator[None, Any, Any]:
    if item.get_closest_marker("slow") is not None:
        return (yield)
    _violations.clear()
    with guarding(item.nodeid):
        result = yield
    if _violations:  # the test caught the error, but it still started (tried) a process
        pytest.fail(_violations[0], pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guarded_phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guarded_phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    if fixturedef.argname in UNGUARDED_FIXTURES:
        with guarding(None):
            return (yield)
    return (yield)
