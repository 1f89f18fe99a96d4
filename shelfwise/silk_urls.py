"""silk's URLs, with guards around the pages that crash in django-silk 5.6.

- ``request/<id>/pyprofile/`` and ``request/<id>/json/`` look a request up with
  ``prof_file__isnull=False``, but a request recorded without the Python profiler has an
  empty name, not NULL: opening its file is a ValueError (a 500). Here: a 404.
- ``request/<id>/profiling/`` answers POST with a method that takes no ``request_id``: a
  TypeError (a 500). Its filter form belongs to the global profiling page; here a POST
  is a 405.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern
from django.views.decorators.http import require_safe
from silk import urls as silk_urls
from silk.auth import login_possibly_required, permissions_possibly_required
from silk.models import Request

app_name = silk_urls.app_name

View = Callable[..., HttpResponse]


def _with_profile_file(view: View) -> View:
    @login_possibly_required
    @permissions_possibly_required
    @wraps(view)
    def guarded(request: HttpRequest, request_id: Any, **kwargs: Any) -> HttpResponse:
        if not Request.objects.filter(pk=request_id).exclude(prof_file="").exists():
            raise Http404("This request was recorded without a profile.")
        return view(request, request_id=request_id, **kwargs)

    return guarded


_GUARDS: dict[str, Callable[[View], View]] = {
    "request_profile_download": _with_profile_file,
    "request_profile_dot": _with_profile_file,
    "request_profiling": require_safe,
}


def _guarded(entry: URLPattern) -> URLPattern:
    guard = _GUARDS.get(entry.name or "")
    if guard is None:
        return entry
    return URLPattern(entry.pattern, guard(entry.callback), entry.default_args, entry.name)


urlpatterns = [_guarded(entry) for entry in silk_urls.urlpatterns]
