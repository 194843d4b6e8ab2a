"""`manage.py graph_transitions` draws the unmanaged Order aggregate's lifecycle."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from orders.domain import TRANSITIONS


def test_graph_transitions_draws_every_transition_of_the_order() -> None:
    # when
    out = StringIO()
    call_command("graph_transitions", "orders.Order", stdout=out)
    # then
    dot = out.getvalue()
    for rule in TRANSITIONS:
        assert f"label={rule.method}" in dot
    assert '"orders.order.status.PAID" -> "orders.order.status.SHIPPED" [label=ship]' in dot
