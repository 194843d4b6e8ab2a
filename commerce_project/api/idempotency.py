"""`Idempotency-Key` for POST commands, stored in PostgreSQL.

The first request claims the key (a committed row, visible to concurrent requests); the view
then runs inside a transaction that also stores its 2xx response, so "the order exists" and
"the response is remembered" commit together. Non-2xx outcomes release the key: a failure is
never stored in a way that blocks a legitimate retry.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from .errors import IdempotencyKeyReused, InvalidInput, RequestInProgress
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_REPLAYED_HEADERS = ("Location", "ETag")

# For `extend_schema(parameters=[...])` of every view decorated with `idempotent`.
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Repeat a command safely: the same key and body replay the first response.",
)

ViewMethod = TypeVar("ViewMethod", bound=Callable[..., Response])


def request_fingerprint(request: Request) -> str:
    body = request.data if hasattr(request, "data") else {}
    canonical = json.dumps(body, sort_keys=True, cls=JSONEncoder, separators=(",", ":"))
    raw = f"{request.method}\n{request.path}\n{canonical}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _owner(request: Request) -> str:
    user = request.user
    return str(user.pk) if user and user.is_authenticated else "anonymous"


def _claim(*, owner: str, key: str, request: Request, fingerprint: str) -> IdempotencyKey | None:
    """Returns the claimed row, or None when another request already holds or completed it."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                owner=owner,
                key=key,
                method=request.method or "",
                path=request.path,
                request_hash=fingerprint,
                locked_at=now,
                expires_at=now + settings.IDEMPOTENCY_KEY_TTL,
            )
    except IntegrityError:
        return None


def _take_over_stale(existing: IdempotencyKey) -> bool:
    """A claim left IN_PROGRESS by a crashed process may be taken over once it is stale."""
    stale_before = timezone.now() - settings.IDEMPOTENCY_LOCK_TIMEOUT
    taken = IdempotencyKey.objects.filter(
        pk=existing.pk,
        status=IdempotencyKey.Status.IN_PROGRESS,
        locked_at=existing.locked_at,
        locked_at__lt=stale_before,
    ).update(locked_at=timezone.now())
    return taken == 1


def _replay(row: IdempotencyKey) -> Response:
    headers = dict(row.response_headers)
    headers[REPLAY_HEADER] = "true"
    return Response(row.response_body, status=row.response_status or 200, headers=headers)


def _remember(row: IdempotencyKey, response: Response) -> None:
    row.status = IdempotencyKey.Status.COMPLETED
    row.response_status = response.status_code
    row.response_body = json.loads(json.dumps(response.data, cls=JSONEncoder))
    row.response_headers = {h: response[h] for h in _REPLAYED_HEADERS if h in response}
    row.save(update_fields=["status", "response_status", "response_body", "response_headers"])


def run_idempotently(request: Request, run: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER)
    if key is None:
        return run()
    if not 1 <= len(key) <= 255:
        raise InvalidInput(f"{HEADER} must be 1 to 255 characters.", errors={HEADER: ["length"]})

    owner = _owner(request)
    fingerprint = request_fingerprint(request)
    row = _claim(owner=owner, key=key, request=request, fingerprint=fingerprint)
    if row is None:
        existing = IdempotencyKey.objects.filter(owner=owner, key=key).first()
        if existing is None:  # released between our INSERT and SELECT: try once more
            row = _claim(owner=owner, key=key, request=request, fingerprint=fingerprint)
            if row is None:
                raise RequestInProgress()
        elif existing.request_hash != fingerprint:
            raise IdempotencyKeyReused(
                f"{HEADER} {key!r} was used for a different request "
                f"({existing.method} {existing.path})."
            )
        elif existing.status == IdempotencyKey.Status.COMPLETED:
            return _replay(existing)
        elif _take_over_stale(existing):
            row = existing
        else:
            raise RequestInProgress()

    try:
        with transaction.atomic():
            response = run()
            if 200 <= response.status_code < 300:
                _remember(row, response)
                return response
    except BaseException:
        IdempotencyKey.objects.filter(pk=row.pk, status=IdempotencyKey.Status.IN_PROGRESS).delete()
        raise
    IdempotencyKey.objects.filter(pk=row.pk).delete()
    return response


def idempotent(view_method: ViewMethod) -> ViewMethod:
    """Decorate a DRF view method (post, or a @action) to honour `Idempotency-Key`."""

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        return run_idempotently(request, lambda: view_method(self, request, *args, **kwargs))

    return cast(ViewMethod, wrapper)


def idempotency_keys_purge() -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
