"""The paginator's contract with querysets that read their own pages (core/pages.py)."""

from catalog.models import Book
from core.pages import DeferredPages
from orders.models import Order


def test_the_scoped_querysets_declare_that_they_read_their_own_pages():
    assert isinstance(Book.objects.none(), DeferredPages)
    assert isinstance(Order.objects.none(), DeferredPages)


def test_an_object_that_merely_has_a_page_attribute_is_not_one():
    class Paged:
        page = 3

        def count(self) -> int:
            return 0

    assert not isinstance(Paged(), DeferredPages)
