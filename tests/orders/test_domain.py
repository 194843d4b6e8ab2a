"""Every Order command, given events -> when command -> then events (or an error and none)."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from commerce_project.errors import InvalidInput
from orders.domain import (
    ActorKind,
    CatalogueItem,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderDelivered,
    OrderItemAdded,
    OrderItemQuantityChanged,
    OrderItemRemoved,
    OrderPaid,
    OrderPaymentAuthorized,
    OrderPaymentRefunded,
    OrderRefunded,
    OrderShipped,
    PaymentStatus,
    Refund,
    ShippingAddressSet,
    saga_id_for,
)
from orders.exceptions import (
    CurrencyMismatch,
    IllegalTransition,
    InvalidQuantity,
    OrderLineNotFound,
    PaymentAmountMismatch,
    ProductUnavailable,
)

from .scenario import (
    ADDRESS,
    AT,
    AUTHORIZED,
    CONFIRMED,
    CREATED,
    CUSTOMER_ID,
    DELIVERED,
    ORDER_ID,
    PAID,
    PAYMENT_ID,
    READY,
    SHIPPED,
    WIDGET,
    WITH_LINE,
    catalogue_item,
    given,
    when,
)


def test_create_records_the_order_and_its_lines() -> None:
    # given
    order = given()
    # when
    events = when(
        order,
        lambda o: o.create(customer_id=CUSTOMER_ID, currency="EUR", at=AT, items=[(WIDGET, 3)]),
    )
    # then
    assert events == [
        OrderCreated(customer_id=CUSTOMER_ID, currency="EUR", occurred_at=AT),
        OrderItemAdded(
            product_id=WIDGET.product_id,
            sku="WID-1",
            name="Widget",
            unit_price=Decimal("12.50"),
            quantity=3,
            occurred_at=AT,
        ),
    ]
    assert order.status == "DRAFT"
    assert order.total_amount == Decimal("37.50")
    assert order.version == 2


def test_create_twice_is_illegal() -> None:
    order = given(*CREATED)
    with pytest.raises(IllegalTransition) as raised:
        order.create(customer_id=CUSTOMER_ID, currency="EUR", at=AT)
    assert raised.value.current_status == "DRAFT"
    assert order.pending_events == []


def test_add_item_takes_the_catalogue_price() -> None:
    # given
    order = given(*CREATED)
    item = catalogue_item(price="3.99")
    # when
    events = when(order, lambda o: o.add_item(item=item, quantity=4, at=AT))
    # then
    assert events == [
        OrderItemAdded(
            product_id=item.product_id,
            sku=item.sku,
            name=item.name,
            unit_price=Decimal("3.99"),
            quantity=4,
            occurred_at=AT,
        )
    ]
    assert order.total_amount == Decimal("15.96")


def test_adding_a_product_again_raises_its_quantity_at_the_original_price() -> None:
    # given: the widget is on the order at 12.50 and has since become dearer
    order = given(*WITH_LINE)
    dearer = CatalogueItem(
        product_id=WIDGET.product_id,
        sku=WIDGET.sku,
        name=WIDGET.name,
        unit_price=Decimal("99.00"),
        currency="EUR",
    )
    # when
    events = when(order, lambda o: o.add_item(item=dearer, quantity=3, at=AT))
    # then
    assert events == [
        OrderItemQuantityChanged(product_id=WIDGET.product_id, quantity=5, occurred_at=AT)
    ]
    assert len(order.lines) == 1
    assert order.total_amount == Decimal("62.50")


@pytest.mark.parametrize("quantity", [0, -1, 1000])
def test_add_item_rejects_a_quantity_out_of_range(quantity: int) -> None:
    order = given(*CREATED)
    with pytest.raises(InvalidQuantity):
        order.add_item(item=catalogue_item(), quantity=quantity, at=AT)
    assert order.pending_events == []


def test_adding_again_cannot_pass_the_maximum_quantity() -> None:
    order = given(*WITH_LINE)
    with pytest.raises(InvalidQuantity):
        order.add_item(item=WIDGET, quantity=998, at=AT)
    assert order.lines[WIDGET.product_id].quantity == 2


def test_add_item_rejects_another_currency() -> None:
    order = given(*CREATED)
    with pytest.raises(CurrencyMismatch) as raised:
        order.add_item(item=catalogue_item(currency="USD"), quantity=1, at=AT)
    assert "product_id" in raised.value.extra["errors"]
    assert order.pending_events == []


def test_add_item_rejects_an_inactive_product() -> None:
    order = given(*CREATED)
    with pytest.raises(ProductUnavailable):
        order.add_item(item=catalogue_item(active=False), quantity=1, at=AT)


def test_change_item_quantity_records_the_new_quantity() -> None:
    order = given(*WITH_LINE)
    events = when(
        order, lambda o: o.change_item_quantity(product_id=WIDGET.product_id, quantity=7, at=AT)
    )
    assert events == [
        OrderItemQuantityChanged(product_id=WIDGET.product_id, quantity=7, occurred_at=AT)
    ]
    assert order.total_amount == Decimal("87.50")


@pytest.mark.parametrize("quantity", [0, 1000])
def test_change_item_quantity_rejects_out_of_range(quantity: int) -> None:
    order = given(*WITH_LINE)
    with pytest.raises(InvalidInput):
        order.change_item_quantity(product_id=WIDGET.product_id, quantity=quantity, at=AT)


def test_change_item_quantity_of_a_missing_line_is_not_found() -> None:
    order = given(*WITH_LINE)
    with pytest.raises(OrderLineNotFound):
        order.change_item_quantity(product_id=uuid4(), quantity=1, at=AT)


def test_remove_item_records_the_removal() -> None:
    order = given(*WITH_LINE)
    events = when(order, lambda o: o.remove_item(product_id=WIDGET.product_id, at=AT))
    assert events == [OrderItemRemoved(product_id=WIDGET.product_id, occurred_at=AT)]
    assert order.lines == {}
    assert order.total_amount == Decimal("0")


def test_remove_item_of_a_missing_line_is_not_found() -> None:
    order = given(*CREATED)
    with pytest.raises(OrderLineNotFound):
        order.remove_item(product_id=uuid4(), at=AT)


def test_set_shipping_address_records_it() -> None:
    order = given(*WITH_LINE)
    events = when(order, lambda o: o.set_shipping_address(address=ADDRESS, at=AT))
    assert events == [ShippingAddressSet(address=ADDRESS, occurred_at=AT)]
    assert order.shipping_address == ADDRESS


def test_confirm_records_the_total_and_the_payment_token() -> None:
    order = given(*READY)
    events = when(order, lambda o: o.confirm(payment_token="tok_ok", at=AT))
    assert events == [
        OrderConfirmed(
            payment_token="tok_ok", total_amount=Decimal("25.00"), currency="EUR", occurred_at=AT
        )
    ]
    assert order.status == "CONFIRMED"
    assert order.confirmed_at == AT


@pytest.mark.parametrize(
    ("history", "unmet"),
    [
        (CREATED, ["has_lines", "has_shipping_address"]),
        (WITH_LINE, ["has_shipping_address"]),
    ],
)
def test_confirm_needs_a_line_and_an_address(history: tuple[object, ...], unmet: list[str]) -> None:
    order = given(*history)  # type: ignore[arg-type]
    with pytest.raises(IllegalTransition) as raised:
        order.confirm(payment_token="tok_ok", at=AT)
    assert raised.value.unmet_conditions == unmet
    assert order.status == "DRAFT"
    assert order.pending_events == []


def test_lines_cannot_change_after_confirmation() -> None:
    order = given(*CONFIRMED)
    with pytest.raises(IllegalTransition) as raised:
        order.add_item(item=catalogue_item(), quantity=1, at=AT)
    assert raised.value.current_status == "CONFIRMED"
    assert raised.value.allowed_transitions == ["authorize_payment", "cancel"]


def test_authorize_payment_records_the_authorization() -> None:
    order = given(*CONFIRMED)
    events = when(
        order,
        lambda o: o.authorize_payment(payment_id=PAYMENT_ID, amount=Decimal("25.00"), at=AT),
    )
    assert events == [
        OrderPaymentAuthorized(payment_id=PAYMENT_ID, amount=Decimal("25.00"), occurred_at=AT)
    ]
    assert order.status == "CONFIRMED"
    assert order.payment_status == PaymentStatus.AUTHORIZED


def test_authorize_payment_must_match_the_total() -> None:
    order = given(*CONFIRMED)
    with pytest.raises(PaymentAmountMismatch):
        order.authorize_payment(payment_id=PAYMENT_ID, amount=Decimal("24.99"), at=AT)


def test_authorize_payment_twice_is_illegal() -> None:
    order = given(*AUTHORIZED)
    with pytest.raises(IllegalTransition) as raised:
        order.authorize_payment(payment_id=PAYMENT_ID, amount=Decimal("25.00"), at=AT)
    assert raised.value.unmet_conditions == ["payment_not_authorized"]


def test_mark_paid_captures_the_payment() -> None:
    order = given(*AUTHORIZED)
    events = when(order, lambda o: o.mark_paid(payment_id=PAYMENT_ID, at=AT))
    assert events == [OrderPaid(payment_id=PAYMENT_ID, amount=Decimal("25.00"), occurred_at=AT)]
    assert order.status == "PAID"
    assert order.payment_status == PaymentStatus.CAPTURED


def test_mark_paid_needs_an_authorized_payment() -> None:
    order = given(*CONFIRMED)
    with pytest.raises(IllegalTransition) as raised:
        order.mark_paid(payment_id=PAYMENT_ID, at=AT)
    assert raised.value.unmet_conditions == ["payment_authorized"]


def test_ship_records_carrier_and_tracking() -> None:
    order = given(*PAID)
    events = when(order, lambda o: o.ship(carrier="DHL", tracking_number="JD1", at=AT))
    assert events == [OrderShipped(carrier="DHL", tracking_number="JD1", occurred_at=AT)]
    assert (order.status, order.carrier, order.tracking_number) == ("SHIPPED", "DHL", "JD1")


def test_deliver_records_delivery() -> None:
    order = given(*SHIPPED)
    events = when(order, lambda o: o.deliver(at=AT))
    assert events == [OrderDelivered(occurred_at=AT)]
    assert order.status == "DELIVERED"


@pytest.mark.parametrize("history", [CREATED, CONFIRMED, AUTHORIZED])
def test_cancel_before_payment_records_the_reason(history: tuple[object, ...]) -> None:
    order = given(*history)  # type: ignore[arg-type]
    payment_before = order.payment_status
    events = when(order, lambda o: o.cancel(reason="changed_mind", by=ActorKind.CUSTOMER, at=AT))
    assert events == [
        OrderCancelled(
            reason="changed_mind",
            cancelled_by=ActorKind.CUSTOMER,
            refund=Refund.NONE,
            refund_amount=Decimal("0"),
            occurred_at=AT,
        )
    ]
    assert order.status == "CANCELLED"
    assert order.cancellation_reason == "changed_mind"
    # an authorization is released by the cancellation; no money was ever taken
    expected = "VOIDED" if payment_before == "AUTHORIZED" else payment_before
    assert order.payment_status == expected


def test_plain_cancel_of_a_paid_order_is_illegal() -> None:
    order = given(*PAID)
    with pytest.raises(IllegalTransition) as raised:
        order.cancel(reason="changed_mind", by=ActorKind.STAFF, at=AT)
    assert "cancel_with_refund" in raised.value.allowed_transitions


def test_cancel_with_refund_leaves_the_refund_pending() -> None:
    order = given(*PAID)
    events = when(
        order, lambda o: o.cancel_with_refund(reason="out_of_stock", by=ActorKind.STAFF, at=AT)
    )
    assert events == [
        OrderCancelled(
            reason="out_of_stock",
            cancelled_by=ActorKind.STAFF,
            refund=Refund.OWED,
            refund_amount=Decimal("25.00"),
            occurred_at=AT,
        )
    ]
    assert order.status == "CANCELLED"
    assert order.payment_status == PaymentStatus.REFUND_PENDING


def test_cancel_with_refund_already_made_is_refunded() -> None:
    order = given(*PAID)
    when(
        order,
        lambda o: o.cancel_with_refund(
            reason="out_of_stock", by=ActorKind.SAGA, refunded=True, at=AT
        ),
    )
    assert order.payment_status == PaymentStatus.REFUNDED


@pytest.mark.parametrize("history", [SHIPPED, DELIVERED])
def test_refund_records_the_amount_owed(history: tuple[object, ...]) -> None:
    order = given(*history)  # type: ignore[arg-type]
    events = when(order, lambda o: o.refund(reason="damaged", at=AT))
    assert events == [OrderRefunded(reason="damaged", amount=Decimal("25.00"), occurred_at=AT)]
    assert order.status == "REFUNDED"
    assert order.payment_status == PaymentStatus.REFUND_PENDING


def test_record_refund_completes_a_pending_refund() -> None:
    order = given(
        *DELIVERED, OrderRefunded(reason="damaged", amount=Decimal("25.00"), occurred_at=AT)
    )
    events = when(
        order, lambda o: o.record_refund(payment_id=PAYMENT_ID, amount=Decimal("25.00"), at=AT)
    )
    assert events == [
        OrderPaymentRefunded(payment_id=PAYMENT_ID, amount=Decimal("25.00"), occurred_at=AT)
    ]
    assert order.status == "REFUNDED"
    assert order.payment_status == PaymentStatus.REFUNDED


CANCELLED_BY_CUSTOMER = OrderCancelled(
    reason="changed_mind",
    cancelled_by=ActorKind.CUSTOMER,
    refund=Refund.NONE,
    refund_amount=Decimal("0"),
    occurred_at=AT,
)


def test_record_refund_without_a_pending_refund_is_illegal() -> None:
    order = given(*CREATED, CANCELLED_BY_CUSTOMER)
    with pytest.raises(IllegalTransition) as raised:
        order.record_refund(payment_id=PAYMENT_ID, amount=Decimal("0"), at=AT)
    assert raised.value.unmet_conditions == ["refund_to_record"]


def test_record_refund_of_a_capture_made_before_a_customer_cancel() -> None:
    # given: authorized, then cancelled by the customer before PAID (the hold reads VOIDED)
    order = given(*AUTHORIZED, CANCELLED_BY_CUSTOMER)
    assert order.payment_status == PaymentStatus.VOIDED
    # when: the saga records the refund of the capture the bank had made meanwhile
    events = when(
        order, lambda o: o.record_refund(payment_id=PAYMENT_ID, amount=Decimal("25.00"), at=AT)
    )
    # then
    assert events == [
        OrderPaymentRefunded(payment_id=PAYMENT_ID, amount=Decimal("25.00"), occurred_at=AT)
    ]
    assert (order.status, order.payment_status) == ("CANCELLED", PaymentStatus.REFUNDED)


def test_the_aggregate_is_never_saved_directly() -> None:
    order = given(*CREATED)
    with pytest.raises(TypeError):
        order.save()
    assert isinstance(order, Order)


def test_snapshot_restores_the_same_state() -> None:
    # given
    original = given(*PAID)
    # when
    restored = Order.blank(ORDER_ID)
    restored.restore_snapshot_state(original.snapshot_state())
    # then
    assert restored.status == original.status
    assert restored.lines == original.lines
    assert restored.shipping_address == original.shipping_address
    assert restored.payment_status == original.payment_status
    assert restored.paid_at == original.paid_at
    assert restored.total_amount == Decimal("25.00")


def test_saga_id_is_derived_from_the_order_id() -> None:
    assert saga_id_for(ORDER_ID) == saga_id_for(ORDER_ID)
    assert saga_id_for(ORDER_ID) != saga_id_for(CUSTOMER_ID)
    assert saga_id_for(ORDER_ID).version == 5
