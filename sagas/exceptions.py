from __future__ import annotations

from commerce_project.api.errors import ApplicationError, ConflictError, NotFound


class UnknownSagaType(LookupError):
    """No definition is registered for a saga type (a deployment or programming error)."""


class SagaNotFound(NotFound):
    title = "Saga not found"


class SagaIllegalTransition(ApplicationError):
    """A staff operation that does not apply to the saga's status (e.g. retrying a COMPLETED
    saga)."""

    type = "illegal-transition"
    title = "Operation not allowed in the saga's current status"
    status = 409


class SagaBusy(ConflictError):
    """A worker holds the saga's lease right now; try again in a moment."""

    title = "The saga is running a step"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}
