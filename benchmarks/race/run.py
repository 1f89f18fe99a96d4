"""``manage.py bench --race``: ShelfWise against its raw twin (benchmarks/twin.py).

What is ShelfWise-specific lives here: the endpoints (on the largest tenant unless
``--tenant``), a member token issued for the run and revoked after it, and the two
gunicorn servers (the same config file, worker count and threads; ShelfWise in its prod
profile) against this process's database. ``benchmarks.race.engine`` runs the race and
``benchmarks.race.gate`` gates the ratios.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import connection

from benchmarks.race import engine, gate
from catalog.models import Book
from catalog.selectors import tenants_by_size
from shelfwise.db.urls import current_database_url
from shelfwise.http.pagination import _encode_cursor
from shelfwise.serving import HEALTH_PATH, GunicornCommand, gunicorn_command
from tenants.models import Role, Tenant
from tenants.services import api_token_issue, api_token_revoke, user_get_or_create

TWIN_APP = "benchmarks.twin:application"
SHELFWISE_APP = "shelfwise.wsgi:application"
HANDICAP_APP = "benchmarks.race.handicap:handicapped"
BENCH_USER = "bench-race"
HOST = "127.0.0.1"  # the Host header of every request: the same links in both bodies
PAGE_SIZE = 50
DEEP_PAGE = 900
CURSOR_DEPTH = 45_000
SEARCH_TERM = "harbor"
ENDPOINT_KEYS = ("page1", "page900", "cursor", "detail", "search", "export")
# The gate in CI (tests/test_bench_race.py): the seeded mix at 0.5% (`seed --scale 0.005`,
# 250 books for the largest tenant), raced with these arguments and gated against this
# baseline, which was raced with the same ones. Refresh it after a change that makes an
# endpoint faster (or slower on purpose): docs/performance.md, "Detection power".
CI_RACE_ARGS = (
    "--rounds", "5", "--duration", "1", "--warmup", "0.5", "--workers", "1",
    "--connections", "2", "--endpoints", "page1", "--tenant", "atlas-distribution",
)  # fmt: skip


def add_arguments(parser: CommandParser) -> None:
    group = parser.add_argument_group("--race: ShelfWise against its raw twin")
    group.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    group.add_argument(
        "--duration", type=float, default=10.0, help="seconds per run of one endpoint (10)"
    )
    group.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    group.add_argument("--workers", type=int, default=2, help="gunicorn workers each (2)")
    group.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of wrk per endpoint first (1)"
    )
    group.add_argument(
        "--endpoints",
        default=",".join(ENDPOINT_KEYS),
        help=f"comma-separated subset of {', '.join(ENDPOINT_KEYS)}",
    )
    # --tenant and --json are the command's, shared with --story.
    group.add_argument("--save-baseline", type=Path, help="write the result as a baseline")
    group.add_argument("--baseline", type=Path, help="gate the ratios against this result")
    group.add_argument(
        "--margin",
        type=float,
        default=gate.DEFAULT_MARGIN,
        help="fail below baseline ratio / margin in every round (default 1.5)",
    )
    group.add_argument(
        "--handicap",
        metavar="ENDPOINT=FACTOR",
        help="test the gate: make ShelfWise's requests for ENDPOINT cost FACTOR times their "
        "own CPU (benchmarks/race/handicap.py), e.g. page1=2",
    )
    group.add_argument(
        "--from-json",
        type=Path,
        help="race nothing: print and gate this saved result instead",
    )


def run(options: dict[str, Any], stdout: TextIO, stderr: TextIO) -> None:
    def progress(message: str) -> None:
        stderr.write(message + "\n")
        stderr.flush()

    keys = [k.strip() for k in options["endpoints"].split(",") if k.strip()]
    unknown = sorted(set(keys) - set(ENDPOINT_KEYS))
    if unknown or not keys:
        raise CommandError(f"--endpoints: unknown {unknown}; choose from {ENDPOINT_KEYS}")
    baseline = _load(options["baseline"]) if options["baseline"] else None
    saved = options["from_json"]
    result = _load(saved) if saved else _race(options, keys, progress)
    stdout.write(engine.format_table(result) + "\n")
    for path in (options["json"], options["save_baseline"]):
        if path:
            engine.save(result, path)
            progress(f"Result written to {path}")
    if result["problems"]:
        raise CommandError("the race is not trustworthy: " + "; ".join(result["problems"]))
    if baseline is not None:
        checked = gate.compare(result, baseline, options["margin"])
        for note in checked.notes:
            stdout.write(f"  gate: {note}\n")
        if not checked.passed:
            raise CommandError("ratio gate failed: " + "; ".join(checked.failures))
        stdout.write(f"Ratio gate passed (margin {options['margin']:g}).\n")


def _load(path: Path) -> dict[str, Any]:
    try:
        return engine.load(path)
    except engine.RaceError as exc:
        raise CommandError(str(exc)) from None


def _race(options: dict[str, Any], keys: list[str], progress: engine.Progress) -> dict[str, Any]:
    try:
        engine.require_wrk()
    except engine.RaceError as exc:
        raise CommandError(str(exc)) from None
    tenant = _tenant(options["tenant"])
    endpoints = [e for e in race_endpoints(tenant) if e.key in keys]
    handicap = _handicap(options["handicap"], endpoints)
    user = user_get_or_create(tenant=tenant, username=BENCH_USER, role=Role.MEMBER)
    token, raw = api_token_issue(user=user, name=BENCH_USER)
    try:
        config = engine.RaceConfig(
            rounds=options["rounds"],
            duration_s=options["duration"],
            connections=options["connections"],
            warmup_s=options["warmup"],
            headers={"Authorization": f"Bearer {raw}", "Host": HOST},
            postgres_pid=_postmaster(),
            meta={"tenant": tenant.slug, "workers": options["workers"],
                  "gunicorn_config": "shelfwise/serving/gunicorn.conf.py",
                  "threads": int(os.environ.get("GUNICORN_THREADS", "4")),
                  **({"handicap": options["handicap"]} if handicap else {})},
        )  # fmt: skip
        progress(
            f"Race on {tenant.slug}: {config.rounds} rounds x {config.duration_s:g} s per "
            f"endpoint, {options['workers']} workers each, {config.connections} connections"
        )
        contenders = _contenders(options["workers"], handicap)
        _collect_static(contenders[0].env, progress)
        return engine.race(contenders, endpoints, config, progress)
    except engine.RaceError as exc:
        raise CommandError(str(exc)) from None
    finally:
        api_token_revoke(token=token)


def _tenant(slug: str | None) -> Tenant:
    if slug:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"no tenant {slug!r}")
        return tenant
    largest = tenants_by_size().first()
    if largest is None:
        raise CommandError("no tenant: run `manage.py seed` first")
    return largest


def race_endpoints(tenant: Tenant) -> list[engine.Endpoint]:
    """The raced requests, on this tenant's data: a deep page and cursor as deep as the
    catalog allows, up to page 900 and position 45,000 (the 50,000-book tenant)."""
    books = Book.objects.for_tenant(tenant)
    count = books.count()
    if count == 0:
        raise CommandError(f"tenant {tenant.slug} has no books")
    deep_page = min(DEEP_PAGE, -(-count // PAGE_SIZE))
    depth = min(CURSOR_DEPTH, count - 1)
    title, last_id = books.order_by("title", "id").values_list("title", "id")[max(depth - 1, 0)]
    # The cursor ShelfWise's own `next` link carries after the book at that position.
    cursor = _encode_cursor(False, title, last_id) if depth else ""
    detail = books.order_by("title", "id").values_list("id", flat=True)[count // 2]
    base = "/api/v2/books"
    return [
        engine.Endpoint("page1", f"{base}?limit={PAGE_SIZE}", "catalog page 1 (count)"),
        engine.Endpoint(
            "page900", f"{base}?page={deep_page}&limit={PAGE_SIZE}", f"page {deep_page}"
        ),
        engine.Endpoint(
            "cursor", f"{base}?cursor={cursor}&limit={PAGE_SIZE}", f"cursor at depth {depth:,}"
        ),
        engine.Endpoint("detail", f"{base}/{detail}", "detail"),
        engine.Endpoint("search", f"{base}/search?q={SEARCH_TERM}", f"search q={SEARCH_TERM}"),
        engine.Endpoint("export", f"{base}/export", f"export ({count:,} books)"),
    ]


def _handicap(spec: str | None, endpoints: list[engine.Endpoint]) -> str | None:
    """ShelfWise's WSGI app as gunicorn names it, slowed on one endpoint, or None."""
    if not spec:
        return None
    key, _, factor = spec.partition("=")
    paths = {e.key: e.path for e in endpoints}
    try:
        value = float(factor)
    except ValueError:
        value = 0.0
    if key not in paths or value < 1:
        raise CommandError(
            f"--handicap {spec!r}: expected ENDPOINT=FACTOR, ENDPOINT one of the raced "
            f"{sorted(paths)} and FACTOR at least 1"
        )
    return f"{HANDICAP_APP}({SHELFWISE_APP!r}, {value!r}, {paths[key]!r})"


