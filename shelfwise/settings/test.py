"""Test settings: the real settings, with a fast password hasher."""

import os

from shelfwise.settings import *  # noqa: F403
from shelfwise.settings.database import DATABASES, DB_TIMEOUTS_MS, apply_pg_options

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# One test database per pytest process, so that two runs against the same server (the
# shared embedded one, say) never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_shelfwise_{os.getpid()}"}

# Tests always fail loudly on N+1s and on loads outside a selector's bundle, whatever
# SHELFWISE_ENV the shell has.
# LOCK_CHECK: every call of a write service checks the locks it declares (perf.locks).
PERF = {**PERF, "NPLUSONE_MODE": "raise", "FETCH_MODE": "FETCH_RAISE", "LOCK_CHECK": True}  # noqa: F405

# No traces from a shell's OTEL_* variables: a test that traces installs its own
# in-memory exporter (tests/test_tracing.py), and nothing leaves the machine.
TRACING = {**TRACING, "ENABLED": False}  # noqa: F405
PERF["REQUEST_HOOKS"] = []

# The test process is a harness, not a server: its own connections carry no time limits.
# With the request limits, a loaded machine failed tests that had nothing to do with them
# (a fixture's bulk UPDATE ran past 5 s; a test's transaction sat idle past 10 s while
# the process waited for CPU, and the server closed it). The tests of the limits set them
# on their connection, or read them from a process with the real settings; the servers
# that tests start (gunicorn) use whatever settings module they are given.
DB_TIMEOUTS_MS = dict.fromkeys(DB_TIMEOUTS_MS, 0)
apply_pg_options(DATABASES["default"]["OPTIONS"], DB_TIMEOUTS_MS)

# No test calls an outside service: the book-metadata service is off unless a test points
# it at its own server on 127.0.0.1 (tests/harness/metadata.py), whatever the shell sets.
BOOK_METADATA = {**BOOK_METADATA, "URL": ""}  # noqa: F405
