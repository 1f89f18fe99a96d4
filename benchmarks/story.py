"""``manage.py bench --story``: the seed's before/after table, reproduced on real data.

The catalog request of the story: the tenant's whole catalog in catalog order (title, id),
each row the list serializer's book columns and its author (``StoryRowSerializer``), the
row of the seed's story, whose "before" loads the authors one by one (N + 1 queries).
Every step serves the same JSON; the steps are cumulative:

0. the naive way: a plain queryset (every column), each author loaded lazily (Django's
   FETCH_ONE), no ``book_tenant_title_id`` index, DRF's stdlib ``json`` renderer;
1. + that index;
2. + a relation bundle (``with_list_relations`` here: select_related,
   prefetch_related, only), so the query count no longer grows with the catalog (the
   API's own pages go one step further, with ``values()`` rows: docs/performance.md);
3. + the project's renderer (orjson).

Step 0 drops the index inside a transaction around its book query and rolls back, so the
schema is left as found. DROP INDEX takes an ACCESS EXCLUSIVE lock on catalog_book until
that rollback: every other read or write of the table waits meanwhile (the book query's
duration, once per repetition, and the naive query reads every column; figures:
docs/performance.md, "benchmarks/story.py: the lock of step 0"). The lock is asked for
with a short lock_timeout, so that the bench gives up rather than queue every request
behind a long transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson
from django.conf import settings
from django.core.management.base import CommandError
from django.db import OperationalError, connection, transaction
from django.db.models import FETCH_ONE
from django.test.utils import override_settings
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.settings import api_settings

from benchmarks.measure import QueryTally, Spread, peak_rss, release_memory, tally_queries
from catalog.models import Book
from catalog.perf_hooks import largest_tenant, load_tenant
from catalog.querysets import BOOK_ROW_COLUMNS, BookQuerySet
from catalog.selectors import book_list
from catalog.serializers import BookListSerializer
from perf.fetch import bundle_fetch_mode
from perf.nplusone import allow_repeats
from shelfwise.progress import ProgressBar
from tenants.models import Tenant

CATALOG_INDEX = "book_tenant_title_id"
LOCK_TIMEOUT_MS = 2000
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout
DEFAULT_REPEAT = 3
DEFAULT_LAZY_REPEAT = 1
# The columns of step 2's instances: a catalog row's, with its author's and publisher's.
BOOK_LIST_FIELDS = (
    *BOOK_ROW_COLUMNS,
    "author__id",
    "author__name",
    "publisher__id",
    "publisher__name",
)

# The seed's published figures, before (step 0) and after (step 3).
SEED_FIGURES: dict[int, dict[str, float]] = {
    0: {"queries": 50_001, "db_ms": 1_800, "serialize_ms": 200, "total_ms": 2_100},
    3: {"queries": 2, "db_ms": 18, "serialize_ms": 48, "total_ms": 80},
}
METRICS = (
    "queries",
    "db_ms",
    "list_query_ms",
    "orm_ms",
    "serialize_ms",
    "encode_ms",
    "total_ms",
    "cpu_ms",
    "peak_mb",
)


class StoryError(Exception):
    """The story cannot run (no data, a refused lock, a profile that forbids it)."""


class StoryRowSerializer(BookListSerializer):
    """The story's row: the list serializer's book columns and author."""

    publisher = None
    genres = None


@dataclass(frozen=True)
class Step:
    number: int
    label: str
    index: bool
    bundle: bool
    orjson: bool

    @property
    def lazy(self) -> bool:
        return not self.bundle


STEPS = (
    Step(0, "before: lazy authors, no index, json", index=False, bundle=False, orjson=False),
    Step(1, "+ index (tenant_id, title, id)", index=True, bundle=False, orjson=False),
    Step(2, "+ select_related / prefetch", index=True, bundle=True, orjson=False),
    Step(3, "+ orjson", index=True, bundle=True, orjson=True),
)


@dataclass
class Sample:
    queries: int
    db_ms: float
    list_query_ms: float
    orm_ms: float
    serialize_ms: float
    encode_ms: float
    total_ms: float
    # The process's CPU over the request (the load on a shared machine inflates wall
    # times, far less this); the database server's CPU is not in it.
    cpu_ms: float
    peak_mb: float | None
    # Step 0: how long catalog_book was locked, from DROP INDEX to the end of ROLLBACK.
    lock_ms: float | None


@dataclass
class StepResult:
    step: Step
    samples: list[Sample] = field(default_factory=list)

    def spread(self, metric: str) -> Spread | None:
        values = [getattr(s, metric) for s in self.samples]
        if any(v is None for v in values):
            return None
        return Spread.of(values)


@dataclass
class StoryResult:
    tenant: str
    books: int
    started: dt.datetime
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seconds: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    bodies: str = ""
    index_definition: str = ""


def story_tenant(slug: str | None) -> tuple[Tenant, int]:
    """The tenant to measure (default: the one with the most books) and its book count."""
    key = slug or largest_tenant()
    if not key:
        raise StoryError("no tenant in the database: run `manage.py seed` first")
    try:
        tenant = load_tenant(key)
    except LookupError as exc:
        raise StoryError(str(exc)) from None
    books = book_list(tenant=tenant).count()
    if books == 0:
        raise StoryError(f"tenant {tenant.slug!r} has no books: run `manage.py seed` first")
    return tenant, books


def index_definition() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s AND tablename = %s",
            [CATALOG_INDEX, Book._meta.db_table],
        )
        row = cursor.fetchone()
    if row is None:
        raise StoryError(
            f"index {CATALOG_INDEX} is missing from {Book._meta.db_table}: "
            "run `manage.py migrate` first"
        )
    return str(row[0])


@contextmanager
def catalog_index_dropped() -> Iterator[None]:
    """The block runs without book_tenant_title_id, in a transaction that is rolled back.

    Holds ACCESS EXCLUSIVE on catalog_book until the rollback (see the module docstring).
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{LOCK_TIMEOUT_MS}"])
            try:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(CATALOG_INDEX)}")
            except OperationalError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                    raise
                raise StoryError(
                    f"could not lock {Book._meta.db_table} within {LOCK_TIMEOUT_MS} ms to "
                    f"drop {CATALOG_INDEX} (a long transaction holds it?): {exc}"
                ) from None
        yield
        transaction.set_rollback(True)


