"""Show every projection with its checkpoint and lag."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from eventstore.projections import projection_status


class Command(BaseCommand):
    help = (
        "List projections: mode (inline = written in the appending transaction, async = "
        "written by the catch-up runner), table, checkpoint (transaction id, global position) "
        "with the events processed, and lag: events the read model has not seen yet (always "
        "0 for inline projections). A rebuild in progress is shown with its position."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        pass

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = projection_status()
        if not statuses:
            self.stdout.write("No projections are registered.")
            return
        header = ("NAME", "MODE", "TABLE", "CHECKPOINT", "PROCESSED", "LAG", "UPDATED", "REBUILD")
        rows = [header]
        for s in statuses:
            rows.append(
                (
                    s.name,
                    "inline" if s.inline else "async",
                    s.table or "-",
                    f"({s.checkpoint.position[0]}, {s.checkpoint.position[1]})",
                    f"{s.checkpoint.events_processed:,}",
                    f"{s.lag:,}",
                    s.checkpoint.updated_at.isoformat(timespec="seconds")
                    if s.checkpoint.updated_at
                    else "never",
                    f"at ({s.rebuild_position[0]}, {s.rebuild_position[1]})"
                    if s.rebuild_position
                    else "-",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            self.stdout.write(
                "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
            )
