"""Every route of the URLconf, every HTTP method, every kind of caller: never a 5xx, and
on the JSON routes only documented statuses, errors in the one JSON shape, a 405 with an
``Allow`` header, and OPTIONS answered with ``Allow``.

Routes are enumerated from the URLconf (``tests.urls_every_route``: the project's, with
silk mounted as in staging), so a new route is covered by itself. Path parameters are
filled with real ids of the caller's tenant and of another tenant; a parameter this test
cannot fill fails its route, so a new kind of parameter must be taught here.
"""

from __future__ import annotations

import itertools
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils.regex_helper import normalize
from silk.models import Profile, Request, SQLQuery

from catalog.models import Author, Book, Genre, Publisher
from orders.models import Order
from tenants.models import ApiToken, User
from tenants.services import api_token_issue
from tests.factories import (
    GenreFactory,
    OperatorFactory,
    OrderItemFactory,
    TenantFactory,
    UserFactory,
)

URLCONF = "tests.urls_every_route"
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "BREW")
BODY_METHODS = {"POST", "PUT", "PATCH"}
HTML_APPS = ("/admin/", "/silk/")  # Django's and silk's own pages: no 5xx is all we ask
SUCCESS = {200, 201, 204}
ERRORS_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def documented_error_statuses() -> set[int]:
    """The statuses of the documented error list (docs/api.md, the paragraph "Errors share
    one shape")."""
    text = ERRORS_DOC.read_text()
    start = text.index("Errors share one shape")
    paragraph = text[start : text.index("\n\n", start)]
    return {int(code) for code in re.findall(r"\b([45]\d\d)\b", paragraph)}


# --- Routes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    text: str  # the pattern as written, for test ids and messages
    template: str  # %-format string of the path, from django.utils.regex_helper.normalize
    params: tuple[str, ...]
    callback: Callable[..., Any]


def _walk(patterns: list[Any], regex: str, text: str) -> Iterator[Route]:
    for entry in patterns:
        own = entry.pattern.regex.pattern.removeprefix("^")
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, regex + own, text + str(entry.pattern))
            continue
        assert isinstance(entry, URLPattern)
        # The first possibility: for alternations, reverse() itself picks the first too.
        template, params = normalize(regex + own)[0]
        yield Route(text + str(entry.pattern), "/" + template, tuple(params), entry.callback)


def routes() -> list[Route]:
    """Every reachable route: a later pattern with the same text as an earlier one is
    shadowed by it (shelfwise/urls.py unmounts the admin's "view on site" that way)."""
    found: dict[str, Route] = {}
    for route in _walk(get_resolver(URLCONF).url_patterns, "", ""):
        found.setdefault(route.text, route)
    return list(found.values())


# --- Data and callers ----------------------------------------------------------------------


@dataclass
class World:
    """Two tenants' rows (``own``: the callers' tenant, ``other``: another), by model."""

    own: dict[type[Model], Model]
    other: dict[type[Model], Model]
    silk: dict[str, int | uuid.UUID]


def _tenant_rows(tenant: Any) -> dict[type[Model], Model]:
    member = UserFactory(tenant=tenant)
    item = OrderItemFactory(order__tenant=tenant, order__user=member)
    token, _ = api_token_issue(user=member)
    group, _ = Group.objects.get_or_create(name="shared")  # auth.Group has no tenant
    return {
        Group: group,
        **_axes_rows(),
        Book: item.book,
        Author: item.book.author,
        Publisher: item.book.publisher,
        Genre: GenreFactory(tenant=tenant),
        Order: item.order,
        ApiToken: token,
        User: member,
    }


def _axes_rows() -> dict[type[Model], Model]:
    """django-axes's login records (admin lockout) belong to no tenant: shared rows."""
    fields = {"ip_address": "192.0.2.1", "username": "someone", "user_agent": "test"}
    attempt = {"get_data": "", "post_data": "", "failures_since_start": 1}
    return {
        AccessAttempt: AccessAttempt.objects.get_or_create(**fields, defaults=attempt)[0],
        AccessLog: AccessLog.objects.get_or_create(**fields)[0],
        AccessFailureLog: AccessFailureLog.objects.get_or_create(**fields)[0],
    }


def _silk_rows() -> dict[str, int | uuid.UUID]:
    request = Request.objects.create(path="/api/v2/books", method="GET")
    profile = Profile.objects.create(request=request, name="p")
    query = SQLQuery.objects.create(request=request, query="SELECT 1")
    return {"request_id": request.id, "profile_id": profile.id, "sql_id": query.id}


def _model_of(route: Route) -> type[Model]:
    model_admin = getattr(route.callback, "model_admin", None)
    if model_admin is not None:
        return model_admin.model
    return Book  # admin's "view on site" shortcut: r/<content_type_id>/<object_id>/


def param_values(route: Route, name: str, world: World) -> list[str]:
    """Values for one path parameter: the callers' tenant's row and another tenant's."""
    by_name: dict[str, type[Model]] = {
        "book_id": Book,
        "author_id": Author,
        "publisher_id": Publisher,
        "order_id": Order,
        "id": User,  # the admin's user password form
        "object_id": _model_of(route),
    }
    if name in by_name:
        model = by_name[name]
        if model not in world.own:
            raise LookupError(f"no {model.__name__} rows to fill {name!r}")
        return list(dict.fromkeys([str(world.own[model].pk), str(world.other[model].pk)]))
    if name in world.silk:
        return [str(world.silk[name])]
    fixed = {
        "app_label": "catalog",
        "url": "no-such-page/",  # the admin's catch-all
        "content_type_id": str(ContentType.objects.get_for_model(Book).pk),
    }
    if name in fixed:
        return [fixed[name]]
    raise LookupError(f"no rule fills the path parameter {name!r}")


