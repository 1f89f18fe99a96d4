"""Tenant size tiers: a bounded metrics label (perf's TIER_RESOLVER)."""

from __future__ import annotations

import time
import uuid

from django.http import HttpRequest

# (upper bound of books, label), smallest first; the load-test mix spans all of them.
TIERS: tuple[tuple[int, str], ...] = ((1_000, "xs"), (10_000, "s"), (50_000, "m"))
LARGEST = "l"
TTL_SECONDS = 300

# tenant id -> (tier, expiry). Keyed by tenant id, per process, short-lived.
_cache: dict[uuid.UUID, tuple[str, float]] = {}


def tier_for_book_count(n: int) -> str:
    return next((label for bound, label in TIERS if n < bound), LARGEST)


def request_tier(request: HttpRequest) -> str:
    """The size tier of the request's tenant ("none" when unauthenticated).

    Called by perf after the request's queries are counted, so its occasional count
    (once per tenant per TTL per worker) never shows in X-Query-Count.
    """
    user = getattr(request, "user", None)
    tenant_id = getattr(user, "tenant_id", None)
    if tenant_id is None:
        return "none"
    now = time.monotonic()
    cached = _cache.get(tenant_id)
    if cached is not None and cached[1] > now:
        return cached[0]
    from catalog.models import Book

    # The whole catalog's count: one read of the trigger-kept counter (TenantBookCount).
    tier = tier_for_book_count(Book.objects.for_tenant_id(tenant_id).count())
    _cache[tenant_id] = (tier, now + TTL_SECONDS)
    return tier
