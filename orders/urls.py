from django.urls import path

from orders import views

urlpatterns = [
    path("orders", views.OrderListCreateApi.as_view(), name="order-list"),
    path("orders/<uuid:order_id>", views.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/cancel", views.OrderCancelApi.as_view(), name="order-cancel"),
]
