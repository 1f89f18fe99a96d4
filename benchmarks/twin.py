"""ShelfWise's raw twin: the raced read endpoints in plain WSGI, psycopg 3 and orjson.

``manage.py bench --race`` serves this module under gunicorn beside ShelfWise, against the
same database, and first proves that both answer byte-identical bodies; the ratio of
their throughputs is what the race measures. It is a yardstick, not a second API: it
serves only ``GET`` on

- ``/api/v2/books?page=&limit=`` (with count) and ``?cursor=&limit=`` (keyset pages,
  decoding and issuing ShelfWise's cursor format, ``shelfwise.http.pagination._encode_cursor``),
- ``/api/v2/books/{id}``, ``/api/v2/books/search?q=`` and ``/api/v2/books/export``,
- ``/api/v2/health``,

with ShelfWise's bearer token check on every request (SHA-256 of the raw key as in
``tenants.models.hash_token``; revoked tokens, inactive users and tenants refused; the
client address's auth-failure lockout read in the same query, as
``tenants.selectors.api_token_get_active`` does; ``last_used_at`` stamped at most once per
five minutes, as ``tenants.services.api_token_touch`` does) and the token's tenant scoping
every query. What it leaves out, on purpose: recording failed authentications (only
successes are raced), the per-user rate limit, catalog filters and orderings, and the
JSON bodies of errors other than 400 / 401 / 404 / 429.

It imports no Django: it reads ``DATABASE_URL`` and ``API_AUTH_FAILURE_RATE`` from the
environment itself (it must not load the settings it races against), and each
gunicorn thread keeps its own connection (autocommit, like Django's).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import orjson
import psycopg

StartResponse = Callable[..., Any]

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_PAGE = 1_000_000
TITLE_MAX_LENGTH = 300
SEARCH_MAX_LENGTH = 200
EXPORT_LINES_PER_CHUNK = 500
EXPORT_FETCH_ROWS = 2000
LAST_USED_INTERVAL = dt.timedelta(minutes=5)
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # Django's <uuid:>
_DETAIL = re.compile(rf"^/api/v2/books/({_UUID})$")
_CURSOR = re.compile(r"^[A-Za-z0-9_-]*$")

# --- SQL ---------------------------------------------------------------------------------

TOKEN_SQL = """
SELECT t.id, t.tenant_id, t.last_used_at,
       (SELECT f.window_start + %(window)s - now() FROM tenants_authfailure f
        WHERE f.address = %(address)s AND f.window_start > now() - %(window)s
          AND f.failures >= %(limit)s LIMIT 1)
FROM tenants_apitoken t
JOIN tenants_user u ON u.id = t.user_id
JOIN tenants_tenant n ON n.id = t.tenant_id
WHERE t.key_hash = %(hash)s AND t.revoked_at IS NULL
  AND u.tenant_id = t.tenant_id AND u.is_active AND n.is_active
