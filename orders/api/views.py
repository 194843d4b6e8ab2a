"""Order endpoints. Thin: parse, check who may act, dispatch one command (or call one
selector), render the read model with `ETag: "<version>"`.

Commands accept `Idempotency-Key` (replayed responses) and `If-Match: "<version>"` (412 when
the order moved on). Someone else's order answers 404; a customer on a staff command 403.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast
from uuid import UUID, uuid4

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_project.api.actors import actor_of
from commerce_project.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from commerce_project.api.pagination import KeysetPagination
from commerce_project.api.permissions import IsStaff
from commerce_project.errors import InvalidInput
from eventstore.commands import dispatch
from orders import selectors
from orders.commands import (
    AddOrderItem,
    CancelOrder,
    ChangeOrderItemQuantity,
    ConfirmOrder,
    CreateOrder,
    DeliverOrder,
    OrderCommand,
    RefundOrder,
    RemoveOrderItem,
    SetShippingAddress,
    ShipOrder,
)
from orders.domain import ShippingAddress
from orders.exceptions import ProductRefused
from orders.models import CustomerOrderStats, OrderView

from .filters import CustomerOrderStatsFilter, OrderFilter
from .serializers import (
    CancelSerializer,
    ConfirmSerializer,
    CustomerOrderStatsSerializer,
    HistoryQuerySerializer,
    LineInputSerializer,
    OrderCreateSerializer,
    OrderEventSerializer,
    OrderSerializer,
    QuantitySerializer,
    RefundSerializer,
    ShippingAddressSerializer,
    ShipSerializer,
    address_from,
)

_ETAG = re.compile(r'^\s*(?:W/)?"(\d+)"\s*$')

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The order version last seen, as its ETag ("3"); 412 when the order moved on.',
)


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request) -> int | None:
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.match(header)
    if match is None:
        raise InvalidInput(
            'If-Match must be the order\'s ETag, e.g. "3".',
            errors={"If-Match": ["Expected a quoted version number."]},
        )
    return int(match.group(1))


def order_response(view: OrderView, *, status_code: int = status.HTTP_200_OK) -> Response:
    response = Response(OrderSerializer(view).data, status=status_code)
    response["ETag"] = etag(view.version)
    return response


def run_command(command: OrderCommand) -> Response:
    dispatch(command)
    return order_response(OrderView.objects.get(pk=command.order_id))


class OrderCommandView(APIView):
    """A command on one order the caller can see (404 otherwise)."""

    def visible_order(self, request: Request, order_id: UUID) -> OrderView:
        return selectors.order_view_get(user=request.user, order_id=order_id)


# A command's own fields, from the validated body and the URL's other parts (product_id).
CommandFields = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def _no_fields(data: dict[str, Any], url: dict[str, Any]) -> dict[str, Any]:
    return {}


def body_fields(*names: str) -> CommandFields:
    """The command fields that are the body's fields of the same name, as validated."""
    return lambda data, url: {name: data[name] for name in names}


