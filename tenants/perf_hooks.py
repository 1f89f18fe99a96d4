"""Serving a hot path as the API serves it, for ``manage.py explain``: a GET through the
project's URLs and the view that answers it, as one of the tenant's users.

The token is an unsaved ApiToken of that user: the view sees what authentication hands
it, without a token row being written (or looked up) for the occasion.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import resolve
from rest_framework.test import APIRequestFactory, force_authenticate

from tenants.models import ApiToken, Role, Tenant, User


def tenant_user(tenant: Tenant, role: str = Role.MEMBER) -> User:
    # Seeded tenants have one operator and one member, who placed the past orders.
    user = User.objects.filter(tenant=tenant, role=role).order_by("username").first()
    if user is None:
        raise LookupError(f"tenant {tenant.slug} has no {role}")
    return user


def api_get(path: str, *, tenant: Tenant, user: User) -> Any:
    """The response of ``GET path`` (a path with its query string) for ``user``; a
    streamed body is read to its end, so every statement behind it runs."""
    request = APIRequestFactory().get(path, HTTP_HOST=_allowed_host())
    force_authenticate(request, user=user, token=ApiToken(tenant=tenant, user=user))
    match = resolve(urlsplit(path).path)
    response = match.func(request, *match.args, **match.kwargs)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}")
    if getattr(response, "streaming", False):
        for _ in response.streaming_content:
            pass
    return response


def _allowed_host() -> str:
    """A host name this deployment answers to (links in responses are built from it)."""
    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".")
    return "localhost"


def path_of(url: str) -> str:
    """The path and query string of a link the API answered with (``next``)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
