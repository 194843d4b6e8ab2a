from __future__ import annotations

from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
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
        body = RegisteredSerializer(user).data | TokenSerializer(token).data
        return Response(body, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    """Password for token: each call issues a new token (one per device or client). Besides
    the anonymous budget, throttled per client address and per username (brute force)."""

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
        return Response(TokenSerializer(token).data)


class LogoutView(APIView):
    """Revokes the token the request was made with; the user's other devices stay signed in."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            services.token_revoke(user_id=request.user.pk, digest=request.auth.digest)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """Revokes every token of the user: every device is signed out."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.tokens_revoke_all(user_id=request.user.pk)
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
        return Response(TokenSerializer(token).data)
