"""Tenant size tiers: a bounded metrics label (perf's TIER_RESOLVER)."""

from __future__ import annotations

import contextlib
import time
import uuid

from django.core.cache import cache
from django.http import HttpRequest

# (upper bound of books, label), smallest first; the load-test mix spans all of them.
TIERS: tuple[tuple[int, str], ...] = ((1_000, "xs"), (10_000, "s"), (50_000, "m"))
LARGEST = "l"
TTL_SECONDS = 300

# tenant id -> (tier, expiry): per process, in front of the shared cache (_shared_tier).
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
    tier = _shared_tier(tenant_id)
    _cache[tenant_id] = (tier, now + TTL_SECONDS)
    return tier


def _shared_tier(tenant_id: uuid.UUID) -> str:
    """The tier from the shared cache (Redis with REDIS_URL: one count per tenant and TTL
    for every process), else counted. A failing cache only costs the count."""
    key = f"tenant-tier:{tenant_id}"
    tier = None
    # The cache's errors are its backend's own (redis-py's with Redis); it is optional.
    with contextlib.suppress(Exception):
        tier = cache.get(key)
    if isinstance(tier, str):
        return tier
    from catalog.models import Book

    # The whole catalog's count: one read of the trigger-kept counter (TenantBookCount).
    tier = tier_for_book_count(Book.objects.for_tenant_id(tenant_id).count())
    with contextlib.suppress(Exception):
        cache.set(key, tier, TTL_SECONDS)
    return tier
