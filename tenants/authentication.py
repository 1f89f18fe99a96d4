"""``Authorization: Bearer <token>``: the token alone decides the user and the tenant."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from tenants.models import ApiToken, Tenant, User
from tenants.selectors import api_token_get_active
from tenants.services import api_token_touch, auth_failure_record
from tenants.throttling import client_address, failure_rate


class AuthFailuresThrottled(exceptions.Throttled):
    default_detail = "Too many failed authentications from this address."
    default_code = "auth_failures_throttled"


def auth_failed(request: Request, message: str) -> exceptions.APIException:
    """Count the failure against the client address; the error to raise: 401, or 429 past
    the limit (``API_AUTH_FAILURE_RATE``)."""
    rate = failure_rate()
    count = auth_failure_record(address=client_address(request), window_seconds=rate.window_seconds)
    if count.failures > rate.limit:
        return AuthFailuresThrottled(wait=max(count.seconds_left, 1))
    return exceptions.AuthenticationFailed(message)


class BearerTokenAuthentication(BaseAuthentication):
    """Resolves token, user and tenant in one query (``api_token_get_active``).

    ``request.user`` is the token's user and ``request.auth`` the ApiToken, whose
    ``tenant`` is loaded; ``request_tenant(request)`` is the way views read it. Failed
    attempts are counted per client address (``tenants.throttling``): past the limit,
    every attempt from that address is a 429 until its window ends.
    """

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise auth_failed(request, "Malformed Authorization header.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise auth_failed(request, "Invalid token.") from None
        token = api_token_get_active(raw_key=raw_key, client_address=client_address(request))
        if token is None:
            raise auth_failed(request, "Invalid token.")
        locked_for = token.lockout_left  # type: ignore[attr-defined]  # the selector's annotation
        if locked_for is not None:
            raise AuthFailuresThrottled(wait=max(locked_for.total_seconds(), 1))
        user = token.user
        user.tenant = token.tenant  # same row (the selector checks): no second query
        api_token_touch(token=token)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        # A value here makes DRF answer 401 (not 403) when credentials are missing.
        return 'Bearer realm="api"'


def request_tenant(request: Request) -> Tenant:
    """The tenant of an authenticated API request (from its token, never from input)."""
    token = request.auth
    if not isinstance(token, ApiToken):
        raise exceptions.NotAuthenticated()
    return token.tenant
