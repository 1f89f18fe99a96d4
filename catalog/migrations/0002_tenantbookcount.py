"""A per-tenant book count kept by triggers (see catalog.models.TenantBookCount).

The migration locks catalog_book against writes (SHARE ROW EXCLUSIVE, readers go on)
while it installs the triggers and counts the existing books, so no write falls between
the backfill and the triggers.
"""

from django.db import migrations, models
import django.db.models.deletion

TRIGGERS = """
LOCK TABLE catalog_book IN SHARE ROW EXCLUSIVE MODE;

CREATE FUNCTION catalog_book_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_tenantbookcount AS c (tenant_id, books)
    SELECT tenant_id, count(*) FROM inserted_books GROUP BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET books = c.books + EXCLUDED.books;
    RETURN NULL;
END $$;

CREATE FUNCTION catalog_book_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An UPDATE only: a tenant being deleted may have lost its row already (cascade).
    UPDATE catalog_tenantbookcount AS c SET books = c.books - d.n
    FROM (SELECT tenant_id, count(*) AS n FROM deleted_books GROUP BY tenant_id) AS d
    WHERE c.tenant_id = d.tenant_id;
    RETURN NULL;
END $$;

CREATE FUNCTION catalog_book_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_tenantbookcount SET books = books - 1 WHERE tenant_id = OLD.tenant_id;
    INSERT INTO catalog_tenantbookcount AS c (tenant_id, books) VALUES (NEW.tenant_id, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET books = c.books + 1;
    RETURN NULL;
END $$;

CREATE FUNCTION catalog_book_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_tenantbookcount;
    RETURN NULL;
END $$;

CREATE TRIGGER catalog_book_count_inserted AFTER INSERT ON catalog_book
    REFERENCING NEW TABLE AS inserted_books
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_book_count_inserted();
CREATE TRIGGER catalog_book_count_deleted AFTER DELETE ON catalog_book
    REFERENCING OLD TABLE AS deleted_books
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_book_count_deleted();
-- Per row, but only for a row whose tenant changes (the WHEN costs nothing otherwise).
CREATE TRIGGER catalog_book_count_moved AFTER UPDATE OF tenant_id ON catalog_book
    FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION catalog_book_count_moved();
CREATE TRIGGER catalog_book_count_truncated AFTER TRUNCATE ON catalog_book
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_book_count_truncated();

INSERT INTO catalog_tenantbookcount (tenant_id, books)
SELECT tenant_id, count(*) FROM catalog_book GROUP BY tenant_id;
"""

DROP_TRIGGERS = """
DROP TRIGGER catalog_book_count_inserted ON catalog_book;
DROP TRIGGER catalog_book_count_deleted ON catalog_book;
DROP TRIGGER catalog_book_count_moved ON catalog_book;
DROP TRIGGER catalog_book_count_truncated ON catalog_book;
DROP FUNCTION catalog_book_count_inserted();
DROP FUNCTION catalog_book_count_deleted();
DROP FUNCTION catalog_book_count_moved();
DROP FUNCTION catalog_book_count_truncated();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="TenantBookCount",
            fields=[
                (
                    "tenant",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="book_count",
                        serialize=False,
                        to="tenants.tenant",
                    ),
                ),
                ("books", models.BigIntegerField()),
            ],
        ),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
    ]
