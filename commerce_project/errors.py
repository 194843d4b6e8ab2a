"""The one base class for errors a caller may act on, below every app and the API.

Every domain error subclasses `ApplicationError` with a stable `type` (a short slug that
clients may branch on), a title and structured fields (`extra`). What an error means over
HTTP (its status code, its headers, its problem+json body) is decided at the edge, in
`commerce_project.api.errors`, from the family it belongs to: `InvalidInput`, `NotFound`,
`Forbidden`, `ConflictError`, `PreconditionFailed`, `ServiceUnavailable`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApplicationError(Exception):
    type: ClassVar[str] = "invalid-input"
    title: ClassVar[str] = "Invalid input"
    # Seconds after which trying again may succeed (None: it will not by waiting alone).
    retry_after: ClassVar[int | None] = None

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class InvalidInput(ApplicationError):
    pass


class NotFound(ApplicationError):
    type = "not-found"
    title = "Not found"


class Forbidden(ApplicationError):
    type = "forbidden"
    title = "Forbidden"


class ConflictError(ApplicationError):
    """The request conflicts with the current state (a concurrent change, an illegal
    transition, stock that is not there)."""

    type = "concurrency-conflict"
    title = "Concurrent modification"


class PreconditionFailed(ApplicationError):
    type = "concurrency-conflict"
    title = "Precondition failed"


class ServiceUnavailable(ApplicationError):
    type = "service-unavailable"
    title = "Service unavailable"
    retry_after = 5
