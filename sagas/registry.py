"""Saga definitions by type. Modules register their definitions at import; the sagas app
imports the modules named in `SAGA_DEFINITION_MODULES` when Django starts, so web, worker and
beat processes all know the same sagas."""

from __future__ import annotations

import logging

from .domain import SagaDefinition
from .exceptions import UnknownSagaType

logger = logging.getLogger(__name__)

_definitions: dict[str, SagaDefinition] = {}


def register_saga(definition: SagaDefinition) -> SagaDefinition:
    """Register (or replace, e.g. on reload) the definition of `definition.saga_type`."""
    previous = _definitions.get(definition.saga_type)
    if previous is not None and previous is not definition:
        logger.debug("saga type %s re-registered", definition.saga_type)
    _definitions[definition.saga_type] = definition
    return definition


def get_saga_definition(saga_type: str) -> SagaDefinition:
    try:
        return _definitions[saga_type]
    except KeyError:
        raise UnknownSagaType(f"No saga definition is registered for {saga_type!r}.") from None


def find_saga_definition(saga_type: str) -> SagaDefinition | None:
    return _definitions.get(saga_type)


def registered_saga_types() -> list[str]:
    return sorted(_definitions)
