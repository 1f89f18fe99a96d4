"""The base of every ShelfWise API view: the shared defaults, and one way to answer a page.

A view states only what it does (parse, call one selector or service, render); what every
view shares is decided here:

- no pagination and no filter backends, unless the view says so: ``paginated = True``
  (or ``cursor_pagination = True``, which implies it) gives it the project's paginator
  (DRF's DEFAULT_PAGINATION_CLASS), and a ``filterset_class`` gives it the project's
  filter backends (DEFAULT_FILTER_BACKENDS);
- ``schema_model``: the model whose empty queryset (``objects.none()``, never evaluated)
  tells schema generation and the filter backends what the view lists.

The apps reach the paginator and the filter backends through DRF's settings only (imports
run from ``shelfwise`` to the apps): GenericAPIView's own class attributes hold the
resolved defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from django.db.models import Model
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

# A page's renderer: one row to its JSON dict, or a serializer class (run with many=True).
PageRenderer = Callable[[Any], Any] | type[BaseSerializer]


class ApiView(GenericAPIView):
    pagination_class = None
    filter_backends: Sequence[type[Any]] = ()
    paginated: ClassVar[bool] = False
    # Also ``?cursor=`` keyset pages (read by the paginator and its schema parameters).
    cursor_pagination: ClassVar[bool] = False
    schema_model: ClassVar[type[Model] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.paginated or cls.cursor_pagination:
            cls.pagination_class = GenericAPIView.pagination_class
        if getattr(cls, "filterset_class", None) is not None:
            cls.filter_backends = GenericAPIView.filter_backends
        if cls.schema_model is not None:
            # The model for schema introspection and the filter backends only.
            cls.queryset = cls.schema_model._default_manager.none()

    def page_response(self, page: Sequence[Any], render: PageRenderer) -> Response:
        """The paginated response for ``page``: each row through ``render``, or the whole
        page through a serializer class.

        The view reads the page itself, ``self.page_response(self.paginate_queryset(rows),
        ...)``: the page's query then runs one frame below the view, and the query
        recorder's call sites (three project frames: the paginator's two, then the
        caller) name the view that built the queryset.
        """
        if isinstance(render, type) and issubclass(render, BaseSerializer):
            return self.get_paginated_response(render(page, many=True).data)
        return self.get_paginated_response([render(row) for row in page])
