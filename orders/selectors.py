"""Reads: the OrderView read model for lists and details, the event store for the event
stream and for time travel. Visibility is decided here: customers see their own orders,
staff see all; someone else's order does not exist (404)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, overload
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from commerce_project.rows import model_from_row
from eventstore.exceptions import AggregateNotFound
from eventstore.prepared import fetch_prepared
from eventstore.store import (
    RecordedEvent,
    count_without,
    load,
    load_page_without,
    stream_version,
)

from .commands import actor_for_user, orders
from .domain import (
    INTERNAL_EVENT_TYPES,
    Order,
    OrderCreated,
    OrderNoteAdded,
    authorize,
    may,
    replay,
)
from .exceptions import OrderNotFound, OrderNotYetCreated, OrderVersionOutOfRange
from .models import SHORT_REF, SHORT_REF_LENGTH, CustomerOrderStats, OrderView
from .projections import order_view_row


def _is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_staff", False))


def order_views_visible_to(
    user: Any, *, views: QuerySet[OrderView] | None = None
) -> QuerySet[OrderView]:
    """The orders `user` may see: all of `views` (every order by default) for staff, their
    own for customers."""
    views = OrderView.objects.all() if views is None else views.all()
    return views if _is_staff(user) else views.filter(customer_id=user.pk)


_SHORT_REF = re.compile(rf"^[0-9a-f]{{{SHORT_REF_LENGTH}}}$")


def order_views_search(views: QuerySet[OrderView], term: str) -> QuerySet[OrderView]:
    """The orders a back-office search term names, ignoring case: a full order id, the
    short reference of the e-mails (the id's first 8 hex characters), a customer's e-mail
    or an SKU on one of the lines. Each kind is answered by an index (order_views_short_ref,
    users_email_lower then order_views_customer_created, order_views_skus), never a scan."""
    text = term.strip()
    if not text:
        return views
    try:
        return views.filter(order_id=UUID(text))
    except ValueError:
        pass
    folded = text.lower()
    matches = Q(skus__contains=[folded])
    if _SHORT_REF.match(folded):
        matches |= Q(short_ref=folded)
    if "@" in folded:
        # Resolved first: an id list ORed with the other kinds stays an index condition.
        customers = list(
            get_user_model()
            .objects.alias(email_folded=Lower("email"))
            .filter(email_folded=folded)
            .values_list("pk", flat=True)
        )
        matches |= Q(customer_id__in=customers)
    return views.alias(short_ref=SHORT_REF).filter(matches)


# The detail is the hottest read: one indexed row, fetched without the ORM's query
# compilation (about 0.5 ms of a ~4 ms request, see bench/bench_orders.py). The saga steps
# and the order e-mails read the row the same way (about 1 ms of CPU less per read).
ORDER_VIEW_COLUMNS = [f.attname for f in OrderView._meta.concrete_fields]
_SELECT = f"SELECT {', '.join(ORDER_VIEW_COLUMNS)} FROM order_views WHERE order_id = %s"
_SELECT_FROM_VERSION = f"{_SELECT} AND version >= %s"


_EXISTS = "SELECT 1 FROM order_views WHERE order_id = %s"


def order_view_check(*, user: Any, order_id: UUID) -> None:
    """OrderNotFound unless `user` may see the order: what a command checks before it runs
    (the command decides everything else on the aggregate it loads), without reading and
    decoding the whole row."""
    _visible_row(_EXISTS, user=user, order_id=order_id)


def order_view_get(*, user: Any, order_id: UUID) -> OrderView:
    return order_view_from_row(_visible_row(_SELECT, user=user, order_id=order_id))


def _visible_row(sql: str, *, user: Any, order_id: UUID) -> tuple[Any, ...]:
    """The row `sql` selects for the order, if `user` may see it (staff: any; a customer:
    their own), else OrderNotFound."""
    params: list[Any] = [order_id]
    if not _is_staff(user):
        sql, params = f"{sql} AND customer_id = %s", [order_id, user.pk]
    # Prepared and read in binary: planned once per connection, and psycopg decodes the
    # columns (jsonb included) itself; about 40 us of CPU less per detail.
    rows = fetch_prepared(sql, params)
    if not rows:
        raise OrderNotFound(order_id)
    return rows[0]


def order_view_find(order_id: UUID, *, min_version: int = 0) -> OrderView | None:
    """The read model's row of the order, if it has one at `min_version` or later."""
    rows = fetch_prepared(_SELECT_FROM_VERSION, [order_id, min_version])
    return order_view_from_row(rows[0]) if rows else None


def order_view_from_row(row: Sequence[Any]) -> OrderView:
    """An OrderView from the first len(ORDER_VIEW_COLUMNS) values of a row selected as
    ORDER_VIEW_COLUMNS."""
    return model_from_row(OrderView, row[: len(ORDER_VIEW_COLUMNS)])


class _PagedStream(Sequence[RecordedEvent]):
    """A stream's events as a sequence a paginator can slice: a slice is one ranged read
    (`_read`), never the whole stream."""

    def __init__(self, aggregate_id: UUID, length: int) -> None:
        self.aggregate_id = aggregate_id
        self._length = length

    def _read(self, start: int, stop: int) -> list[RecordedEvent]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> RecordedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[RecordedEvent]: ...

    def __getitem__(self, index: int | slice) -> RecordedEvent | list[RecordedEvent]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            return self._read(start, stop)[::step] if start < stop else []
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(index)
        return self._read(position, position + 1)[0]


class EventStream(_PagedStream):
    """One stream's events as a sequence that loads only the slice asked for. A stream's
    versions run 1..N without gaps, so its length is its version and a slice is a version
    range: a paginator reading one page costs one ranged query, however long the stream."""

    def _read(self, start: int, stop: int) -> list[RecordedEvent]:
        return load(self.aggregate_id, from_version=start + 1, to_version=stop)


class VisibleEventStream(_PagedStream):
    """One stream's events without the internal ones (notes), for readers who may not see
    them: versions then have gaps, so a page is an OFFSET/LIMIT over the remaining events."""

    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(
            aggregate_id, count_without(aggregate_id, exclude_types=INTERNAL_EVENT_TYPES)
        )

    def _read(self, start: int, stop: int) -> list[RecordedEvent]:
        return load_page_without(
            self.aggregate_id,
            exclude_types=INTERNAL_EVENT_TYPES,
            offset=start,
            limit=stop - start,
        )


def may_read_notes(*, user: Any, customer_id: UUID | None) -> bool:
    """Whether `user` may read the internal notes of the order of `customer_id`: staff
    holding orders.add_order_note, on someone else's order (on their own order staff are
    its customer, and a customer never sees a note)."""
    return _is_staff(user) and may(actor_for_user(user), "add_note", customer_id=customer_id)


def _customer_of_stream(order_id: UUID) -> UUID | None:
    first = load(order_id, to_version=1)
    created = first[0].event if first else None
    return created.customer_id if isinstance(created, OrderCreated) else None


def order_events(*, user: Any, order_id: UUID) -> Sequence[RecordedEvent]:
    """The order's event stream in version order, loaded page by page; without its internal
    notes unless `user` may read them (decided on the stream's own OrderCreated)."""
    order_view_get(user=user, order_id=order_id)
    if _is_staff(user) and may_read_notes(user=user, customer_id=_customer_of_stream(order_id)):
        return EventStream(order_id, stream_version(order_id))
    return VisibleEventStream(order_id)


def order_notes(*, user: Any, order_id: UUID) -> list[RecordedEvent]:
    """The order's internal notes, oldest first, for staff who may write them (decided on
    the order as loaded from its stream; ActionForbidden otherwise)."""
    order_view_get(user=user, order_id=order_id)
    events = load(order_id)
    order = replay(order_id, [e.event for e in events])
    authorize(actor_for_user(user), "add_note", customer_id=order.customer_id)
    return [e for e in events if isinstance(e.event, OrderNoteAdded)]


def order_as_of(
    *, user: Any, order_id: UUID, version: int | None = None, as_of: datetime | None = None
) -> Order:
    """The order rebuilt from its events as it was at `version` or at time `as_of`.

    The order exists (someone else's answers OrderNotFound), so a point outside its stream
    says which: OrderVersionOutOfRange (400) for a version past the last one,
    OrderNotYetCreated (404) for a moment before its first event."""
    order_view_get(user=user, order_id=order_id)
    try:
        return orders.get(order_id, version=version, as_of=as_of)
    except AggregateNotFound:
        if version is not None:
            raise OrderVersionOutOfRange(order_id, version, stream_version(order_id)) from None
        first = load(order_id, to_version=1)
        if as_of is not None and first:
            raise OrderNotYetCreated(order_id, as_of, first[0].created_at) from None
        raise


def order_view_from_aggregate(order: Order) -> OrderView:
    """An unsaved OrderView of an aggregate: history answers in the same shape as detail."""
    return OrderView(**order_view_row(order))


def customer_order_stats_visible_to(user: Any) -> QuerySet[CustomerOrderStats]:
    stats = CustomerOrderStats.objects.all()
    return stats if _is_staff(user) else stats.filter(customer_id=user.pk)