"""  # noqa: S105 - SQL, not a password
TOUCH_SQL = """
UPDATE tenants_apitoken SET last_used_at = %(now)s
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at <= %(cutoff)s)
"""
# A row's columns: id, title, isbn, price, stock, published_on, author id and name,
# publisher id and name, genre ids and names (by name, the tenant's genres only).
_ROW = """b.id, b.title, b.isbn, b.price, b.stock, b.published_on, a.id, a.name, p.id, p.name,
       ARRAY(SELECT g.id FROM catalog_bookgenre bg JOIN catalog_genre g ON g.id = bg.genre_id
             WHERE bg.book_id = b.id AND g.tenant_id = b.tenant_id ORDER BY g.name),
       ARRAY(SELECT g.name FROM catalog_bookgenre bg JOIN catalog_genre g ON g.id = bg.genre_id
             WHERE bg.book_id = b.id AND g.tenant_id = b.tenant_id ORDER BY g.name)"""
_JOINS = """JOIN catalog_author a ON a.id = b.author_id
JOIN catalog_publisher p ON p.id = b.publisher_id"""
COUNT_SQL = "SELECT count(*) FROM catalog_book WHERE tenant_id = %s"
# Deferred join: the offset walks only the (tenant_id, title, id) index.
PAGE_SQL = f"""
WITH page AS (
    SELECT id, title FROM catalog_book WHERE tenant_id = %(tenant)s
    ORDER BY title, id OFFSET %(offset)s LIMIT %(limit)s
)
SELECT {_ROW}
FROM page JOIN catalog_book b ON b.id = page.id {_JOINS}
ORDER BY page.title, page.id
"""  # noqa: S608 - constant fragments; values are bound
KEYSET_FIRST_SQL = f"""
SELECT {_ROW} FROM catalog_book b {_JOINS}
WHERE b.tenant_id = %(tenant)s ORDER BY b.title, b.id LIMIT %(limit)s
"""  # noqa: S608 - constant fragments; values are bound
KEYSET_AFTER_SQL = f"""
SELECT {_ROW} FROM catalog_book b {_JOINS}
WHERE b.tenant_id = %(tenant)s AND (b.title, b.id) > (%(title)s, %(id)s)
ORDER BY b.title, b.id LIMIT %(limit)s
"""  # noqa: S608 - constant fragments; values are bound
KEYSET_BEFORE_SQL = f"""
SELECT {_ROW} FROM catalog_book b {_JOINS}
WHERE b.tenant_id = %(tenant)s AND (b.title, b.id) < (%(title)s, %(id)s)
ORDER BY b.title DESC, b.id DESC LIMIT %(limit)s
"""  # noqa: S608 - constant fragments; values are bound
DETAIL_SQL = f"""
SELECT {_ROW}, b.description, b.cover_url, b.page_count, b.subjects
FROM catalog_book b {_JOINS}
WHERE b.tenant_id = %(tenant)s AND b.id = %(id)s
"""  # noqa: S608 - constant fragments; values are bound
# Every match is ranked before the page is cut, so the count comes with it (a window);
# a page past the end has no row to carry it and counts separately.
SEARCH_SQL = f"""
WITH q AS (SELECT websearch_to_tsquery('english'::regconfig, %(q)s) AS q),
hits AS (
    SELECT b.id, b.title, ts_rank(b.search_document, q.q) AS rank, count(*) OVER () AS total
    FROM catalog_book b, q
    WHERE b.tenant_id = %(tenant)s AND b.search_document @@ q.q
    ORDER BY rank DESC, b.title, b.id OFFSET %(offset)s LIMIT %(limit)s
)
SELECT {_ROW}, hits.rank, hits.total
FROM hits JOIN catalog_book b ON b.id = hits.id {_JOINS}
ORDER BY hits.rank DESC, hits.title, hits.id
"""  # noqa: S608 - constant fragments; values are bound
SEARCH_COUNT_SQL = """
SELECT count(*) FROM catalog_book
WHERE tenant_id = %(tenant)s
  AND search_document @@ websearch_to_tsquery('english'::regconfig, %(q)s)
"""
EXPORT_SQL = """
SELECT b.id, b.isbn, b.title, b.price, b.stock, b.published_on, a.name, p.name,
       ARRAY(SELECT g.name FROM catalog_bookgenre bg JOIN catalog_genre g ON g.id = bg.genre_id
             WHERE bg.book_id = b.id ORDER BY g.name),
       b.description
FROM catalog_book b JOIN catalog_author a ON a.id = b.author_id
JOIN catalog_publisher p ON p.id = b.publisher_id
WHERE b.tenant_id = %s ORDER BY b.title, b.id
"""
EXPORT_LIMITS_SQL = (
    "SELECT set_config('statement_timeout', '60000', true), "
    "set_config('idle_in_transaction_session_timeout', '300000', true)"
)

# --- Errors ------------------------------------------------------------------------------


class HttpError(Exception):
    def __init__(self, status: str, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = orjson.dumps({"error": {"code": code, "message": message, "details": details}})
        self.headers: list[tuple[str, str]] = []


def _not_found() -> HttpError:
    return HttpError("404 Not Found", "not_found", "Not found.")


def _invalid(field: str, message: str) -> HttpError:
    return HttpError("400 Bad Request", "invalid", "Invalid input.", {field: [message]})


def _unauthorized(code: str, message: str) -> HttpError:
    error = HttpError("401 Unauthorized", code, message)
    error.headers.append(("WWW-Authenticate", 'Bearer realm="api"'))
    return error


# --- Connections -------------------------------------------------------------------------


class _Connections(threading.local):
    connection: psycopg.Connection[Any] | None = None


_local = _Connections()


def _connection() -> psycopg.Connection[Any]:
    conn = _local.connection
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
        _local.connection = conn
    return conn


def close_connection() -> None:
    """Close this thread's connection (tests, before their database is dropped)."""
    conn, _local.connection = _local.connection, None
    if conn is not None:
        conn.close()


