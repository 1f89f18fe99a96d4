"""``manage.py loadtest``: the arguments; the modes run in benchmarks/loadtest/run.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from benchmarks.loadtest import run
from benchmarks.loadtest.policy import SOAK_MAX_MB_PER_HOUR as MB_HOUR
from benchmarks.loadtest.policy import SOAK_MIN_FIT_REQUESTS as MIN_FIT
from benchmarks.loadtest.policy import SOAK_WARMUP_REQUESTS as WARMUP_REQUESTS
from benchmarks.loadtest.scenarios import SCENARIOS
from benchmarks.signals import unwind_on_signals


class Command(BaseCommand):
    help = (
        "Load-test ShelfWise with locust: the seeded tenant mix browsing, viewing, "
        "searching and ordering (and bulk-importing in `onboarding`). Starts gunicorn on a "
        "free 127.0.0.1 port unless --host is given, prints p50/p95/p99 and queries per "
        "request per endpoint, writes stats JSON and locust's HTML report, and gates "
        "failures, query counts and p99 against --baseline. `soak` drives every endpoint "
        "and gates each worker's memory growth."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add = parser.add_argument
        # fmt: off
        add("--scenario", choices=sorted(SCENARIOS), default="smoke")
        add("--users", type=int, help="override the scenario's users")
        add("--spawn-rate", type=float, help="users started per second")
        add("--run-time", help="e.g. 30s, 5m (locust's format)")
        add("--warmup", type=float, help="seconds left out of the gate p99")
        add("--rounds", type=int, help="rounds whose median p99 is gated")
        add("--host", help="a running server sharing this database (tokens are issued here); "
            "default: start gunicorn on a free loopback port and stop it afterwards")
        add("--workers", type=int, help="gunicorn workers when started here")
        add("--handicap", metavar="PATH=FACTOR",
            help="test the gate: the gunicorn started here makes each request for PATH (any "
            "query string) cost FACTOR times its own CPU (benchmarks/race/handicap.py), "
            "e.g. /api/v2/books=2")
        add("--processes", type=int, default=0,
            help="locust's distributed mode: a master and this many worker processes")
        add("--out", type=Path,
            help="report folder (default reports/loadtest/<timestamp>-<scenario>)")
        add("--baseline", type=Path, help="stats JSON to gate against")
        add("--save-baseline", type=Path, help="write this run's stats here")
        add("--attempts", type=int,
            help="with --baseline: measure up to this many times while only p99 fails, and "
            "fail an endpoint only if every attempt does (default 3; 1 without --baseline)")
        add("--max-ratio", type=float,
            help="p99 limit as a multiple of the baseline's (default 1.2; against a baseline "
            "normalised by the reference, the measured NORMALISED_GATE's)")
        add("--median-max-ratio", type=float,
            help="against a normalised baseline: the median's limit (default NORMALISED_GATE's)")
        add("--noise-floor-ms", type=float,
            help="a rise must also exceed this many ms to fail the gate (default 10)")
        add("--sample-interval", type=float, default=5.0,
            help="soak: seconds between samples of each worker's memory (default 5)")
        add("--warmup-requests", type=int, default=WARMUP_REQUESTS,
            help="soak: fit each worker only after it served this many requests "
            f"(default {WARMUP_REQUESTS:,})")
        add("--min-fit-requests", type=int, default=MIN_FIT,
            help="soak: fit a worker only if it served this many requests after its warm-up "
            f"(default {MIN_FIT:,})")
        add("--max-mb-per-hour", type=float,
            help="soak: fail when the workers' USS (pooled) grows faster than this per hour at "
            f"the run's request rate (default {MB_HOUR:g} without --max-mb-per-10k)")
        add("--max-mb-per-10k", type=float,
            help="soak: fail when the workers' USS (pooled) grows more than this per 10,000 "
            "requests it serves")
        modes = parser.add_argument_group("instead of measuring")
        modes.add_argument("--revoke-tokens", action="store_true",
            help="revoke every live load-test token (left by --prepare-only) and exit")
        modes.add_argument("--prepare-only", action="store_true",
            help="only write the load data (tokens stay valid) for the plain locust CLI")
        modes.add_argument("--data-file", type=Path, help="where --prepare-only writes")
        modes.add_argument("--from-stats", type=Path, nargs="+",
            help="run nothing: print and gate this stats JSON (a saved run) instead; given "
            "several runs of one scenario, their median (with --save-baseline: a baseline)")
        # fmt: on

    def handle(self, *args: Any, **options: Any) -> None:
        # The finally blocks stop gunicorn and locust and revoke the run's tokens.
        unwind_on_signals()
        run.run(options, self.stdout, self.stderr, self.style.SUCCESS)
