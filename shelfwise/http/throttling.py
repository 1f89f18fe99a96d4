"""Request throttles, DRF's DEFAULT_THROTTLE_CLASSES.

The apps never import this module (imports run from ``shelfwise`` to the apps): their views
pick it up through REST_FRAMEWORK settings. It must not import ``rest_framework.views``
(directly or through drf_spectacular): DRF resolves the setting that points here while its
view classes are being defined.
"""

from __future__ import annotations

from typing import Any

import structlog
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle

logger = structlog.get_logger("shelfwise.throttling")


def _is_cache_failure(exc: BaseException) -> bool:
    """An error of the cache's backend: the network's, or redis-py's own (told by its
    module, so that this module never imports redis, which imports OpenTelemetry when
    installed)."""
    return isinstance(exc, ConnectionError | TimeoutError) or type(exc).__module__.startswith(
        "redis."
    )


class TenantUserRateThrottle(UserRateThrottle):
    """Per-user rate; the cache key names the tenant too, so no key is shared by tenants.

    The counters live in the default cache: Redis when REDIS_URL is set, so the limit
    holds across every worker and node. If the cache fails, the request goes through
    (logged): a throttle protects the API and must not be what takes it down.
    """

    scope = "tenant_user"

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return bool(super().allow_request(request, view))
        except Exception as exc:
            if not _is_cache_failure(exc):
                raise
            logger.warning("throttle_cache_unavailable", error=repr(exc)[:200])
            return True

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            return None  # every API view requires a token: 401 comes before throttling
        return self.cache_format % {"scope": self.scope, "ident": f"{user.tenant_id}:{user.pk}"}
