"""The load test's data: real tenants, tokens, book ids and search terms from the database.

``manage.py loadtest`` writes this to a JSON file whose path reaches the locustfiles in
``SHELFWISE_LOAD_DATA``, so that every request the load test makes uses ids that exist
(no random UUIDs that can only 404) and tokens that authenticate. Shape::

    {
      "tenants": [{"slug", "books", "weight", "pages", "token",
                   "book_ids": [...], "order_book_ids": [...], "search_terms": [...]}],
      "onboarding": {"slug", "token"}
    }
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from django.core.management import call_command
from django.utils import timezone

from catalog.models import Book
from catalog.selectors import tenants_by_size
from shelfwise import seeding
from tenants.models import ApiToken, Role, Tenant
from tenants.services import api_token_issue, user_get_or_create

DATA_ENV = "SHELFWISE_LOAD_DATA"
TOKEN_NAME = "loadtest"  # noqa: S105 - a token label, not a secret
ONBOARDING_SLUG = "loadtest-onboarding"

PAGE_SIZE = 50  # the locustfile browses with limit=50
MAX_PAGE = 10  # ... pages 1..10, never past the tenant's last page
SAMPLE_BOOKS = 300  # random books per tenant for views, orders and search terms
# Orders take 1-3 copies of books that had at least this many: a run places far fewer
# orders per book than that, so orders succeed and a 409 stays a real failure.
ORDER_MIN_STOCK = 25
SEARCH_TERMS = 40

# Whole words of four letters or more; the title's articles and glue words are no search.
_WORD = re.compile(r"[A-Za-z]{4,}")
# (PostgreSQL's english configuration drops stop words: a term of only those finds nothing.)
_STOP_WORDS = frozenset(
    {"about", "after", "from", "into", "notes", "over", "than", "that", "their", "there",
     "these", "they", "this", "through", "under", "what", "when", "where", "which", "while",
     "with", "your"}
)  # fmt: skip


@dataclass(frozen=True)
class PreparedData:
    data: dict[str, Any]
    token_ids: list[Any]


def tenant_weight(books: int) -> float:
    """Share of users per tenant: sqrt of the catalog size.

    Bigger shops get more traffic, but not in proportion to their catalog (a 50,000-book
    distributor is not 500 times as busy as a 100-book corner shop): with the seeded mix
    this gives atlas 52%, meridian 23%, harbor 17%, riverside 5%, corner 2% of the users.
    """
    return round(math.sqrt(max(books, 1)), 3)


def search_terms(titles: list[str], limit: int = SEARCH_TERMS) -> list[str]:
    """Single words and two-word phrases taken from real titles, most frequent first."""
    counts: dict[str, int] = {}
    for title in titles:
        words = [w for w in _WORD.findall(title) if w.lower() not in _STOP_WORDS]
        for word in words:
            counts[word.lower()] = counts.get(word.lower(), 0) + 1
        if len(words) >= 2:
            phrase = f'"{words[-2]} {words[-1]}"'.lower()
            counts[phrase] = counts.get(phrase, 0) + 1
    ranked = sorted(counts, key=lambda term: (-counts[term], term))
    return ranked[:limit]


def prepare(*, seed_if_empty: bool = True, onboarding: bool = True) -> PreparedData:
    """Migrate, seed when the database has no tenants, then issue tokens and sample data.

    One member token per tenant of the seeded mix; with ``onboarding``, the onboarding
    tenant is recreated empty (its books are the previous run's imports) and gets an
    operator token. Tokens are named ``loadtest``; ``revoke`` ends them after the run.
    """
    # A fresh clone's database has no schema yet: migrate (a no-op when up to date).
    call_command("migrate", interactive=False, verbosity=0)
    if seed_if_empty and not Tenant.objects.exists():
        call_command("seed", no_progress=True)
    slugs = [spec.slug for spec in seeding.TENANT_MIX]
    tenants = list(
        tenants_by_size().filter(slug__in=slugs, is_active=True).order_by("n_books", "slug")
    )
    if not tenants:
        raise LookupError(f"none of the load-test tenants exist ({', '.join(slugs)}): seed first")

    token_ids: list[Any] = []
    try:
        return _issue_and_sample(tenants, token_ids, onboarding=onboarding)
    except BaseException:
        revoke(token_ids)  # nothing half-issued outlives a failed preparation
        raise


def _issue(user: Any, token_ids: list[Any]) -> str:
    token, raw = api_token_issue(user=user, name=TOKEN_NAME)
    # Marked used now: the once-per-interval last_used_at write would otherwise add an
    # UPDATE to the first request of each token and blur the exact query counts.
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    token_ids.append(token.pk)
    return raw


def _issue_and_sample(
    tenants: list[Tenant], token_ids: list[Any], *, onboarding: bool
) -> PreparedData:
    rows: list[dict[str, Any]] = []
    for tenant in tenants:
        user = user_get_or_create(tenant=tenant, username="member")
        raw = _issue(user, token_ids)
        sample = list(
            Book.objects.for_tenant(tenant)
            .order_by("?")
            .values_list("id", "stock", "title")[:SAMPLE_BOOKS]
        )
        rows.append(
            {
                "slug": tenant.slug,
                "books": tenant.n_books,
                "weight": tenant_weight(tenant.n_books),
                "pages": max(1, min(MAX_PAGE, math.ceil(tenant.n_books / PAGE_SIZE))),
                "token": raw,
                "book_ids": [str(book_id) for book_id, _, _ in sample],
                "order_book_ids": [
                    str(book_id) for book_id, stock, _ in sample if stock >= ORDER_MIN_STOCK
                ],
                "search_terms": search_terms([title for _, _, title in sample]),
            }
        )
    data: dict[str, Any] = {"tenants": rows}
    if onboarding:
        seeding.tenants_delete(slugs=[ONBOARDING_SLUG])
        tenant = Tenant.objects.create(slug=ONBOARDING_SLUG, name="Load Test Onboarding")
        operator = user_get_or_create(tenant=tenant, username="operator", role=Role.OPERATOR)
        raw = _issue(operator, token_ids)
        data["onboarding"] = {"slug": tenant.slug, "token": raw}
    return PreparedData(data=data, token_ids=token_ids)


def revoke(token_ids: list[Any]) -> int:
    """Revoke the run's tokens in one UPDATE (what ``api_token_revoke`` does, per token)."""
    return ApiToken.objects.filter(pk__in=token_ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def revoke_all() -> int:
    """Revoke every live token named ``loadtest`` (``--prepare-only`` leaves them live)."""
    return ApiToken.objects.filter(name=TOKEN_NAME, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