def fill(route: Route, world: World) -> list[str]:
    choices = [param_values(route, name, world) for name in route.params]
    paths = [
        route.template % dict(zip(route.params, values, strict=True))
        for values in itertools.product(*choices)
    ]
    for path in paths:
        match = resolve(path, urlconf=URLCONF)
        if match.func is not route.callback:
            raise LookupError(f"{path} resolves to {match.route!r}, not {route.text!r}")
    return paths


def _bearer_client(user: User | None) -> Client:
    headers = {}
    if user is not None:
        _, raw = api_token_issue(user=user)
        headers["Authorization"] = f"Bearer {raw}"
    # CSRF enforced, as for a real client: a plain Django view that forgets csrf_exempt
    # would answer a POST with an HTML 403.
    return Client(enforce_csrf_checks=True, headers=headers)


def _session_client(user: User) -> Client:
    client = Client()  # the admin's own forms carry the CSRF token; a test cannot
    client.force_login(user)
    return client


# --- Checks --------------------------------------------------------------------------------


def problems(method: str, path: str, response: Any, documented: set[int]) -> list[str]:
    status = response.status_code
    found = []
    if status >= 500:
        found.append(f"answered {status}")
    if path.startswith(HTML_APPS):
        return found
    if status not in SUCCESS | documented:
        found.append(f"answered {status}, not a documented status")
    if status == 405:
        allow = response.headers.get("Allow")
        if not allow:
            found.append("405 without an Allow header")
        elif method in {m.strip() for m in allow.split(",")}:
            found.append(f"405 but Allow lists {method}: {allow}")
    if method == "OPTIONS" and status == 200 and not response.headers.get("Allow"):
        found.append("OPTIONS answered without an Allow header")
    if status >= 400 and method != "HEAD":
        try:
            error = orjson.loads(response.content)["error"]
            assert set(error) == {"code", "message", "details"}
            assert isinstance(error["code"], str) and isinstance(error["message"], str)
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            shown = f"{response['Content-Type']} {response.content[:120]!r}"
            found.append(f"{status} without the JSON error shape: {shown}")
    return found


ROUTES = routes()


@pytest.fixture
def quiet_4xx_logs() -> Iterator[None]:
    """Django logs every 4xx as a warning, with the traceback of the PermissionDenied or
    Http404 behind it: rendered by the console log formatter, that costs tenths of a
    second per request, most of this test's time. 5xx (errors) are still logged."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def world(db, settings, quiet_4xx_logs) -> World:
    settings.ROOT_URLCONF = URLCONF
    return World(
        own=_tenant_rows(TenantFactory()),
        other=_tenant_rows(TenantFactory()),
        silk=_silk_rows(),
    )


def test_the_walk_finds_every_kind_of_route():
    texts = {route.text for route in ROUTES}
    for expected in (
        "api/v2/books",
        "api/v2/orders/<uuid:order_id>/cancel",
        "api/v2/health",
        "metrics",
        "api/schema/",
        "api/docs/",
        "^api/",
        "silk/request/<uuid:request_id>/sql/<int:sql_id>/",
    ):
        assert expected in texts
    assert any(text.startswith("admin/catalog/book/") for text in texts)


@pytest.mark.parametrize(
    "route",
    ROUTES,
    ids=[route.text for route in ROUTES],
)
def test_every_method_of_the_route_answers_a_documented_status(route, world):
    tenant = world.own[User].tenant
    callers: dict[str, Client] = {"no token": _bearer_client(None)}
    if ("/" + route.text).startswith(HTML_APPS):
        # Session apps: a bearer token is no login there, so a token caller is the anonymous
        # one again; their logged-in users are operators and superusers.
        callers["operator session"] = _session_client(OperatorFactory(tenant=tenant))
        callers["superuser session"] = _session_client(
            UserFactory(tenant=None, is_staff=True, is_superuser=True)
        )
    else:
        callers["member"] = _bearer_client(UserFactory(tenant=tenant))
        callers["operator"] = _bearer_client(OperatorFactory(tenant=tenant))
    documented = documented_error_statuses()
    failures = []
    for path in fill(route, world):
        for (who, client), method in itertools.product(callers.items(), METHODS):
            body = b"{}" if method in BODY_METHODS else b""
            response = client.generic(method, path, body, content_type="application/json")
            found = problems(method, path, response, documented)
            failures += [f"{who} {method} {path}: {problem}" for problem in found]
    assert not failures, "\n".join(failures)


# --- The contract, spelled out ---------------------------------------------------------------


@pytest.fixture
def member_client(world) -> Client:
    return _bearer_client(UserFactory(tenant=world.own[User].tenant))


def test_options_describes_the_endpoint_without_a_serializer(member_client):
    # The orders view has no serializer_class: DRF's SimpleMetadata failed here (a 500).
    response = member_client.options("/api/v2/orders")
    assert response.status_code == 200
    assert {m.strip() for m in response["Allow"].split(",")} == {"GET", "POST", "HEAD", "OPTIONS"}
    assert set(response.json()) == {"name", "description", "renders", "parses"}
    health = member_client.options("/api/v2/health")
    assert health.status_code == 200 and health["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("path", ["/api/v2/books", "/api/v2/health", "/metrics", "/api/schema/"])
def test_an_unknown_method_is_a_json_405_with_allow(member_client, path):
    response = member_client.generic("BREW", path)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response["Allow"] and "BREW" not in response["Allow"]


def test_an_accept_the_api_cannot_render_is_a_json_406(member_client):
    response = member_client.get("/api/v2/books", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"
