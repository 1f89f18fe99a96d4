"""perf.locks: the locks read from SQL, and the check of a declaration."""

from __future__ import annotations

import pytest

from perf.locks import (
    LockDeclaration,
    LockedStatement,
    LockOrderError,
    check_locks,
    locks_taken,
)


def test_the_parser_reads_locks_from_sql():
    assert locks_taken('SELECT "a"."id" FROM "a" WHERE x FOR UPDATE') == (("a", "FOR UPDATE"),)
    assert locks_taken('SELECT 1 FROM "a" JOIN "b" ON 1=1 FOR NO KEY UPDATE OF "b"') == (
        ("b", "FOR NO KEY UPDATE"),
    )
    assert locks_taken("UPDATE catalog_book AS b SET stock = 1 FROM unnest(%s) AS l") == (
        ("catalog_book", "UPDATE"),
    )
    assert locks_taken('DELETE FROM "a" WHERE id = 1') == (("a", "DELETE"),)
    assert locks_taken("INSERT INTO a VALUES (1) ON CONFLICT (id) DO UPDATE SET x = 1") == ()
    assert locks_taken("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))") == (
        ("advisory", "ADVISORY"),
    )
    assert locks_taken('SELECT "a"."id" FROM "a"') == ()


def _queries(*statements: str) -> list[LockedStatement]:
    return [
        LockedStatement(sql, locks_taken(sql), call_site=f"app.py:{i}")
        for i, sql in enumerate(statements, start=1)
    ]


LOCK_A = 'SELECT "a"."id" FROM "a" ORDER BY "a"."id" FOR UPDATE'
LOCK_B = 'SELECT "b"."id" FROM "b" ORDER BY "b"."id" FOR UPDATE'


def test_a_call_that_locks_as_declared_passes():
    declared = LockDeclaration(("a", "b"))
    check_locks("svc", declared, _queries(LOCK_A, LOCK_B, 'UPDATE "b" SET x = 1', LOCK_A))
    check_locks("svc", declared, _queries(LOCK_A))  # an early return: no write, no lock of b


def test_a_write_before_its_lock_fails_at_the_write():
    with pytest.raises(LockOrderError) as failed:
        check_locks("svc", LockDeclaration(("a",)), _queries('DELETE FROM "a" WHERE id = 1'))
    assert "writes a (DELETE) without first locking its rows" in str(failed.value)
    assert "at app.py:1" in str(failed.value)


def test_undeclared_and_out_of_order_locks_fail():
    with pytest.raises(LockOrderError, match="takes an undeclared lock b FOR UPDATE"):
        check_locks("svc", LockDeclaration(("a",)), _queries(LOCK_A, LOCK_B))
    with pytest.raises(LockOrderError, match=r"locks \['b', 'a'\] in this order"):
        check_locks("svc", LockDeclaration(("a", "b")), _queries(LOCK_B, LOCK_A))


def test_a_helper_writes_what_its_caller_holds():
    check_locks("svc", LockDeclaration((), caller_holds=("a",)), _queries('UPDATE "a" SET x = 1'))
