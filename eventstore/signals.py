"""`events_appended` is sent by `eventstore.store.append` inside the appending transaction,
with `sender=<aggregate_type>` and `events=list[RecordedEvent]`.

Receivers run in that transaction: inline projections write the read model there (so it
commits, or rolls back, with the events), and a receiver that starts outside work must defer
it with `transaction.on_commit`. A receiver that raises aborts the append.
"""

from __future__ import annotations

from django.dispatch import Signal

events_appended = Signal()
