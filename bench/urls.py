"""The real API plus the two baselines of the benchmark server (see bench.http)."""

from typing import Any

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    renderer_classes,
    throttle_classes,
)
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_project.urls import handler404, handler500

CONSTANT_BODY: dict[str, Any] = {"id": "00000000-0000-0000-0000-000000000000", "ok": True}


class ConstantView(APIView):
    """The project's default authentication, permission and throttle classes; no work."""

    def get(self, request: Request) -> Response:
        return Response(CONSTANT_BODY)

    def post(self, request: Request) -> Response:
        return Response(CONSTANT_BODY)


@api_view(["GET"])
@renderer_classes([JSONRenderer])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def bare_view(request: Request) -> Response:
    return Response(CONSTANT_BODY)


urlpatterns: list[URLPattern | URLResolver] = [
    # Under /api/, like every endpoint it stands for: it takes the API lane past the browser
    # middleware exactly as token requests to the API do (commerce_project/api/lane.py).
    path("api/v1/bench/constant/", ConstantView.as_view()),
    path("bench/bare/", bare_view),
    path("", include("commerce_project.urls")),
]

__all__ = ["handler404", "handler500", "urlpatterns"]
