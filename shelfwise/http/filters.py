"""Filter backends, DRF's DEFAULT_FILTER_BACKENDS.

The apps never import this module (imports run from ``shelfwise`` to the apps): their views
pick it up through REST_FRAMEWORK settings. It must not import ``rest_framework.views``
(directly or through drf_spectacular): DRF resolves the setting that points here while its
view classes are being defined.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, except that a filter sent blank (``?publisher=``) is a 400,
    and a FilterSet with ``inert_without_params = True`` is not built when the request
    sends none of its parameters.

    django-filter skips blank values, so a client that forgot to fill one in would get the
    unfiltered list, and the schema (a uuid, an enum, a price) already calls blank invalid.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            params = request.query_params
            blank = {
                name: ["This field may not be blank."]
                for name in filterset_class.base_filters
                if name in params and not params[name].strip()
            }
            if blank:
                raise ValidationError(blank)
            if getattr(filterset_class, "inert_without_params", False) and not any(
                name in params for name in filterset_class.base_filters
            ):
                # Nothing to filter: skip building the FilterSet and its form, a sixth of
                # a catalog page's Python time. Only for filtersets that declare that no
                # filter applies without its parameter (the orders' default does).
                return queryset
        return super().filter_queryset(request, queryset, view)
