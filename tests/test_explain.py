"""`manage.py explain` on a seeded tenant: the hot queries plan on their indexes."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Book
from perf.registry import hot_queries

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
    assert "No findings in 8 hot queries." in output
    assert "catalog page (first): Limit" in output
    assert "indexes: book_tenant_title_id" in output
    assert "search: " in output and "book_tenant_search_gin" in output
    assert "order_tenant_active_created" in output
    member_list = output[output.index("orders list (active, member)") :]
    assert "order_tenant_user_active" in member_list.split("\n[")[0]
    # The export is planned as the cursor really runs it: in index order, no sort.
    export_plan = next(
        line
        for line in output.splitlines()
        if line.strip().startswith("plan:") and "Seq Scan on catalog_genre" in line
    )
    assert "Index Scan using book_tenant_title_id on catalog_book" in export_plan


def test_the_largest_tenant_is_the_default_subject(seeded):
    assert f"Plans for {TENANT}:" in _explain("--only", "first")


def test_check_fails_on_a_query_without_a_usable_index(seeded):
    def unindexed(tenant):
        return Book.objects.across_tenants("test").filter(description__contains="edition")

    hot_queries.register("unindexed description filter", unindexed)
    try:
        with pytest.raises(CommandError, match="1 finding"):
            _explain("--subject", TENANT, "--check", "--only", "unindexed")
        output = _explain("--subject", TENANT, "--only", "unindexed")
        assert "! Seq Scan on catalog_book" in output
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
        output = _explain("--subject", TENANT, "--only", "export")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert "Index Scan using book_tenant_title_id on catalog_book" in output


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
