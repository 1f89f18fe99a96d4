"""Test settings: the real settings, with a fast password hasher."""

import os

from shelfwise.settings import *  # noqa: F403
from shelfwise.settings import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# One test database per pytest process, so that two runs against the same server (the
# shared embedded one, say) never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_shelfwise_{os.getpid()}"}

# Tests always fail loudly on N+1s and on loads outside a selector's bundle, whatever
# SHELFWISE_ENV the shell has.
PERF = {**PERF, "NPLUSONE_MODE": "raise", "FETCH_MODE": "FETCH_RAISE"}  # noqa: F405
