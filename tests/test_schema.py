"""Migrations apply, match the models, and create every index of DESIGN §2."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection

from tenants.scoping import tenant_owned_models

pytestmark = pytest.mark.django_db

# Index name -> the definition PostgreSQL reports in pg_indexes (columns, INCLUDE, WHERE).
EXPECTED_INDEXES = {
    "book_tenant_title_id": "USING btree (tenant_id, title, id)",
    "book_tenant_author": "USING btree (tenant_id, author_id)",
    "book_tenant_publisher": "USING btree (tenant_id, publisher_id)",
    "book_tenant_price_id": "USING btree (tenant_id, price, id)",
    "book_tenant_search_gin": "USING gin (tenant_id, search_document)",
    "book_tenant_isbn_uniq": "UNIQUE INDEX book_tenant_isbn_uniq ON public.catalog_book "
    "USING btree (tenant_id, isbn)",
    "order_tenant_active_created": "USING btree (tenant_id, created_at DESC, id DESC) "
    "INCLUDE (status, total) "
    "WHERE (NOT ((status)::text = ANY ((ARRAY['cancelled'::character varying, "
    "'archived'::character varying])::text[])))",
    "order_tenant_user_active": "USING btree (tenant_id, user_id, created_at DESC, id DESC) "
    "INCLUDE (status, total) "
    "WHERE (NOT ((status)::text = ANY ((ARRAY['cancelled'::character varying, "
    "'archived'::character varying])::text[])))",
    "order_tenant_status": "USING btree (tenant_id, status, created_at DESC)",
    "order_tenant_idempotency_key_uniq": "USING btree (tenant_id, idempotency_key) "
    "WHERE (idempotency_key IS NOT NULL)",
    "author_tenant_name_id": "USING btree (tenant_id, name, id)",
    "publisher_tenant_name_id": "USING btree (tenant_id, name, id)",
    "genre_tenant_name_uniq": "USING btree (tenant_id, name)",
    "bookgenre_book_genre_uniq": "USING btree (book_id, genre_id)",
    "apitoken_tenant_user": "USING btree (tenant_id, user_id)",
}

# Every tenant-owned table but the users' (a superuser is a user without a tenant).
TENANT_OWNED_TABLES = [
    model._meta.db_table for model in tenant_owned_models() if model._meta.label != "tenants.User"
]


def _indexdefs(tables: list[str] | None = None) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND (%s::text[] IS NULL OR tablename = ANY(%s::text[]))",
            [tables, tables],
        )
        return dict(cursor.fetchall())


def test_the_tenant_owned_tables_come_from_the_models():
    assert set(TENANT_OWNED_TABLES) >= {"catalog_book", "orders_orderitem", "tenants_apitoken"}


def test_models_and_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.parametrize(("name", "definition"), sorted(EXPECTED_INDEXES.items()))
def test_index_exists_with_columns_include_and_where(name, definition):
    indexdefs = _indexdefs()
    assert name in indexdefs, f"missing index {name}"
    assert indexdefs[name].endswith(definition), indexdefs[name]


def test_no_single_column_tenant_index_beside_the_composite_ones():
    # Every tenant query is served by an index that leads with tenant_id; a lone
    # tenant_id index would only cost writes.
    indexdefs = _indexdefs(TENANT_OWNED_TABLES)
    assert len(indexdefs) > len(TENANT_OWNED_TABLES)
    lone = {n: d for n, d in indexdefs.items() if d.endswith("USING btree (tenant_id)")}
    assert lone == {}


@pytest.mark.parametrize("table", TENANT_OWNED_TABLES)
def test_tenant_id_is_not_null_on_every_tenant_owned_table(table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT is_nullable, data_type FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = 'tenant_id'",
            [table],
        )
        assert cursor.fetchone() == ("NO", "uuid")


def test_money_is_numeric_10_2_and_stock_is_checked():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, numeric_precision, numeric_scale "
            "FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = 'numeric' ORDER BY 1, 2"
        )
        assert cursor.fetchall() == [
            ("catalog_book", "price", 10, 2),
            ("orders_order", "total", 10, 2),
            ("orders_orderitem", "unit_price", 10, 2),
        ]
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'book_stock_gte_0'"
        )
        assert cursor.fetchone() == ("CHECK ((stock >= 0))",)


def test_btree_gin_extension_is_installed():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'btree_gin'")
        assert cursor.fetchone() == (1,)
