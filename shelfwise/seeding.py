"""Deterministic synthetic data for the load-test tenant mix.

Bulk rows go in with PostgreSQL COPY (psycopg 3), tenants and users through the ORM.
Everything random comes from one ``random.Random`` per tenant, seeded from ``--seed`` and
the tenant's position, so the same seed makes the same rows (ids included).
"""

from __future__ import annotations

import datetime as dt
import random
import tomllib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Model

from catalog.isbn import isbn13
from catalog.models import Author, Book, BookGenre, Genre, Publisher
from catalog.querysets import BOOK_METADATA_FIELDS
from catalog.selectors import tenants_by_size
from catalog.services import book_search_documents_refresh
from orders.models import Order, OrderItem
from tenants.models import Role, Tenant, User


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    books: int


# The load-test mix: a corner shop to a distributor.
TENANT_MIX: tuple[TenantSpec, ...] = (
    TenantSpec("corner-books", "Corner Books", 100),
    TenantSpec("riverside-reads", "Riverside Reads", 500),
    TenantSpec("harbor-lights", "Harbor Lights Bookshop", 5_000),
    TenantSpec("meridian-books", "Meridian Books", 10_000),
    TenantSpec("atlas-distribution", "Atlas Book Distribution", 50_000),
)

# Orders are dated before this fixed instant so that a seed reproduces the same rows.
ORDER_EPOCH = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
OPERATOR_PASSWORD = "shelfwise-demo"  # noqa: S105 - demo data, printed by `demo`

# Names, titles and blurbs are drawn from these lists; their order is part of the seed.
WORDS_FILE = Path(__file__).with_name("seed_words.toml")


def _load_words() -> dict[str, tuple[str, ...]]:
    with WORDS_FILE.open("rb") as file:
        return {name: tuple(words) for name, words in tomllib.load(file).items()}


_WORDS = _load_words()
GENRES = _WORDS["genres"]
FIRST_NAMES = _WORDS["first_names"]
LAST_NAMES = _WORDS["last_names"]
PUBLISHER_WORDS = _WORDS["publisher_words"]
PUBLISHER_KINDS = _WORDS["publisher_kinds"]
ADJECTIVES = _WORDS["adjectives"]
NOUNS = _WORDS["nouns"]
PLACES = _WORDS["places"]
DESCRIPTION_OPENINGS = _WORDS["description_openings"]
DESCRIPTION_CLOSINGS = _WORDS["description_closings"]

ORDER_STATUSES = (
    ("shipped", 45),
    ("paid", 20),
    ("pending", 10),
    ("archived", 15),
    ("cancelled", 10),
)


@dataclass
class TenantReport:
    slug: str
    books: int = 0
    authors: int = 0
    publishers: int = 0
    genres: int = 0
    book_genres: int = 0
    orders: int = 0
    order_items: int = 0
    skipped: bool = False


@dataclass
class SeedPlan:
    specs: Sequence[TenantSpec]
    seed: int = 42
    scale: float = 1.0
    reports: list[TenantReport] = field(default_factory=list)

    def books_for(self, spec: TenantSpec) -> int:
        return max(1, round(spec.books * self.scale))


ProgressFactory = Callable[[int, str], Callable[[int], None]]


def existing_slugs(specs: Sequence[TenantSpec]) -> set[str]:
    slugs = [s.slug for s in specs]
    return set(Tenant.objects.filter(slug__in=slugs).values_list("slug", flat=True))


def book_counts(slugs: Sequence[str]) -> dict[str, int]:
    """Books per tenant slug (the tenants' sizes, to compare with a plan)."""
    rows = tenants_by_size().filter(slug__in=slugs).values_list("slug", "n_books")
    return dict(rows)


# Tenant-owned tables, children first.
_TENANT_TABLES = (
    "orders_orderitem",
    "orders_order",
    "tenants_apitoken",
    "catalog_bookgenre",
    "catalog_book",
    "catalog_author",
    "catalog_publisher",
    "catalog_genre",
)


