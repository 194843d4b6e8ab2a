from __future__ import annotations

import uuid
from typing import Any

from sagas.models import SagaInstance
from sagas.services import saga_start

from . import definitions  # noqa: F401  (registers the test saga types)


def start_test_saga(
    *,
    saga_type: str = "test.three_steps",
    script: dict[str, str] | None = None,
    owner_id: uuid.UUID | None = None,
    **data: Any,
) -> SagaInstance:
    """Start a saga of one of the test definitions (tests/sagas/definitions.py)."""
    saga_id = uuid.uuid4()
    created = saga_start(
        saga_type=saga_type,
        saga_id=saga_id,
        correlation_id=f"corr-{saga_id.hex[:8]}",
        data={"script": script or {}, **data},
        owner_id=owner_id,
    )
    assert created
    return SagaInstance.objects.get(pk=saga_id)
