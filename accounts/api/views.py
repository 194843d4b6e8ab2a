from __future__ import annotations

from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.throttles import LoginAddressThrottle, LoginUsernameThrottle

from .serializers import (
    PasswordChangeSerializer,
    RegisteredSerializer,
    RegisterSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: RegisteredSerializer})
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user, token = services.user_register(**serializer.validated_data)
        except IntegrityError as exc:  # two registrations raced for one username
            raise serializers.ValidationError(
                {"username": ["A user with that username already exists."]}
            ) from exc
        body = RegisteredSerializer(user).data | {"token": token.key}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    """Password for token: besides the anonymous budget, throttled per client address and
    per username (brute force)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [*APIView.throttle_classes, LoginAddressThrottle, LoginUsernameThrottle]

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            LoginUsernameThrottle().record_failure(request, self)
            raise ValidationError(serializer.errors)
        token = services.token_issue(user=serializer.validated_data["user"])
        return Response({"token": token.key})


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.token_revoke(user=request.user)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    @extend_schema(request=PasswordChangeSerializer, responses={200: TokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token = services.user_password_change(
            user=request.user,  # type: ignore[arg-type]
            new_password=serializer.validated_data["new_password"],
        )
        return Response({"token": token.key})
