"""The HTTP meaning of application errors: status code and headers by error family, and
the errors only the HTTP edge raises. The errors themselves live in `commerce_project.errors`
(below every app); `problems.exception_handler` renders them as RFC 9457 problems.
"""

from __future__ import annotations

from commerce_project.errors import (
    ApplicationError,
    ConflictError,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
)


class IdempotencyKeyReused(ApplicationError):
    type = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class RequestInProgress(ConflictError):
    title = "A request with this Idempotency-Key is still in progress"
    retry_after = 1


class DatabaseUnavailable(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("The database is unreachable or restarting; try again shortly.")


# The first family an error belongs to decides its status; anything else is a 400.
_STATUS_BY_FAMILY: tuple[tuple[type[ApplicationError], int], ...] = (
    (InvalidInput, 400),
    (NotFound, 404),
    (Forbidden, 403),
    (ConflictError, 409),
    (PreconditionFailed, 412),
    (IdempotencyKeyReused, 422),
    (ServiceUnavailable, 503),
)


def http_status(exc: ApplicationError) -> int:
    for family, status in _STATUS_BY_FAMILY:
        if isinstance(exc, family):
            return status
    return 400


def http_headers(exc: ApplicationError) -> dict[str, str]:
    return {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
