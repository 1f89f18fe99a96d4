"""A URLconf for perf's budget tests: one view of each kind, budgeted or not."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views import View

from perf.budgets import query_budgets


@query_budgets(GET=2)
def budgeted(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})


def unbudgeted(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})


@query_budgets(GET=1)  # its POST has none
class PartlyBudgeted(View):
    def get(self, request: HttpRequest, item_id: int) -> JsonResponse:
        return JsonResponse({})

    def post(self, request: HttpRequest, item_id: int) -> JsonResponse:
        return JsonResponse({})


nested = [
    path("items/<int:item_id>", PartlyBudgeted.as_view()),
    path("plain", unbudgeted),
]

urlpatterns = [
    path("api/budgeted", budgeted),
    path("api/", include(nested)),
    path("elsewhere", unbudgeted),
]
