"""The real API plus two baselines measured in the same run:

- `bench/constant/`: a constant JSON body behind the project's full stack (middleware,
  token authentication, IsAuthenticated, throttling) — the "best this stack can do";
- `bench/bare/`: a bare DRF view with no authentication, permissions or throttling.
"""

from typing import Any

from django.urls import include, path
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    throttle_classes,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_project.urls import urlpatterns as project_urlpatterns

CONSTANT_BODY: dict[str, Any] = {"id": "00000000-0000-0000-0000-000000000000", "ok": True}


class ConstantView(APIView):
    def get(self, request: Request) -> Response:
        return Response(CONSTANT_BODY)


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def bare_view(request: Request) -> Response:
    return Response(CONSTANT_BODY)


urlpatterns = [
    path("bench/constant/", ConstantView.as_view()),
    path("bench/bare/", bare_view),
    path("", include(project_urlpatterns)),
]
