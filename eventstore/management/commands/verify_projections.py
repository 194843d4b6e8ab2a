"""Compare stored read models with a fresh fold of the event log."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from eventstore.exceptions import ProjectionNotRebuildable, UnknownProjection
from eventstore.management.prose_help import ProseHelpCommand
from eventstore.projections import projections_with_tables
from eventstore.verify import VerifyResult, verify_projection

_SHOWN = 50


class Command(ProseHelpCommand):
    help = """Verify projections: recompute each read model from the events into a temporary
table and diff it against the stored table, row by row.

Prints every differing row by key (missing, unexpected, or the columns that differ with
the stored and the expected value) and exits 1 when any projection drifted, 0 when all
match. An asynchronous projection is compared with the events up to its checkpoint.
Repair drift with rebuild_projections. Without NAME every projection with a table is
verified."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="projection names")

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["names"] or projections_with_tables()
        drifted = []
        for name in names:
            try:
                result = verify_projection(name)
            except (UnknownProjection, ProjectionNotRebuildable) as exc:
                raise CommandError(str(exc)) from exc
            self._report(result)
            if not result.ok:
                drifted.append(name)
        if drifted:
            raise CommandError(f"read models drifted: {', '.join(drifted)}", returncode=1)

    def _report(self, result: VerifyResult) -> None:
        if result.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{result.name}: OK, {result.rows_stored:,} rows in {result.table} match "
                    f"{result.events:,} events"
                )
            )
            return
        self.stdout.write(
            self.style.ERROR(
                f"{result.name}: DRIFT in {result.drift_count:,} rows of {result.table} "
                f"(stored {result.rows_stored:,} rows, expected {result.rows_expected:,} "
                f"from {result.events:,} events)"
            )
        )
        for drift in result.drifts[:_SHOWN]:
            if drift.kind == "missing":
                self.stdout.write(f"  {drift.key}: missing (the events produce it, not stored)")
            elif drift.kind == "unexpected":
                self.stdout.write(f"  {drift.key}: unexpected (stored, no events produce it)")
            else:
                self.stdout.write(f"  {drift.key}: differs")
                for column, (stored, expected) in drift.columns.items():
                    self.stdout.write(f"      {column}: stored {stored!r}, expected {expected!r}")
        if result.drift_count > _SHOWN:
            self.stdout.write(f"  ... and {result.drift_count - _SHOWN:,} more")
