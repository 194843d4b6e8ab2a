"""`GET /api/v1/`: where a person (or a client) starts — every entry point of the API, as
absolute URLs, answered to anyone."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

# name in the answer -> URL name; every one answers GET or POST at its bare URL.
ENTRY_POINTS = {
    "register": "auth-register",
    "token": "auth-token",
    "logout": "auth-logout",
    "password": "auth-password",
    "products": "product-list",
    "carts": "cart-create",
    "orders": "order-list",
    "customer_stats": "order-customer-stats",
    "sagas": "saga-list",
    "schema": "schema",
    "docs": "swagger-ui",
    "health": "healthz",
    "ready": "readyz",
}


class ApiRootSerializer(serializers.Serializer[None]):
    """Absolute URLs of the API's entry points."""

    # Declared one by one (not built from ENTRY_POINTS) so the schema names each.
    register = serializers.URLField(help_text="POST: create an account (anonymous).")
    token = serializers.URLField(help_text="POST {username, password}: a token (anonymous).")
    logout = serializers.URLField(help_text="POST: revoke the token used.")
    password = serializers.URLField(help_text="POST: change the password.")
    products = serializers.URLField(help_text="GET: the catalogue (anonymous).")
    carts = serializers.URLField(help_text="POST: a new cart.")
    orders = serializers.URLField(help_text="GET: your orders; POST: a draft order.")
    customer_stats = serializers.URLField(help_text="GET: totals per customer and currency.")
    sagas = serializers.URLField(help_text="GET: the fulfilment sagas you may see.")
    schema = serializers.URLField(help_text="The OpenAPI schema (anonymous).")
    docs = serializers.URLField(help_text="Swagger UI over the schema (anonymous).")
    health = serializers.URLField(help_text="Liveness probe (anonymous).")
    ready = serializers.URLField(help_text="Readiness probe (anonymous).")


class ApiRootView(APIView):
    # Answers even a stale token: the same for everyone, and where a lost client starts over.
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(operation_id="api_root", tags=["root"], responses={200: ApiRootSerializer})
    def get(self, request: Request) -> Response:
        """The API's entry points."""
        return Response({name: reverse(url, request=request) for name, url in ENTRY_POINTS.items()})
