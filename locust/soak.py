"""The soak test's mix: every API endpoint, for as long as the run lasts.

``manage.py loadtest --scenario soak`` runs this file alone. ``SoakShopperUser`` is the
load test's shopper (``locustfile.ShopperUser``: browse, view, search, order) plus the
reads it lacks: keyset pages, authors and publishers (lists and details), its own orders
(list, detail, cancel: cancelling restores the stock that ordering takes, so a long soak
does not sell out), the export of small catalogs (a 50,000-book export takes seconds of
a worker; its memory is flat by design, and the 100-5,000-book ones exercise the same
path), health, readiness and the API root. ``SoakOperatorUser`` (one per run) manages the
onboarding tenant's catalog: bulk upserts over a fixed pool of ISBNs (the tenant stays the
same size however long the soak runs), then creates, edits and deletes one book.

    .venv/bin/python manage.py loadtest --scenario soak --run-time 10m
"""

from __future__ import annotations

import random
from typing import Any

import locustfile
from bulk_import import book_row, isbn13
from locust import FastHttpUser, between, task
from shelfwise_load import bearer, check, load_data

EXPORT_MAX_BOOKS = 5_000
ISBN_POOL = [isbn13(900_000_000 + n) for n in range(200)]
IMPORT_ROWS = 20


class SoakShopperUser(locustfile.ShopperUser):
    order_ids: list[str]

    def on_start(self) -> None:
        super().on_start()
        self.order_ids = []

    def _json(self, path: str, name: str, **params: Any) -> Any:
        with self.client.get(
            path, params=params or None, name=name, headers=self.headers, catch_response=True
        ) as response:
            check(response, 200)
            return response.json() if response.status_code == 200 else None

    @task(2)
    def cursor_pages(self) -> None:
        page = self._json("/api/v2/books", "/api/v2/books?cursor", cursor="", limit=50)
        for _ in range(random.randint(0, 2)):  # noqa: S311
            if not page or not page.get("next"):
                return
            page = self._json(page["next"], "/api/v2/books?cursor")

    @task(1)
    def authors(self) -> None:
        listing = self._json("/api/v2/authors", "/api/v2/authors")
        if listing and listing.get("results"):
            author = random.choice(listing["results"])  # noqa: S311
            self._json(f"/api/v2/authors/{author['id']}", "/api/v2/authors/{id}")

    @task(1)
    def publishers(self) -> None:
        listing = self._json("/api/v2/publishers", "/api/v2/publishers")
        if listing and listing.get("results"):
            publisher = random.choice(listing["results"])  # noqa: S311
            self._json(f"/api/v2/publishers/{publisher['id']}", "/api/v2/publishers/{id}")

    @task(1)
    def my_orders(self) -> None:
        self._json("/api/v2/orders", "/api/v2/orders")
        if self.order_ids:
            self._json(f"/api/v2/orders/{self.order_ids[-1]}", "/api/v2/orders/{id}")

    @task(1)
    def order_and_cancel(self) -> None:
        books = self.tenant["order_book_ids"]
        if not books:
            return
        payload = {"items": [{"book_id": random.choice(books), "quantity": 1}]}  # noqa: S311
        with self.client.post(
            "/api/v2/orders", json=payload, name="/api/v2/orders", headers=self.headers,
            catch_response=True,
        ) as response:  # fmt: skip
            check(response, 201)
            if response.status_code != 201:
                return
            order_id = response.json()["id"]
        self.order_ids = [*self.order_ids[-9:], order_id]
        with self.client.post(
            f"/api/v2/orders/{order_id}/cancel", name="/api/v2/orders/{id}/cancel",
            headers=self.headers, catch_response=True,
        ) as response:  # fmt: skip
            check(response, 200)

    @task(1)
    def export(self) -> None:
        if self.tenant["books"] > EXPORT_MAX_BOOKS:
            return
        with self.client.get(
            "/api/v2/books/export", name="/api/v2/books/export", headers=self.headers,
            catch_response=True,
        ) as response:  # fmt: skip
            check(response, 200)

    @task(1)
    def probes(self) -> None:
        for path in ("/api/v2/health", "/api/v2/ready"):
            with self.client.get(path, name=path, catch_response=True) as response:
                check(response, 200)
        self._json("/api/v2/", "/api/v2/")


class SoakOperatorUser(FastHttpUser):
    fixed_count = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        onboarding = load_data().get("onboarding")
        if not onboarding:
            raise RuntimeError("the load data has no onboarding tenant")
        self.headers = bearer(onboarding["token"])

    def _send(self, method: str, path: str, name: str, expected: int, body: Any = None) -> Any:
        with self.client.request(
            method, path, json=body, name=name, headers=self.headers, catch_response=True
        ) as response:
            check(response, expected)
            content_type = response.headers.get("Content-Type", "")
            ok = response.status_code == expected and content_type.startswith("application/json")
            return response.json() if ok else None

    @task
    def manage_catalog(self) -> None:
        rows = [book_row() | {"isbn": isbn} for isbn in random.sample(ISBN_POOL, IMPORT_ROWS)]
        self._send("POST", "/api/v2/books/bulk", "/api/v2/books/bulk", 200, rows)
        authors = self._send("GET", "/api/v2/authors", "/api/v2/authors", 200)
        publishers = self._send("GET", "/api/v2/publishers", "/api/v2/publishers", 200)
        if not (authors and authors["results"] and publishers and publishers["results"]):
            return
        created = self._send(
            "POST", "/api/v2/books", "/api/v2/books", 201,
            {
                "title": "Soak Test Volume",
                "isbn": isbn13(950_000_000 + random.randrange(10**6)),  # noqa: S311
                "price": "12.50",
                "stock": 5,
                "author_id": authors["results"][0]["id"],
                "publisher_id": publishers["results"][0]["id"],
            },
        )  # fmt: skip
        if created is None:
            return
        path = f"/api/v2/books/{created['id']}"
        self._send("PATCH", path, "/api/v2/books/{id}", 200, {"stock": 7})
        self._send("DELETE", path, "/api/v2/books/{id}", 204)
        self._send("GET", "/api/v2/books/export", "/api/v2/books/export", 200)
