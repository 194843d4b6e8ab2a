"""`Idempotency-Key` for POST commands, stored in PostgreSQL.

The first request claims the key (a committed row, visible to concurrent requests); the view
then runs inside a transaction that also stores its 2xx response, so "the order exists" and
"the response is remembered" commit together. Non-2xx outcomes and errors release the key: a
failure is never stored in a way that blocks a legitimate retry. The release is retried on
fresh connections for a moment when the request failed because the database went away (a
restart comes back within seconds). Only a process that dies (SIGKILL, OOM, power) or a
database that stays unreachable leaves the claim behind: a retry then answers 409 until the
claim is IDEMPOTENCY_LOCK_TIMEOUT old and is taken over.

Writes outside PostgreSQL are not covered by the transaction: a view that changes Redis must
make that change idempotent by itself, since a retry after a failure here runs the view again:
`current_idempotency_token()` gives it a stable name for the request to record (see
`carts.repository`, whose write script records it beside the change).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    OperationalError,
    connections,
    transaction,
)
from django.db.models import QuerySet
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from commerce_project.metrics import idempotent_replays

from .errors import IdempotencyKeyReused, InvalidInput, RequestInProgress
from .models import IdempotencyKey
from .outages import database_unavailable

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
_META_KEY = "HTTP_IDEMPOTENCY_KEY"
REPLAY_HEADER = "Idempotent-Replayed"
_REPLAYED_HEADERS = ("Location", "ETag")

# Set on every view method `idempotent` wraps: the schema (commerce_project.api.schema)
# documents the header wherever it is honoured, from this mark alone.
_HONOURS_KEY = "honours_idempotency_key"

ViewMethod = TypeVar("ViewMethod", bound=Callable[..., Response])

_current_token: ContextVar[str | None] = ContextVar("idempotency_token", default=None)


def current_idempotency_token() -> str | None:
    """While a view runs under an honoured Idempotency-Key: a digest of whose key it is, the
    key and the request's fingerprint; None otherwise. A write outside PostgreSQL records
    it together with its effect, atomically, so that running the view again after a failure
    (the key released, or a stale claim taken over) does not apply the write twice."""
    return _current_token.get()


def request_fingerprint(request: Request) -> str:
    body = request.data if hasattr(request, "data") else {}
    canonical = json.dumps(body, sort_keys=True, cls=JSONEncoder, separators=(",", ":"))
    raw = f"{request.method}\n{request.path}\n{canonical}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _owner(request: Request, *, anonymous_by_path: bool) -> str | None:
    """Whose key space the key lives in. Anonymous callers share no private scope, so their
    keys are honoured only on paths that are themselves a secret (a cart's session id is in
    its URL) and are scoped to that path; None means "do not honour keys here"."""
    user = request.user
    if user and user.is_authenticated:
        return str(user.pk)
    if anonymous_by_path:
        return "path:" + hashlib.sha256(request.path.encode()).hexdigest()[:40]
    return None


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


def _discard_expired(existing: IdempotencyKey) -> bool:
    """A key past IDEMPOTENCY_KEY_TTL is absent, whether or not the hourly purge has run:
    it is deleted here (unless a live request holds it) and True returned."""
    now = timezone.now()
    if existing.expires_at >= now:
        return False
    with transaction.atomic():
        row = (
            IdempotencyKey.objects.select_for_update(skip_locked=True)
            .filter(pk=existing.pk, expires_at__lt=now)
            .first()
        )
        if row is None:
            return False
        row.delete()
        return True


def _take_over_stale(existing: IdempotencyKey) -> IdempotencyKey | None:
    """A claim left IN_PROGRESS by a crashed process may be taken over once it is stale.
    A slow but live owner holds the row lock for as long as its view runs (see
    `run_idempotently`), so NOWAIT fails for it and it is never taken over."""
    stale_before = timezone.now() - settings.IDEMPOTENCY_LOCK_TIMEOUT
    try:
        with transaction.atomic():
            row = (
                IdempotencyKey.objects.select_for_update(nowait=True)
                .filter(
                    pk=existing.pk,
                    status=IdempotencyKey.Status.IN_PROGRESS,
                    locked_at__lt=stale_before,
                )
                .first()
            )
            if row is None:
                return None
            row.locked_at = timezone.now()
            row.save(update_fields=["locked_at"])
            return row
    except OperationalError as exc:
        if database_unavailable(exc):
            raise
        return None  # NOWAIT: the owner is alive and holds the lock


def _replay(row: IdempotencyKey) -> Response:
    idempotent_replays.inc()
    headers = dict(row.response_headers)
    headers[REPLAY_HEADER] = "true"
    return Response(row.response_body, status=row.response_status or 200, headers=headers)


def _remember(row: IdempotencyKey, response: Response) -> None:
    row.status = IdempotencyKey.Status.COMPLETED
    row.response_status = response.status_code
    row.response_body = json.loads(json.dumps(response.data, cls=JSONEncoder))
    row.response_headers = {h: response[h] for h in _REPLAYED_HEADERS if h in response}
    row.save(update_fields=["status", "response_status", "response_body", "response_headers"])


# Pauses before each attempt to release a claim: first on the request's own connection,
# then on fresh ones, about as long as a PostgreSQL restart takes. The whole release never
# holds a web worker longer than _RELEASE_BUDGET_SECONDS: during a network partition every
# keyed request would otherwise tie one up for several connect timeouts.
_RELEASE_DELAYS = (0.0, 0.2, 0.5, 1.0)
_RELEASE_BUDGET_SECONDS = 2.5
_RELEASE_CONNECT_TIMEOUT_SECONDS = 1


def _claimed_by(row: IdempotencyKey) -> QuerySet[IdempotencyKey]:
    """Our claim and nobody else's: a takeover sets a new `locked_at`."""
    return IdempotencyKey.objects.filter(
        pk=row.pk, status=IdempotencyKey.Status.IN_PROGRESS, locked_at=row.locked_at
    )