def _failure_rate() -> tuple[int, dt.timedelta]:
    count, _, period = os.environ.get("API_AUTH_FAILURE_RATE", "30/min").partition("/")
    return int(count), dt.timedelta(seconds=PERIOD_SECONDS[period[:1]])


_FAILURE_LIMIT, _FAILURE_WINDOW = _failure_rate()

# --- Request -----------------------------------------------------------------------------


class Request:
    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.path: str = environ.get("PATH_INFO", "")
        self.query_string: str = environ.get("QUERY_STRING", "")
        # Like Django's QueryDict: blank values kept, the last of a repeated key wins.
        self.params = {k: v[-1] for k, v in parse_qs(self.query_string, True).items()}

    def absolute_uri(self) -> str:
        """As Django's ``build_absolute_uri()`` (plain HTTP, the Host header)."""
        host = self.environ.get("HTTP_HOST") or self.environ.get("SERVER_NAME", "")
        query = f"?{self.query_string}" if self.query_string else ""
        return f"http://{host}{self.path}{query}"


def _replace_param(url: str, key: str, value: object) -> str:
    """DRF's ``replace_query_param``: parameters sorted, the key's value replaced."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), True), fragment))


def _remove_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params.pop(key, None)
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), True), fragment))


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.params.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not re.fullmatch(r"-?\d+", text):
        raise _invalid(name, "A valid integer is required.")
    value = int(text)
    if value < 1:
        raise _invalid(name, "Ensure this value is greater than or equal to 1.")
    if value > maximum:
        raise _invalid(name, f"Ensure this value is less than or equal to {maximum}.")
    return value


def _authenticate(request: Request, conn: psycopg.Connection[Any]) -> uuid.UUID:
    """The token's tenant id; 401 (or 429 for a locked-out address) otherwise."""
    header = request.environ.get("HTTP_AUTHORIZATION", "").split()
    if not header or header[0].lower() != "bearer":
        raise _unauthorized("not_authenticated", "Authentication credentials were not provided.")
    if len(header) != 2:
        raise _unauthorized("authentication_failed", "Malformed Authorization header.")
    key_hash = hashlib.sha256(header[1].encode()).hexdigest()
    params = {
        "hash": key_hash,
        "address": request.environ.get("REMOTE_ADDR", ""),
        "window": _FAILURE_WINDOW,
        "limit": _FAILURE_LIMIT,
    }
    row = conn.execute(TOKEN_SQL, params).fetchone()
    if row is None:
        raise _unauthorized("authentication_failed", "Invalid token.")
    token_id, tenant_id, last_used_at, locked_for = row
    if locked_for is not None:
        wait = max(int(-(-locked_for.total_seconds() // 1)), 1)
        error = HttpError(
            "429 Too Many Requests",
            "auth_failures_throttled",
            "Too many failed authentications from this address. "
            f"Request was throttled. Expected available in {wait} seconds.",
            {"retry_after": wait},
        )
        error.headers.append(("Retry-After", str(wait)))
        raise error
    now = dt.datetime.now(dt.UTC)
    if last_used_at is None or last_used_at <= now - LAST_USED_INTERVAL:
        conn.execute(TOUCH_SQL, {"now": now, "id": token_id, "cutoff": now - LAST_USED_INTERVAL})
    tenant: uuid.UUID = tenant_id
    return tenant


# --- Rows --------------------------------------------------------------------------------


def _book(row: tuple[Any, ...]) -> dict[str, Any]:
    bid, title, isbn, price, stock, published, aid, aname, pid, pname, gids, gnames = row[:12]
    return {
        "id": bid,
        "title": title,
        "isbn": isbn,
        "price": f"{price:.2f}",
        "stock": stock,
        "published_on": published,
        "author": {"id": aid, "name": aname},
        "publisher": {"id": pid, "name": pname},
        "genres": [{"id": g, "name": n} for g, n in zip(gids, gnames, strict=True)],
    }


def _page(
    count: int | None, next_url: str | None, previous_url: str | None, results: list[Any]
) -> bytes:
    return orjson.dumps(
        {"count": count, "next": next_url, "previous": previous_url, "results": results}
    )


# --- Endpoints ---------------------------------------------------------------------------


def book_list(request: Request, conn: psycopg.Connection[Any], tenant: uuid.UUID) -> bytes:
    page = _int_param(request, "page", 1, MAX_PAGE)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    if "cursor" in request.params:
        return _keyset_page(request, conn, tenant, request.params["cursor"], limit)
    (count,) = conn.execute(COUNT_SQL, (tenant,)).fetchone() or (0,)
    offset = (page - 1) * limit
    rows: list[Any] = []
    if offset < count:
        params = {"tenant": tenant, "offset": offset, "limit": limit}
        rows = [_book(r) for r in conn.execute(PAGE_SQL, params)]
    next_url, previous_url = _numbered_links(request, page, limit, count)
    return _page(count, next_url, previous_url, rows)


def _numbered_links(
    request: Request, page: int, limit: int, count: int
) -> tuple[str | None, str | None]:
    url = _replace_param(request.absolute_uri(), "limit", limit)
    next_url = _replace_param(url, "page", page + 1) if page * limit < count else None
    previous_url = None
    if page > 1:
        last_page = max(1, -(-count // limit))
        previous_url = _replace_param(url, "page", min(page - 1, last_page))
    return next_url, previous_url


def _encode_cursor(backwards: bool, title: str, pk: uuid.UUID) -> str:
    raw = orjson.dumps({"b": backwards, "v": title, "id": str(pk)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(token: str) -> tuple[bool, str, uuid.UUID]:
    invalid = _invalid("cursor", "Invalid cursor.")
    if not _CURSOR.fullmatch(token):
        raise invalid
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        backwards, title, pk = data["b"], data["v"], uuid.UUID(str(data["id"]))
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise invalid from None
    if not isinstance(backwards, bool) or not isinstance(title, str) or not title:
        raise invalid
    if len(title) > TITLE_MAX_LENGTH or "\x00" in title:
        raise invalid
    return backwards, title, pk


def _keyset_page(
    request: Request, conn: psycopg.Connection[Any], tenant: uuid.UUID, token: str, limit: int
) -> bytes:
    position: tuple[str, uuid.UUID] | None = None
    backwards = False
    if token:
        backwards, title, pk = _decode_cursor(token)
        position = (title, pk)
    params: dict[str, Any] = {"tenant": tenant, "limit": limit + 1}
    if position is None:
        sql = KEYSET_FIRST_SQL
    else:
        sql = KEYSET_BEFORE_SQL if backwards else KEYSET_AFTER_SQL
        params |= {"title": position[0], "id": position[1]}
    rows = conn.execute(sql, params).fetchall()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    base = _replace_param(_remove_param(request.absolute_uri(), "page"), "limit", limit)
    next_url = previous_url = None
    if rows:
        if has_more or backwards:
            after = _encode_cursor(False, rows[-1][1], rows[-1][0])
            next_url = _replace_param(base, "cursor", after)
        if (has_more and backwards) or (position is not None and not backwards):
            before = _encode_cursor(True, rows[0][1], rows[0][0])
            previous_url = _replace_param(base, "cursor", before)
    elif position is not None:
        back = _replace_param(base, "cursor", _encode_cursor(not backwards, *position))
        next_url, previous_url = (back, None) if backwards else (None, back)
    return _page(None, next_url, previous_url, [_book(r) for r in rows])


def book_detail(conn: psycopg.Connection[Any], tenant: uuid.UUID, book_id: str) -> bytes:
    row = conn.execute(DETAIL_SQL, {"tenant": tenant, "id": book_id}).fetchone()
    if row is None:
        raise _not_found()
    book = _book(row)
    book["description"] = row[12]
    book["cover_url"], book["page_count"], book["subjects"] = row[13:16]
    return orjson.dumps(book)


def book_search(request: Request, conn: psycopg.Connection[Any], tenant: uuid.UUID) -> bytes:
    q = request.params.get("q")
    if q is None:
        raise _invalid("q", "This field is required.")
    q = q.strip()
    if not q:
        raise _invalid("q", "This field may not be blank.")
    if len(q) > SEARCH_MAX_LENGTH:
        raise _invalid("q", f"Ensure this field has no more than {SEARCH_MAX_LENGTH} characters.")
    if "\x00" in q:
        raise _invalid("q", "Null characters are not allowed.")
    page = _int_param(request, "page", 1, MAX_PAGE)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    params = {"tenant": tenant, "q": q, "offset": (page - 1) * limit, "limit": limit}
    rows = conn.execute(SEARCH_SQL, params).fetchall()
    if rows:
        count = rows[0][-1]
    else:
        (count,) = conn.execute(SEARCH_COUNT_SQL, params).fetchone() or (0,)
    results = []
    for row in rows:
        book = _book(row)
        book["rank"] = row[12]
        results.append(book)
    next_url, previous_url = _numbered_links(request, page, limit, count)
    return _page(count, next_url, previous_url, results)


def book_export(conn: psycopg.Connection[Any], tenant: uuid.UUID) -> Iterator[bytes]:
    """NDJSON from a server-side cursor in one read-only transaction, then the trailer."""
    with conn.transaction():
        conn.execute(EXPORT_LIMITS_SQL)
        with conn.cursor(name="twin_export") as cursor:
            cursor.itersize = EXPORT_FETCH_ROWS
            cursor.execute(EXPORT_SQL, (tenant,))
            buffer: list[bytes] = []
            count = 0
            for (
                bid,
                isbn,
                title,
                price,
                stock,
                published,
                author,
                publisher,
                genres,
                desc,
            ) in cursor:
                buffer.append(
                    orjson.dumps(
                        {
                            "id": bid,
                            "isbn": isbn,
                            "title": title,
                            "price": f"{price:.2f}",
                            "stock": stock,
                            "published_on": published,
                            "author": author,
                            "publisher": publisher,
                            "genres": genres,
                            "description": desc,
                        }
                    )
                )
                count += 1
                if len(buffer) == EXPORT_LINES_PER_CHUNK:
                    yield b"\n".join(buffer) + b"\n"
                    buffer.clear()
    buffer.append(orjson.dumps({"complete": True, "count": count}))
    yield b"\n".join(buffer) + b"\n"


# --- WSGI --------------------------------------------------------------------------------

JSON = ("Content-Type", "application/json")
LIST_PATHS = frozenset({"/api/v2/books", "/api/v2/books/search", "/api/v2/books/export"})


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    request = Request(environ)
    try:
        if request.path == "/api/v2/health":
            start_response("200 OK", [JSON])
            return [b'{"status":"ok"}']
        if environ.get("REQUEST_METHOD") != "GET" or not request.path.startswith("/api/v2/books"):
            raise _not_found()
        detail = _DETAIL.fullmatch(request.path)
        if detail is None and request.path not in LIST_PATHS:
            raise _not_found()
        return _serve(request, detail, start_response)
    except HttpError as error:
        start_response(error.status, [JSON, *error.headers])
        return [error.body]
    except psycopg.OperationalError:
        close_connection()
        start_response("503 Service Unavailable", [JSON, ("Retry-After", "5")])
        return [b'{"error":{"code":"database_unavailable","message":"Database unavailable.",'
                b'"details":null}}']  # fmt: skip


def _serve(
    request: Request, detail: re.Match[str] | None, start_response: StartResponse
) -> Iterable[bytes]:
    conn = _connection()
    tenant = _authenticate(request, conn)
    if detail is not None:
        body = book_detail(conn, tenant, detail.group(1))
    elif request.path == "/api/v2/books/export":
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/x-ndjson"),
                ("Content-Disposition", 'attachment; filename="books.ndjson"'),
            ],
        )
        return book_export(conn, tenant)
    elif request.path == "/api/v2/books/search":
        body = book_search(request, conn, tenant)
    else:
        body = book_list(request, conn, tenant)
    start_response("200 OK", [JSON, ("Content-Length", str(len(body)))])
    return [body]