def with_list_relations(books: BookQuerySet) -> BookQuerySet:
    """A catalog row as instances: author and publisher joined, genres in one extra
    query per page, no description or search document: the seed's
    select_related/prefetch_related step. The API's pages go further
    (``BookQuerySet.with_list_rows()``); only this bench builds instances so."""
    return (
        books.select_related("author", "publisher")
        .only(*BOOK_LIST_FIELDS)
        .prefetch_related(books._genres_prefetch())  # the API's genre prefetch, as is
        .fetch_mode(bundle_fetch_mode())
    )


def _queryset(step: Step, tenant: Tenant) -> Any:
    if step.bundle:
        return with_list_relations(Book.objects.for_tenant(tenant)).in_catalog_order()
    # Django 6.1's FETCH_ONE on purpose: each row's author is one query when touched.
    return Book.objects.for_tenant(tenant).in_catalog_order().fetch_mode(FETCH_ONE)


def _renderer(step: Step) -> BaseRenderer:
    if step.orjson:
        return api_settings.DEFAULT_RENDERER_CLASSES[0]()  # the project's renderer: orjson
    return JSONRenderer()  # DRF's renderer over the stdlib json module


def _lazy_authors_allowed(step: Step) -> Any:
    if not step.lazy:
        return nullcontext()
    return allow_repeats(
        "bench --story serves its naive steps with one author query per book on purpose",
        match=f'"{Book._meta.get_field("author").related_model._meta.db_table}"',  # type: ignore[union-attr]
    )


def serve_once(step: Step, tenant: Tenant) -> tuple[Sample, bytes]:
    """One catalog request at this step, measured, and its body.

    DB: the client's wait on every statement. Serialize: the serializer and the renderer
    over loaded rows; in the lazy steps the request's own serialization also runs the
    author queries, so it is timed again, once the authors are loaded. ORM: the rest of
    the request (building queries and model instances, prefetch bookkeeping).
    """
    release_memory()
    tally = QueryTally()
    renderer = _renderer(step)
    with peak_rss() as memory:
        lock_started = time.perf_counter()
        with nullcontext() if step.index else catalog_index_dropped():
            started, cpu_started = time.perf_counter(), time.process_time()
            with tally_queries(tally):
                books = list(_queryset(step, tenant))
            fetched = time.perf_counter()
        lock_s = None if step.index else time.perf_counter() - lock_started
        list_query_s = tally.seconds
        with _lazy_authors_allowed(step), tally_queries(tally):
            body, serialize_s, encode_s = _serialize(renderer, books)
        cpu_s = time.process_time() - cpu_started
    total_s = fetched - started + serialize_s
    if step.lazy:
        _, serialize_s, encode_s = _serialize(renderer, books)
    sample = Sample(
        queries=tally.count,
        db_ms=tally.ms,
        list_query_ms=1000 * list_query_s,
        orm_ms=1000 * (total_s - tally.seconds - serialize_s),
        serialize_ms=1000 * serialize_s,
        encode_ms=1000 * encode_s,
        total_ms=1000 * total_s,
        cpu_ms=1000 * cpu_s,
        peak_mb=memory.mb,
        lock_ms=None if lock_s is None else 1000 * lock_s,
    )
    return sample, body


