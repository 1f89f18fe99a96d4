"""factory_boy factories for every model; each tenant-owned row gets its tenant explicitly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from catalog.models import Author, Book, BookGenre, Genre, Publisher
from orders.models import Order, OrderItem
from tenants.models import Role, Tenant, User


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.Sequence(lambda n: f"Tenant {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    tenant = factory.SubFactory(TenantFactory)
    username = factory.Sequence(lambda n: f"user-{n}")
    role = Role.MEMBER
    password = factory.django.Password("pw")


class OperatorFactory(UserFactory):
    role = Role.OPERATOR
    is_staff = True


class AuthorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Author

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Author {n}")


class PublisherFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Publisher

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Publisher {n}")


class GenreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Genre

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Genre {n}")


class BookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Book

    tenant = factory.SubFactory(TenantFactory)
    title = factory.Sequence(lambda n: f"Book {n:05d}")
    isbn = factory.Sequence(lambda n: f"978{n:010d}")
    price = Decimal("12.50")
    stock = 10
    author = factory.SubFactory(AuthorFactory, tenant=factory.SelfAttribute("..tenant"))
    publisher = factory.SubFactory(PublisherFactory, tenant=factory.SelfAttribute("..tenant"))
    published_on = dt.date(2020, 1, 1)
    description = "A book."


class BookGenreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BookGenre

    tenant = factory.SelfAttribute("book.tenant")
    book = factory.SubFactory(BookFactory)
    genre = factory.SubFactory(GenreFactory, tenant=factory.SelfAttribute("..book.tenant"))


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))
    total = Decimal("0.00")


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    tenant = factory.SelfAttribute("order.tenant")
    order = factory.SubFactory(OrderFactory)
    book = factory.SubFactory(BookFactory, tenant=factory.SelfAttribute("..order.tenant"))
    quantity = 1
    unit_price = factory.SelfAttribute("book.price")
