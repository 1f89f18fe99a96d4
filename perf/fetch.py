"""The fetch mode that relation bundles apply to their querysets, chosen per profile.

A selector's bundle (``with_detail_relations()``...) loads what its serializer needs; any
other lazy relation or deferred field is a bug. ``FETCH_RAISE`` (dev, tests) makes that
bug fail at the exact line that touched it, with the N+1 detector's report: the relation,
the project call site, the serializer field and the fix (``FETCH_RAISE_EXPLAINED``, which
raises Django's ``FieldFetchBlocked``). ``FETCH_PEERS`` (staging, prod) turns the same bug
into one batched query for all the instances of the page instead of one per row, so a
miss degrades gracefully instead of becoming a 500 or an N+1.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import FieldFetchBlocked
from django.db import models
from django.db.models import FETCH_ONE, FETCH_PEERS
from django.db.models.fetch_modes import FetchMode
from django.db.models.query_utils import DeferredAttribute

from perf import relations
from perf.callsite import Stack, walk
from perf.conf import perf_settings


class FetchBlocked(FieldFetchBlocked):
    """Django's FieldFetchBlocked, with what to change to avoid the fetch."""

    def __init__(self, message: str, *, fix: str, call_site: str | None) -> None:
        super().__init__(message)
        self.fix = fix
        self.call_site = call_site


class ExplainedFetchRaise(FetchMode):
    """Django's ``FETCH_RAISE``, whose error says which relation to load, where and how.

    A missing ``prefetch_related`` of a collection does not itself raise (Django's related
    managers query whatever the mode): the rows it loads one owner at a time inherit the
    mode, and the first relation touched on one of them raises. The report then names the
    collection that was not prefetched, found on the stack, rather than that field.
    """

    __slots__ = ()

    def fetch(self, fetcher: Any, instance: models.Model) -> None:
        stack = walk(sys._getframe(1), row=instance)
        field = fetcher.field
        blocked = f"{type(instance).__qualname__}.{field.name}"
        target, fix = _diagnose(fetcher, instance, stack)
        lines = [f"Fetching of {blocked} blocked (fetch mode FETCH_RAISE): {target}"]
        if stack.call_site:
            lines.append(f"  call site: {stack.call_site}")
        if stack.serializer_path:
            lines.append(f"  serializer field: {stack.serializer_path}")
        lines.append(f"  fix: {fix}")
        raise FetchBlocked("\n".join(lines), fix=fix, call_site=stack.call_site) from None

    def __reduce__(self) -> str:
        return "FETCH_RAISE_EXPLAINED"


FETCH_RAISE_EXPLAINED = ExplainedFetchRaise()


def _diagnose(fetcher: Any, instance: models.Model, stack: Stack) -> tuple[str, str]:
    """What was not loaded, and the fix."""
    label = instance._meta.label
    querying = stack.queryset
    if querying is not None and querying._hints.get("instance") is instance:
        # Raised while a related manager of this row built its query (reading the row's
        # key or tenant): the collection itself was not prefetched.
        collection = relations.from_queryset(querying)
        if collection is not None:
            return (
                f"relation {collection.model}.{collection.name} ({collection.kind}) was not "
                f"prefetched: it was being queried for one {collection.model} at a time",
                collection.fix,
            )
    if isinstance(fetcher, DeferredAttribute):
        name = fetcher.field.name
        return (
            f"the deferred field {label}.{name} was read",
            f'drop "{name}" from defer(), or add it to only(), on the {label} queryset',
        )
    relation = relations.from_descriptor(fetcher)
    if relation is None:
        name = fetcher.field.name
        return f"{label}.{name} was not loaded", f'load "{name}" on the {label} queryset'
    source = stack.row_source
    collection = relations.from_queryset(source) if source is not None else None
    if collection is None:
        return f"relation {relation.model}.{relation.name} ({relation.kind})", relation.fix
    manager = f"{type(instance).__name__}.{instance._meta.default_manager.name}"  # type: ignore[union-attr]
    load = "select_related" if relation.single_valued else "prefetch_related"
    shaped = f'Prefetch("{collection.name}", queryset={manager}.{load}("{relation.name}"))'
    # prefetch_related() hands each owner a queryset marked done. (Not its hints: the
    # querysets of one prefetch share one hints dict, naming the last owner.)
    if source._prefetch_done:
        # The collection was prefetched, but its queryset left this relation out.
        return (
            f"relation {relation.model}.{relation.name} ({relation.kind}), on the rows of "
            f"the prefetched {collection.model}.{collection.name}",
            f'{load}("{relation.name}") in the prefetch of "{collection.name}": '
            f"{shaped} on the {collection.model} queryset",
        )
    return (
        f"relation {collection.model}.{collection.name} ({collection.kind}) was not "
        f"prefetched: its rows were queried one {collection.model} at a time, without "
        f"their {relation.name}",
        f"prefetch_related({shaped}) on the {collection.model} queryset",
    )


_MODES: dict[str, FetchMode] = {
    "FETCH_ONE": FETCH_ONE,
    "FETCH_PEERS": FETCH_PEERS,
    "FETCH_RAISE": FETCH_RAISE_EXPLAINED,
}


def bundle_fetch_mode() -> FetchMode:
    return _MODES[perf_settings().FETCH_MODE]
