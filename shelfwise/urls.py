from django.contrib import admin
from django.urls import path

from shelfwise import views

urlpatterns = [
    path("api/v2/health", views.health, name="health"),
    path("api/v2/ready", views.ready, name="ready"),
    path("admin/", admin.site.urls),
]
