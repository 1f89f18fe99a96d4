"""Request throttles, DRF's DEFAULT_THROTTLE_CLASSES.

The apps never import this module (imports run from ``shelfwise`` to the apps): their views
pick it up through REST_FRAMEWORK settings. It must not import ``rest_framework.views``
(directly or through drf_spectacular): DRF resolves the setting that points here while its
view classes are being defined.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle


class TenantUserRateThrottle(UserRateThrottle):
    """Per-user rate; the cache key names the tenant too, so no key is shared by tenants."""

    scope = "tenant_user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            return None  # every API view requires a token: 401 comes before throttling
        return self.cache_format % {"scope": self.scope, "ident": f"{user.tenant_id}:{user.pk}"}
