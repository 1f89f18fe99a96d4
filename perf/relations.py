"""Map a repeated SQL statement back to the model relation that is probably loading it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.apps import apps
from django.db import models

_WHERE_COLUMN = re.compile(r'\bWHERE\s+\(?\s*"(\w+)"\."(\w+)"\s*(?:=|IN\b|= ANY)', re.IGNORECASE)


@dataclass(frozen=True)
class Relation:
    model: str  # "catalog.Book"
    name: str  # the attribute to load: "author", "genres", "items"
    kind: str  # "forward foreign key", "reverse foreign key", "many-to-many", ...

    @property
    def fix(self) -> str:
        if self.kind in ("forward foreign key", "one-to-one", "reverse one-to-one"):
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
