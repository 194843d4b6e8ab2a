"""Views that exist only for the plumbing tests: one that crashes, one that counts calls,
and one that waits so a concurrent duplicate can arrive while it runs."""

from __future__ import annotations

import threading
import uuid

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import include, path
from django.views.decorators.clickjacking import xframe_options_exempt
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_project.api.idempotency import idempotent
from commerce_project.urls import urlpatterns as project_urlpatterns
from tests.factories import UserFactory

gate = threading.Event()
entered = threading.Event()
# How many of the next calls of DroppedConnectionThingView lose their database connection.
connection_drops = [0]


class CrashView(APIView):
    permission_classes = [permissions.AllowAny]

    def get(self, request: Request) -> Response:
        raise RuntimeError("boom")


class StaffOnlyView(APIView):
    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request) -> Response:
        return Response({"secret": True})


class CreateThingView(APIView):
    """Creates a user per call, so a test can count how often the body really ran."""

    permission_classes = [permissions.AllowAny]

    @idempotent
    def post(self, request: Request) -> Response:
        user = UserFactory(username=f"thing-{uuid.uuid4().hex[:12]}")
        status = int(request.data.get("status", 201))
        return Response(
            {"id": str(user.pk), "name": request.data.get("name")},
            status=status,
            headers={"Location": f"/things/{user.pk}"},
        )


class SlowThingView(APIView):
    @idempotent
    def post(self, request: Request) -> Response:
        entered.set()
        gate.wait(timeout=10)
        return Response({"done": True}, status=201)


class DroppedConnectionThingView(APIView):
    """Loses its own database connection (the server ends the session, as a PostgreSQL
    restart does) while `connection_drops` says so; otherwise makes a thing."""

    permission_classes = [permissions.AllowAny]

    @idempotent
    def post(self, request: Request) -> Response:
        if connection_drops[0] > 0:
            connection_drops[0] -= 1
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        user = UserFactory(username=f"thing-{uuid.uuid4().hex[:12]}")
        return Response({"id": str(user.pk)}, status=201)


def plain_django_view(request: HttpRequest) -> JsonResponse:
    """Not DRF: its errors reach Django's handler500, not the DRF exception handler."""
    return JsonResponse({"users": UserFactory._meta.model.objects.count()})


def plain_crash(request: HttpRequest) -> HttpResponse:
    """Not DRF: a crash answered by Django's handler500."""
    raise RuntimeError("boom")


def streamed(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b'{"a": ', b"1}"]), content_type="application/json")


@xframe_options_exempt
def framable(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"framable": True})


urlpatterns = [
    path("api/v1/test/crash/", CrashView.as_view()),
    path("api/v1/test/plain-crash/", plain_crash),
    path("api/v1/test/streamed/", streamed),
    path("api/v1/test/framable/", framable),
    path("api/v1/test/things/", CreateThingView.as_view()),
    path("api/v1/test/staff-only/", StaffOnlyView.as_view()),
    path("api/v1/test/slow-things/", SlowThingView.as_view()),
    path("api/v1/test/dropped-connection-things/", DroppedConnectionThingView.as_view()),
    path("api/v1/test/plain-django/", plain_django_view),
    path("", include(project_urlpatterns)),
]

handler404 = "commerce_project.api.problems.handler404"
handler500 = "commerce_project.api.problems.handler500"
