"""Fixtures of the contract tests: the API served by pytest-django's live server (a real
HTTP server in this process, over the test database), and tokens for a customer and a
member of staff."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.utils.encoders import JSONEncoder

from accounts.models import User
from tests.sagas.worker import celery_worker


def token_for(user: User) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def live_schema() -> dict[str, Any]:
    """The OpenAPI document GET /api/schema/ answers, as plain JSON data."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded: dict[str, Any] = json.loads(json.dumps(document, cls=JSONEncoder))
    return loaded


__all__ = ["celery_worker"]
