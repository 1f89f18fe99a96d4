"""How apps hand perf their hot queries, without perf importing any app.

An app registers, usually from its ``AppConfig.ready()``::

    from perf.registry import hot_queries
    hot_queries.register_subject(load_tenant, default=largest_tenant)  # a slug -> Tenant
    hot_queries.register("catalog page (first)", lambda tenant: book_list(tenant=tenant)[:50])

A builder returns a QuerySet (or a ``(sql, params)`` pair) built by the app's real
selectors, so that ``manage.py explain`` plans exactly what the API runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

Built = QuerySet[Any] | tuple[str, list[Any] | tuple[Any, ...]]


@dataclass(frozen=True)
class HotQuery:
    name: str
    build: Callable[[Any], Built]
    # Read through a server-side cursor (QuerySet.iterator()): planned for fast start
    # (cursor_tuple_fraction), so explain plans it through a real cursor too.
    streamed: bool = False


@dataclass
class HotQueryRegistry:
    queries: dict[str, HotQuery] = field(default_factory=dict)
    # Turns the command's --subject (a tenant slug, say) into what builders take; set by
    # register_subject().
    subject_loader: Callable[[str], Any] | None = None
    # The subject to use without --subject (the largest tenant, say).
    default_subject: Callable[[], str] | None = None

    def register_subject(
        self, loader: Callable[[str], Any], *, default: Callable[[], str] | None = None
    ) -> None:
        """Name what the hot queries take (``--subject``), once: a second registration,
        by another app say, is an error rather than a silent replacement."""
        if self.subject_loader is not None and self.subject_loader is not loader:
            raise ValueError(
                f"a subject loader is already registered ({self.subject_loader!r}); "
                "one project registers one"
            )
        self.subject_loader = loader
        self.default_subject = default

    def register(self, name: str, build: Callable[[Any], Built], *, streamed: bool = False) -> None:
        if name in self.queries:
            raise ValueError(f"hot query {name!r} is already registered")
        self.queries[name] = HotQuery(name, build, streamed)


hot_queries = HotQueryRegistry()