def _delete_on_fresh_connection(row: IdempotencyKey) -> None:
    """The request's connection may be broken or inside a failed transaction; the claim
    was committed on its own, so any connection can drop it."""
    fresh = connections.create_connection(DEFAULT_DB_ALIAS)
    fresh.settings_dict = copy.deepcopy(fresh.settings_dict)  # shared with the settings
    fresh.settings_dict.setdefault("OPTIONS", {})["connect_timeout"] = (
        _RELEASE_CONNECT_TIMEOUT_SECONDS
    )
    try:
        with fresh.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {IdempotencyKey._meta.db_table} "
                "WHERE id = %s AND status = %s AND locked_at = %s",
                [row.pk, IdempotencyKey.Status.IN_PROGRESS.value, row.locked_at],
            )
    finally:
        fresh.close()


def _release(row: IdempotencyKey) -> None:
    """Drops our claim so that a retry runs at once. Never raises: when the database
    cannot be reached at all, the error is logged and the claim lapses after
    IDEMPOTENCY_LOCK_TIMEOUT (a retry meanwhile answers 409)."""
    failure: Exception | None = None
    deadline = time.monotonic() + _RELEASE_BUDGET_SECONDS
    for attempt, delay in enumerate(_RELEASE_DELAYS):
        if attempt and time.monotonic() + delay + _RELEASE_CONNECT_TIMEOUT_SECONDS > deadline:
            break
        time.sleep(delay)
        try:
            if attempt == 0:
                _claimed_by(row).delete()
            else:
                _delete_on_fresh_connection(row)
            return
        except (DatabaseError, TransactionManagementError) as exc:
            failure = exc
    logger.error(
        "idempotency key %s of %s not released (%s); it stays claimed for %s",
        row.key,
        row.owner,
        failure,
        settings.IDEMPOTENCY_LOCK_TIMEOUT,
    )


def run_idempotently(
    request: Request, run: Callable[[], Response], *, anonymous_by_path: bool = False
) -> Response:
    key = request.META.get(_META_KEY)  # not request.headers: it copies every header
    owner = _owner(request, anonymous_by_path=anonymous_by_path)
    if key is None or owner is None:
        # e.g. anonymous POST carts/: a replay would hand one stranger's new cart to another.
        return run()
    if not 1 <= len(key) <= 255:
        raise InvalidInput(
            f"{HEADER} must be 1 to 255 characters.",
            errors={HEADER: ["Must be 1 to 255 characters long."]},
        )

    fingerprint = request_fingerprint(request)
    row = _claim(owner=owner, key=key, request=request, fingerprint=fingerprint)
    if row is None:
        existing = IdempotencyKey.objects.filter(owner=owner, key=key).first()
        if existing is None or _discard_expired(existing):
            # released since our INSERT, or expired (as good as absent): claim once more
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
        else:
            row = _take_over_stale(existing)
            if row is None:
                raise RequestInProgress()

    token = hashlib.sha256(f"{owner}\n{key}\n{fingerprint}".encode()).hexdigest()[:40]
    try:
        with transaction.atomic():
            # Held until the view's writes commit: proof to any would-be taker-over that
            # this owner is alive. Gone (None) means ours was taken over while we started.
            if _claimed_by(row).select_for_update().first() is None:
                raise RequestInProgress()
            token_set = _current_token.set(token)
            try:
                response = run()
            finally:
                _current_token.reset(token_set)
            if 200 <= response.status_code < 300:
                _remember(row, response)
                return response
    except BaseException:
        _release(row)
        raise
    _release(row)
    return response


def idempotent(view_method: ViewMethod | None = None, *, anonymous_by_path: bool = False) -> Any:
    """Decorate a DRF view method (post, or a @action) to honour `Idempotency-Key` for
    signed-in users; `anonymous_by_path=True` also honours it for anonymous callers where
    the URL itself is a capability (scoped to that URL)."""

    def decorate(method: ViewMethod) -> ViewMethod:
        @functools.wraps(method)
        def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            return run_idempotently(
                request,
                lambda: method(self, request, *args, **kwargs),
                anonymous_by_path=anonymous_by_path,
            )

        setattr(wrapper, _HONOURS_KEY, True)
        return cast(ViewMethod, wrapper)

    return decorate(view_method) if view_method is not None else decorate


def honours_idempotency_key(view_method: Any) -> bool:
    """Whether `view_method` was decorated with `idempotent`."""
    return bool(getattr(view_method, _HONOURS_KEY, False))


def idempotency_keys_purge() -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
