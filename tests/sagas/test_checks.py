"""The start-up check that the fulfilment timers nest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from sagas.checks import _refuse_tangled_timers, fulfilment_timer_problems


def ids(settings: SettingsWrapper) -> list[str]:
    return [str(problem.id) for problem in fulfilment_timer_problems()]


def test_the_default_timers_nest(settings: SettingsWrapper) -> None:
    assert ids(settings) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"FULFILMENT_STEP_DEADLINE": timedelta(minutes=15)}, ["sagas.E002", "sagas.E003"]),
        ({"INVENTORY_RESERVATION_TTL": timedelta(minutes=5)}, ["sagas.E003"]),
        ({"FULFILMENT_AUTHORIZATION_LIFETIME": timedelta(minutes=5)}, ["sagas.E004"]),
        ({"PAYMENT_SANDBOX_AUTHORIZATION_TTL": timedelta(minutes=5)}, ["sagas.E004"]),
        ({"SAGA_LEASE": timedelta(minutes=2)}, ["sagas.W001"]),
        ({"FULFILMENT_PAYMENT_TIMEOUT": timedelta(0)}, ["sagas.E001", "sagas.E002"]),
        # A capture run that starts just before its deadline may last the hard time limit.
        ({"CELERY_TASK_TIME_LIMIT": 300}, ["sagas.E003"]),
        ({"CELERY_TASK_TIME_LIMIT": None}, ["sagas.E005"]),
        ({"CELERY_TASK_TIME_LIMIT": 0}, ["sagas.E005"]),
        ({"SAGA_LEASE": timedelta(0)}, ["sagas.E006"]),
    ],
)
def test_timers_that_do_not_nest_are_reported(
    settings: SettingsWrapper, changes: dict[str, timedelta | int | None], expected: list[str]
) -> None:
    # given
    for name, value in changes.items():
        setattr(settings, name, value)
    # when / then
    assert ids(settings) == expected


def test_a_celery_process_refuses_to_start_with_tangled_timers(settings: SettingsWrapper) -> None:
    # given
    settings.INVENTORY_RESERVATION_TTL = timedelta(minutes=1)
    # when / then
    with pytest.raises(SystemExit, match=r"sagas\.E003"):
        _refuse_tangled_timers()
