"""Parsing the webhook settings that are more than a number."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings as SettingsWrapper

from commerce_project.settings import base
from integrations.webhooks import conf
from integrations.webhooks.dispatch import JITTER, next_delay


def test_the_retry_schedule_takes_fractions_and_gives_one_attempt_more(
    settings: SettingsWrapper,
) -> None:
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = "0.5, 2,30"
    assert conf.retry_schedule() == [0.5, 2.0, 30.0]
    assert conf.max_attempts() == 4


def test_the_default_schedule_is_seven_attempts_over_about_eight_and_a_half_hours(
    settings: SettingsWrapper,
) -> None:
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = base.WEBHOOK_RETRY_SCHEDULE_SECONDS
    assert conf.retry_schedule() == [5, 30, 300, 1800, 7200, 21600]
    assert conf.max_attempts() == 7


@pytest.mark.parametrize("raw", ["5,x", "-1,5"])
def test_a_bad_schedule_is_refused(settings: SettingsWrapper, raw: str) -> None:
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = raw
    with pytest.raises(ImproperlyConfigured):
        conf.retry_schedule()


def test_the_next_delay_follows_the_schedule_with_jitter(settings: SettingsWrapper) -> None:
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = "10,100"
    first, second = next_delay(1), next_delay(2)
    assert first is not None
    assert 10 * (1 - JITTER) <= first <= 10 * (1 + JITTER)
    assert second is not None
    assert 100 * (1 - JITTER) <= second <= 100 * (1 + JITTER)
    assert next_delay(3) is None  # the third failed attempt was the last


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("259200", timedelta(days=3)),
        ("0.5", timedelta(seconds=0.5)),
        ("P3D", timedelta(days=3)),
        ("3 00:00:00", timedelta(days=3)),
        ("01:30:00", timedelta(hours=1, minutes=30)),
    ],
)
def test_disable_after_reads_seconds_or_a_duration(
    settings: SettingsWrapper, raw: str, expected: timedelta
) -> None:
    settings.WEBHOOK_DISABLE_AFTER = raw
    assert conf.disable_after() == expected


def test_a_bad_disable_after_is_refused(settings: SettingsWrapper) -> None:
    settings.WEBHOOK_DISABLE_AFTER = "three days"
    with pytest.raises(ImproperlyConfigured):
        conf.disable_after()
