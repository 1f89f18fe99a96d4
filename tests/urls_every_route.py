"""The project's URLconf with silk mounted as in staging, for tests that walk every route."""

from django.urls import include, path

from shelfwise.urls import handler400, handler404, handler500, urlpatterns

if not any(str(entry.pattern) == "silk/" for entry in urlpatterns):
    urlpatterns = [*urlpatterns, path("silk/", include("shelfwise.silk_urls", namespace="silk"))]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
