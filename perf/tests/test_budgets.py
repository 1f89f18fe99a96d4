"""Budgets declared on views, read back as one table keyed by route."""

from __future__ import annotations

import pytest
from django.views import View

from perf.budgets import endpoint_budgets, query_budgets, unbudgeted

URLCONF = "perf.tests.budget_urls"


def test_the_table_is_keyed_by_method_and_route_label():
    assert endpoint_budgets(URLCONF) == {
        "GET /api/budgeted": 2,
        "GET /api/items/{item_id}": 1,
    }


def test_a_lookup_ignores_how_placeholders_are_named():
    table = endpoint_budgets(URLCONF)
    assert table.budget("GET /api/items/{id}") == 1
    with pytest.raises(KeyError, match=r"POST /api/items/\{id\}"):
        table.budget("POST /api/items/{id}")
    # A load test's names, with the unbudgeted ones left out.
    assert table.for_names(["GET /api/items/{id}", "POST /api/items/{id}"]) == {
        "GET /api/items/{id}": 1
    }


def test_every_served_method_without_a_budget_is_reported():
    assert unbudgeted("/api/", URLCONF) == ["POST /api/items/{item_id}", "* /api/plain"]
    assert unbudgeted("/", URLCONF)[-1] == "* /elsewhere"


@pytest.mark.parametrize(
    "per_method",
    [{"GETT": 1}, {"HEAD": 1}, {"GET": -1}, {"GET": 1.5}, {"GET": True}],
    ids=str,
)
def test_a_budget_must_be_a_count_for_an_http_method(per_method):
    with pytest.raises(ValueError, match="query_budgets"):
        query_budgets(**per_method)


def test_a_class_must_serve_each_budgeted_method():
    class OnlyGet(View):
        def get(self, request):
            raise NotImplementedError

    with pytest.raises(ValueError, match=r"OnlyGet has no handler for \['POST'\]"):
        query_budgets(GET=1, POST=2)(OnlyGet)


def test_a_view_declares_the_columns_it_never_fetches_next_to_its_budget():
    from catalog.querysets import BOOK_ROW_NEVER_FETCHES
    from perf.budgets import never_fetched

    columns = never_fetched("GET /api/v2/books")
    assert columns == BOOK_ROW_NEVER_FETCHES
    assert {"description", "search_document"} <= set(columns["catalog_book"])
    # Placeholder names do not matter; a view that declares none is a KeyError, so a test
    # asking for it cannot check nothing.
    with pytest.raises(KeyError, match="no never_fetches"):
        never_fetched("GET /api/v2/books/{id}")
