"""``Authorization: Bearer <token>``: the token alone decides the user and the tenant."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from tenants.models import ApiToken, Tenant, User
from tenants.selectors import api_token_get_active
from tenants.services import api_token_touch


class BearerTokenAuthentication(BaseAuthentication):
    """Resolves token, user and tenant in one query (``api_token_get_active``).

    ``request.user`` is the token's user and ``request.auth`` the ApiToken, whose
    ``tenant`` is loaded; ``request_tenant(request)`` is the way views read it.
    """

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = api_token_get_active(raw_key=raw_key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
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
