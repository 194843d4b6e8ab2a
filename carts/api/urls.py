from django.urls import URLPattern, URLResolver, path, register_converter

from .views import (
    CartCheckoutView,
    CartCreateView,
    CartDetailView,
    CartItemDetailView,
    CartItemsView,
)


class SessionIdConverter:
    """token_urlsafe(32) gives 43 characters; anything unlike a token is simply not found."""

    regex = r"[A-Za-z0-9_-]{16,128}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SessionIdConverter, "cart_sid")

urlpatterns: list[URLPattern | URLResolver] = [
    path("carts/", CartCreateView.as_view(), name="cart-create"),
    path("carts/<cart_sid:session_id>/", CartDetailView.as_view(), name="cart-detail"),
    path("carts/<cart_sid:session_id>/items/", CartItemsView.as_view(), name="cart-items"),
    path("carts/<cart_sid:session_id>/checkout/", CartCheckoutView.as_view(), name="cart-checkout"),
    path(
        "carts/<cart_sid:session_id>/items/<uuid:product_id>/",
        CartItemDetailView.as_view(),
        name="cart-item-detail",
    ),
]
