"""``manage.py bench``: what a request costs.

``--story``: the seed's before/after table (shelfwise/bench/story.py).
``--race``: ShelfWise against its raw twin (shelfwise/bench_race.py, perf/bench/).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shelfwise import bench_race
from shelfwise.bench import story


class Command(BaseCommand):
    help = (
        "Benchmarks. --story: the seed's before/after table (lazy authors, the catalog "
        "index, the relation bundle, orjson), measured on the largest tenant. --race: "
        "ShelfWise and its raw psycopg + orjson twin under gunicorn on the same database, "
        "bodies proven identical, then alternating wrk rounds per endpoint: req/s, p50, "
        "p99, app and PostgreSQL CPU per request, ShelfWise/twin ratios; --baseline gates "
        "the ratios."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        modes = parser.add_mutually_exclusive_group(required=True)
        modes.add_argument(
            "--story", action="store_true", help="reproduce the seed's before/after table"
        )
        modes.add_argument("--race", action="store_true", help="race ShelfWise against its twin")
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
        bench_race.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["story"]:
            self._story(options)
            return
        # A SIGTERM or a closed terminal unwinds like Ctrl-C: finally blocks stop servers.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _exit_on_signal)
        bench_race.run(options, self.stdout, self.stderr)

    def _story(self, options: dict[str, Any]) -> None:
        try:
            result = story.run_story(
                tenant_slug=options["tenant"],
                repeat=options["repeat"],
                lazy_repeat=options["lazy_repeat"],
                force=options["force"],
                progress=None if options["no_progress"] else self.stderr._out,
                warn=lambda message: self.stderr.write(f"warning: {message}"),
            )
        except story.StoryError as exc:
            raise CommandError(str(exc)) from None
        for line in [*story.header_lines(result), "", *story.table_lines(result), ""]:
            self.stdout.write(line)
        self.stdout.write(story.NOTES)
        if options["json"]:
            path = Path(options["json"])
            path.write_text(json.dumps(story.as_json(result), indent=2) + "\n")
            self.stdout.write(f"Wrote {path}")


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
