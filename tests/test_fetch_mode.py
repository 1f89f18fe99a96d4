"""Selector bundles apply the profile's fetch mode (perf.fetch)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import FieldFetchBlocked
from django.test import override_settings

from catalog.models import Book
from perf.recording import record_queries
from tests.factories import BookFactory

pytestmark = pytest.mark.django_db


def detail_bundle(tenant):
    return Book.objects.for_tenant(tenant).with_detail_relations().order_by("title")


def test_a_load_outside_the_detail_bundle_fails_at_that_line_in_tests(tenant):
    BookFactory(tenant=tenant)
    [book] = detail_bundle(tenant)
    assert book.author.name  # in the bundle
    with pytest.raises(FieldFetchBlocked, match="search_document"):
        book.search_document  # noqa: B018 - deferred by the detail bundle


def test_staging_and_prod_batch_such_a_load_for_the_whole_page(tenant):
    for _ in range(3):
        BookFactory(tenant=tenant)
    with override_settings(PERF={**settings.PERF, "FETCH_MODE": "FETCH_PEERS"}):
        books = list(detail_bundle(tenant))
        with record_queries() as recording:
            documents = [b.search_document for b in books]
    assert len(documents) == 3
    assert recording.count == 1  # one query for every book on the page, not one each