def _serialize(renderer: BaseRenderer, books: list[Book]) -> tuple[bytes, float, float]:
    """The body, the seconds of the serializer plus renderer, and of the renderer alone."""
    started = time.perf_counter()
    data = StoryRowSerializer(books, many=True).data
    encode_started = time.perf_counter()
    body = renderer.render(data)
    done = time.perf_counter()
    return bytes(body), done - started, done - encode_started


def _rounds(repeat: int, lazy_repeat: int) -> list[list[Step]]:
    """Alternating rounds, order flipped every round; the lazy steps (tens of seconds
    each at 50,000 books) take part only in the first ``lazy_repeat`` rounds."""
    rounds = []
    for r in range(max(repeat, lazy_repeat)):
        steps = [s for s in STEPS if (r < lazy_repeat if s.lazy else r < repeat)]
        rounds.append(steps if r % 2 == 0 else steps[::-1])
    return rounds


def run_story(
    *,
    tenant_slug: str | None,
    repeat: int = DEFAULT_REPEAT,
    lazy_repeat: int = DEFAULT_LAZY_REPEAT,
    force: bool = False,
    progress: TextIO | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> StoryResult:
    if repeat < 1 or lazy_repeat < 1:
        raise StoryError("--repeat and --lazy-repeat must be at least 1")
    if settings.IS_PROD and not force:
        raise StoryError(
            "refusing to run under SHELFWISE_ENV=prod: step 0 locks catalog_book "
            "(ACCESS EXCLUSIVE) while it reads the catalog without its index; --force to run"
        )
    tenant, books = story_tenant(tenant_slug)
    definition = index_definition()
    warn(
        f"step 0 drops {CATALOG_INDEX} in a transaction that is rolled back: it holds an "
        f"ACCESS EXCLUSIVE lock on {Book._meta.db_table} during its book query, "
        f"{lazy_repeat} time(s); other requests to that table wait meanwhile."
    )
    result = StoryResult(
        tenant=tenant.slug,
        books=books,
        started=dt.datetime.now(dt.UTC),
        load_before=os.getloadavg(),
        index_definition=definition,
    )
    by_number = {s.number: StepResult(s) for s in STEPS}
    rounds = _rounds(repeat, lazy_repeat)
    bar = ProgressBar(progress, sum(map(len, rounds)) + 1, "bench --story") if progress else None
    clock = time.perf_counter()
    same_bytes = True
    # As production serves: without DEBUG's query log (Django's debug cursor formats and
    # keeps every statement, a cost of its own on 50,000 queries).
    with override_settings(DEBUG=False):
        # Warm-up (buffers, connection, code paths); its body is the one every step
        # must serve.
        _, reference = serve_once(STEPS[-1], tenant)
        if bar:
            bar.advance(1)
        for steps in rounds:
            for step in steps:
                sample, body = serve_once(step, tenant)
                by_number[step.number].samples.append(sample)
                same_bytes = _check_body(step, body, reference) and same_bytes
                if bar:
                    bar.advance(1)
    if bar:
        bar.finish()
    result.seconds = time.perf_counter() - clock
    result.load_after = os.getloadavg()
    result.steps = [by_number[s.number] for s in STEPS]
    result.bodies = "identical bytes" if same_bytes else "the same JSON (bytes differ)"
    if index_definition() != definition:
        raise StoryError(f"{CATALOG_INDEX} changed during the run: {definition!r} before")
    return result


def _check_body(step: Step, body: bytes, reference: bytes) -> bool:
    """Every step must serve the same catalog: True for the same bytes, False for the
    same JSON written otherwise; another catalog is an error."""
    if body == reference:
        return True
    if orjson.loads(body) != orjson.loads(reference):
        raise StoryError(f"step {step.number} served another catalog than step 3")
    return False


# --- Output ------------------------------------------------------------------------------


def _cell(spread: Spread | None, *, integer: bool = False) -> str:
    if spread is None:
        return "n/a"
    if integer:
        return f"{spread.median:,.0f}"
    if spread.n == 1 or spread.high == spread.low:
        return f"{spread.median:,.1f}"
    return f"{spread.median:,.1f} ({spread.low:,.1f}-{spread.high:,.1f})"


def _seed(number: int, metric: str) -> str:
    figure = SEED_FIGURES.get(number, {}).get(metric)
    return "" if figure is None else f"{figure:,.0f}"


def table_lines(result: StoryResult) -> list[str]:
    """A markdown table: medians with their range (min-max) over the repetitions."""
    lines = [
        "| step | n | queries | DB ms | list query ms | ORM ms | serialize ms | encode ms "
        "| total ms | app CPU ms "
        "| peak RSS MB | seed: queries / DB / JSON / total ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sr in result.steps:
        queries = sr.spread("queries")
        seed = " / ".join(
            _seed(sr.step.number, m) for m in ("queries", "db_ms", "serialize_ms", "total_ms")
        )
        lines.append(
            f"| {sr.step.number} {sr.step.label} | {len(sr.samples)} "
            f"| {_cell(queries, integer=True)} | {_cell(sr.spread('db_ms'))} "
            f"| {_cell(sr.spread('list_query_ms'))} | {_cell(sr.spread('orm_ms'))} "
            f"| {_cell(sr.spread('serialize_ms'))} "
            f"| {_cell(sr.spread('encode_ms'))} | {_cell(sr.spread('total_ms'))} "
            f"| {_cell(sr.spread('cpu_ms'))} "
            f"| {_cell(sr.spread('peak_mb'))} | {seed if seed.strip(' /') else ''} |"
        )
    return lines


def lock_ms(result: StoryResult) -> float:
    return max(s.lock_ms or 0.0 for sr in result.steps for s in sr.samples)


def header_lines(result: StoryResult) -> list[str]:
    lazy = len(result.steps[0].samples)
    return [
        f"Story: {result.tenant}, {result.books:,} books, the whole catalog in catalog order, "
        "each row the list serializer's book columns and author.",
        f"Run {result.started:%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores), {result.seconds:.0f} s; load average "
        f"{result.load_before[0]:.2f} before, {result.load_after[0]:.2f} after. "
        f"Bodies of every step: {result.bodies}. Step 0 held ACCESS EXCLUSIVE on "
        f"{Book._meta.db_table} {lazy} time(s), at most {lock_ms(result):,.0f} ms.",
    ]


NOTES = (
    "Medians, (min-max) over n repetitions in alternating rounds. DB ms: the client's wait "
    "on every statement; list query ms: the book query (and the bundle's genres prefetch "
    "in steps 2-3); ORM ms: the rest of the request's Python outside serialization "
    "(building queries and model instances, the lazy loads' own work); serialize ms: "
    "serializer plus renderer over loaded rows (steps 0-1: timed again once the authors "
    "are loaded); encode ms: the renderer alone; total: DB + ORM + serialize; app CPU: "
    "this process's CPU time over the request (not the second serialization pass, not "
    "PostgreSQL's CPU); peak RSS: "
    "the process's high-water mark above its level at the request's start (Linux /proc, "
    "after a garbage collection and malloc_trim), n/a elsewhere. Seed: the seed's "
    "published before/after figures. Measured with DEBUG off (no query log)."
)


def as_json(result: StoryResult) -> dict[str, Any]:
    return {
        "tenant": result.tenant,
        "books": result.books,
        "started": result.started.isoformat(),
        "seconds": result.seconds,
        "machine": {"node": platform.node(), "cores": os.cpu_count()},
        "load_average_before": result.load_before,
        "load_average_after": result.load_after,
        "bodies": result.bodies,
        "index_definition": result.index_definition,
        "lock_ms_max": lock_ms(result),
        "memory": "peak RSS above the request's start (MB), /proc/self/clear_refs + VmHWM",
        "seed_figures": {str(k): v for k, v in SEED_FIGURES.items()},
        "steps": [
            {
                "step": sr.step.number,
                "label": sr.step.label,
                "samples": len(sr.samples),
                **{
                    metric: (s.as_dict() if (s := sr.spread(metric)) else None)
                    for metric in METRICS
                },
            }
            for sr in result.steps
        ],
    }


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    """``manage.py bench --story``: the table on stdout, progress and warnings on stderr
    (Django's output wrappers), the results also in ``--json`` when given."""
    try:
        result = run_story(
            tenant_slug=options["tenant"],
            repeat=options["repeat"],
            lazy_repeat=options["lazy_repeat"],
            force=options["force"],
            progress=None if options["no_progress"] else stderr._out,
            warn=lambda message: stderr.write(f"warning: {message}"),
        )
    except StoryError as exc:
        raise CommandError(str(exc)) from None
    for line in [*header_lines(result), "", *table_lines(result), ""]:
        stdout.write(line)
    stdout.write(NOTES)
    if options["json"]:
        path = Path(options["json"])
        path.write_text(json.dumps(as_json(result), indent=2) + "\n")
        stdout.write(f"Wrote {path}")
