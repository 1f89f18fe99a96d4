"""The fast tier's guard (tests/harness/guard.py) fails an unmarked test that starts a
process, and the harness marks the tests of its slow fixtures."""

from __future__ import annotations

import multiprocessing
import os
import subprocess

import pytest

from tests.harness import SLOW_FIXTURES
from tests.harness.guard import ProcessInFastTest, take_violations

pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(lambda: subprocess.run(["true"], check=False), id="subprocess.run"),
        pytest.param(lambda: subprocess.Popen(["true"]), id="Popen"),
        pytest.param(lambda: os.system("true"), id="os.system"),
        pytest.param(lambda: os.posix_spawn("/bin/true", ["true"], {}), id="posix_spawn"),
        pytest.param(os.fork, id="fork"),
        pytest.param(
            lambda: multiprocessing.get_context("spawn").Process(target=print).start(),
            id="multiprocessing-spawn",
        ),
    ],
)
def test_this_unmarked_test_cannot_start_a_process(start):
    with pytest.raises(ProcessInFastTest, match="is not marked slow") as refused:
        start()
    assert "Mark it @pytest.mark.slow" in str(refused.value)
    assert "server_process" in str(refused.value)  # the harness fixtures are named
    # Forgotten, or the guard fails this test after its call for the caught attempt.
    assert take_violations()


def test_the_slow_harness_fixtures_are_the_real_process_ones():
    assert {"embedded_pg_root", "migrated_cluster", "pgbouncer", "server_process"} <= (
        SLOW_FIXTURES
    )
    assert "metadata_server" not in SLOW_FIXTURES  # a thread of this process


def test_a_process_started_outside_a_test_is_allowed(request):
    """Between phases (collection, teardown) nothing is guarded."""
    from tests.harness import guard

    with guard.guarding(None):
        assert subprocess.run(["true"], check=False).returncode == 0


INNER = """
import subprocess

import pytest

from tests.harness import slow_fixture


@slow_fixture
def real_server():
    return "started"


def test_unmarked_starts_a_process():
    subprocess.run(["true"], check=True)


def test_unmarked_catches_the_refusal():
    try:
        subprocess.Popen(["true"]).wait()
    except Exception:
        pass


@pytest.mark.slow
def test_marked_starts_a_process():
    subprocess.run(["true"], check=True)


def test_inherits_the_mark_from_a_harness_fixture(real_server):
    subprocess.run(["true"], check=True)
"""


@pytest.fixture
def inner_fixtures_forgotten():
    """The inner run declares a slow fixture of its own; this process forgets it after."""
    before = set(SLOW_FIXTURES)
    yield
    SLOW_FIXTURES.intersection_update(before)


@pytest.mark.slow  # the inner run's slow tests really start `true`
def test_in_a_run_the_unmarked_tests_fail_and_the_slow_ones_pass(
    pytester, inner_fixtures_forgotten
):
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess(
        "-p", "tests.harness.guard", "-p", "no:django", "-p", "no:cacheprovider", "-rf"
    )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * test_inner.py::test_unmarked_starts_a_process started a process"
            " (subprocess.Popen *true*) but is not marked slow*Mark it @pytest.mark.slow*",
            "test_inner.py::test_unmarked_catches_the_refusal started a process*",
            "FAILED test_inner.py::test_unmarked_starts_a_process - *",
            "FAILED test_inner.py::test_unmarked_catches_the_refusal - *",
        ]
    )
    fast = pytester.runpytest_inprocess(
        "-p", "tests.harness.guard", "-p", "no:django", "-p", "no:cacheprovider",
        "-m", "not slow", "-q",
    )  # fmt: skip
    fast.assert_outcomes(failed=2, deselected=2)  # the harness fixture's test is slow too
