"""`manage.py explain` on a seeded tenant: the hot queries plan on their indexes."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from catalog import selectors
from catalog.models import Book
from catalog.querysets import BookQuerySet
from perf.registry import hot_queries
from tenants.querysets import TenantScopedQuerySet

# transaction=True: seed then runs VACUUM (ANALYZE) as `manage.py seed` does, which clears
# the dead rows and index entries that earlier tests rolled back; left in place they made
# the planner pick a Seq Scan for search, depending on which tests ran before.
pytestmark = pytest.mark.django_db(transaction=True)

TENANT = "atlas-distribution"


@pytest.fixture
def seeded():
    # 10,000 books for the largest tenant: enough for the planner to prefer indexes.
    call_command(
        "seed", "--scale", "0.2", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO()
    )


def _explain(*args: str) -> str:
    out = io.StringIO()
    try:
        call_command("explain", *args, stdout=out)
    finally:
        print(out.getvalue())  # shown by pytest when the test fails
    return out.getvalue()


def test_every_hot_query_plans_without_findings(seeded):
    output = _explain("--subject", TENANT, "--check")
    assert f"Plans for {TENANT}:" in output
    assert "(growth checked against meridian-books)" in output
    assert "No findings in 8 hot queries." in output
    # Planned as served: the statements come from the real paginator and views.
    assert "from: shelfwise/http/pagination.py" in output
    assert "from: catalog/selectors.py" in output and "in _export_rows" in output


def _check_fails(*only: str) -> str:
    """The message of a failing ``explain --check`` of the hot queries named ``only``."""
    args = [a for name in only for a in ("--only", name)]
    with pytest.raises(CommandError) as failure:
        _explain("--subject", TENANT, "--check", *args)
    return str(failure.value)


def test_deep_pages_read_as_a_plain_offset_fail_the_check(seeded, monkeypatch):
    # The regression: the real pagination stops using the deferred join.
    monkeypatch.setattr(
        TenantScopedQuerySet, "page", lambda self, offset, limit: self[offset : offset + limit]
    )
    message = _check_fails("catalog page (deep)")
    assert "catalog page (deep): " in message
    assert "on catalog_book reads 1,5" in message  # the 1,500 rows before the page, and more
    assert "registered as covering: it must be an Index Only Scan" in message
    assert "sent from shelfwise/http/pagination.py" in message and "catalog/views.py" in message
    assert "deferred join" in message


def test_an_index_only_page_that_reads_another_column_fails_the_check(seeded, monkeypatch):
    # The regression: the deferred join's id list also reads a column the index lacks.
    page = TenantScopedQuerySet.page
    monkeypatch.setattr(
        TenantScopedQuerySet, "page", lambda self, o, n: page(self.filter(stock__gte=0), o, n)
    )
    message = _check_fails("catalog page (deep)")
    assert "catalog page (deep): Index Scan using book_tenant_title_id on catalog_book" in message
    assert "must be an Index Only Scan" in message
    assert "add stock to book_tenant_title_id as INCLUDE (stock)" in message


def test_an_export_that_needs_a_sort_fails_the_check(seeded, monkeypatch):
    # The regression: the export's ORDER BY no longer matches the title index.
    export_rows = BookQuerySet.export_rows
    monkeypatch.setattr(
        BookQuerySet, "export_rows", lambda self: export_rows(self).order_by("published_on", "id")
    )
    message = _check_fails("export")
    assert "export: Sort sorts 10,000 rows of catalog_book by (" in message
    assert "published_on" in message
    assert "more than a page" in message
    assert "sent from catalog/selectors.py" in message and "in _export_rows" in message
    assert "Fix: read the rows in that order from an index" in message


def test_a_page_whose_rows_grow_with_the_tenant_fails_the_check(seeded, monkeypatch):
    # The regression: the first page is ordered by a column no index serves, so no LIMIT
    # stops a walk after a page: every book of the tenant is read (and sorted).
    book_list = selectors.book_list
    monkeypatch.setattr(
        selectors, "book_list", lambda **kw: book_list(**kw).order_by("stock", "id")
    )
    message = _check_fails("catalog page (first)")
    assert "catalog page (first): " in message
    assert "Scan on catalog_book reads " in message
    assert "rows for atlas-distribution (size 10,000) against 2,0" in message
    assert "for meridian-books (size 2,000)" in message
    assert "grows with the subject" in message
    assert "sent from shelfwise/http/pagination.py" in message
    assert "Fix: bound what it reads by the page" in message


def test_a_ranked_path_that_loses_its_ranking_fails_the_check(seeded, monkeypatch):
    # The ranked search is allowed its sort of every match; the allowance is checked.
    matching = BookQuerySet.matching
    monkeypatch.setattr(
        BookQuerySet, "matching", lambda self, text: matching(self, text).order_by("title", "id")
    )
    message = _check_fails("search")
    assert "search: registered as ranked by ts_rank(), but no plan sorts by it" in message


def test_the_largest_tenant_is_the_default_subject(seeded):
    assert f"Plans for {TENANT}:" in _explain("--only", "first")


def test_check_fails_on_a_query_without_a_usable_index(seeded):
    def unindexed(tenant):
        books = Book.objects.across_tenants("test").filter(description__contains="edition")
        return lambda: list(books)

    hot_queries.register("unindexed description filter", unindexed)
    try:
        with pytest.raises(CommandError, match="1 finding"):
            _explain("--subject", TENANT, "--check", "--only", "unindexed")
        output = _explain("--subject", TENANT, "--only", "unindexed")
        assert "! unindexed description filter: Seq Scan on catalog_book (" in output
    finally:
        del hot_queries.queries["unindexed description filter"]


def test_the_subject_may_be_given_as_an_argument(seeded):
    # `explain --check my-tenant`, as a newcomer types it, is `--tenant my-tenant`.
    assert f"Plans for {TENANT}:" in _explain("--check", TENANT, "--only", "first")
    with pytest.raises(CommandError, match="two subjects"):
        _explain(TENANT, "--tenant", "another", "--only", "first")


def test_an_unknown_subject_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no tenant with slug 'nope'"):
        _explain("--subject", "nope")


def test_streamed_queries_plan_without_superuser_rights(seeded):
    # EXPLAIN of a DECLARE needs no privilege beyond reading the tables.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET ROLE pg_read_all_data")
    try:
        output = _explain("--subject", TENANT, "--only", "export", "--check")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert "No findings in 1 hot queries." in output


def test_an_incremental_sort_that_spills_is_flagged():
    from perf.explain import _findings

    node = {
        "Node Type": "Incremental Sort",
        "Full-sort Groups": {"Sort Space Disk": {"Peak Sort Space Used": 7632}},
    }
    [finding] = list(_findings([node], {}))
    assert "full-sort groups spilled to disk (7632 kB)" in finding


def test_a_second_subject_loader_is_refused_not_silently_replacing_the_first():
    # The last writer used to win: two apps setting it would plan against either's data.
    def other_loader(key):
        return key

    with pytest.raises(ValueError, match="already registered"):
        hot_queries.register_subject(other_loader)
    loader = hot_queries.subject_loader
    hot_queries.register_subject(loader, default=hot_queries.default_subject)  # same: fine


def test_a_statement_with_named_placeholders_keeps_its_params_and_is_explained():
    # The token look-up (tenants/selectors.py) is written with %(name)s placeholders.
    from django.db import connection

    from perf.explain import capture, explain

    with capture() as statements, connection.cursor() as cursor:
        cursor.execute("SELECT %(one)s::int + %(two)s::int", {"one": 1, "two": 2})
    [statement] = statements
    assert statement.params == {"one": 1, "two": 2}
    assert explain("named", statement).actual_rows == 1
