from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from perf.metrics import metrics_view
from shelfwise import errors, views

urlpatterns = [
    path("api/v2/health", views.health, name="health"),
    path("api/v2/ready", views.ready, name="ready"),
    path("api/v2/", include("catalog.urls")),
    path("api/v2/", include("orders.urls")),
]

if settings.API_DOCS_PUBLIC:  # else these paths are the JSON 404 below
    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
        path(
            "api/redoc/",
            # The stock template loads web fonts from another host; this one does not.
            SpectacularRedocView.as_view(url_name="schema", template_name="shelfwise/redoc.html"),
            name="redoc",
        ),
    ]

urlpatterns += [
    # Last: any other /api/ path is a JSON 404, with DEBUG on or off.
    re_path(r"^api/", errors.api_not_found),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
]

if settings.SILK_ENABLED:
    urlpatterns.append(path("silk/", include("silk.urls", namespace="silk")))

handler400 = "shelfwise.errors.handler400"
handler404 = "shelfwise.errors.handler404"
handler500 = "shelfwise.errors.handler500"
