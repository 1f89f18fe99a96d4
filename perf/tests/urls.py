"""A URLconf for perf's own tests: views with a known number of queries or CPU work."""

import time

from django.db import connection
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import include, path

from perf.metrics import metrics_view


def run_queries(request: HttpRequest, n: int) -> JsonResponse:
    with connection.cursor() as cursor:
        for i in range(n):
            cursor.execute("SELECT %s", [i])
    return JsonResponse({"ran": n})


def orm_queries(request: HttpRequest, n: int) -> JsonResponse:
    from django.contrib.auth.models import Group

    found = [Group.objects.filter(name=f"g{i}").exists() for i in range(n)]
    return JsonResponse({"found": sum(found)})


def lazy_authors(request: HttpRequest) -> JsonResponse:
    from catalog.models import Book

    return JsonResponse(
        {"authors": [b.author.name for b in Book.objects.across_tenants("test").all()]}
    )


def streamed(request: HttpRequest, n: int) -> StreamingHttpResponse:
    from django.contrib.auth.models import Group

    def body():
        for i in range(n):
            yield f"{Group.objects.filter(name=f'g{i}').exists()}\n".encode()

    return StreamingHttpResponse(body())


def burn(rounds: int) -> int:
    """A fixed amount of pure-Python CPU work (no I/O, no allocation growth)."""
    total = 0
    for i in range(rounds):
        total = (total + i * i) % 1_000_003
    return total


def burning(request: HttpRequest, rounds: int) -> JsonResponse:
    return JsonResponse({"burnt": burn(rounds)})


def sleeping(request: HttpRequest, ms: int) -> JsonResponse:
    time.sleep(ms / 1000)
    return JsonResponse({"slept_ms": ms})


def streamed_burn(request: HttpRequest, rounds: int) -> StreamingHttpResponse:
    def body():
        yield b"start\n"
        yield f"{burn(rounds)}\n".encode()

    return StreamingHttpResponse(body())


def broken(request: HttpRequest) -> JsonResponse:
    from catalog.models import Book

    [b.author.name for b in Book.objects.across_tenants("test").all()]  # an N+1, then a failure
    raise RuntimeError("boom")


urlpatterns = [
    path("streamed/<int:n>", streamed),
    path("broken", broken),
    path("burn/<int:rounds>", burning),
    path("sleep/<int:ms>", sleeping),
    path("streamed-burn/<int:rounds>", streamed_burn),
    path("queries/<int:n>", run_queries),
    path("orm/<int:n>", orm_queries),
    path("lazy", lazy_authors),
    path("metrics", metrics_view),
    path("silk/", include("silk.urls", namespace="silk")),
]
