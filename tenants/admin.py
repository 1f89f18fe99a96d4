"""The tenants app in the admin: the login form (tenant logins) and API tokens
(tenant-scoped, read-only, revocable).

Tokens are issued by ``manage.py issue_token`` (the raw key is shown once, only its hash
is stored), so the admin adds none and never shows the hash; operators revoke them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.db.models import QuerySet
from django.http import HttpRequest

from tenants.admin_scoping import TenantScopedAdminMixin, is_superuser
from tenants.models import LOGIN_SEPARATOR, ApiToken, Tenant, User
from tenants.services import api_token_revoke


class TenantLoginForm(AdminAuthenticationForm):
    """The admin login, in tenant logins (tenants/backends.py): ``<tenant-slug>/<username>``,
    or a bare username for a superuser. Longer than a username, so the browser's maxlength
    grows to fit."""

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.label = "Login"
        field.max_length = (
            Tenant._meta.get_field("slug").max_length  # type: ignore[operator]
            + len(LOGIN_SEPARATOR)
            + User._meta.get_field("username").max_length
        )
        field.widget.attrs["maxlength"] = field.max_length
        field.widget.attrs["placeholder"] = f"tenant{LOGIN_SEPARATOR}username"


admin.site.login_form = TenantLoginForm

TOKEN_FIELDS = ("key_prefix", "name", "user", "created_at", "last_used_at", "revoked_at")


class RevokedListFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        match self.value():
            case "active":
                return queryset.filter(revoked_at__isnull=True)
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = TOKEN_FIELDS
    list_select_related = ("user",)
    list_filter = (RevokedListFilter,)
    search_fields = ("key_prefix", "name")
    ordering = ("-created_at", "-id")
    fields = TOKEN_FIELDS
    readonly_fields = TOKEN_FIELDS
    list_per_page = 50
    show_full_result_count = False
    # Tokens are issued by manage.py issue_token; revoked instead of deleted: the row stays
    # as a record.
    read_only = True
    actions = ("revoke",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        related = ("user", "tenant") if is_superuser(request) else ("user",)
        return super().get_queryset(request).select_related(*related)

    @admin.action(description="Revoke selected tokens", permissions=["operator"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        # One UPDATE per live token (the service's unit); tokens are few per tenant.
        tokens = list(
            queryset.filter(revoked_at__isnull=True).select_related(None).only("id", "revoked_at")
        )
        for token in tokens:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {len(tokens)} tokens.", messages.SUCCESS)
