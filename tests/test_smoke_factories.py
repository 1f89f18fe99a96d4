import pytest

from tests.factories import BookGenreFactory, OrderItemFactory


@pytest.mark.django_db
def test_factories_keep_every_row_in_one_tenant():
    bg = BookGenreFactory()
    assert bg.tenant == bg.book.tenant == bg.genre.tenant == bg.book.author.tenant
    item = OrderItemFactory()
    assert item.tenant == item.order.tenant == item.book.tenant == item.order.user.tenant
