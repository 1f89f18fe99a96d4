"""The plugin fails a test whose body runs an N+1; query_budget prints the SQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAZY_TEST = """
import pytest
from catalog.models import Book
from tests.factories import BookFactory

@pytest.mark.django_db
def test_lazy(tenant):
    for _ in range(6):
        BookFactory(tenant=tenant)
    assert [b.author.name for b in Book.objects.across_tenants("test").all()]

@pytest.mark.django_db
@pytest.mark.allow_repeats("proves the marker")
def test_lazy_but_allowed(tenant):
    for _ in range(6):
        BookFactory(tenant=tenant)
    assert [b.author.name for b in Book.objects.across_tenants("test").all()]

@pytest.mark.django_db
def test_over_budget(tenant, query_budget):
    with query_budget(1):
        list(Book.objects.across_tenants("test").all())
        list(Book.objects.across_tenants("test").filter(title="x"))
"""


@pytest.mark.slow
def test_a_lazy_test_fails_with_the_report_and_the_marker_allows_it(tmp_path):
    test_file = ROOT / "perf" / "tests" / "test_zz_generated_lazy.py"
    test_file.write_text(LAZY_TEST)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        test_file.unlink()
    out = result.stdout
    assert result.returncode == 1, out
    assert "2 failed, 1 passed" in out
    assert "FAILED perf/tests/test_zz_generated_lazy.py::test_lazy " in out
    assert "N+1 query: the same statement ran 6 times" in out
    assert "first call site: perf/tests/test_zz_generated_lazy.py:10 in test_lazy" in out
    assert 'fix: select_related("author") on the catalog.Book queryset' in out
    assert "query budget: expected at most 1 queries, ran 2:" in out
    assert 'WHERE "catalog_book"."title" = ' in out
