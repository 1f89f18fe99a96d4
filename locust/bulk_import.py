"""Tenant onboarding: one operator bulk-importing a new catalog while shoppers browse.

Exactly one such user (``fixed_count``) per run, whatever the user count, on the
onboarding tenant that ``manage.py loadtest`` recreates empty before each run. Every
import sends ``ROWS`` new books; ISBNs are valid ISBN-13s from a random per-process base
plus a counter, so they are unique within the run (and the run starts on an empty
tenant). Authors, publishers and genres come from small pools, so after the first imports
they exist and an import is the steady-state upsert.

    .venv/bin/python manage.py loadtest --scenario onboarding
    SHELFWISE_LOAD_DATA=/tmp/load.json .venv/bin/locust \\
        -f locust/locustfile.py,locust/bulk_import.py --host http://127.0.0.1:8000
"""

from __future__ import annotations

import itertools
import random

from locust import FastHttpUser, between, task
from shelfwise_load import bearer, check, load_data

# Importable here: shelfwise_load put the project root on sys.path, and catalog.isbn needs
# no Django. soak.py takes isbn13 from this module.
from catalog.isbn import isbn13

ROWS = 500
_rng = random.Random()  # noqa: S311 - synthetic data
_isbn_numbers = itertools.count(_rng.randrange(100_000_000, 800_000_000))

AUTHORS = [f"{first} {last}" for first in ("Ines", "Kai", "Luz", "Ravi", "Siri")
           for last in ("Aalto", "Brandt", "Costa", "Dahl", "Eze")]  # fmt: skip
PUBLISHERS = ["Onboard Press", "Newleaf Books", "First Shelf Editions"]
GENRES = ["Fiction", "Mystery", "History", "Science", "Travel", "Poetry"]
WORDS = ["Harbour", "Lantern", "Orchard", "Signal", "Atlas", "Meadow", "Ember", "Compass"]


def book_row() -> dict[str, object]:
    return {
        "isbn": isbn13(next(_isbn_numbers)),
        "title": f"The {_rng.choice(WORDS)} of {_rng.choice(WORDS)}s",
        "price": f"{_rng.randrange(499, 4999) / 100:.2f}",
        "stock": _rng.randrange(0, 60),
        "author": _rng.choice(AUTHORS),
        "publisher": _rng.choice(PUBLISHERS),
        "genres": _rng.sample(GENRES, 2),
    }


class OnboardingOperatorUser(FastHttpUser):
    fixed_count = 1
    wait_time = between(2, 5)

    def on_start(self) -> None:
        onboarding = load_data().get("onboarding")
        if not onboarding:
            raise RuntimeError(
                "the load data has no onboarding tenant: prepare it with "
                "`manage.py loadtest --scenario onboarding --prepare-only`"
            )
        self.headers = bearer(onboarding["token"])

    @task
    def bulk_import(self) -> None:
        with self.client.post(
            "/api/v2/books/bulk",
            json=[book_row() for _ in range(ROWS)],
            name="/api/v2/books/bulk",
            headers=self.headers,
            catch_response=True,
        ) as response:
            check(response, 200)
