"""Session authentication for the admin.

Logins name the tenant, because usernames are unique per tenant: an operator of
``corner-books`` called ``alice`` logs in as ``corner-books/alice``; a user without a
tenant (a superuser) logs in by the bare username. Neither slugs nor usernames can contain
``/``, so a login maps to at most one user, and a wrong or missing tenant prefix finds no
one. The lookup is the user model's natural key (``tenants.models.UserManager``), which
ModelBackend.authenticate calls (keeping its timing-equalising hash for unknown logins),
and which createsuperuser and changepassword use too.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from tenants.models import User


class TenantModelBackend(ModelBackend):
    """ModelBackend with tenant logins (above), whose per-request user load joins the
    tenant: admin scoping reads ``user.tenant`` (is it active?) on every page without a
    second query."""

    def get_user(self, user_id: Any) -> User | None:
        user = User.objects.select_related("tenant").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
