"""ShelfWise shoppers: the seeded tenant mix browsing, viewing, searching and ordering.

Each simulated user belongs to one tenant for its whole life, drawn with the tenant's
``weight`` from the load data (sqrt of the catalog size: big shops busier, not
proportionally). Tasks: browse 10 (pages 1..10 of 50, never past the tenant's last
page), view 5, search 2 (terms from real titles), order 1 (1-5 books of 1-3 copies each,
from books that had plenty of stock), and ready 2 (``GET /api/v2/ready``: one ``SELECT 1``
through gunicorn, the middleware and a database round trip: the floor under every other
row of the table, there to read queueing by; docs/performance.md tells why the gate's
reference is the detail page instead); waits of 0.5-2.0 s between tasks. A long run sells
books out: a 409 ``out_of_stock`` is then the right answer, not a failure, and the books
it names as short leave this process's pool; any other status is a failure. Requests are
named by route so that stats group by endpoint.

    .venv/bin/python manage.py loadtest --scenario smoke          # prepares data and server
    # or by hand, against a running server:
    .venv/bin/python manage.py loadtest --prepare-only --data-file /tmp/load.json
    SHELFWISE_LOAD_DATA=/tmp/load.json .venv/bin/locust -f locust/locustfile.py \\
        --host http://127.0.0.1:8000
"""

from __future__ import annotations

import random
from typing import Any

from locust import FastHttpUser, between, task
from shelfwise_load import bearer, check, error_code, load_data


def _short_items(response: Any) -> list[str]:
    """The books a 409 out_of_stock names as short (they leave this process's pool)."""
    try:
        items = response.json()["error"]["details"]["items"]
    except (ValueError, KeyError, TypeError):
        return []
    return [item["book_id"] for item in items if isinstance(item, dict) and "book_id" in item]


class ShopperUser(FastHttpUser):
    wait_time = between(0.5, 2.0)

    tenant: dict[str, Any]

    def on_start(self) -> None:
        tenants = load_data()["tenants"]
        self.tenant = random.choices(tenants, weights=[t["weight"] for t in tenants])[0]  # noqa: S311
        self.headers = bearer(self.tenant["token"])

    def _get(self, path: str, name: str, **params: Any) -> None:
        """GET, named by route, with anything but 200 counted as a failure."""
        with self.client.get(
            path, params=params or None, name=name, headers=self.headers, catch_response=True
        ) as response:
            check(response, 200)

    @task(10)
    def browse(self) -> None:
        page = random.randint(1, self.tenant["pages"])  # noqa: S311
        self._get("/api/v2/books", "/api/v2/books", page=page, limit=50)

    @task(5)
    def view(self) -> None:
        book_id = random.choice(self.tenant["book_ids"])  # noqa: S311
        self._get(f"/api/v2/books/{book_id}", "/api/v2/books/{id}")

    @task(2)
    def search(self) -> None:
        term = random.choice(self.tenant["search_terms"])  # noqa: S311
        self._get("/api/v2/books/search", "/api/v2/books/search", q=term)

    @task(2)
    def ready(self) -> None:
        self._get("/api/v2/ready", "/api/v2/ready")

    @task(1)
    def order(self) -> None:
        books = self.tenant["order_book_ids"]
        if not books:
            return
        picked = random.sample(books, min(len(books), random.randint(1, 5)))  # noqa: S311
        payload = {
            "items": [
                {"book_id": book_id, "quantity": random.randint(1, 3)}  # noqa: S311
                for book_id in picked
            ]
        }
        with self.client.post(
            "/api/v2/orders",
            json=payload,
            name="/api/v2/orders",
            headers=self.headers,
            catch_response=True,
        ) as response:
            if response.status_code == 409 and error_code(response) == "out_of_stock":
                response.success()  # sold out: correct, and never oversold
                for item in _short_items(response):
                    if item in books:
                        books.remove(item)
                return
            check(response, 201)
