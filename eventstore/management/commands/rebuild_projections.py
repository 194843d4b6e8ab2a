"""Rebuild read models from the event log, without the API ever seeing them empty."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from tqdm import tqdm

from eventstore.exceptions import (
    ProjectionNotRebuildable,
    RebuildInProgress,
    RebuildLockTimeout,
    UnknownProjection,
)
from eventstore.management.prose_help import ProseHelpCommand
from eventstore.projections import projections_with_tables
from eventstore.rebuild import RebuildStart, rebuild_projection


class Command(ProseHelpCommand):
    help = """Rebuild projections (read models) from the first event.

Each projection is folded batch by batch into a shadow table <table>__rebuild (created
LIKE the real one) with bulk upserts; the real table keeps serving reads and inline
writes meanwhile. At the end the shadow is caught up and swapped in with ALTER TABLE
RENAME in one transaction, and the projection's checkpoint is set.

Interrupt it at any time (Ctrl-C): every finished batch is committed with the rebuild's
own checkpoint, and running the command again resumes from there (--restart throws the
partial shadow away). Without NAME every projection that owns a table is rebuilt."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="projection names")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.EVENTSTORE_REBUILD_BATCH_SIZE,
            help="events folded per transaction (default: %(default)s)",
        )
        parser.add_argument(
            "--restart",
            action="store_true",
            help="discard an interrupted rebuild's shadow table and start from scratch",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        names: list[str] = options["names"] or projections_with_tables()
        if not names:
            self.stdout.write("No projection owns a table: nothing to rebuild.")
            return
        for name in names:
            self._rebuild(
                name,
                batch_size=options["batch_size"],
                restart=options["restart"],
                progress=not options["no_progress"],
            )

    def _rebuild(self, name: str, *, batch_size: int, restart: bool, progress: bool) -> None:
        bar: tqdm[Any] | None = None

        def on_start(start: RebuildStart) -> None:
            nonlocal bar
            if start.resumed:
                self.stdout.write(
                    f"{name}: resuming an interrupted rebuild at {start.done_events:,} events"
                )
            bar = tqdm(
                total=max(start.total_events, start.done_events),
                initial=start.done_events,
                desc=name,
                unit=" events",
                unit_scale=start.total_events >= 10_000,
                smoothing=0.1,
                disable=not progress,
                file=getattr(self.stderr, "_out", sys.stderr),
            )

        def on_batch(count: int) -> None:
            if bar is not None:
                if bar.total is not None and bar.n + count > bar.total:
                    bar.total = bar.n + count
                bar.update(count)

        try:
            result = rebuild_projection(
                name, batch_size=batch_size, restart=restart, on_start=on_start, on_batch=on_batch
            )
        except (UnknownProjection, ProjectionNotRebuildable, RebuildInProgress) as exc:
            raise CommandError(str(exc)) from exc
        except RebuildLockTimeout as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except KeyboardInterrupt:
            if bar is not None:
                bar.close()
            raise CommandError(
                f"{name}: interrupted; finished batches are saved, run the command again to resume",
                returncode=130,
            ) from None
        finally:
            if bar is not None:
                bar.close()
        resumed = f" ({result.events_this_run:,} this run, resumed)" if result.resumed else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"{name}: rebuilt {result.table} from {result.events:,} events{resumed} "
                f"into {result.rows:,} rows in {result.seconds:.1f} s "
                f"({result.events_per_second:,.0f} events/s)"
            )
        )
