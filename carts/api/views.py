"""Cart endpoints. The session id in the URL is the capability; see carts.services for who
may use which cart. Every answer that shows a cart shows all of it, freshly priced."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from carts import services
from carts.checkout import cart_checkout
from carts.exceptions import (
    CartAlreadyCheckedOut,
    CartCheckoutInProgress,
    CartEmpty,
    PriceChanged,
)
from carts.repository import StoredCart
from carts.selectors import cart_view
from commerce_project.api.actors import actor_of
from commerce_project.api.idempotency import current_idempotency_token, idempotent
from commerce_project.api.permissions import is_staff
from commerce_project.api.schema import location_header, raises
from inventory.exceptions import OutOfStock
from orders.domain import ShippingAddress

from .serializers import (
    CartItemAddSerializer,
    CartItemSetSerializer,
    CartSerializer,
    CheckoutResultSerializer,
    CheckoutSerializer,
    cart_item_add_input,
)


def _user_id(request: Request) -> UUID | None:
    user = request.user
    return user.pk if user and user.is_authenticated else None


# The same few products' ids are written out on every cart answer: each one once.
_product_id_text = functools.lru_cache(maxsize=8192)(str)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _cart_body(cart: StoredCart) -> dict[str, Any]:
    """The CartSerializer shape, built by hand: the cart is the hottest read of the API and
    a DRF serializer per line costs more than everything else the request does."""
    view = cart_view(cart=cart)
    return {
        "session_id": view.session_id,
        "owner_id": str(view.owner_id) if view.owner_id else None,
        "status": view.status.value,
        "lines": [
            {
                "product_id": _product_id_text(line.product_id),
                "sku": line.sku,
                "name": line.name,
                "unit_price": _money(line.unit_price),
                "currency": line.currency,
                "quantity": line.quantity,
                "line_total": _money(line.line_total),
                "available": line.available,
                "active": line.active,
            }
            for line in view.lines
        ],
        "total": _money(view.total),
        "currency": view.currency,
        "item_count": view.item_count,
        "expires_at": (
            view.expires_at.isoformat().replace("+00:00", "Z") if view.expires_at else None
        ),
    }


def _render(cart: StoredCart, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(_cart_body(cart), status=status_code)


class CartViewBase(APIView):
    # Anonymous carts are allowed; ownership is checked by the services.
    permission_classes = [permissions.AllowAny]


class CartCreateView(CartViewBase):
    @extend_schema(request=None, responses={201: CartSerializer}, parameters=[location_header(201)])
    @idempotent
    def post(self, request: Request) -> Response:
        cart = services.cart_create(
            user_id=_user_id(request), idempotency_token=current_idempotency_token()
        )
        response = _render(cart, status.HTTP_201_CREATED)
        response["Location"] = reverse("cart-detail", kwargs={"session_id": cart.session_id})
        return response


class CartDetailView(CartViewBase):
    @extend_schema(responses={200: CartSerializer})
    def get(self, request: Request, session_id: str) -> Response:
        cart = services.cart_get(
            session_id=session_id, user_id=_user_id(request), is_staff=is_staff(request.user)
        )
        return _render(cart)

    @extend_schema(responses={204: None})
    @raises(CartCheckoutInProgress)
    def delete(self, request: Request, session_id: str) -> Response:
        services.cart_delete(session_id=session_id, user_id=_user_id(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartItemsView(CartViewBase):
    @extend_schema(request=CartItemAddSerializer, responses={200: CartSerializer})
    @raises(OutOfStock, CartCheckoutInProgress)
    @idempotent(anonymous_by_path=True)
    def post(self, request: Request, session_id: str) -> Response:
        product_id, quantity = cart_item_add_input(request.data)
        cart = services.cart_item_add(
            session_id=session_id,
            user_id=_user_id(request),
            product_id=product_id,
            quantity=quantity,
            idempotency_token=current_idempotency_token(),
        )
        return _render(cart)


class CartItemDetailView(CartViewBase):
    @extend_schema(request=CartItemSetSerializer, responses={200: CartSerializer})
    @raises(OutOfStock, CartCheckoutInProgress)
    def put(self, request: Request, session_id: str, product_id: UUID) -> Response:
        serializer = CartItemSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cart = services.cart_item_set(
            session_id=session_id,
            user_id=_user_id(request),
            product_id=product_id,
            quantity=serializer.validated_data["quantity"],
        )
        return _render(cart)

    @extend_schema(responses={200: CartSerializer})
    @raises(CartCheckoutInProgress)
    def delete(self, request: Request, session_id: str, product_id: UUID) -> Response:
        cart = services.cart_item_remove(
            session_id=session_id, user_id=_user_id(request), product_id=product_id
        )
        return _render(cart)


class CartCheckoutView(APIView):
    """A signed-in customer turns the cart into a confirmed order; the saga takes it from
    there. 202: this call created the order, CONFIRMED, payment still to come. 200 with
    `already_checked_out: true`: the cart had been checked out before and this is that
    order, untouched by this request's data."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=CheckoutSerializer,
        responses={202: CheckoutResultSerializer, 200: CheckoutResultSerializer},
        parameters=[location_header(200, 202)],
    )
    @raises(CartEmpty, PriceChanged, OutOfStock, CartCheckoutInProgress, CartAlreadyCheckedOut)
    @idempotent
    def post(self, request: Request, session_id: str) -> Response:
        serializer = CheckoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user_id = _user_id(request)
        if user_id is None:  # IsAuthenticated already refused anonymous callers
            raise NotAuthenticated()
        result = cart_checkout(
            session_id=session_id,
            user_id=user_id,
            payment_token=data["payment_token"],
            shipping_address=ShippingAddress(**data["shipping_address"]),
            expected_total=data["expected_total"],
            actor=actor_of(request),
        )
        order_url = reverse("order-detail", kwargs={"order_id": result.order_id})
        body = {
            "order_id": str(result.order_id),
            "saga_id": str(result.saga_id),
            "status": result.status,
            "total": _money(result.total),
            "currency": result.currency,
            "order_url": order_url,
            "saga_url": reverse("saga-detail", kwargs={"saga_id": result.saga_id}),
            "already_checked_out": not result.created,
        }
        code = status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK
        return Response(body, status=code, headers={"Location": order_url})
