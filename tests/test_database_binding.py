"""How values reach PostgreSQL: bound server-side, never prepared (PgBouncer-safe)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from perf.recording import record_queries

pytestmark = pytest.mark.django_db


def test_values_are_bound_server_side_and_statements_are_never_prepared():
    with connection.cursor() as cursor:
        # Server-side binding: psycopg's Cursor (extended protocol), not its ClientCursor,
        # which quotes every value into the SQL text in Python.
        assert not isinstance(cursor.cursor, psycopg.ClientCursor)
        assert connection.connection.prepare_threshold is None
        cursor.execute("SELECT %s::int + 1", [41])
        assert cursor.fetchone() == (42,)
        # Named prepared statements would not survive PgBouncer's transaction pooling.
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)


def test_the_connection_keeps_its_startup_limits_with_server_side_binding():
    # The limits travel as libpq startup options: independent of how values are bound.
    with record_queries(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", ["statement_timeout"])
        assert cursor.fetchone() == ("5s",)
