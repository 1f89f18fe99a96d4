"""Map a query back to the model relation that is loading it.

In order of trust: the related descriptor on the stack (a forward load), the queryset
being evaluated (a related manager's, or one filtered on a foreign key per row), and last
the SQL text alone.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import Exact, In
from django.db.models.sql.where import AND, WhereNode

SINGLE_VALUED = ("forward foreign key", "one-to-one", "reverse one-to-one")
_WHERE_COLUMN = re.compile(r'\bWHERE\s+\(?\s*"(\w+)"\."(\w+)"\s*(?:=|IN\b|= ANY)', re.IGNORECASE)


@dataclass(frozen=True)
class Relation:
    model: str  # "catalog.Book"
    name: str  # the attribute to load: "author", "genres", "items"
    kind: str  # "forward foreign key", "reverse foreign key", "many-to-many", ...

    @property
    def single_valued(self) -> bool:
        """One row per owner: loaded by a join (select_related), not a second query."""
        return self.kind in SINGLE_VALUED

    @property
    def fix(self) -> str:
        if self.single_valued:
            return f'select_related("{self.name}") on the {self.model} queryset'
        return (
            f'prefetch_related("{self.name}") on the {self.model} queryset '
            f'(or Prefetch("{self.name}", queryset=...) to shape it)'
        )


def _model_for_table(table: str) -> type[models.Model] | None:
    for model in apps.get_models(include_auto_created=True):
        if model._meta.db_table == table:
            return model
    return None


def from_descriptor(descriptor: object) -> Relation | None:
    """A relation from a related-descriptor object found on the stack (forward loads)."""
    field = getattr(descriptor, "field", None)
    if isinstance(field, models.ForeignKey | models.OneToOneField):
        kind = "one-to-one" if field.one_to_one else "forward foreign key"
        return Relation(field.model._meta.label, field.name, kind)
    related = getattr(descriptor, "related", None)
    if isinstance(related, models.OneToOneRel):
        return Relation(
            related.model._meta.label, related.get_accessor_name() or "", "reverse one-to-one"
        )
    return None


def _filter_lookups(where: WhereNode) -> Iterator[Exact | In]:
    """The ``column = value`` / ``column IN (...)`` lookups that every row must satisfy."""
    if where.connector != AND or where.negated:
        return
    for child in where.children:
        if isinstance(child, WhereNode):
            yield from _filter_lookups(child)
        elif isinstance(child, Exact | In) and isinstance(child.lhs, Col):
            yield child


def _relation_of_fk(fk: models.Field[Any, Any], read: type[models.Model]) -> Relation | None:
    """The collection a filter on foreign key ``fk`` loads, reading ``read``'s rows: a
    reverse foreign key, or a many-to-many when ``fk`` belongs to the join table."""
    owner = fk.model
    if owner._meta.auto_created or owner is not read:
        for model in apps.get_models():
            for m2m in model._meta.many_to_many:
                if m2m.remote_field.through is not owner:
                    continue
                if m2m.m2m_field_name() == fk.name:
                    return Relation(model._meta.label, m2m.name, "many-to-many")
                if m2m.m2m_reverse_field_name() == fk.name:
                    accessor = m2m.remote_field.get_accessor_name() or ""
                    return Relation(m2m.related_model._meta.label, accessor, "many-to-many")
        return None
    parent = fk.related_model
    if fk.remote_field is None or parent is None or isinstance(parent, str):
        return None
    if fk.remote_field.hidden:  # related_name="+": no accessor to prefetch
        return None
    accessor = fk.remote_field.get_accessor_name() or ""
    kind = "reverse one-to-one" if fk.one_to_one else "reverse foreign key"
    return Relation(parent._meta.label, accessor, kind)


def _values(rhs: object) -> list[object]:
    if isinstance(rhs, list | tuple | set | frozenset):
        return list(rhs)
    return [rhs]


def from_queryset(queryset: Any, previous_params: Collection[object] = ()) -> Relation | None:
    """The relation a queryset loads per row, from its own filters (not the SQL text).

    A related manager's queryset (``author.books.all()``, ``book.genres.count()``) names
    its owner instance; among its foreign-key filters, the one pointing at that owner is
    the relation. A queryset built by hand per row (``Book.objects.filter(author=a)``,
    often behind a scoping filter such as ``tenant_id = t``) has no owner: the filter
    whose value changed since the previous run of the same statement
    (``previous_params``) is the one that follows the rows; a value that repeats (the
    tenant) scopes, it does not relate.
    """
    model = getattr(queryset, "model", None)
    query = getattr(queryset, "query", None)
    if model is None or query is None:
        return None
    candidates: list[tuple[Relation, list[object]]] = []
    for lookup in _filter_lookups(query.where):
        field = lookup.lhs.target
        if not (field.many_to_one or field.one_to_one) or not field.concrete:
            continue
        if hasattr(lookup.rhs, "resolve_expression"):  # a join or subquery, not a row's value
            continue
        relation = _relation_of_fk(field, model)
        if relation is not None:
            candidates.append((relation, _values(lookup.rhs)))
    owner = queryset._hints.get("instance")
    if isinstance(owner, models.Model):
        concrete = owner._meta.concrete_model
        labels = {owner._meta.label, concrete._meta.label if concrete else ""}
        owned = [r for r, _ in candidates if r.model in labels]
        if owned:
            return owned[0]
    previous = set(_hashable(previous_params))
    varying = [r for r, values in candidates if not set(_hashable(values)) <= previous]
    if len(varying) == 1:
        return varying[0]
    return None


def _hashable(values: Collection[object]) -> Iterator[object]:
    for value in values:
        try:
            hash(value)
        except TypeError:
            continue
        yield value


def from_sql(table: str | None, sql: str) -> Relation | None:
    """Guess the relation from the table read and the column of the first WHERE filter."""
    match = _WHERE_COLUMN.search(sql)
    if table is None or match is None:
        return None
    where_table, column = match.groups()
    where_model = _model_for_table(where_table)
    if where_model is None:
        return None
    fk = next(
        (
            f
            for f in where_model._meta.concrete_fields
            if getattr(f, "column", None) == column and f.is_relation
        ),
        None,
    )
    if fk is None:
        # Filtered on the primary key: a forward load of the table's model.
        target = _model_for_table(table)
        if target is not None and column == target._meta.pk.column:
            return _forward_candidate(target)
        return None
    if where_model._meta.auto_created or where_table != table:
        # Joined through an M2M table: find the M2M field that uses it.
        for model in apps.get_models():
            for m2m in model._meta.many_to_many:
                if m2m.remote_field.through is where_model and m2m.m2m_column_name() == column:
                    return Relation(model._meta.label, m2m.name, "many-to-many")
                if m2m.remote_field.through is where_model and m2m.m2m_reverse_name() == column:
                    accessor = m2m.remote_field.get_accessor_name() or ""
                    return Relation(m2m.related_model._meta.label, accessor, "many-to-many")
    # Filtered on a foreign key of the table read: a reverse foreign key manager.
    parent = fk.related_model
    if fk.remote_field is None or parent is None or isinstance(parent, str):
        return None
    accessor = fk.remote_field.get_accessor_name() or ""
    return Relation(parent._meta.label, accessor, "reverse foreign key")


def _forward_candidate(target: type[models.Model]) -> Relation | None:
    candidates = [
        f
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if isinstance(f, models.ForeignKey) and f.related_model is target
    ]
    if len(candidates) == 1:
        f = candidates[0]
        kind = "one-to-one" if f.one_to_one else "forward foreign key"
        return Relation(f.model._meta.label, f.name, kind)
    return None
