"""Where a query came from: the first project frame, the relation, the DRF field path,
and the fix that suits how the rows were loaded (a page, a per-row count, an admin
changelist)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.db.models.manager import BaseManager

from perf import relations
from perf import sql as sqlmod
from perf.conf import perf_settings

_PERF_DIR = str(Path(__file__).resolve().parent) + os.sep
_PERF_TESTS = _PERF_DIR + "tests" + os.sep
_DESCRIPTORS_FILE = os.path.join("django", "db", "models", "fields", "related_descriptors.py")
_DRF_SERIALIZERS_FILE = os.path.join("rest_framework", "serializers.py")


@dataclass(frozen=True)
class Changelist:
    """The admin changelist whose rows ran the queries."""

    model: str  # "catalog.Book"
    admin: str  # "BookAdmin"
    location: str  # "catalog/admin.py:171"
    list_select_related: tuple[str, ...]


@dataclass(frozen=True)
class Origin:
    call_site: str | None  # "catalog/views.py:42 in book_list"
    table: str | None
    relation: relations.Relation | None
    serializer_path: str | None  # "BookSerializer.author"
    # What each row ran: "count" (a COUNT per row) or "load" (its related rows).
    per_row: str = "load"
    changelist: Changelist | None = None

    @property
    def fix(self) -> str:
        r = self.relation
        cl = self.changelist
        if r is None:
            if cl is not None:
                return (
                    f"load the rows' relations in {cl.admin}.get_queryset() or "
                    f"list_select_related ({cl.location})"
                )
            return "load the rows in one query (select_related / prefetch_related / a join)"
        in_admin = cl is not None and cl.model == r.model
        if self.per_row == "count" and not r.single_valued:
            annotate = f'annotate(n=Count("{r.name}"))'
            if cl is not None and in_admin:
                return (
                    f"{annotate} in {cl.admin}.get_queryset() ({cl.location}), shown by a "
                    "list_display method that reads obj.n: one query counts every row"
                )
            return (
                f"{annotate} on the {r.model} queryset, then read obj.n: one query counts "
                f"every row, instead of a COUNT per row (not prefetch_related)"
            )
        if cl is not None and in_admin:
            if r.single_valued:
                names = (*cl.list_select_related, r.name)
                listed = ", ".join(f'"{n}"' for n in names) + ("," if len(names) == 1 else "")
                return f"list_select_related = ({listed}) on the {cl.admin} ({cl.location})"
            return f'prefetch_related("{r.name}") in {cl.admin}.get_queryset() ({cl.location})'
        return r.fix

    def lines(self, call_site_label: str = "call site") -> list[str]:
        """The report's lines, indented, as the N+1 and fetch-mode errors print them."""
        lines = []
        if self.table:
            lines.append(f"  table: {self.table}")
        if self.relation is not None:
            r = self.relation
            lines.append(f"  relation: {r.model}.{r.name} ({r.kind})")
        if self.changelist is not None:
            lines.append(f"  admin changelist: {self.changelist.admin} ({self.changelist.model})")
        if self.call_site:
            lines.append(f"  {call_site_label}: {self.call_site}")
        if self.serializer_path:
            lines.append(f"  serializer field: {self.serializer_path}")
        lines.append(f"  fix: {self.fix}")
        return lines


def _project_roots() -> tuple[str, ...]:
    # Read each time (only at a shape's first repeat): PERF can change under tests.
    roots = perf_settings().PROJECT_ROOTS or (str(getattr(settings, "BASE_DIR", os.getcwd())),)
    return tuple(str(Path(r).resolve()) + os.sep for r in roots)


def _is_project_file(filename: str, roots: tuple[str, ...]) -> bool:
    # perf's own modules (its commands included) are the tooling, not the caller (its
    # tests are callers).
    if "site-packages" in filename or (
        filename.startswith(_PERF_DIR) and not filename.startswith(_PERF_TESTS)
    ):
        return False
    return filename.startswith(roots)


def project_call_site(frame: FrameType | None, depth: int = 3) -> str | None:
    """``"catalog/services/books.py:42 in book_delete <- catalog/views.py:80 in delete"``:
    the innermost project frame, then its project callers (``depth`` in all), so that a
    query evaluated by shared code (a paginator) names the view that built it too.

    The one call-site format of every report: N+1 origins' callers, locks, fetched rows,
    unscoped statements and explain's "sent from" (``QueryEvent.call_site``)."""
    roots = _project_roots()
    skipped = perf_settings().CALLSITE_SKIP_MODULES
    sites: list[str] = []
    while frame is not None and len(sites) < depth:
        filename = frame.f_code.co_filename
        if _is_project_file(filename, roots) and not _is_query_layer(frame, skipped):
            sites.append(_site(frame, roots))
        frame = frame.f_back
    return " <- ".join(sites) or None


def _site(frame: FrameType, roots: tuple[str, ...]) -> str:
    """One frame as every report prints it: ``"catalog/views.py:80 in delete"``."""
    return f"{_relpath(frame.f_code.co_filename, roots)}:{frame.f_lineno} in {frame.f_code.co_name}"


def _is(value: object, cls: Any) -> bool:
    """``isinstance`` without touching ``value``: a frame's locals hold lazy objects
    (``request.user``) that isinstance() would evaluate, running queries of their own."""
    return issubclass(type(value), cls)


