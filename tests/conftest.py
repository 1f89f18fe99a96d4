"""Fixtures for the project-level tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def pg_root():
    """A folder for a throwaway embedded server, outside pytest's tmp_path: as root the
    server runs as another user, which needs to reach its data folder by path, and any
    pytest run on the machine resets ``/tmp/pytest-of-root`` to mode 0700."""
    root = Path(tempfile.mkdtemp(prefix="shelfwise-pg-"))
    root.chmod(0o755)
    yield root / "pg"
    shutil.rmtree(root, ignore_errors=True)
