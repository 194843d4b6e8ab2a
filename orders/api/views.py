"""Order endpoints. Thin: parse, check who may act, dispatch one command (or call one
selector), render the read model with `ETag: "<version>"`.

Commands accept `Idempotency-Key` (replayed responses) and `If-Match: "<version>"` (412 when
the order moved on). Someone else's order answers 404; a customer on a staff command 403.
"""

from __future__ import annotations

import re
from typing import Any, cast
from uuid import UUID, uuid4

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_project.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
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
    actor_for_user,
)
from orders.domain import Actor
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


class IsStaff(permissions.BasePermission):
    """Staff endpoints turn customers away early; whether this staff member may run the
    transition on this order is decided by the command handler, against the loaded order."""

    message = "Only staff may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_staff)


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


def actor(request: Request) -> Actor:
    return actor_for_user(request.user)


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


class OrderListCreateView(generics.ListAPIView[OrderView]):
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
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
            actor=actor(request),
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
            if exc.product_id in positions:
                exc.at_field(f"items.{positions.index(exc.product_id)}.product_id")
            raise
        response = order_response(
            OrderView.objects.get(pk=command.order_id), status_code=status.HTTP_201_CREATED
        )
        response["Location"] = f"/api/v1/orders/{command.order_id}/"
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


class OrderItemsView(OrderCommandView):
    @extend_schema(
        request=LineInputSerializer,
        responses={200: OrderSerializer},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request, order_id: UUID) -> Response:
        self.visible_order(request, order_id)
        serializer = LineInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return run_command(
            AddOrderItem(
                order_id=order_id,
                actor=actor(request),
                expected_version=expected_version(request),
                product_id=serializer.validated_data["product_id"],
                quantity=serializer.validated_data["quantity"],
            ),
        )


class OrderItemView(OrderCommandView):
    @extend_schema(
        request=QuantitySerializer,
        responses={200: OrderSerializer},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_PARAMETER],
    )
    @idempotent
    def put(self, request: Request, order_id: UUID, product_id: UUID) -> Response:
        self.visible_order(request, order_id)
        serializer = QuantitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return run_command(
            ChangeOrderItemQuantity(
                order_id=order_id,
                actor=actor(request),
                expected_version=expected_version(request),
                product_id=product_id,
                quantity=serializer.validated_data["quantity"],
            ),
        )

    @extend_schema(
        responses={200: OrderSerializer}, parameters=[IF_MATCH, IDEMPOTENCY_KEY_PARAMETER]
    )
    @idempotent
    def delete(self, request: Request, order_id: UUID, product_id: UUID) -> Response:
        self.visible_order(request, order_id)
        return run_command(
            RemoveOrderItem(
                order_id=order_id,
                actor=actor(request),
                expected_version=expected_version(request),
                product_id=product_id,
            ),
        )


class OrderShippingAddressView(OrderCommandView):
    @extend_schema(
        request=ShippingAddressSerializer,
        responses={200: OrderSerializer},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_PARAMETER],
    )
    @idempotent
    def put(self, request: Request, order_id: UUID) -> Response:
        self.visible_order(request, order_id)
        serializer = ShippingAddressSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return run_command(
            SetShippingAddress(
                order_id=order_id,
                actor=actor(request),
                expected_version=expected_version(request),
                address=serializer.to_address(),
            ),
        )


class OrderConfirmView(OrderCommandView):
    @extend_schema(
        request=ConfirmSerializer,
        responses={200: OrderSerializer},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request, order_id: UUID) -> Response:
        self.visible_order(request, order_id)
        serializer = ConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return run_command(
            ConfirmOrder(
                order_id=order_id,
                actor=actor(request),
                expected_version=expected_version(request),
                payment_token=serializer.validated_data["payment_token"],
                shipping_address=address_from(serializer.validated_data["shipping_address"]),
            ),
        )


class OrderCancelView(OrderCommandView):
    @extend_schema(
        request=CancelSerializer,
        responses={200: OrderSerializer},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request, order_id: UUID) -> Response:
        self.visible_order(request, order_id)
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return run_command(
            CancelOrder(
                order_id=order_id,
                actor=actor(request),
                expected_version=expected_version(request),
                reason=serializer.validated_data["reason"],
            ),
        )


class StaffOrderCommandView(OrderCommandView):
    permission_classes = [permissions.IsAuthenticated, IsStaff]


class OrderShipView(StaffOrderCommandView):
    @extend_schema(
        request=ShipSerializer,
        responses={200: OrderSerializer},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request, order_id: UUID) -> Response:
        self.visible_order(request, order_id)
        serializer = ShipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return run_command(
            ShipOrder(
                order_id=order_id,
                actor=actor(request),
                expected_version=expected_version(request),
                carrier=serializer.validated_data["carrier"],
                tracking_number=serializer.validated_data["tracking_number"],
            ),
        )


class OrderDeliverView(StaffOrderCommandView):
    @extend_schema(request=None, responses={200: OrderSerializer}, parameters=[IF_MATCH])
    @idempotent
    def post(self, request: Request, order_id: UUID) -> Response:
        self.visible_order(request, order_id)
        return run_command(
            DeliverOrder(
                order_id=order_id, actor=actor(request), expected_version=expected_version(request)
            ),
        )


class OrderRefundView(StaffOrderCommandView):
    @extend_schema(
        request=RefundSerializer,
        responses={200: OrderSerializer},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request, order_id: UUID) -> Response:
        self.visible_order(request, order_id)
        serializer = RefundSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return run_command(
            RefundOrder(
                order_id=order_id,
                actor=actor(request),
                expected_version=expected_version(request),
                reason=serializer.validated_data["reason"],
            ),
        )


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