def _postmaster() -> int | None:
    """The local postmaster of this database (PostgreSQL CPU is read from it), or None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), current_database()")
        backend, database = cursor.fetchone()
    return engine.postmaster_of(backend, database)


# In ShelfWise's prod settings: collect the static files unless they are (a deploy's step).
COLLECT_ONCE = (
    "import django; django.setup();"
    "from django.core.management import call_command;"
    "from shelfwise.checks import collected_static_files;"
    "collected_static_files() and call_command('collectstatic', '--no-input', verbosity=0)"
)


def _collect_static(env: Mapping[str, str], progress: engine.Progress) -> None:
    """prod refuses to start without its collected static files (shelfwise/checks.py), so
    the race collects them first, once: about 30 s of CPU, reused by later races."""
    progress("Static files: collecting them unless they are (prod serves only those)")
    collected = subprocess.run(  # noqa: S603 - our own argv
        [sys.executable, "-c", COLLECT_ONCE],
        env=dict(env),
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if collected.returncode != 0:
        raise engine.RaceError(f"collectstatic failed:\n{collected.stderr[-3000:]}")


def _contenders(
    workers: int, shelfwise_app: str | None = None
) -> tuple[engine.Contender, engine.Contender]:
    """Both under gunicorn with the same config file (gthread, GUNICORN_THREADS threads),
    the same worker count and environment; only the WSGI app differs (ShelfWise's is the
    config's unless a handicapped one is named)."""
    secret_key = secrets.token_urlsafe(50)

    def server(app: str | None) -> GunicornCommand:
        return gunicorn_command(
            bind="{bind}",  # the engine's template: it picks the ports
            workers=workers,
            app=app,
            profile="prod",
            database_url=current_database_url(),
            log_level="warning",
            # No access log on either side: the race measures the apps, not log writing.
            access_log="",
            env={
                "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
                "SECRET_KEY": secret_key,
                "ALLOWED_HOSTS": HOST,
                # ShelfWise's per-user rate (6000/min per worker) would answer 429s
                # mid-race; its check still runs on every request.
                "API_THROTTLE_RATE": "100000000/min",
            },
            env_unset=("PROMETHEUS_MULTIPROC_DIR",),  # each master makes its own
        )

    shelfwise, twin = server(shelfwise_app), server(TWIN_APP)
    return (
        engine.Contender("shelfwise", tuple(shelfwise.argv), shelfwise.env, HEALTH_PATH),
        engine.Contender("twin", tuple(twin.argv), twin.env, HEALTH_PATH),
    )
