"""Selector bundles apply the profile's fetch mode (perf.fetch)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import FieldFetchBlocked
from django.test import override_settings

from catalog.selectors import book_list
from perf.recording import record_queries
from tests.factories import BookFactory

pytestmark = pytest.mark.django_db


def test_a_load_outside_the_list_bundle_fails_at_that_line_in_tests(tenant):
    BookFactory(tenant=tenant)
    [book] = book_list(tenant=tenant)
    assert book.author.name  # in the bundle
    with pytest.raises(FieldFetchBlocked, match="description"):
        book.description  # noqa: B018 - deferred by the list bundle


def test_staging_and_prod_batch_such_a_load_for_the_whole_page(tenant):
    for _ in range(3):
        BookFactory(tenant=tenant)
    with override_settings(PERF={**settings.PERF, "FETCH_MODE": "FETCH_PEERS"}):
        books = list(book_list(tenant=tenant))
        with record_queries() as recording:
            descriptions = [b.description for b in books]
    assert descriptions == ["A book."] * 3
    assert recording.count == 1  # one query for every book on the page, not one each
