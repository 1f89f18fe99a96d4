"""Which models a tenant owns: answered once, from the models themselves.

A model is tenant-owned when it has a ``tenant`` foreign key to tenants.Tenant: many rows
per tenant. A one-to-one ``tenant`` (catalog.TenantBookCount, whose key is the tenant) is
the tenant's own row, read by that key, not a row the tenant owns. The admin's scoping,
the fail-closed default managers' check, perf's tenant-scope guard (through tenants.apps)
and the schema tests all ask here.
"""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from tenants.models import Tenant

# Identity: a token's or a login's lookup is what finds the tenant (tenants.selectors,
# tenants.backends), so these are read before a tenant is known and their default managers
# are not the fail-closed queryset. They are tenant-owned all the same (the admin scopes
# them); a superuser, alone, is a user without a tenant.
IDENTITY_MODELS = frozenset({"tenants.User", "tenants.ApiToken"})


def is_tenant_owned(model: type[models.Model]) -> bool:
    """The model has a ``tenant`` foreign key (many-to-one) to tenants.Tenant."""
    try:
        field = model._meta.get_field("tenant")
    except FieldDoesNotExist:
        return False
    return bool(field.many_to_one and field.related_model is Tenant)


def tenant_owned_models(*, identity: bool = True) -> list[type[models.Model]]:
    """Every installed tenant-owned model, in ``apps.get_models()`` order; without the
    identity models (IDENTITY_MODELS) when ``identity`` is false: those left are the models
    whose every read must be scoped to a tenant."""
    return [
        model
        for model in apps.get_models()
        if is_tenant_owned(model) and (identity or model._meta.label not in IDENTITY_MODELS)
    ]
