"""The one base class for errors that reach a client, rendered as RFC 9457 problems.

Every domain error subclasses `ApplicationError` with a stable `type` (a short slug that
clients may branch on), an HTTP status and structured fields that end up in the body.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApplicationError(Exception):
    type: ClassVar[str] = "invalid-input"
    title: ClassVar[str] = "Invalid input"
    status: ClassVar[int] = 400

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def headers(self) -> dict[str, str]:
        return {}


class InvalidInput(ApplicationError):
    pass


class NotFound(ApplicationError):
    type = "not-found"
    title = "Not found"
    status = 404


class Forbidden(ApplicationError):
    type = "forbidden"
    title = "Forbidden"
    status = 403


class ConflictError(ApplicationError):
    type = "concurrency-conflict"
    title = "Concurrent modification"
    status = 409


class PreconditionFailed(ApplicationError):
    type = "concurrency-conflict"
    title = "Precondition failed"
    status = 412


class IdempotencyKeyReused(ApplicationError):
    type = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"
    status = 422


class RequestInProgress(ApplicationError):
    type = "concurrency-conflict"
    title = "A request with this Idempotency-Key is still in progress"
    status = 409

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class ServiceUnavailable(ApplicationError):
    type = "service-unavailable"
    title = "Service unavailable"
    status = 503

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class DatabaseUnavailable(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("The database is unreachable or restarting; try again shortly.")
