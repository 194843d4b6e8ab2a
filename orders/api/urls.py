from django.urls import URLPattern, URLResolver, path

from . import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("orders/", views.OrderListCreateView.as_view(), name="order-list"),
    path(
        "orders/customer-stats/",
        views.CustomerOrderStatsView.as_view(),
        name="order-customer-stats",
    ),
    path("orders/<uuid:order_id>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/items/", views.OrderItemsView.as_view(), name="order-items"),
    path(
        "orders/<uuid:order_id>/items/<uuid:product_id>/",
        views.OrderItemView.as_view(),
        name="order-item",
    ),
    path(
        "orders/<uuid:order_id>/shipping-address/",
        views.OrderShippingAddressView.as_view(),
        name="order-shipping-address",
    ),
    path("orders/<uuid:order_id>/confirm/", views.OrderConfirmView.as_view(), name="order-confirm"),
    path("orders/<uuid:order_id>/cancel/", views.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<uuid:order_id>/ship/", views.OrderShipView.as_view(), name="order-ship"),
    path("orders/<uuid:order_id>/deliver/", views.OrderDeliverView.as_view(), name="order-deliver"),
    path("orders/<uuid:order_id>/refund/", views.OrderRefundView.as_view(), name="order-refund"),
    path("orders/<uuid:order_id>/events/", views.OrderEventsView.as_view(), name="order-events"),
    path("orders/<uuid:order_id>/notes/", views.OrderNotesView.as_view(), name="order-notes"),
    path("orders/<uuid:order_id>/history/", views.OrderHistoryView.as_view(), name="order-history"),
]
