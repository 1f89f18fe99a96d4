"""``manage.py bench``: what a request costs. ``--race``: ShelfWise against its raw twin
(shelfwise/bench_race.py, perf/bench/)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shelfwise import bench_race


class Command(BaseCommand):
    help = (
        "Benchmarks. --race: ShelfWise and its raw psycopg + orjson twin under gunicorn on "
        "the same database, bodies proven identical, then alternating wrk rounds per "
        "endpoint: req/s, p50, p99, app and PostgreSQL CPU per request, ShelfWise/twin "
        "ratios; --baseline gates the ratios."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--race", action="store_true", help="race ShelfWise against its twin")
        bench_race.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        # A SIGTERM or a closed terminal unwinds like Ctrl-C: finally blocks stop servers.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _exit_on_signal)
        if options["race"]:
            bench_race.run(options, self.stdout, self.stderr)
            return
        raise CommandError("choose a benchmark: --race")


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
