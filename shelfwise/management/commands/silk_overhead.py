"""``manage.py silk_overhead``: the arguments; the measurement is benchmarks/silk.py."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from benchmarks import silk


class Command(BaseCommand):
    help = (
        "Measure django-silk's overhead on one URL: two gunicorn servers on the same "
        "database, staging profile with and without silk, requests interleaved in one run. "
        "Prints latency percentiles of each and their ratio."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", default="/api/v2/books?limit=50")
        parser.add_argument(
            "--header",
            action="append",
            default=[],
            help="'Name: value', repeatable (e.g. an Authorization header)",
        )
        parser.add_argument(
            "--requests", type=int, default=300, help="measured requests per server (default 300)"
        )
        parser.add_argument("--warmup", type=int, default=30)
        parser.add_argument(
            "--intercept-percent",
            type=int,
            default=100,
            help="SILKY_INTERCEPT_PERCENT for the silk server (default 100)",
        )
        parser.add_argument(
            "--timeout", type=float, default=300, help="stop measuring after this many seconds"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        silk.run(options, self.stdout)