def order_command(
    command: type[OrderCommand],
    body: type[serializers.Serializer[Any]] | None = None,
    fields: CommandFields = _no_fields,
    *,
    idempotency_key_documented: bool = True,
) -> Callable[..., Response]:
    """The view method of one command on an order the caller can see (404 otherwise): parse
    the body with `body`, dispatch `command` with the caller as actor and `If-Match` as the
    expected version (honouring `Idempotency-Key`), answer the order with its ETag."""

    @idempotent
    def handle(self: OrderCommandView, request: Request, order_id: UUID, **url: Any) -> Response:
        self.visible_order(request, order_id)
        data: dict[str, Any] = {}
        if body is not None:
            serializer = body(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        return run_command(
            command(
                order_id=order_id,
                actor=actor_of(request),
                expected_version=expected_version(request),
                **fields(data, url),
            )
        )

    parameters = [IF_MATCH, IDEMPOTENCY_KEY_PARAMETER] if idempotency_key_documented else [IF_MATCH]
    schema = extend_schema(request=body, responses={200: OrderSerializer}, parameters=parameters)
    return cast(Callable[..., Response], schema(handle))


class OrderListCreateView(generics.ListAPIView[OrderView]):
    """Orders, newest first, a page at a time by cursor: the staff list spans every order
    ever placed, and a page must not count them all (docs/orders.md, Listing orders)."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    pagination_class = KeysetPagination
    ordering_fields = ["created_at", "updated_at", "total_amount"]
    ordering = ["-created_at", "order_id"]

    def get_queryset(self) -> QuerySet[OrderView]:
        return selectors.order_views_visible_to(self.request.user)

    @extend_schema(
        request=OrderCreateSerializer,
        responses={201: OrderSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        command = CreateOrder(
            order_id=uuid4(),
            actor=actor_of(request),
            customer_id=cast(UUID, request.user.pk),
            currency=data.get("currency"),
            lines=serializer.lines(),
            shipping_address=address_from(data["shipping_address"]),
        )
        try:
            dispatch(command)
        except ProductRefused as exc:
            # Name the line as a validation error of `items` would: items.<index>.product_id.
            positions = [line.product_id for line in command.lines]
            if exc.product_id not in positions:
                raise
            field = f"items.{positions.index(exc.product_id)}.product_id"
            raise InvalidInput(exc.message, errors={field: [exc.message]}) from exc
        response = order_response(
            OrderView.objects.get(pk=command.order_id), status_code=status.HTTP_201_CREATED
        )
        response["Location"] = reverse("order-detail", kwargs={"order_id": command.order_id})
        return response


class OrderDetailView(OrderCommandView):
    @extend_schema(responses={200: OrderSerializer})
    def get(self, request: Request, order_id: UUID) -> Response:
        view = self.visible_order(request, order_id)
        if request.headers.get("If-None-Match") == etag(view.version):
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
            response["ETag"] = etag(view.version)
            return response
        return order_response(view)


def _product_in_url(data: dict[str, Any], url: dict[str, Any]) -> dict[str, Any]:
    return {"product_id": url["product_id"], **data}


def _address(data: dict[str, Any], url: dict[str, Any]) -> dict[str, Any]:
    return {"address": ShippingAddress(**data)}


def _confirmation(data: dict[str, Any], url: dict[str, Any]) -> dict[str, Any]:
    address = address_from(data["shipping_address"])
    return {"payment_token": data["payment_token"], "shipping_address": address}


class OrderItemsView(OrderCommandView):
    post = order_command(AddOrderItem, LineInputSerializer, body_fields("product_id", "quantity"))


class OrderItemView(OrderCommandView):
    put = order_command(ChangeOrderItemQuantity, QuantitySerializer, _product_in_url)
    delete = order_command(RemoveOrderItem, None, _product_in_url)


class OrderShippingAddressView(OrderCommandView):
    put = order_command(SetShippingAddress, ShippingAddressSerializer, _address)


class OrderConfirmView(OrderCommandView):
    post = order_command(ConfirmOrder, ConfirmSerializer, _confirmation)


class OrderCancelView(OrderCommandView):
    post = order_command(CancelOrder, CancelSerializer, body_fields("reason"))


class StaffOrderCommandView(OrderCommandView):
    permission_classes = [permissions.IsAuthenticated, IsStaff]


class OrderShipView(StaffOrderCommandView):
    post = order_command(ShipOrder, ShipSerializer, body_fields("carrier", "tracking_number"))


class OrderDeliverView(StaffOrderCommandView):
    post = order_command(DeliverOrder, idempotency_key_documented=False)


class OrderRefundView(StaffOrderCommandView):
    post = order_command(RefundOrder, RefundSerializer, body_fields("reason"))


class OrderEventsView(generics.GenericAPIView[Any]):
    """The order's events, paginated like every list, in version order."""

    serializer_class = OrderEventSerializer
    filter_backends: list[Any] = []

    @extend_schema(responses={200: OrderEventSerializer(many=True)})
    def get(self, request: Request, order_id: UUID) -> Response:
        events = selectors.order_events(user=request.user, order_id=order_id)
        # Django's Paginator takes any sized, sliceable sequence; the stubs only know QuerySet.
        page = self.paginate_queryset(events)  # type: ignore[arg-type]
        assert page is not None  # pagination is always on
        return self.get_paginated_response(OrderEventSerializer(page, many=True).data)


class OrderHistoryView(APIView):
    @extend_schema(
        parameters=[HistoryQuerySerializer],
        responses={200: OrderSerializer},
    )
    def get(self, request: Request, order_id: UUID) -> Response:
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        order = selectors.order_as_of(
            user=request.user,
            order_id=order_id,
            version=query.validated_data.get("version"),
            as_of=query.validated_data.get("as_of"),
        )
        view = selectors.order_view_from_aggregate(order)
        response = Response(OrderSerializer(view).data)
        response["ETag"] = etag(order.version)
        return response


class CustomerOrderStatsView(generics.ListAPIView[CustomerOrderStats]):
    """Orders placed and paid and lifetime value per customer and currency, from the
    asynchronous projection (it trails the orders by one runner pass). Customers see their
    own; staff see all and may filter by customer_id."""

    serializer_class = CustomerOrderStatsSerializer
    filterset_class = CustomerOrderStatsFilter
    ordering_fields = ["amount_paid", "orders_placed", "last_order_at"]
    ordering = ["-amount_paid", "customer_id", "currency"]

    def get_queryset(self) -> QuerySet[CustomerOrderStats]:
        return selectors.customer_order_stats_visible_to(self.request.user)
