"""Query budgets: each endpoint's exact query count, declared once, next to its view.

A view declares how many queries each of its methods runs, with the arithmetic in a
comment::

    from perf.budgets import query_budgets

    @query_budgets(
        GET=1 + 1,  # authentication, the row
    )
    class AuthorDetailApi(APIView): ...

``endpoint_budgets()`` walks the project's URLconf and gives the table, keyed by
``"<METHOD> <route>"`` with the route as ``perf.routes`` labels it
(``"GET /api/v2/books/{book_id}"``). The tests assert their exact counts from it and the
load test gates ``X-Query-Count`` against it, so the two can no longer drift apart; perf
imports no app to build it, it only reads what the URLconf's views declare.

A budget counts as production runs the request (``include_savepoints=False`` in
``perf.recording``): BEGIN and COMMIT never count, and a test's own transaction does not
add its savepoint pair. It is the steady state the load test sees: the caller's token
already stamped, the names a bulk import refers to already there; a test derives any
other case from it, in a comment that says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from perf.routes import label_for_route

ATTRIBUTE = "perf_query_budgets"
NEVER_FETCHES_ATTRIBUTE = "perf_never_fetches"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def query_budgets[V: Callable[..., Any]](
    *, never_fetches: Mapping[str, Iterable[str]] | None = None, **per_method: int
) -> Callable[[V], V]:
    """Declare a view's budgets: ``GET=3, POST=1 + 2 + 4``, one keyword per method it
    serves (HEAD and OPTIONS need none). On a class, each method must have its handler.

    ``never_fetches`` (``{"catalog_book": ("description",)}``) names the table columns no
    query of the view's GET may fetch: a response that does not render them must not pay
    for reading them. Its tests measure it (``query_budget(forbid_columns=...)`` with
    ``never_fetched(key)``), so an over-fetching bundle fails there, at its call site."""
    for method, budget in per_method.items():
        if method not in METHODS:
            raise ValueError(f"query_budgets: {method!r} is not one of {sorted(METHODS)}")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
            raise ValueError(f"query_budgets: {method}={budget!r} is not a count of queries")

    def declare(view: V) -> V:
        if isinstance(view, type):
            missing = [m for m in per_method if not callable(getattr(view, m.lower(), None))]
            if missing:
                raise ValueError(f"query_budgets: {view.__name__} has no handler for {missing}")
        setattr(view, ATTRIBUTE, MappingProxyType(dict(per_method)))
        if never_fetches is not None:
            columns = {table: tuple(names) for table, names in never_fetches.items()}
            setattr(view, NEVER_FETCHES_ATTRIBUTE, MappingProxyType(columns))
        return view

    return declare


def _view_of(callback: Callable[..., Any]) -> Any:
    """The class behind ``as_view()`` (DRF's ``cls``, Django's ``view_class``), else the
    function itself (a decorator built with ``functools.wraps`` keeps the declaration)."""
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback


def declared(callback: Callable[..., Any]) -> Mapping[str, int] | None:
    budgets: Mapping[str, int] | None = getattr(_view_of(callback), ATTRIBUTE, None)
    return budgets


def served_methods(callback: Callable[..., Any]) -> list[str]:
    """The methods a class-based view has handlers for, HEAD and OPTIONS aside; for a
    function view, the ones it declares (nothing else says what it serves)."""
    view = _view_of(callback)
    if isinstance(view, type):
        names = getattr(view, "http_method_names", [m.lower() for m in METHODS])
        return sorted(m.upper() for m in names if m.upper() in METHODS and hasattr(view, m))
    return sorted(declared(callback) or ())


@dataclass(frozen=True)
class Endpoint:
    route: str
    callback: Callable[..., Any]

    @property
    def budgets(self) -> Mapping[str, int]:
        return declared(self.callback) or {}

    def unbudgeted(self) -> list[str]:
        """The methods served without a budget; a function view declaring none is one
        whole unbudgeted endpoint (``["*"]``)."""
        if declared(self.callback) is None and not isinstance(_view_of(self.callback), type):
            return ["*"]
        return [m for m in served_methods(self.callback) if m not in self.budgets]


def endpoints(urlconf: str | None = None) -> Iterator[Endpoint]:
    """Every view of the URLconf with its route label, in URLconf order."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[Endpoint]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield Endpoint(label_for_route(route), pattern.callback)

    yield from walk(get_resolver(urlconf).url_patterns, "")


_PLACEHOLDER = re.compile(r"\{\w*\}")


def _normalized(key: str) -> str:
    """``GET /api/v2/books/{id}`` and ``GET /api/v2/books/{book_id}`` are one endpoint: a
    load test names its placeholders as it likes."""
    return _PLACEHOLDER.sub("{}", key)


class BudgetTable(dict[str, int]):
    """``{"GET /api/v2/books": 3, ...}``, built by ``endpoint_budgets()``."""

    def budget(self, key: str) -> int:
        """The budget of ``"<METHOD> <route>"``, placeholders named as you like; a
        KeyError names an endpoint that has none."""
        wanted = _normalized(key)
        for name, budget in self.items():
            if _normalized(name) == wanted:
                return budget
        raise KeyError(f"no query budget declared for {key!r}")

    def for_names(self, names: list[str]) -> dict[str, int]:
        """The budgets of the endpoints among ``names`` (a load test's), keyed by those
        names; names without one are left out."""
        found = {}
        for name in names:
            try:
                found[name] = self.budget(name)
            except KeyError:
                continue
        return found


def endpoint_budgets(urlconf: str | None = None) -> BudgetTable:
    """The declared budgets of every endpoint of the URLconf."""
    table = BudgetTable()
    for endpoint in endpoints(urlconf):
        for method, budget in endpoint.budgets.items():
            table[f"{method} {endpoint.route}"] = budget
    return table


def never_fetched(key: str, urlconf: str | None = None) -> Mapping[str, tuple[str, ...]]:
    """``never_fetched("GET /api/v2/books")``: the columns the endpoint's view declares it
    never fetches (``query_budgets(never_fetches=...)``); a KeyError when it declares
    none, so a test cannot silently check nothing."""
    wanted = _normalized(key)
    method = key.partition(" ")[0]
    for endpoint in endpoints(urlconf):
        if _normalized(f"{method} {endpoint.route}") == wanted:
            columns = getattr(_view_of(endpoint.callback), NEVER_FETCHES_ATTRIBUTE, None)
            if columns is None:
                break
            return dict(columns)
    raise KeyError(f"no never_fetches declared for {key!r}")


def budget(key: str, urlconf: str | None = None) -> int:
    """``budget("GET /api/v2/books/{book_id}")``: one endpoint's declared budget."""
    return endpoint_budgets(urlconf).budget(key)


def unbudgeted(prefix: str = "/", urlconf: str | None = None) -> list[str]:
    """``"<METHOD> <route>"`` for every method served under ``prefix`` without a budget."""
    return [
        f"{method} {endpoint.route}"
        for endpoint in endpoints(urlconf)
        if endpoint.route.startswith(prefix)
        for method in endpoint.unbudgeted()
    ]
