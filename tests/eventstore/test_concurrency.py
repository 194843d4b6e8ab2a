"""Real connections racing: one winner per version, and a reader of all events that never
skips an event committed late."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction

from eventstore.exceptions import ConcurrencyError
from eventstore.store import RecordedEvent, append, load, read_all, stream_version
from tests.eventstore.bank import BankAccountOpened, BankMoneyDeposited
from tests.eventstore.conftest import InThread, backend_pid, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)


def _open(account_id: uuid.UUID) -> None:
    append(account_id, "BankAccount", 0, [BankAccountOpened(owner="ann", currency="EUR")])


def test_two_connections_appending_at_the_same_version_one_wins() -> None:
    # given a stream at version 1
    account_id = uuid.uuid4()
    _open(account_id)
    first_appended = threading.Event()
    release_first = threading.Event()
    second_pid: list[int] = []

    def first_writer() -> None:
        with transaction.atomic():
            append(account_id, "BankAccount", 1, [BankMoneyDeposited(amount=Decimal(1))])
            first_appended.set()
            assert release_first.wait(10)

    def second_writer() -> str:
        second_pid.append(backend_pid())
        assert first_appended.wait(10)
        with transaction.atomic():
            try:
                append(account_id, "BankAccount", 1, [BankMoneyDeposited(amount=Decimal(2))])
            except ConcurrencyError:
                # the savepoint rolled back; this transaction is still usable
                return f"conflict, stream now at {stream_version(account_id)}"
        return "appended"

    # when both append at version 1 and the second has to wait for the first's commit
    first = InThread(first_writer)
    second = InThread(second_writer)
    assert first_appended.wait(10)
    while not second_pid:
        time.sleep(0.01)
    wait_until_blocked(second_pid[0])
    release_first.set()
    first.join()
    outcome = second.join()
    # then
    assert first.error is None
    assert second.error is None
    assert outcome == "conflict, stream now at 2"
    assert [e.event for e in load(account_id)][1:] == [BankMoneyDeposited(amount=Decimal(1))]


def test_many_racing_writers_each_version_written_once() -> None:
    # given
    account_id = uuid.uuid4()
    _open(account_id)
    barrier = threading.Barrier(4)

    def writer(n: int) -> bool:
        barrier.wait()
        try:
            append(account_id, "BankAccount", 1, [BankMoneyDeposited(amount=Decimal(n))])
        except ConcurrencyError:
            return False
        return True

    # when
    threads = [InThread(lambda n=n: writer(n)) for n in range(4)]
    wins = [t.join() for t in threads]
    # then
    assert all(t.error is None for t in threads)
    assert sum(wins) == 1
    assert stream_version(account_id) == 2


def _read_until(after: tuple[int, int], count: int, seen: list[RecordedEvent]) -> None:
    # Other sessions on this server (other test runs) can hold xmin back for a moment.
    deadline = time.monotonic() + 10
    while len(seen) < count and time.monotonic() < deadline:
        batch = read_all(after)
        seen.extend(batch)
        if batch:
            after = batch[-1].position
        else:
            time.sleep(0.02)


@pytest.mark.parametrize("a_inserts_first", [False, True])
def test_reader_delivers_an_event_committed_late_exactly_once(a_inserts_first: bool) -> None:
    # given writer A's transaction has its id before writer B's
    stream_a, stream_b = uuid.uuid4(), uuid.uuid4()
    a_ready = threading.Event()
    a_may_commit = threading.Event()

    def writer_a() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()")
            if a_inserts_first:
                _open(stream_a)
            a_ready.set()
            assert a_may_commit.wait(10)
            if not a_inserts_first:
                _open(stream_a)

    a = InThread(writer_a)
    assert a_ready.wait(10)
    # when B appends and commits while A is still open, and the reader runs
    _open(stream_b)
    first_read = read_all()
    # then B's event is held back: A's transaction, below it, has not finished
    assert [e.aggregate_id for e in first_read] == []

    # when A commits and the reader continues from where it was
    a_may_commit.set()
    a.join()
    assert a.error is None
    delivered: list[RecordedEvent] = []
    _read_until((0, 0), 2, delivered)
    time.sleep(0.05)
    delivered.extend(read_all(delivered[-1].position))
    # then both arrive, each once, A's first (its transaction id is lower)
    assert [e.aggregate_id for e in delivered] == [stream_a, stream_b]
    assert delivered[0].transaction_id < delivered[1].transaction_id
