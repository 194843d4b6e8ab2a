"""The webhook subscriptions API, for staff holding the webhook subscription model
permissions: view (list, detail, deliveries), add (create), change (PATCH, rotate-secret,
ping, redeliver) and delete. Anonymous callers get 401, anyone else without the permission
403, as everywhere (commerce_project.api.permissions)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from commerce_project.api.permissions import StaffPermission

from ..dispatch import ping
from ..exceptions import WebhookDeliveryNotFound, WebhookSubscriptionNotFound
from ..models import WebhookDelivery, WebhookSubscription
from ..services import (
    delivery_redeliver,
    subscription_create,
    subscription_delete,
    subscription_rotate_secret,
    subscription_update,
)
from .serializers import (
    PingResultSerializer,
    WebhookDeliverySerializer,
    WebhookSubscriptionCreateSerializer,
    WebhookSubscriptionSerializer,
    WebhookSubscriptionUpdateSerializer,
    WebhookSubscriptionWithSecretSerializer,
)

VIEW = "integrations.view_webhooksubscription"
ADD = "integrations.add_webhooksubscription"
CHANGE = "integrations.change_webhooksubscription"
DELETE = "integrations.delete_webhooksubscription"

_PERMISSION_BY_ACTION = {
    "list": VIEW,
    "retrieve": VIEW,
    "deliveries": VIEW,
    "create": ADD,
    "partial_update": CHANGE,
    "rotate_secret": CHANGE,
    "ping": CHANGE,
    "redeliver": CHANGE,
    "destroy": DELETE,
}


class WebhookSubscriptionViewSet(viewsets.GenericViewSet[WebhookSubscription]):
    lookup_url_kwarg = "subscription_id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    serializer_class = WebhookSubscriptionSerializer
    filter_backends: list[Any] = []

    def get_permissions(self) -> list[BasePermission]:
        return [StaffPermission(_PERMISSION_BY_ACTION.get(self.action or "", CHANGE))]

    def get_queryset(self) -> QuerySet[WebhookSubscription]:
        return WebhookSubscription.objects.order_by("created_at", "id")

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "create":
            return WebhookSubscriptionCreateSerializer
        if self.action == "partial_update":
            return WebhookSubscriptionUpdateSerializer
        if self.action == "deliveries":
            return WebhookDeliverySerializer
        return WebhookSubscriptionSerializer

    def get_object(self) -> WebhookSubscription:
        raw = str(self.kwargs["subscription_id"])
        try:
            return WebhookSubscription.objects.get(pk=uuid.UUID(raw))
        except (ValueError, WebhookSubscription.DoesNotExist):
            raise WebhookSubscriptionNotFound(f"No webhook subscription {raw}.") from None

    def _with_secret(self, subscription: WebhookSubscription, secret: str) -> dict[str, Any]:
        return dict(
            WebhookSubscriptionWithSecretSerializer(subscription, context={"secret": secret}).data
        )

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        body = WebhookSubscriptionSerializer(page, many=True).data
        return self.get_paginated_response(body)

    def retrieve(self, request: Request, subscription_id: Any = None) -> Response:
        return Response(WebhookSubscriptionSerializer(self.get_object()).data)

    @extend_schema(responses={201: WebhookSubscriptionWithSecretSerializer})
    def create(self, request: Request) -> Response:
        serializer = WebhookSubscriptionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription, secret = subscription_create(**serializer.validated_data)
        return Response(self._with_secret(subscription, secret), status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: WebhookSubscriptionSerializer})
    def partial_update(self, request: Request, subscription_id: Any = None) -> Response:
        subscription = self.get_object()
        serializer = WebhookSubscriptionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = subscription_update(subscription, **serializer.validated_data)
        return Response(WebhookSubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, subscription_id: Any = None) -> Response:
        subscription_delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: WebhookSubscriptionWithSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, subscription_id: Any = None) -> Response:
        subscription, secret = subscription_rotate_secret(self.get_object())
        return Response(self._with_secret(subscription, secret))

    @extend_schema(request=None, responses={200: PingResultSerializer})
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, subscription_id: Any = None) -> Response:
        outcome = ping(self.get_object())
        body = {
            "delivered": outcome.delivered,
            "response_code": outcome.status_code,
            "error": outcome.error,
        }
        return Response(PingResultSerializer(body).data)

    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, subscription_id: Any = None) -> Response:
        subscription = self.get_object()
        rows = WebhookDelivery.objects.filter(subscription=subscription).order_by("-id")
        # a list of another model than the viewset's: paginated by the same paginator
        page = self.paginate_queryset(rows)  # type: ignore[arg-type]
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={202: WebhookDeliverySerializer},
        parameters=[OpenApiParameter("delivery_id", int, OpenApiParameter.PATH)],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[^/.]+)/redeliver",
    )
    def redeliver(
        self, request: Request, subscription_id: Any = None, delivery_id: Any = None
    ) -> Response:
        subscription = self.get_object()
        try:
            delivery = WebhookDelivery.objects.get(subscription=subscription, pk=int(delivery_id))
        except (ValueError, WebhookDelivery.DoesNotExist):
            raise WebhookDeliveryNotFound(
                f"No delivery {delivery_id} of this subscription."
            ) from None
        delivery = delivery_redeliver(delivery)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
