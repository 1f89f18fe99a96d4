from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from perf.metrics import metrics_view
from shelfwise import views
from shelfwise.api_root import ApiRootApi
from shelfwise.http import errors
from shelfwise.http.methods import allow_methods
from shelfwise.http.schema_views import SchemaApi, SchemaDocsApi, SchemaRedocApi

# The admin's "View site" link: the API docs when they are served; else no link (the
# site's root is not a page).
admin.site.site_url = "/api/docs/" if settings.API_DOCS_PUBLIC else None

urlpatterns = [
    path("api/v2/health", allow_methods("GET")(views.health), name="health"),
    path("api/v2/ready", allow_methods("GET")(views.ready), name="ready"),
    path("api/v2/", ApiRootApi.as_view(), name="api-root"),
    path("api/v2/", include("catalog.urls")),
    path("api/v2/", include("orders.urls")),
]

if settings.API_DOCS_PUBLIC:  # else these paths are the JSON 404 below
    urlpatterns += [
        path("api/schema/", SchemaApi.as_view(), name="schema"),
        path("api/docs/", SchemaDocsApi.as_view(url_name="schema"), name="docs"),
        path(
            "api/redoc/",
            # The stock template loads web fonts from another host; this one does not.
            SchemaRedocApi.as_view(url_name="schema", template_name="shelfwise/redoc.html"),
            name="redoc",
        ),
    ]

urlpatterns += [
    # Last: any other /api/ path is a JSON 404, with DEBUG on or off.
    re_path(r"^api/", errors.api_not_found),
    # Before the admin's own "view on site" route, which it shadows (see the view).
    path("admin/r/<path:content_type_id>/<path:object_id>/", views.no_page_of_its_own),
    path("admin/", admin.site.urls),
    path("metrics", allow_methods("GET", renders="text/plain")(metrics_view), name="metrics"),
]

if settings.SILK_ENABLED:
    urlpatterns.append(path("silk/", include("shelfwise.silk_urls", namespace="silk")))

handler400 = "shelfwise.http.errors.handler400"
handler404 = "shelfwise.http.errors.handler404"
handler500 = "shelfwise.http.errors.handler500"