def _is_query_layer(frame: FrameType, skipped_modules: tuple[str, ...]) -> bool:
    """A frame between the caller and the ORM: a method of a QuerySet or Manager (the
    project's own scoping and bundles included), or a module PERF['CALLSITE_SKIP_MODULES']
    names. The caller is further out."""
    module = frame.f_globals.get("__name__", "")
    if skipped_modules and module.startswith(skipped_modules):
        return True
    return _is(frame.f_locals.get("self"), QuerySet | BaseManager)


def _relpath(filename: str, roots: tuple[str, ...]) -> str:
    root = next((r for r in roots if filename.startswith(r)), roots[0])
    return os.path.relpath(filename, root)


@dataclass
class Stack:
    """What one walk of the stack found, innermost first."""

    call_site: str | None = None
    call_site_self: object = None
    descriptor_relation: relations.Relation | None = None
    serializer_path: str | None = None
    queryset: Any = None  # the innermost QuerySet being evaluated
    changelist: Any = None  # django.contrib.admin's ChangeList, when it renders the rows
    # The related manager's queryset that loaded ``row`` (walk's argument), when a frame
    # holds it: DRF's ListSerializer does, as does ``items = order.items.all()``.
    row_source: Any = None


def _changelist_class() -> type | None:
    if not apps.is_installed("django.contrib.admin"):
        return None
    from django.contrib.admin.views.main import ChangeList

    return ChangeList


def _loaded(value: object, row: object) -> bool:
    if not _is(value, QuerySet) or value._result_cache is None:  # type: ignore[attr-defined]
        return False
    # QuerySet._hints: private API, absent from the stubs (set by related managers).
    if not _is(getattr(value, "_hints", {}).get("instance"), models.Model):
        return False
    return any(r is row for r in value._result_cache)  # type: ignore[attr-defined]


def walk(frame: FrameType | None, *, row: object = None) -> Stack:
    roots = _project_roots()
    skipped = perf_settings().CALLSITE_SKIP_MODULES
    changelist_class = _changelist_class()
    stack = Stack()
    fallback_site: tuple[str, object] | None = None
    fields: list[str] = []
    outer_serializer = None
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        local = frame.f_locals
        owner = local.get("self")
        if row is not None and stack.row_source is None:
            stack.row_source = next((v for v in local.values() if _loaded(v, row)), None)
        if stack.queryset is None and _is(owner, QuerySet):
            stack.queryset = owner
        if stack.changelist is None and changelist_class is not None:
            for candidate in (owner, local.get("cl")):
                if _is(candidate, changelist_class):
                    stack.changelist = candidate
        if stack.descriptor_relation is None and filename.endswith(_DESCRIPTORS_FILE):
            stack.descriptor_relation = relations.from_descriptor(owner)
        elif filename.endswith(_DRF_SERIALIZERS_FILE) and code.co_name == "to_representation":
            field = local.get("field")
            name = getattr(field, "field_name", None)
            if name:
                fields.append(name)
                outer_serializer = type(owner).__name__
        elif stack.call_site is None and _is_project_file(filename, roots):
            site = _site(frame, roots)
            if not _is_query_layer(frame, skipped):
                stack.call_site, stack.call_site_self = site, owner
            elif fallback_site is None:
                fallback_site = (site, owner)
        frame = frame.f_back
    if stack.call_site is None and fallback_site is not None:
        stack.call_site, stack.call_site_self = fallback_site
    if fields:
        stack.serializer_path = f"{outer_serializer}.{'.'.join(reversed(fields))}"
    return stack


def describe_changelist(changelist: Any) -> Changelist:
    model_admin = changelist.model_admin
    admin_class = type(model_admin)
    location = f"{admin_class.__module__}.{admin_class.__qualname__}"
    try:
        filename = inspect.getsourcefile(admin_class)
        line = inspect.getsourcelines(admin_class)[1]
    except (OSError, TypeError):
        filename = None
    roots = _project_roots()
    if filename and _is_project_file(str(Path(filename).resolve()), roots):
        location = f"{_relpath(str(Path(filename).resolve()), roots)}:{line}"
    listed = changelist.list_select_related
    return Changelist(
        model=changelist.model._meta.label,
        admin=admin_class.__name__,
        location=location,
        list_select_related=tuple(listed) if isinstance(listed, list | tuple) else (),
    )


def _call_site(stack: Stack, changelist: Changelist | None) -> str | None:
    """In a changelist, the project code is the ModelAdmin: its list_display method when
    one ran the query, else its class."""
    if changelist is None or stack.call_site_self is stack.changelist.model_admin:
        return stack.call_site
    return f"{changelist.location} (class {changelist.admin}, its changelist)"


def describe_origin(
    frame: FrameType | None, sql: str, previous_params: Collection[object] = ()
) -> Origin:
    """``previous_params``: the parameters of the previous run of the same statement, to
    tell the filter that follows the rows from one that stays (see relations)."""
    stack = walk(frame)
    table = sqlmod.main_table(sql)
    relation = stack.descriptor_relation
    if relation is None and stack.queryset is not None:
        relation = relations.from_queryset(stack.queryset, previous_params)
    if relation is None:
        relation = relations.from_sql(table, sql)
    changelist = describe_changelist(stack.changelist) if stack.changelist is not None else None
    return Origin(
        call_site=_call_site(stack, changelist),
        table=table,
        relation=relation,
        serializer_path=stack.serializer_path,
        per_row="count" if sqlmod.is_count(sql) else "load",
        changelist=changelist,
    )
