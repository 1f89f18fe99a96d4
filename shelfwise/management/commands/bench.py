"""``manage.py bench``: what a request costs; the arguments here, each mode in benchmarks/.

``--story``: the seed's before/after table (benchmarks/story.py).
``--race``: ShelfWise against its raw twin (benchmarks/race/).
``--cost``: instructions, buffers and queries per request, gated (benchmarks/cost/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from benchmarks import story
from benchmarks.cost import run as cost
from benchmarks.race import run as race
from benchmarks.signals import unwind_on_signals


class Command(BaseCommand):
    help = (
        "Benchmarks. --story: the seed's before/after table (lazy authors, the catalog "
        "index, the relation bundle, orjson), measured on the largest tenant. --race: "
        "ShelfWise and its raw psycopg + orjson twin under gunicorn on the same database, "
        "bodies proven identical, then alternating wrk rounds per endpoint: req/s, p50, "
        "p99, app and PostgreSQL CPU per request, ShelfWise/twin ratios; --baseline gates "
        "the ratios. --cost: instructions (callgrind) and PostgreSQL buffers per request "
        "for each hot endpoint on a small fixed dataset; --baseline gates them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        modes = parser.add_mutually_exclusive_group(required=True)
        modes.add_argument(
            "--story", action="store_true", help="reproduce the seed's before/after table"
        )
        modes.add_argument("--race", action="store_true", help="race ShelfWise against its twin")
        modes.add_argument(
            "--cost", action="store_true", help="instructions and buffers per request, gated"
        )
        parser.add_argument(
            "--tenant", help="tenant slug (default: the tenant with the most books)"
        )
        parser.add_argument("--json", type=Path, help="also write the results to FILE")
        parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")

        group = parser.add_argument_group("--story")
        group.add_argument(
            "--repeat",
            type=int,
            default=story.DEFAULT_REPEAT,
            help=f"repetitions of steps 2 and 3 (default {story.DEFAULT_REPEAT})",
        )
        group.add_argument(
            "--lazy-repeat",
            type=int,
            default=story.DEFAULT_LAZY_REPEAT,
            help="repetitions of steps 0 and 1, one query per book, tens of seconds each at "
            f"50,000 books (default {story.DEFAULT_LAZY_REPEAT})",
        )
        group.add_argument(
            "--force",
            action="store_true",
            help="run under SHELFWISE_ENV=prod although step 0 locks catalog_book",
        )
        race.add_arguments(parser)
        cost.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["story"]:
            story.run(options, self.stdout, self.stderr)
            return
        if options["cost"]:
            cost.run(options, self.stdout, self.stderr)
            return
        # A race starts servers: its finally blocks stop them on SIGTERM or SIGHUP too.
        unwind_on_signals()
        race.run(options, self.stdout, self.stderr)
