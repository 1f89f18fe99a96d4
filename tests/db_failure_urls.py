"""Test-only URLs: the project's, plus two views that run a slow query (pg_sleep), one
through DRF and one plain Django view, to meet statement_timeout on demand."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shelfwise.urls import handler400, handler404, handler500
from shelfwise.urls import urlpatterns as project_urls

SLEEP_SQL = "SELECT pg_sleep(30)"


class SleepApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()

    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute(SLEEP_SQL)
        return Response({"slept": True})


def sleep_view(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute(SLEEP_SQL)
    return JsonResponse({"slept": True})


urlpatterns = [
    path("api/v2/test-sleep", SleepApi.as_view()),
    path("test-sleep", sleep_view),
    *project_urls,
]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
