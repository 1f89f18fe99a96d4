"""The tenant-scope guard: every statement on a tenant-owned table is scoped, in every test.

A project registers its tenant-owned tables once (``register_tenant_tables``, from an
AppConfig.ready()); the pytest plugin then guards every test (``guard_scope()``, a
listener on perf.recording's recorder) and fails a test in which a statement reads,
updates or deletes rows of such a table with none of these:

- a filter on the tenant column in its SQL (``"catalog_book"."tenant_id" = %s``, or the
  same in raw SQL);
- a frame of a registered ``guarded_querysets`` on the stack that ``vetted`` accepts: the
  fail-closed queryset's scopes that put no tenant filter in the SQL (its explicit
  cross-tenant escape, a related manager of one row); a queryset scoped to a tenant
  must show the filter in its SQL, so a broken scope is caught too;
- Django's own work on rows already in hand: forward relations, ``save()``'s UPDATE,
  ``refresh_from_db()``, deferred fields loaded for a page's peers, deletion cascades.

What is left is what bypasses the scoped manager: a base-manager or plain-QuerySet lookup
(``Order._base_manager.get(pk=order_id)``, the lookup that once leaked another tenant's
order status in a 409 body) and raw SQL without the tenant filter. Heuristic by design:
a tenant filter that only joins two tables' tenant columns counts as one.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from perf import sql as sqlmod
from perf.recording import Collector, QueryEvent, listening

# Django's code that acts on rows already in hand (one row's relation, save, refresh,
# delete cascades): its statements filter by the primary or foreign key of those rows.
_ROW_IN_HAND = tuple(
    os.path.join("django", "db", "models", *parts)
    for parts in (
        ("fields", "related_descriptors.py"),
        ("deletion.py",),
        ("base.py",),
        ("fetch_modes.py",),  # FETCH_PEERS: a deferred field of the page's rows in hand
    )
)
_CHECKED = re.compile(r"\s*(?:SELECT|WITH|UPDATE|DELETE)\b", re.IGNORECASE)


@dataclass(frozen=True)
class TenantScope:
    tables: frozenset[str]
    column: str
    guarded_querysets: tuple[type, ...]
    vetted: Callable[[Any], bool]
    fix: str

    def filters_tenant(self, sql: str) -> bool:
        return _tenant_filter(self.column).search(sql) is not None


@functools.lru_cache(maxsize=8)
def _tenant_filter(column: str) -> re.Pattern[str]:
    return re.compile(rf'\b{re.escape(column)}"?\s*(?:=|IN\b)', re.IGNORECASE)


_scope: TenantScope | None = None


def register_tenant_tables(
    tables: set[str] | frozenset[str],
    *,
    column: str = "tenant_id",
    guarded_querysets: tuple[type, ...] = (),
    vetted: Callable[[Any], bool] = lambda queryset: False,
    fix: str = "filter the statement by its tenant",
) -> None:
    """Name the tenant-owned tables, their tenant column, the fail-closed queryset
    classes and which of their instances may run without a tenant filter in the SQL
    (``vetted``), and the fix to print."""
    global _scope
    _scope = TenantScope(frozenset(tables), column, guarded_querysets, vetted, fix)


def tenant_scope() -> TenantScope | None:
    return _scope


@dataclass(frozen=True)
class Unscoped:
    table: str
    sql: str
    call_site: str | None
    fix: str

    def describe(self) -> str:
        return (
            f"unscoped access to tenant-owned table {self.table}: no {self.table}.tenant "
            f"filter, run outside the scoped querysets\n    at {self.call_site or '?'}\n"
            f"    {self.sql[:300]}\n    fix: {self.fix}"
        )


class UnscopedAccessError(AssertionError):
    def __init__(self, found: list[Unscoped], context: str = "") -> None:
        body = "\n".join(u.describe() for u in found)
        super().__init__(f"{context}\n{body}" if context else body)


def _vetted(frame: FrameType | None, scope: TenantScope) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.endswith(_ROW_IN_HAND):
            return True
        if scope.guarded_querysets and "self" in frame.f_code.co_varnames:
            queryset = frame.f_locals.get("self")
            if isinstance(queryset, scope.guarded_querysets) and scope.vetted(queryset):
                return True
        frame = frame.f_back
    return False


def unscoped_access(event: QueryEvent) -> Unscoped | None:
    """The statement's unscoped access to a tenant-owned table, or None."""
    scope, sql = _scope, event.sql
    if scope is None or not _CHECKED.match(sql):
        return None
    table = sqlmod.main_table(sql)
    if table not in scope.tables or scope.filters_tenant(sql) or _vetted(event.frame, scope):
        return None
    return Unscoped(table, sql, event.call_site, scope.fix)


class ScopeGuard(Collector[Unscoped]):
    """The listener: every unscoped access to a tenant-owned table in a block."""

    def __init__(self) -> None:
        super().__init__(unscoped_access)

    @property
    def unscoped(self) -> list[Unscoped]:
        return self.found


@contextmanager
def guard_scope() -> Iterator[ScopeGuard]:
    """Check every statement of the block for its tenant filter, on every database alias;
    what fails the check lands in the guard's ``unscoped``."""
    guard = ScopeGuard()
    with listening(guard):
        yield guard
