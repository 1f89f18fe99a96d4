"""Every API route declares its query budgets (perf.budgets), and the load test gates
against that same table."""

from __future__ import annotations

from benchmarks.loadtest.policy import query_budgets_for
from perf.budgets import endpoint_budgets, endpoints, unbudgeted

API = "/api/v2/"


def test_every_api_route_declares_a_budget_for_every_method_it_serves():
    assert unbudgeted(API) == [], "declare them with @perf.budgets.query_budgets on the view"


def test_the_table_covers_every_api_route():
    routes = {e.route for e in endpoints() if e.route.startswith(API)}
    budgeted = {key.split(" ", 1)[1] for key in endpoint_budgets()}
    assert routes and routes <= budgeted


def test_the_load_test_gates_its_endpoints_against_the_declared_budgets():
    table = endpoint_budgets()
    # The names the locustfiles give their requests.
    names = [
        "GET /api/v2/books",
        "GET /api/v2/books/{id}",
        "GET /api/v2/books/search",
        "POST /api/v2/orders",
        "POST /api/v2/books/bulk",
    ]
    assert query_budgets_for(names) == {
        "GET /api/v2/books": table["GET /api/v2/books"],
        "GET /api/v2/books/{id}": table["GET /api/v2/books/{book_id}"],
        "GET /api/v2/books/search": table["GET /api/v2/books/search"],
        "POST /api/v2/orders": table["POST /api/v2/orders"],
        "POST /api/v2/books/bulk": table["POST /api/v2/books/bulk"],
    }
