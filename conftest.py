"""Root fixtures shared by every app's tests."""

from __future__ import annotations

import pytest

from tests.factories import TenantFactory

pytest_plugins = ["perf.pytest_plugin"]


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def other_tenant(db):
    return TenantFactory()
