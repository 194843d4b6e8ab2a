from __future__ import annotations

from commerce_project.errors import ConflictError, NotFound


class UnknownSagaType(LookupError):
    """No definition is registered for a saga type (a deployment or programming error)."""


class SagaNotFound(NotFound):
    title = "Saga not found"


class SagaIllegalTransition(ConflictError):
    """A staff operation that does not apply to the saga's status (e.g. retrying a COMPLETED
    saga)."""

    type = "illegal-transition"
    title = "Operation not allowed in the saga's current status"


class SagaBusy(ConflictError):
    """A worker holds the saga's lease right now; try again in a moment."""

    title = "The saga is running a step"

    retry_after = 1
