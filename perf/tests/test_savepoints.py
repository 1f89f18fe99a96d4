"""``include_savepoints=False`` counts a block as production runs it: the savepoint pair a
test's transaction makes of the block's outermost atomic() is left out, a nested one
(which production runs too) is not."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from perf.recording import is_savepoint, record_queries


def two_selects_one_nested() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        with transaction.atomic():
            cursor.execute("SELECT 2")


def failing_nested() -> None:
    with transaction.atomic():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                raise ValueError("rolled back to the savepoint")
        except ValueError:
            pass


def counted(block, *, include_savepoints: bool) -> list[str]:
    with record_queries(include_savepoints=include_savepoints) as recording:
        block()
    return [q.sql for q in recording.queries]


# Outside any transaction (production): no savepoint for the outer block in either mode.
PRODUCTION = {
    two_selects_one_nested: ["SELECT 1", "SAVEPOINT", "SELECT 2", "RELEASE SAVEPOINT"],
    failing_nested: ["SAVEPOINT", "SELECT 1", "ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT"],
}


def shapes(statements: list[str]) -> list[str]:
    return [s.split(' "')[0] for s in statements]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("block", list(PRODUCTION), ids=lambda b: b.__name__)
@pytest.mark.parametrize("include_savepoints", [True, False])
def test_outside_a_transaction_both_modes_count_what_runs(block, include_savepoints):
    assert not connection.in_atomic_block
    assert shapes(counted(block, include_savepoints=include_savepoints)) == PRODUCTION[block]


@pytest.mark.django_db
@pytest.mark.parametrize("block", list(PRODUCTION), ids=lambda b: b.__name__)
def test_in_a_test_transaction_only_the_harness_pair_is_left_out(block):
    assert connection.in_atomic_block
    everything = shapes(counted(block, include_savepoints=True))
    # The outer atomic() is a savepoint pair here, and its statements are counted...
    assert everything[0] == "SAVEPOINT" and everything[-1] == "RELEASE SAVEPOINT"
    assert everything[1:-1] == PRODUCTION[block]
    # ...unless left out, which gives what production runs.
    assert shapes(counted(block, include_savepoints=False)) == PRODUCTION[block]


@pytest.mark.django_db
def test_nested_recordings_each_count_in_their_own_mode():
    with (
        record_queries(include_savepoints=True) as outer,
        record_queries(include_savepoints=False) as inner,
    ):
        two_selects_one_nested()
    assert (outer.count, inner.count) == (6, 4)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SAVEPOINT "s1_x1"', True),
        ('RELEASE SAVEPOINT "s1_x1"', True),
        ('ROLLBACK TO SAVEPOINT "s1_x1"', True),
        ("  savepoint s", True),
        ("SELECT 'SAVEPOINT'", False),
        ("SAVEPOINTS_TABLE", False),
    ],
)
def test_savepoint_statements_are_recognised(sql, expected):
    assert is_savepoint(sql) is expected
