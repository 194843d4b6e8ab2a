"""The sandbox gateway behaves like a real one, and its state lives in PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from payments.exceptions import PaymentDeclined, PaymentTransientError
from payments.gateway import Authorization, Capture, ChargeStatus, get_gateway
from payments.models import SandboxCharge, SandboxRequest
from payments.sandbox import SandboxGateway
from tests.sql import statements_sent, transaction_blocks

pytestmark = pytest.mark.django_db

gateway = SandboxGateway()


def authorize(token: str = "tok_ok", key: str = "auth-1", amount: str = "25.00") -> Authorization:
    return gateway.authorize(
        amount=Decimal(amount), currency="eur", token=token, idempotency_key=key
    )


def test_the_setting_chooses_the_sandbox() -> None:
    assert isinstance(get_gateway(), SandboxGateway)


def test_tok_ok_authorizes_and_the_same_key_never_charges_twice() -> None:
    # when
    first = authorize()
    second = authorize()
    # then
    assert first == second
    assert first.amount == Decimal("25.00")
    assert first.currency == "EUR"
    assert SandboxCharge.objects.count() == 1


def test_tok_declined_is_declined_and_stays_declined_for_its_key() -> None:
    # when / then
    for _ in range(2):
        with pytest.raises(PaymentDeclined) as declined:
            authorize("tok_declined")
        assert declined.value.code == "card_declined"
    assert SandboxRequest.objects.get(idempotency_key="auth-1").attempts == 1
    assert not SandboxCharge.objects.exists()


def test_tok_flaky_fails_twice_per_key_then_succeeds() -> None:
    # when
    outcomes = []
    for _ in range(3):
        try:
            authorize("tok_flaky")
            outcomes.append("ok")
        except PaymentTransientError as exc:
            outcomes.append(exc.code)
    # then
    assert outcomes == ["gateway_unavailable", "gateway_unavailable", "ok"]
    with pytest.raises(PaymentTransientError):
        authorize("tok_flaky", key="another-key")


def test_unknown_token_and_bad_amount_are_declined() -> None:
    with pytest.raises(PaymentDeclined, match="Unknown card token") as unknown:
        authorize("tok_stolen")
    assert unknown.value.code == "invalid_token"
    with pytest.raises(PaymentDeclined) as negative:
        authorize(key="auth-2", amount="-1")
    assert negative.value.code == "invalid_amount"


def test_reusing_a_key_for_another_request_is_declined() -> None:
    # given
    authorize(amount="25.00")
    # when / then
    with pytest.raises(PaymentDeclined) as reused:
        authorize(amount="30.00")
    assert reused.value.code == "idempotency_key_reused"


def test_capture_then_refund_up_to_the_captured_amount() -> None:
    # given
    auth = authorize()
    # when
    capture = gateway.capture(
        authorization_id=auth.authorization_id, amount=Decimal("20.00"), idempotency_key="cap-1"
    )
    again = gateway.capture(
        authorization_id=auth.authorization_id, amount=Decimal("20.00"), idempotency_key="cap-1"
    )
    gateway.refund(capture_id=capture.capture_id, amount=Decimal("15.00"), idempotency_key="r-1")
    # then
    assert again == capture
    with pytest.raises(PaymentDeclined) as too_much:
        gateway.refund(capture_id=capture.capture_id, amount=Decimal("5.01"), idempotency_key="r-2")
    assert too_much.value.code == "amount_exceeds_captured"
    gateway.refund(capture_id=capture.capture_id, amount=Decimal("5.00"), idempotency_key="r-3")
    charge = SandboxCharge.objects.get()
    assert (charge.captured_amount, charge.refunded_amount) == (Decimal("20.00"), Decimal("20.00"))


def test_a_first_authorize_and_a_capture_record_their_keys_answers(
    settings: SettingsWrapper,
) -> None:
    # when: a key's first authorize (one statement) and a capture allowed at once (its
    # answer written by the capture's own statement)
    auth = authorize()
    capture = gateway.capture(
        authorization_id=auth.authorization_id, amount=Decimal("20.00"), idempotency_key="cap-1"
    )
    # then: each key holds its answer, as the general way records it, and the bank its charge
    requests = {r.idempotency_key: r for r in SandboxRequest.objects.all()}
    assert (requests["auth-1"].operation, requests["auth-1"].attempts) == ("authorize", 1)
    assert requests["auth-1"].outcome == SandboxRequest.Outcome.SUCCEEDED
    assert requests["auth-1"].response == {
        "authorization_id": auth.authorization_id,
        "amount": "25.00",
        "currency": "EUR",
    }
    assert (requests["cap-1"].operation, requests["cap-1"].attempts) == ("capture", 1)
    assert requests["cap-1"].outcome == SandboxRequest.Outcome.SUCCEEDED
    assert requests["cap-1"].response == {
        "capture_id": capture.capture_id,
        "authorization_id": auth.authorization_id,
        "amount": "20.00",
        "currency": "EUR",
    }
    charge = SandboxCharge.objects.get()
    assert (charge.token, charge.currency, charge.status) == ("tok_ok", "EUR", "CAPTURED")
    assert (charge.authorized_amount, charge.captured_amount) == (Decimal("25.00"), capture.amount)
    assert (charge.capture_id, charge.refunded_amount) == (capture.capture_id, Decimal(0))
    assert charge.expires_at - charge.authorized_at == settings.PAYMENT_SANDBOX_AUTHORIZATION_TTL


@pytest.mark.django_db(transaction=True)
def test_a_first_authorize_is_one_statement_and_a_capture_two_in_one_transaction() -> None:
    # when
    with statements_sent() as authorizing, transaction_blocks() as authorize_blocks:
        auth = authorize()
    with statements_sent() as capturing, transaction_blocks() as capture_blocks:
        gateway.capture(
            authorization_id=auth.authorization_id,
            amount=Decimal("25.00"),
            idempotency_key="cap-1",
        )
    # then
    assert (len(authorizing), authorize_blocks) == (1, []), authorizing
    assert (len(capturing), capture_blocks) == (2, ["BEGIN"]), capturing


def test_capture_with_a_new_key_after_a_capture_is_declined() -> None:
    # given
    auth = authorize()
    gateway.capture(
        authorization_id=auth.authorization_id, amount=Decimal("25.00"), idempotency_key="cap-1"
    )
    # when / then
    with pytest.raises(PaymentDeclined) as twice:
        gateway.capture(
            authorization_id=auth.authorization_id,
            amount=Decimal("25.00"),
            idempotency_key="cap-2",
        )
    assert twice.value.code == "already_captured"


@pytest.mark.parametrize(
    ("given", "amount", "code"),
    [
        ("voided", "25.00", "authorization_voided"),
        ("authorized", "25.01", "amount_exceeds_authorization"),
        ("expired", "25.00", "authorization_expired"),
    ],
)
def test_capture_needs_a_live_authorization_and_at_most_its_amount(
    settings: SettingsWrapper, given: str, amount: str, code: str
) -> None:
    # given
    if given == "expired":
        settings.PAYMENT_SANDBOX_AUTHORIZATION_TTL = timedelta(0)
    auth = authorize()
    if given == "voided":
        gateway.void(authorization_id=auth.authorization_id, idempotency_key="void-1")
    # when / then
    with pytest.raises(PaymentDeclined) as refused:
        gateway.capture(
            authorization_id=auth.authorization_id, amount=Decimal(amount), idempotency_key="c"
        )
    assert refused.value.code == code


def test_tok_capture_fails_authorizes_but_refuses_the_capture() -> None:
    # given
    auth = authorize("tok_capture_fails")
    # when / then
    with pytest.raises(PaymentDeclined) as refused:
        gateway.capture(
            authorization_id=auth.authorization_id, amount=auth.amount, idempotency_key="c"
        )
    assert refused.value.code == "capture_failed"
    # and the authorization can still be voided
    gateway.void(authorization_id=auth.authorization_id, idempotency_key="v")
    assert SandboxCharge.objects.get().status == SandboxCharge.Status.VOIDED


def test_void_of_a_captured_charge_is_declined() -> None:
    # given
    auth = authorize()
    gateway.capture(authorization_id=auth.authorization_id, amount=auth.amount, idempotency_key="c")
    # when / then
    with pytest.raises(PaymentDeclined) as refused:
        gateway.void(authorization_id=auth.authorization_id, idempotency_key="v")
    assert refused.value.code == "already_captured"


def test_retrieve_says_what_happened_to_an_authorization_without_a_key() -> None:
    # given
    auth = authorize()
    voided = authorize(key="auth-2")
    gateway.void(authorization_id=voided.authorization_id, idempotency_key="v")
    # when
    held = gateway.retrieve(authorization_id=auth.authorization_id)
    capture = gateway.capture(
        authorization_id=auth.authorization_id, amount=auth.amount, idempotency_key="c"
    )
    gateway.refund(capture_id=capture.capture_id, amount=Decimal("5.00"), idempotency_key="r")
    captured = gateway.retrieve(authorization_id=auth.authorization_id)
    # then
    assert (held.status, held.captured_amount, held.capture_id) == (
        ChargeStatus.AUTHORIZED,
        Decimal("0"),
        "",
    )
    assert (captured.status, captured.capture_id, captured.currency) == (
        ChargeStatus.CAPTURED,
        capture.capture_id,
        "EUR",
    )
    assert (captured.captured_amount, captured.refunded_amount) == (
        Decimal("25.00"),
        Decimal("5.00"),
    )
    assert gateway.retrieve(authorization_id=voided.authorization_id).status == (
        ChargeStatus.VOIDED
    )
    with pytest.raises(PaymentDeclined) as unknown:
        gateway.retrieve(authorization_id="auth_nope")
    assert unknown.value.code == "unknown_charge"


@pytest.mark.parametrize(
    ("token", "operation"),
    [("tok_void_fails", "void"), ("tok_refund_fails", "refund"), ("tok_unavailable", "authorize")],
)
def test_outage_tokens_keep_failing_transiently(token: str, operation: str) -> None:
    # given
    calls: dict[str, Callable[[], Any]] = {
        "authorize": lambda: authorize(token, key="outage"),
        "void": lambda: gateway.void(authorization_id=auth.authorization_id, idempotency_key="v"),
        "refund": lambda: gateway.refund(
            capture_id=capture_id, amount=Decimal("1.00"), idempotency_key="r"
        ),
    }
    if operation != "authorize":
        auth = authorize(token)
        capture_id = ""
        if operation == "refund":
            capture_id = gateway.capture(
                authorization_id=auth.authorization_id, amount=auth.amount, idempotency_key="c"
            ).capture_id
    # when / then
    for _ in range(4):
        with pytest.raises(PaymentTransientError):
            calls[operation]()


@pytest.mark.django_db(transaction=True)
def test_the_same_key_from_two_connections_at_once_charges_once() -> None:
    # given
    barrier = threading.Barrier(2)
    results: list[Authorization] = []

    def call() -> None:
        try:
            barrier.wait()
            results.append(
                SandboxGateway().authorize(
                    amount=Decimal("10.00"),
                    currency="EUR",
                    token="tok_ok",
                    idempotency_key="shared",
                )
            )
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert len(results) == 2
    assert results[0] == results[1]
    assert SandboxCharge.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shared_key", [True, False], ids=["same key", "a key each"])
def test_concurrent_captures_of_one_authorization_capture_once(shared_key: bool) -> None:
    # given: an authorization, and four "processes" (threads with their own connections)
    # capturing it at the same moment
    auth = authorize()
    barrier = threading.Barrier(4)
    captures: list[Capture] = []
    refusals: list[str] = []

    def capture(n: int) -> None:
        try:
            barrier.wait()
            captures.append(
                SandboxGateway().capture(
                    authorization_id=auth.authorization_id,
                    amount=Decimal("25.00"),
                    idempotency_key="cap-shared" if shared_key else f"cap-{n}",
                )
            )
        except PaymentDeclined as exc:
            refusals.append(exc.code)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=capture, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then: the bank captured once; one key's answer is that capture, replayed to its
    # repeats, and every other key was refused
    charge = SandboxCharge.objects.get()
    assert (charge.status, charge.captured_amount) == ("CAPTURED", Decimal("25.00"))
    assert {c.capture_id for c in captures} == {charge.capture_id}
    if shared_key:
        assert (len(captures), refusals) == (4, [])
    else:
        assert (len(captures), refusals) == (1, ["already_captured"] * 3)


@pytest.mark.django_db(transaction=True)
def test_tok_flaky_attempts_are_counted_across_connections() -> None:
    # given: two attempts made by other "processes" (threads with their own connections)
    def attempt() -> None:
        try:
            with pytest.raises(PaymentTransientError):
                authorize("tok_flaky", key="flaky")
        finally:
            connection.close()

    for _ in range(2):
        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join()
    # when
    auth = authorize("tok_flaky", key="flaky")
    # then
    assert auth.authorization_id.startswith("auth_")
    assert SandboxRequest.objects.get(idempotency_key="flaky").attempts == 3