@transaction.atomic
def tenants_delete(*, slugs: Sequence[str]) -> int:
    """Delete these tenants and every row they own, one DELETE per table."""
    ids = list(Tenant.objects.filter(slug__in=slugs).values_list("id", flat=True))
    if not ids:
        return 0
    with connection.cursor() as cursor:
        for table in _TENANT_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE tenant_id = ANY(%s)", [ids])  # noqa: S608
        cursor.execute(
            "DELETE FROM django_admin_log WHERE user_id IN "
            "(SELECT id FROM tenants_user WHERE tenant_id = ANY(%s))",
            [ids],
        )
        cursor.execute("DELETE FROM tenants_user WHERE tenant_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM tenants_tenant WHERE id = ANY(%s)", [ids])
    return len(ids)


class _Ids:
    """Deterministic UUIDs drawn from the tenant's random generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def __call__(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)


def seed_tenant(
    plan: SeedPlan, position: int, spec: TenantSpec, progress: ProgressFactory
) -> TenantReport:
    """Create one tenant with its users, catalog and past orders, in one transaction."""
    rng = random.Random(f"{plan.seed}:{position}:{spec.slug}")  # noqa: S311 - synthetic data
    new_id = _Ids(rng)
    n_books = plan.books_for(spec)
    report = TenantReport(slug=spec.slug)

    with transaction.atomic():
        tenant = Tenant.objects.create(id=new_id(), slug=spec.slug, name=spec.name)
        operator_hash = make_password(OPERATOR_PASSWORD)
        User.objects.create(
            id=new_id(),
            tenant=tenant,
            username="operator",
            role=Role.OPERATOR,
            is_staff=True,
            password=operator_hash,
        )
        member = User.objects.create(
            id=new_id(),
            tenant=tenant,
            username="member",
            role=Role.MEMBER,
            password=make_password(None),
        )

        author_ids = [new_id() for _ in range(max(1, n_books // 10))]
        author_rows = [
            (a, tenant.id, f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
            for a in author_ids
        ]
        _copy_model(Author, author_rows)
        report.authors = len(author_rows)

        n_publishers = min(40, max(2, n_books // 1000))
        publisher_ids = [new_id() for _ in range(n_publishers)]
        # Distinct names: a tenant has one "Quill Press", as in life.
        names = [f"{w} {k}" for w in PUBLISHER_WORDS for k in PUBLISHER_KINDS]
        publisher_rows = [
            (p, tenant.id, name)
            for p, name in zip(publisher_ids, rng.sample(names, n_publishers), strict=True)
        ]
        _copy_model(Publisher, publisher_rows)
        report.publishers = len(publisher_rows)

        genre_ids = [new_id() for _ in GENRES]
        _copy_model(
            Genre, [(g, tenant.id, name) for g, name in zip(genre_ids, GENRES, strict=True)]
        )
        report.genres = len(genre_ids)

        tick = progress(n_books, f"{spec.slug}: books")
        books: list[tuple[uuid.UUID, Decimal]] = []
        book_genre_rows: list[tuple[object, ...]] = []
        isbn_base = rng.randrange(10_000_000, 90_000_000) * 10
        book_rows = _book_rows(
            rng,
            new_id,
            tenant.id,
            n_books,
            isbn_base,
            author_ids,
            publisher_ids,
            genre_ids,
            books,
            book_genre_rows,
            tick,
        )
        # The search documents are filled below, from the books and their authors.
        # Seeded books are never enriched: the metadata service's fields stay NULL.
        _copy_model(Book, book_rows, left_out=("search_document", *BOOK_METADATA_FIELDS))
        report.books = n_books
        _copy_model(BookGenre, book_genre_rows)
        report.book_genres = len(book_genre_rows)

        book_search_documents_refresh(tenant=tenant)

        order_rows, item_rows = _order_rows(
            rng, new_id, tenant.id, member.id, books, max(1, n_books // 20)
        )
        # Past orders were placed without an Idempotency-Key: NULL, as the API leaves it.
        _copy_model(Order, order_rows, left_out=("idempotency_key",))
        _copy_model(OrderItem, item_rows)
        report.orders = len(order_rows)
        report.order_items = len(item_rows)
    return report


def _book_rows(
    rng: random.Random,
    new_id: _Ids,
    tenant_id: uuid.UUID,
    n_books: int,
    isbn_base: int,
    author_ids: list[uuid.UUID],
    publisher_ids: list[uuid.UUID],
    genre_ids: list[uuid.UUID],
    books_out: list[tuple[uuid.UUID, Decimal]],
    genres_out: list[tuple[object, ...]],
    tick: Callable[[int], None],
) -> Iterator[tuple[object, ...]]:
    first_day = dt.date(1950, 1, 1).toordinal()
    last_day = dt.date(2026, 10, 31).toordinal()
    for i in range(n_books):
        book_id = new_id()
        price = Decimal(rng.randrange(499, 8999)) / 100
        books_out.append((book_id, price))
        genres_out.extend(
            (new_id(), tenant_id, book_id, genre_id)
            for genre_id in rng.sample(genre_ids, rng.randint(1, 3))
        )
        words = {
            "adj": rng.choice(ADJECTIVES),
            "noun": rng.choice(NOUNS),
            "noun2": rng.choice(NOUNS).lower(),
            "place": rng.choice(PLACES),
            "first": rng.choice(FIRST_NAMES),
            "last": rng.choice(LAST_NAMES),
        }
        yield (
            book_id,
            tenant_id,
            _title(rng, words),
            isbn13(isbn_base + i),
            price,
            rng.choice((0, 1, 2, 5, 10, 25, 40, 80, 150)) if rng.random() < 0.9 else 0,
            rng.choice(author_ids),
            rng.choice(publisher_ids),
            dt.date.fromordinal(rng.randint(first_day, last_day)),
            " ".join(
                filter(
                    None,
                    (
                        rng.choice(DESCRIPTION_OPENINGS).format(**words),
                        rng.choice(DESCRIPTION_CLOSINGS),
                    ),
                )
            ),
        )
        if (i + 1) % 1000 == 0 or i + 1 == n_books:
            tick((i % 1000) + 1)


def _title(rng: random.Random, w: dict[str, str]) -> str:
    pattern = rng.randrange(6)
    if pattern == 0:
        return f"The {w['adj']} {w['noun']}"
    if pattern == 1:
        return f"The {w['noun']} of {w['place']}"
    if pattern == 2:
        return f"{w['adj']} {w['noun']}s"
    if pattern == 3:
        return f"A {w['noun']} for {w['first']}"
    if pattern == 4:
        return f"{w['first']} and the {w['adj']} {w['noun']}"
    return f"Notes from {w['place']}"


def _order_rows(
    rng: random.Random,
    new_id: _Ids,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    books: list[tuple[uuid.UUID, Decimal]],
    n_orders: int,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    statuses = [s for s, _ in ORDER_STATUSES]
    weights = [w for _, w in ORDER_STATUSES]
    orders: list[tuple[object, ...]] = []
    items: list[tuple[object, ...]] = []
    for _ in range(n_orders):
        order_id = new_id()
        created = ORDER_EPOCH - dt.timedelta(seconds=rng.randrange(365 * 86_400))
        total = Decimal("0.00")
        for book_id, price in rng.sample(books, min(len(books), rng.randint(1, 4))):
            quantity = rng.randint(1, 3)
            total += price * quantity
            items.append((new_id(), tenant_id, order_id, book_id, quantity, price))
        orders.append(
            (order_id, tenant_id, user_id, rng.choices(statuses, weights)[0], created, total, "")
        )
    return orders, items


def _copy_model(
    model: type[Model], rows: Iterable[tuple[object, ...]], *, left_out: Sequence[str] = ()
) -> None:
    """COPY rows into a model's table. A row holds one value per concrete field, in the
    model's field order, except the fields named in ``left_out`` (their column default).

    The columns come from the model, so a field added to it changes the rows that COPY
    expects: the seeder fails on its first row until it gives the field a value (or
    leaves it out by name), rather than silently leaving the column to its default."""
    _copy(model._meta.db_table, _columns(model, left_out=left_out), rows)


def _columns(model: type[Model], *, left_out: Sequence[str] = ()) -> tuple[str, ...]:
    for name in left_out:
        model._meta.get_field(name)  # a name that is no field of the model fails here
    return tuple(f.column for f in model._meta.concrete_fields if f.name not in left_out)


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """COPY rows into a table through the current (Django-managed) psycopg connection."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    remaining = iter(rows)
    first = next(remaining, None)
    if first is None:
        return
    if len(first) != len(columns):
        raise ValueError(f"{table}: a row of {len(first)} values for the columns {columns}")
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(sql) as copy:
            copy.write_row(first)
            for row in remaining:
                copy.write_row(row)


def analyze() -> None:
    """Planner statistics for the new rows. Outside a transaction also VACUUM, which sets
    the visibility map that index-only scans (id lists, counts) depend on."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)")
