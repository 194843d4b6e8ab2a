from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from commerce_project.api.actors import actor_name
from commerce_project.api.idempotency import idempotent
from commerce_project.api.permissions import StaffPermission
from commerce_project.api.schema import raises
from sagas.exceptions import SagaBusy, SagaIllegalTransition, SagaNotFound
from sagas.models import RETRY_SAGA, SagaInstance
from sagas.selectors import saga_get, saga_list
from sagas.services import saga_retry

from .filters import SagaFilter
from .serializers import SagaDetailSerializer, SagaSerializer


class SagaViewSet(viewsets.ReadOnlyModelViewSet[SagaInstance]):
    """Sagas and their steps. Customers see the sagas they own; staff see all, and staff
    holding sagas.retry_saga (as for the admin's retry action) may retry a FAILED one."""

    lookup_field = "saga_id"
    lookup_url_kwarg = "saga_id"
    filterset_class = SagaFilter
    ordering_fields = ["created_at", "updated_at", "status"]
    ordering = ["-created_at"]

    def get_queryset(self) -> QuerySet[SagaInstance]:
        return saga_list(user=self.request.user)

    def get_serializer_class(self) -> type[BaseSerializer[SagaInstance]]:
        if self.action == "list":
            return SagaSerializer
        return SagaDetailSerializer

    def get_object(self) -> SagaInstance:
        try:
            saga_id = uuid.UUID(str(self.kwargs["saga_id"]))
        except ValueError:
            raise SagaNotFound(f"No saga {self.kwargs['saga_id']}.") from None
        return saga_get(user=self.request.user, saga_id=saga_id)

    @extend_schema(request=None, responses={202: SagaDetailSerializer})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[StaffPermission.requiring(RETRY_SAGA)],
    )
    @raises(SagaIllegalTransition, SagaBusy)
    @idempotent
    def retry(self, request: Request, saga_id: Any = None) -> Response:
        saga = saga_retry(saga_id=self.get_object().pk, actor=actor_name(request))
        body = SagaDetailSerializer(saga, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED)
