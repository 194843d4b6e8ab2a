"""Where webhooks may not go: non-http schemes, private, loopback and link-local addresses
(after DNS resolution), and redirects, which are never followed."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from integrations.webhooks.models import DeliveryStatus, WebhookDelivery
from integrations.webhooks.targets import TargetRefused, is_public, parse, resolve

from .conftest import new_order, pump_until, subscribe
from .receiver import Receiver


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",  # loopback
        "http://localhost:8080/hook",  # a name resolving to loopback
        "http://[::1]/hook",
        "http://10.1.2.3/hook",  # private
        "https://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",  # shared address space
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of the cloud metadata address
        "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64 of 10.0.0.1
        "http://[::7f00:1]/hook",  # IPv4-compatible loopback
        "http://[2002:7f00:1::]/hook",  # 6to4 of loopback
        "http://[fec0::1]/hook",  # site-local
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(
    settings: SettingsWrapper, url: str
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(TargetRefused):
        resolve(url)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::"]
)
def test_public_addresses_pass_in_every_spelling(address: str) -> None:
    assert is_public(address)


def test_an_internationalised_host_name_goes_out_in_its_ascii_form() -> None:
    assert parse("https://例え.jp/hook")[1] == "xn--r8jz45g.jp"
    with pytest.raises(TargetRefused):
        parse("https://" + "x" * 64 + ".com/hook")  # a label DNS cannot carry


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "example.com/x"],
)
def test_only_http_and_https_are_allowed(settings: SettingsWrapper, url: str) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with pytest.raises(TargetRefused, match="scheme"):
        resolve(url)


def test_credentials_in_the_url_are_refused(settings: SettingsWrapper) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with pytest.raises(TargetRefused, match="credentials"):
        resolve("http://user:pw@127.0.0.1/x")


def test_the_checked_address_is_the_one_connected_to(settings: SettingsWrapper) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    target = resolve("http://localhost:8123/a?b=c")
    assert target.address in {"127.0.0.1", "::1"}
    assert (target.host_header, target.path) == ("localhost:8123", "/a?b=c")


@pytest.mark.django_db(transaction=True)
def test_a_delivery_to_a_refused_target_sends_nothing(
    receiver: Receiver, settings: SettingsWrapper
) -> None:
    # given: a subscription made while allowed, then private targets are refused
    subscription = subscribe(receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    new_order()
    # when
    pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists())
    # then
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    assert delivery.attempts == 4
    assert delivery.last_response_code is None
    assert "target refused" in delivery.last_error
    assert receiver.received == []


@pytest.mark.django_db(transaction=True)
def test_redirects_are_not_followed(settings: SettingsWrapper) -> None:
    # given: a receiver that redirects to another one
    elsewhere = Receiver().start()
    redirecting = Receiver(answer=307, location=elsewhere.url).start()
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = "0.05"
    try:
        subscribe(redirecting)
        new_order()
        # when
        pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists())
        # then: a 3xx is a failed attempt, and nothing reached the other receiver
        delivery = WebhookDelivery.objects.get()
        assert (delivery.last_response_code, delivery.attempts) == (307, 2)
        assert len(redirecting.received) == 2
        assert elsewhere.received == []
    finally:
        redirecting.stop()
        elsewhere.stop()


@pytest.mark.django_db(transaction=True)
def test_a_receiver_answering_a_nul_byte_is_recorded_like_any_other(
    settings: SettingsWrapper,
) -> None:
    # given: a receiver whose answer holds a NUL, which PostgreSQL text cannot store
    receiver = Receiver(reply=b"ok\x00then").start()
    try:
        subscribe(receiver)
        new_order()
        # when
        pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists())
        # then: delivered once and recorded, the NUL replaced
        delivery = WebhookDelivery.objects.get()
        assert (delivery.attempts, delivery.last_response_code) == (1, 200)
        assert delivery.last_response_body == "ok\ufffdthen"
    finally:
        receiver.stop()
