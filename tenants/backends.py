"""Session authentication for the admin, loading the user's tenant in the same query."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from tenants.models import User


class TenantModelBackend(ModelBackend):
    """ModelBackend whose per-request user load joins the tenant: admin scoping reads
    ``user.tenant`` (is it active?) on every page without a second query."""

    def get_user(self, user_id: Any) -> User | None:
        user = User.objects.select_related("tenant").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
