"""schemathesis over every operation of the live schema, as a customer and as staff: no 5xx,
every answer as documented (status, content type, headers, body), and no invalid input
accepted. Bounded: the schema's examples and a few generated requests per operation, valid
and invalid ones (schemathesis' examples and fuzzing phases) — a net for the contract that
keeps `make test` quick, not a fuzzing campaign (`schemathesis run` against `make run`, or
this file with more examples and the coverage phase, for that)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from pytest_django.fixtures import Settings as SettingsWrapper
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import User
from orders.domain import saga_id_for
from tests.factories import UserFactory
from tests.inventory.factories import ProductFactory

from .conftest import live_schema, order_with_id, token_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES_PER_OPERATION = 3


# Resources that exist while the run goes on (made by `authorizations`): generated ids
# would only ever meet 404s, so path ids and body product ids are these half the time.
ORDER_ID = uuid.UUID("0c0ffee0-0000-4000-8000-000000000001")
PRODUCT_ID = uuid.UUID("0c0ffee0-0000-4000-8000-000000000002")
KNOWN_IDS_PROBABILITY = 0.5


def _loaded_schema() -> Any:
    """The schema /api/schema/ serves, loaded at collection so that every operation is a
    test of its own. (schemathesis.pytest.from_fixture would load it from the live server,
    but its lazy loader does not run under pytest 9.)"""
    known = {"dictionary": "", "probability": KNOWN_IDS_PROBABILITY}
    config = SchemathesisConfig.from_dict(
        {
            "dictionaries": {
                "orders": {"values": [str(ORDER_ID)]},
                "products": {"values": [str(PRODUCT_ID)]},
                "sagas": {"values": [str(saga_id_for(ORDER_ID))]},
            },
            "parameters": {
                "path.order_id": {**known, "dictionary": "orders"},
                "path.id": {**known, "dictionary": "products"},
                "path.product_id": {**known, "dictionary": "products"},
                "body.product_id": {**known, "dictionary": "products"},
                "path.saga_id": {**known, "dictionary": "sagas"},
            },
        }
    )
    schema = schemathesis.openapi.from_dict(live_schema(), config=config)
    schema.config.phases.update(phases=["examples", "fuzzing"])
    schema.config.generation.update(
        max_examples=EXAMPLES_PER_OPERATION, modes=["positive", "negative"], database="none"
    )
    return schema


schema = _loaded_schema()


@pytest.fixture
def authorizations(
    live_server: Any, transactional_db: None, settings: SettingsWrapper
) -> Iterator[dict[str, str]]:
    """The Authorization header of a customer and of a superuser (staff); the customer has
    a confirmed order (ORDER_ID, its saga waiting in a queue nobody reads) of a product in
    stock (PRODUCT_ID)."""
    customer: User = UserFactory()
    settings.SAGA_QUEUE = f"test-unconsumed-{uuid.uuid4().hex[:12]}"
    product = ProductFactory(id=PRODUCT_ID, stock=50)
    order_with_id(ORDER_ID, customer, [(product, 2)])
    staff: User = UserFactory(is_staff=True, is_superuser=True)
    yield {
        role: f"Bearer {token_for(live_server.url, user)}"
        for role, user in (("customer", customer), ("staff", staff))
    }
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(settings.SAGA_QUEUE)
    broker.close()


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    # The same requests on every run: `make test` must not pass or fail by the draw. A
    # wider, random search is `schemathesis run` against `make run` (docs/api-contract.md).
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_contract(
    case: Any, live_server: Any, authorizations: dict[str, str]
) -> None:
    # every generated request is sent as each of them: what a customer may not do, staff may
    for authorization in authorizations.values():
        case.call_and_validate(
            base_url=live_server.url, headers={"Authorization": authorization}, checks=CHECKS
        )
