from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shelfwise.bench import story


class Command(BaseCommand):
    help = (
        "Benchmarks. --story: the seed's before/after table (lazy authors, the catalog "
        "index, the relation bundle, orjson), measured on the largest tenant."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        modes = parser.add_mutually_exclusive_group(required=True)
        modes.add_argument(
            "--story", action="store_true", help="reproduce the seed's before/after table"
        )
        parser.add_argument("--json", dest="json_file", help="also write the results to FILE")
        parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")

        group = parser.add_argument_group("--story")
        group.add_argument("--tenant", help="tenant slug (default: the tenant with the most books)")
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

    def handle(self, *args: Any, **options: Any) -> None:
        if options["story"]:
            self._story(options)

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
        if options["json_file"]:
            path = Path(options["json_file"])
            path.write_text(json.dumps(story.as_json(result), indent=2) + "\n")
            self.stdout.write(f"Wrote {path}")
