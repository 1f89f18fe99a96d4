from perf.sql import is_select, main_table, shape


def test_literals_and_placeholders_normalise_to_one_shape():
    a = shape('SELECT * FROM "t" WHERE "t"."id" = 42 AND name = \'x\'\'y\'')
    b = shape('SELECT * FROM "t" WHERE "t"."id" = 7 AND name = \'z\'')
    assert a == b == 'SELECT * FROM "t" WHERE "t"."id" = ? AND name = ?'


def test_in_lists_of_any_length_fold_to_one_shape():
    one = shape('SELECT * FROM "t" WHERE "t"."id" IN (%s)')
    many = shape('SELECT * FROM "t" WHERE "t"."id" IN (%s, %s, %s, %s)')
    assert one == many == 'SELECT * FROM "t" WHERE "t"."id" IN (...)'
    assert shape("SELECT 1 FROM t WHERE id = ANY(%s)") == shape(
        "SELECT 1 FROM t WHERE id = ANY(ARRAY[1,2,3])"
    )


def test_identifiers_with_digits_are_kept():
    assert shape('SELECT "t2"."col1" FROM "t2" LIMIT 21') == 'SELECT "t2"."col1" FROM "t2" LIMIT ?'


def test_main_table_and_kind():
    assert main_table('SELECT "a"."x" FROM "catalog_author" WHERE 1') == "catalog_author"
    assert main_table('UPDATE "catalog_book" SET x = 1') == "catalog_book"
    assert main_table('INSERT INTO "orders_order" (x) VALUES (1)') == "orders_order"
    assert is_select("  select 1") and is_select("WITH x AS (SELECT 1) SELECT * FROM x")
    assert not is_select("UPDATE t SET x = 1")
