"""Order endpoints. Thin: parse, check who may act, dispatch one command (or call one
selector), render the read model with `ETag: "<version>"`.

Commands accept `Idempotency-Key` (replayed responses) and `If-Match: "<version>"` (412 when
the order moved on). Someone else's order answers 404; a customer on a staff command 403.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, cast
from uuid import UUID, uuid4

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_project.api.actors import actor_of
from commerce_project.api.idempotency import idempotent
from commerce_project.api.pagination import KeysetPagination
from commerce_project.api.permissions import IsStaff
from commerce_project.api.schema import ETAG_RESPONSE_HEADER, location_header, raises
from commerce_project.errors import InvalidInput, PreconditionFailed
from eventstore.commands import dispatch
from eventstore.exceptions import ConcurrencyError
from eventstore.prepared import PreparedValuesIterable
from eventstore.store import load
from orders import selectors
from orders.commands import (
    AddOrderItem,
    AddOrderNote,
    CancelOrder,
    ChangeOrderItemQuantity,
    ConfirmOrder,
    CreateOrder,
    DeliverOrder,
    OrderCommand,
    RefundOrder,
    RemoveOrderItem,
    RequestPartialRefund,
    SetShippingAddress,
    ShipOrder,
)
from orders.domain import Order, ShippingAddress
from orders.exceptions import ActionForbidden, IllegalTransition, ProductRefused
from orders.models import CustomerOrderStats, OrderView

from .filters import CustomerOrderStatsFilter, OrderFilter
from .serializers import (
    LIST_COLUMNS,
    CancelSerializer,
    ConfirmSerializer,
    CustomerOrderStatsSerializer,
    HistoryQuerySerializer,
    LineInputSerializer,
    NoteInputSerializer,
    NoteSerializer,
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


IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The ETag last seen ("3"): 304 without a body while the order is at it.',
)


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request) -> int | None:
    # From the environ: `request.headers` would copy every header into a new mapping.
    header = request.META.get("HTTP_IF_MATCH")
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


def order_answer(order: Order, *, status_code: int = status.HTTP_200_OK) -> Response:
    """The answer to a command: the order as the command left it. The inline projection
    wrote exactly this row (`order_view_row` of the same aggregate) in the command's
    transaction, so reading it back would only cost a query; it also answers with the
    version this command produced even if another one commits right after."""
    return order_response(selectors.order_view_from_aggregate(order), status_code=status_code)


def run_command(command: OrderCommand) -> Response:
    return order_answer(dispatch(command))


class OrderCommandView(APIView):
    """A command on one order the caller can see (404 otherwise)."""

    def visible_order(self, request: Request, order_id: UUID) -> OrderView:
        return selectors.order_view_get(user=request.user, order_id=order_id)

    def check_visible(self, request: Request, order_id: UUID) -> None:
        """404 unless the caller may see the order (before a command reads its body)."""
        selectors.order_view_check(user=request.user, order_id=order_id)


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
) -> Callable[..., Response]:
    """The view method of one command on an order the caller can see (404 otherwise): parse
    the body with `body`, dispatch `command` with the caller as actor and `If-Match` as the
    expected version (honouring `Idempotency-Key`), answer the order with its ETag."""

    @raises(IllegalTransition, ActionForbidden, ConcurrencyError, PreconditionFailed)
    @idempotent
    def handle(self: OrderCommandView, request: Request, order_id: UUID, **url: Any) -> Response:
        self.check_visible(request, order_id)
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

    schema = extend_schema(
        request=body,
        responses={200: OrderSerializer},
        parameters=[IF_MATCH, ETAG_RESPONSE_HEADER],
    )
    return cast(Callable[..., Response], schema(handle))


# A list page's rows: the columns the representation reads (no model instances, and not
# the columns it leaves out: skus, payment_id, captured_amount), fetched as a prepared
# statement (eventstore.prepared). Built once: values() resolves every column,
# which cost more per request than cloning the built QuerySet (each request filters a
# clone; this one is never evaluated).
_LIST_ROWS = OrderView.objects.values(*LIST_COLUMNS)
_LIST_ROWS._iterable_class = PreparedValuesIterable


class OrderListCreateView(generics.ListAPIView[OrderView]):
    """Orders, newest first, a page at a time by cursor: the staff list spans every order
    ever placed, and a page must not count them all (docs/orders.md, Listing orders)."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    pagination_class = KeysetPagination
    ordering_fields = ["created_at", "updated_at", "total_amount"]
    ordering = ["-created_at", "order_id"]

    def get_queryset(self) -> QuerySet[OrderView]:
        return selectors.order_views_visible_to(self.request.user, views=_LIST_ROWS)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None  # pagination is always on
        return self.get_paginated_response(OrderSerializer(page, many=True).data)

    @extend_schema(
        request=OrderCreateSerializer,
        responses={201: OrderSerializer},
        parameters=[ETAG_RESPONSE_HEADER, location_header(201)],
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
            order = dispatch(command)
        except ProductRefused as exc:
            # Name the line as a validation error of `items` would: items.<index>.product_id.
            positions = [line.product_id for line in command.lines]
            if exc.product_id not in positions:
                raise
            field = f"items.{positions.index(exc.product_id)}.product_id"
            raise InvalidInput(exc.message, errors={field: [exc.message]}) from exc
        response = order_answer(order, status_code=status.HTTP_201_CREATED)
        response["Location"] = reverse("order-detail", kwargs={"order_id": command.order_id})
        return response


class OrderDetailView(OrderCommandView):
    @extend_schema(
        description="The order as the read model has it, with its version as ETag. With "
        "If-None-Match set to that ETag, 304 and no body while the order is unchanged.",
        parameters=[IF_NONE_MATCH, ETAG_RESPONSE_HEADER],
        responses={
            200: OrderSerializer,
            304: OpenApiResponse(description="Not modified: the order is still at that version."),
        },
    )
    def get(self, request: Request, order_id: UUID) -> Response:
        view = self.visible_order(request, order_id)
        if request.META.get("HTTP_IF_NONE_MATCH") == etag(view.version):
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
    post = order_command(DeliverOrder)


class OrderRefundView(StaffOrderCommandView):
    """Without amount and lines: the full refund of a SHIPPED or DELIVERED order (200, the
    order now REFUNDED with its refund pending). With either: a partial refund of a PAID,
    SHIPPED or DELIVERED order (202: the refund saga pays it; the order lists it under
    `refunds` and holds its amount out of `refundable_amount` until it settles)."""

    @extend_schema(
        request=RefundSerializer,
        responses={200: OrderSerializer, 202: OrderSerializer},
        parameters=[IF_MATCH],
    )
    @idempotent
    def post(self, request: Request, order_id: UUID) -> Response:
        self.check_visible(request, order_id)
        body = RefundSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        common = {
            "order_id": order_id,
            "actor": actor_of(request),
            "expected_version": expected_version(request),
            "reason": data["reason"],
        }
        if not body.is_partial_refund():
            return run_command(RefundOrder(**common))
        order = dispatch(
            RequestPartialRefund(
                **common,
                refund_id=uuid4(),
                amount=data.get("amount"),
                lines=body.refund_lines(),
                note=data["note"],
            )
        )
        return order_answer(order, status_code=status.HTTP_202_ACCEPTED)


def _paged(view: generics.GenericAPIView[Any], items: Sequence[Any]) -> Response:
    """One page of `items` (a sequence, not a queryset), rendered by the view's serializer."""
    # Django's Paginator takes any sized, sliceable sequence; the stubs only know QuerySet.
    page = view.paginate_queryset(items)  # type: ignore[arg-type]
    assert page is not None  # pagination is always on
    return view.get_paginated_response(view.get_serializer_class()(page, many=True).data)


class OrderEventsView(generics.GenericAPIView[Any]):
    """The order's events, paginated like every list, in version order."""

    serializer_class = OrderEventSerializer
    filter_backends: list[Any] = []

    @extend_schema(responses={200: OrderEventSerializer(many=True)})
    def get(self, request: Request, order_id: UUID) -> Response:
        events = selectors.order_events(user=request.user, order_id=order_id)
        return _paged(self, events)


class OrderNotesView(generics.GenericAPIView[Any]):
    """Internal notes of an order: staff holding orders.add_order_note read and add them
    (decided against the order as loaded); customers get 403 like any staff endpoint."""

    permission_classes = [permissions.IsAuthenticated, IsStaff]
    serializer_class = NoteSerializer
    filter_backends: list[Any] = []

    @extend_schema(responses={200: NoteSerializer(many=True)})
    def get(self, request: Request, order_id: UUID) -> Response:
        notes = selectors.order_notes(user=request.user, order_id=order_id)
        return _paged(self, notes)

    @extend_schema(
        request=NoteInputSerializer,
        responses={201: NoteSerializer},
        parameters=[IF_MATCH],
    )
    @idempotent
    def post(self, request: Request, order_id: UUID) -> Response:
        selectors.order_view_check(user=request.user, order_id=order_id)
        body = NoteInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order = dispatch(
            AddOrderNote(
                order_id=order_id,
                actor=actor_of(request),
                expected_version=expected_version(request),
                author_name=str(request.user.get_username()),
                text=body.validated_data["text"],
            )
        )
        note = load(order_id, from_version=order.version, to_version=order.version)[0]
        response = Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)
        response["ETag"] = etag(order.version)
        return response


class OrderHistoryView(APIView):
    @extend_schema(
        description="The order as it was at `version` or at the moment `as_of`: give exactly "
        "one of the two (neither or both is a 400 invalid-input). A version the order has not "
        "reached is a 400, a moment before the order existed a 404.",
        parameters=[HistoryQuerySerializer, ETAG_RESPONSE_HEADER],
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
