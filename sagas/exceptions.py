from __future__ import annotations

import uuid

from commerce_project.errors import ConflictError, InvalidInput, NotFound, ServiceUnavailable


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


class NoEmailAddress(InvalidInput):
    def __init__(self, customer_id: uuid.UUID) -> None:
        super().__init__(f"Customer {customer_id} has no e-mail address.")


class EmailNotSent(ServiceUnavailable):
    def __init__(self, error: Exception) -> None:
        super().__init__(f"The mail server refused or could not be reached: {error}.")
