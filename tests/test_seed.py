"""`manage.py seed` at a small scale: the mix, counts, tenant_id on every row, determinism."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.core.management import CommandError, call_command
from django.db import connection

from catalog.models import Author, Book, BookGenre, Genre, Publisher
from orders.models import Order, OrderItem
from shelfwise.seeding import TENANT_MIX, _columns, _copy_model
from tenants.models import Role, Tenant, User

pytestmark = pytest.mark.django_db

SCALE = 0.01  # 1, 5, 50, 100 and 500 books


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "seed", "--scale", str(SCALE), "--no-progress", *args, stdout=out, stderr=io.StringIO()
    )
    return out.getvalue()


def _scalar(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@pytest.mark.allow_repeats("the test checks each tenant of the mix in turn")
def test_seed_makes_the_tenant_mix_with_expected_counts():
    output = _seed()
    for spec in TENANT_MIX:
        tenant = Tenant.objects.get(slug=spec.slug)
        n_books = max(1, round(spec.books * SCALE))
        assert Book.objects.filter(tenant=tenant).count() == n_books
        assert Author.objects.filter(tenant=tenant).count() == max(1, n_books // 10)
        assert Publisher.objects.filter(tenant=tenant).count() >= 2
        assert Genre.objects.filter(tenant=tenant).count() == 20
        assert Order.objects.filter(tenant=tenant).count() == max(1, n_books // 20)
        assert OrderItem.objects.filter(tenant=tenant).exists()
        roles = set(User.objects.filter(tenant=tenant).values_list("role", flat=True))
        assert roles == {Role.OPERATOR, Role.MEMBER}
        assert spec.slug in output
    assert "Seeded 5 tenant(s), 656 books" in output
    assert not Book.objects.across_tenants("test").filter(search_document__isnull=True).exists()


@pytest.mark.allow_unscoped("checks every seeded tenant's rows at once, in raw SQL")
def test_every_seeded_row_carries_the_tenant_of_its_parents():
    _seed()
    mismatches = {
        "book/author": "SELECT count(*) FROM catalog_book b JOIN catalog_author a "
        "ON a.id = b.author_id WHERE a.tenant_id <> b.tenant_id",
        "book/publisher": "SELECT count(*) FROM catalog_book b JOIN catalog_publisher p "
        "ON p.id = b.publisher_id WHERE p.tenant_id <> b.tenant_id",
        "bookgenre": "SELECT count(*) FROM catalog_bookgenre bg "
        "JOIN catalog_book b ON b.id = bg.book_id JOIN catalog_genre g ON g.id = bg.genre_id "
        "WHERE bg.tenant_id <> b.tenant_id OR bg.tenant_id <> g.tenant_id",
        "order/user": "SELECT count(*) FROM orders_order o JOIN tenants_user u "
        "ON u.id = o.user_id WHERE u.tenant_id <> o.tenant_id",
        "orderitem": "SELECT count(*) FROM orders_orderitem i "
        "JOIN orders_order o ON o.id = i.order_id JOIN catalog_book b ON b.id = i.book_id "
        "WHERE i.tenant_id <> o.tenant_id OR i.tenant_id <> b.tenant_id",
    }
    assert {name: _scalar(sql) for name, sql in mismatches.items()} == dict.fromkeys(mismatches, 0)
    assert (
        BookGenre.objects.across_tenants("test").count()
        >= Book.objects.across_tenants("test").count()
    )


@pytest.mark.allow_unscoped("checks every seeded tenant's rows at once, in raw SQL")
def test_order_totals_are_exact_sums_of_their_items():
    _seed()
    assert (
        _scalar(
            "SELECT count(*) FROM orders_order o WHERE o.total <> "
            "(SELECT sum(i.quantity * i.unit_price) FROM orders_orderitem i "
            "WHERE i.order_id = o.id)"
        )
        == 0
    )


def _fingerprint() -> list[tuple]:
    return list(
        Book.objects.across_tenants("test")
        .order_by("id")
        .values_list("id", "title", "isbn", "price", "stock")
    )


def test_same_seed_makes_the_same_rows_and_reset_reseeds():
    _seed("--seed", "7")
    first = _fingerprint()
    _seed("--seed", "7", "--reset")
    assert _fingerprint() == first
    _seed("--seed", "8", "--reset")
    assert _fingerprint() != first


def test_the_seeders_columns_come_from_the_models():
    # A field added to a model joins the COPY's columns: the seeder cannot leave it out
    # unnoticed, and a left-out name must be a field.
    assert _columns(Book, left_out=("search_document",)) == tuple(
        f.column for f in Book._meta.concrete_fields if f.name != "search_document"
    )
    assert _columns(Author) == ("id", "tenant_id", "name")
    with pytest.raises(FieldDoesNotExist):
        _columns(Order, left_out=("idempotency",))


def test_a_row_that_misses_a_models_column_fails_before_copy():
    with pytest.raises(ValueError, match=r"catalog_author: a row of 2 values"):
        _copy_model(Author, [("id", "tenant")])


def test_existing_tenants_are_skipped_without_reset():
    _seed()
    before = Book.objects.across_tenants("test").count()
    output = _seed()
    assert Book.objects.across_tenants("test").count() == before
    assert output.count("exists, skipped") == len(TENANT_MIX)


def test_an_explicit_scale_that_existing_tenants_do_not_match_fails_clearly():
    # `seed --scale 0.02` on a database seeded at 0.01 must not exit 0 having done nothing.
    _seed()
    before = Book.objects.across_tenants("test").count()
    with pytest.raises(CommandError, match=r"left alone, at another size: .*--reset"):
        call_command(
            "seed", "--scale", "0.02", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert Book.objects.across_tenants("test").count() == before
    # Without --scale, a rerun is the usual idempotent skip.
    call_command("seed", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())


def test_reset_warns_that_earlier_tokens_are_gone():
    _seed()
    err = io.StringIO()
    call_command(
        "seed", "--scale", str(SCALE), "--reset", "--no-progress", stdout=io.StringIO(), stderr=err
    )
    assert "now answer 401" in err.getvalue()


def test_isbns_are_valid_isbn13_and_unique_per_tenant():
    _seed()
    for isbn in Book.objects.across_tenants("test").values_list("isbn", flat=True)[:200]:
        digits = [int(d) for d in isbn]
        assert len(digits) == 13
        assert sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10 == 0


@pytest.mark.slow
def test_seed_on_a_database_without_schema_says_to_migrate(embedded_pg_root):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "SHELFWISE_PGDATA": str(embedded_pg_root),
        "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "seed", "--scale", "0.01"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "run `manage.py migrate` first" in result.stderr
