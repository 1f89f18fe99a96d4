"""Liveness and readiness: plain Django views, outside DRF's authentication."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, JsonResponse

from perf.budgets import query_budgets
from shelfwise.db import replica


@query_budgets(GET=0)
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no database."""
    return JsonResponse({"status": "ok"})


@query_budgets(GET=1)  # SELECT 1
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers a query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return JsonResponse({"status": "unavailable", "database": type(exc).__name__}, status=503)
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    if replica.configured():
        # Not a readiness condition: a replica that is down or behind is skipped.
        health = replica.replica_health(force=True)
        body["replica"] = "ok" if health.usable else (health.error or "lagging")
        body["replica_lag_seconds"] = health.lag_seconds
    return JsonResponse(body)


def no_page_of_its_own(request: HttpRequest, content_type_id: str, object_id: str) -> None:
    """The admin's "view on site" redirect, unmounted. Django's (contenttypes' shortcut)
    looks the object up by id through the base manager, whatever its tenant, before it
    finds that no model here has a page of its own (get_absolute_url): its two 404s told
    an operator whether another tenant's id exists. This one reads nothing."""
    raise Http404("No page of its own.")
