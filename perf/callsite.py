"""Where a query came from: the first project frame, the relation, the DRF field path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from django.conf import settings

from perf import relations
from perf import sql as sqlmod
from perf.conf import perf_settings

_PERF_DIR = str(Path(__file__).resolve().parent) + os.sep
_DESCRIPTORS_FILE = os.path.join("django", "db", "models", "fields", "related_descriptors.py")
_DRF_SERIALIZERS_FILE = os.path.join("rest_framework", "serializers.py")


@dataclass(frozen=True)
class Origin:
    call_site: str | None  # "catalog/views.py:42 in book_list"
    table: str | None
    relation: relations.Relation | None
    serializer_path: str | None  # "BookSerializer.author"

    @property
    def fix(self) -> str:
        if self.relation is not None:
            return self.relation.fix
        return "load the rows in one query (select_related / prefetch_related / a join)"


def _project_roots() -> tuple[str, ...]:
    # Read each time (only at a shape's first repeat): PERF can change under tests.
    roots = perf_settings().PROJECT_ROOTS or (str(getattr(settings, "BASE_DIR", os.getcwd())),)
    return tuple(str(Path(r).resolve()) + os.sep for r in roots)


def _plumbing(roots: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(os.path.join(roots[0], p) for p in perf_settings().PLUMBING_FILES)


def _is_project_file(filename: str, roots: tuple[str, ...], plumbing: tuple[str, ...]) -> bool:
    # perf's own modules are the tooling, not the caller (its tests are callers).
    if "site-packages" in filename or os.path.dirname(filename) + os.sep == _PERF_DIR:
        return False
    return filename.startswith(roots) and filename not in plumbing


def project_call_site(frame: FrameType | None, depth: int = 3) -> str | None:
    """``"catalog/services/books.py:42 in book_delete <- catalog/views.py:80 in delete"``:
    the innermost project frame, then its project callers (``depth`` in all), so that a
    query evaluated by shared code (a paginator) names the view that built it too."""
    roots = _project_roots()
    plumbing = _plumbing(roots)
    sites: list[str] = []
    while frame is not None and len(sites) < depth:
        filename = frame.f_code.co_filename
        if _is_project_file(filename, roots, plumbing):
            rel = os.path.relpath(filename, roots[0])
            sites.append(f"{rel}:{frame.f_lineno} in {frame.f_code.co_name}")
        frame = frame.f_back
    return " <- ".join(sites) or None


def describe_origin(frame: FrameType | None, sql: str) -> Origin:
    roots = _project_roots()
    plumbing = _plumbing(roots)
    call_site = None
    relation = None
    fields: list[str] = []
    outer_serializer = None
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if relation is None and filename.endswith(_DESCRIPTORS_FILE):
            relation = relations.from_descriptor(frame.f_locals.get("self"))
        elif filename.endswith(_DRF_SERIALIZERS_FILE) and code.co_name == "to_representation":
            field = frame.f_locals.get("field")
            name = getattr(field, "field_name", None)
            if name:
                fields.append(name)
                outer_serializer = type(frame.f_locals.get("self")).__name__
        elif call_site is None and _is_project_file(filename, roots, plumbing):
            rel = os.path.relpath(filename, roots[0])
            call_site = f"{rel}:{frame.f_lineno} in {code.co_name}"
        frame = frame.f_back
    table = sqlmod.main_table(sql)
    if relation is None:
        relation = relations.from_sql(table, sql)
    path = f"{outer_serializer}.{'.'.join(reversed(fields))}" if fields else None
    return Origin(call_site=call_site, table=table, relation=relation, serializer_path=path)
