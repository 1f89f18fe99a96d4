"""The fixed data and the measured requests.

Two tenants seeded by ``shelfwise.seeding`` with a fixed seed (its ids, names, prices and
stock all come from one seeded generator per tenant): ``cost-shop`` with 1,000 books, the
measured one, and ``cost-corner`` with 100 beside it, so tenant scoping has rows to leave
out. The race's "page 900" of the 50,000-book tenant (offset 44,950) becomes page 18 of
20 here (offset 850), its cursor the cursor after position 850.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.utils import timezone

from catalog.models import Book
from shelfwise import seeding
from shelfwise.http.pagination import _encode_cursor
from tenants.models import ApiToken, Tenant, User
from tenants.services import api_token_issue

SEED = 42
SHOP = seeding.TenantSpec("cost-shop", "Cost Shop", 1_000)
CORNER = seeding.TenantSpec("cost-corner", "Cost Corner", 100)
PAGE_SIZE = 50
DEEP_PAGE = 18
SEARCH_TERM = "harbor"
ORDER_LINES = 3
HOST = "127.0.0.1"
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Request:
    key: str
    label: str
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["body"] = self.body.decode()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        return cls(**{**data, "body": data["body"].encode()})


def seed() -> None:
    """Both tenants, then VACUUM ANALYZE: fixed statistics and an all-visible heap, so
    plans and buffer counts do not wait on autovacuum."""
    plan = seeding.SeedPlan(specs=(SHOP, CORNER), seed=SEED)

    def progress(total: int, label: str) -> Any:
        return lambda done: None

    for position, spec in enumerate(plan.specs):
        seeding.seed_tenant(plan, position, spec, progress)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def requests() -> list[Request]:
    """The measured requests, on ``cost-shop``'s data."""
    tenant = Tenant.objects.get(slug=SHOP.slug)
    member = User.objects.get(tenant=tenant, username="member")
    operator = User.objects.get(tenant=tenant, username="operator")
    issued, token = api_token_issue(user=member, name="bench-cost")
    # A token records its use at most once per LAST_USED_INTERVAL (api_token_touch): a
    # run slower than that (under load) would measure that write in some request and not
    # others. Used "tomorrow", it is never due: every request measures the steady path.
    ApiToken.objects.filter(pk=issued.pk).update(last_used_at=timezone.now() + ONE_DAY)
    bearer = {"Authorization": f"Bearer {token}"}
    books = Book.objects.for_tenant(tenant).order_by("title", "id")
    count = books.count()
    depth = (DEEP_PAGE - 1) * PAGE_SIZE
    title, last_id = books.values_list("title", "id")[depth - 1]
    cursor = _encode_cursor(False, title, last_id)
    detail = books.values_list("id", flat=True)[count // 2]
    # Well stocked books, so that every placement (warm-ups included) takes the same path.
    stocked = list(
        books.filter(stock__gte=40).order_by("id").values_list("id", flat=True)[:ORDER_LINES]
    )
    order = orjson.dumps({"items": [{"book_id": str(b), "quantity": 1} for b in stocked]})
    base = "/api/v2/books"
    limit = f"limit={PAGE_SIZE}"
    return [
        Request("page1", "catalog page 1 (count)", "GET", base, limit, bearer),
        Request(
            "deep_page",
            f"page {DEEP_PAGE} of {-(-count // PAGE_SIZE)} (offset {depth})",
            "GET",
            base,
            f"page={DEEP_PAGE}&{limit}",
            bearer,
        ),
        Request(
            "cursor",
            f"cursor after position {depth}",
            "GET",
            base,
            f"cursor={cursor}&{limit}",
            bearer,
        ),
        Request("detail", "book detail", "GET", f"{base}/{detail}", "", bearer),
        Request(
            "search", f"search q={SEARCH_TERM}", "GET", f"{base}/search", f"q={SEARCH_TERM}", bearer
        ),
        Request("export", f"export ({count:,} books)", "GET", f"{base}/export", "", bearer),
        Request(
            "admin_books",
            "admin changelist of books (operator)",
            "GET",
            "/admin/catalog/book/",
            "",
            {"Cookie": f"sessionid={_session(operator)}"},
        ),
        # Last: it writes (the native replay rolls it back; the measured one commits).
        Request(
            "order",
            f"order placement ({len(stocked)} lines)",
            "POST",
            "/api/v2/orders",
            "",
            {**bearer, "Content-Type": "application/json"},
            order,
        ),
    ]


def _session(user: User) -> str:
    """A logged-in admin session, as the login view leaves it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "tenants.backends.TenantModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return str(session.session_key)


def environ(request: Request) -> dict[str, Any]:
    """The WSGI environ gunicorn would pass for this request."""
    import io

    env: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query,
        "SERVER_NAME": HOST,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": HOST,
        "HTTP_HOST": HOST,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(request.body)) if request.body else "",
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        env[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return env
