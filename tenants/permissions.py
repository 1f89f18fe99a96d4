"""Roles: members browse, search and order; operators also manage the catalog."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from tenants.models import ApiToken


def _is_tenant_user(request: Request) -> bool:
    return (
        isinstance(request.auth, ApiToken)
        and request.user is not None
        and request.user.tenant_id == request.auth.tenant_id
    )


class IsTenantMember(BasePermission):
    """Any user of a tenant, authenticated by an API token (the default)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return _is_tenant_user(request)


class IsOperator(BasePermission):
    message = "This action needs the operator role."

    def has_permission(self, request: Request, view: Any) -> bool:
        return _is_tenant_user(request) and request.user.is_operator


class IsOperatorOrReadOnly(BasePermission):
    """Reads for every tenant user; writes for operators."""

    message = "Changing the catalog needs the operator role."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _is_tenant_user(request):
            return False
        if request.method not in view.allowed_methods:
            return True  # not a write but no method at all: the view answers 405
        return request.method in SAFE_METHODS or request.user.is_operator
