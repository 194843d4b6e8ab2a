"""Time-travel debugging and a health check of the whole log."""

from __future__ import annotations

import json
import uuid
from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from eventstore.events import serialize_event
from eventstore.exceptions import AggregateNotFound
from eventstore.management.prose_help import ProseHelpCommand
from eventstore.replay import StreamReplay, check_all_streams, replay_stream


class Command(ProseHelpCommand):
    help = """Replay events: one stream as it was at a version or a moment, or every stream.

  replay_events --aggregate-id ID                 all events of the stream and its state now
  replay_events --aggregate-id ID --version N     events 1..N and the state they produce
  replay_events --aggregate-id ID --as-of TIME    events recorded at or before TIME
                                                  (ISO 8601; without an offset it is UTC)
  replay_events --aggregate-id ID --json          the same as one JSON document
  replay_events --all --check                     replay every stream with today's code and
                                                  list the ones that fail (unknown event
                                                  types or versions, apply errors, gaps,
                                                  snapshots that differ from a replay);
                                                  exits 1 if any does

The state is the aggregate's snapshot state (or its public attributes) and is shown only
when the app that defines the aggregate type is installed."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # "resolve": our --version (a stream version) replaces Django's --version flag.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: ArgumentParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--aggregate-id", type=uuid.UUID, help="the stream to replay")
        target.add_argument("--all", action="store_true", help="every stream (with --check)")
        point = parser.add_mutually_exclusive_group()
        point.add_argument("--version", type=int, help="stop at this version")
        point.add_argument("--as-of", type=_timestamp, help="stop at this time (ISO 8601)")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument(
            "--check", action="store_true", help="with --all: report streams that fail"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            if not options["check"]:
                raise CommandError("--all replays every stream to check it: add --check")
            if options["version"] is not None or options["as_of"] is not None:
                raise CommandError("--version and --as-of apply to one stream only")
            self._check_all(as_json=options["json"])
            return
        try:
            replay = replay_stream(
                options["aggregate_id"], version=options["version"], as_of=options["as_of"]
            )
        except AggregateNotFound as exc:
            raise CommandError(f"no events for aggregate {options['aggregate_id']}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(replay), indent=2, sort_keys=True))
        else:
            self._print(replay)

    def _print(self, replay: StreamReplay) -> None:
        self.stdout.write(
            f"Stream {replay.aggregate_id} ({replay.aggregate_type}): "
            f"{len(replay.events)} of {replay.stream_version} events, "
            f"at version {replay.version}\n"
        )
        for recorded in replay.events:
            meta = recorded.metadata
            who = " ".join(
                f"{k}={meta[k]}" for k in ("actor", "correlation_id", "causation_id") if k in meta
            )
            self.stdout.write(
                f"  v{recorded.version:<4} {recorded.created_at.isoformat()}  "
                f"{recorded.event_type}  {who}".rstrip()
            )
            data = json.dumps(serialize_event(recorded.event), sort_keys=True)
            self.stdout.write(f"        {data}")
        self.stdout.write("")
        if replay.state is None:
            self.stdout.write(
                f"State: no installed app defines aggregate type {replay.aggregate_type!r}."
            )
        else:
            self.stdout.write(f"State at version {replay.version}:")
            self.stdout.write(json.dumps(replay.state, indent=2, sort_keys=True))

    def _check_all(self, *, as_json: bool) -> None:
        result = check_all_streams()
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "streams": result.streams,
                        "events": result.events,
                        "snapshots_checked": result.snapshots_checked,
                        "unregistered_types": result.unregistered_types,
                        "failures": [
                            {
                                "aggregate_id": str(f.aggregate_id),
                                "aggregate_type": f.aggregate_type,
                                "version": f.version,
                                "error": f.error,
                            }
                            for f in result.failures
                        ],
                    },
                    indent=2,
                    sort_keys=True,
                )
            )
        else:
            self.stdout.write(
                f"Checked {result.streams:,} streams, {result.events:,} events, "
                f"{result.snapshots_checked:,} snapshots."
            )
            for aggregate_type, count in sorted(result.unregistered_types.items()):
                self.stdout.write(
                    f"  {aggregate_type}: {count:,} streams deserialized only "
                    "(no installed app defines this aggregate type)"
                )
            for failure in result.failures:
                self.stdout.write(
                    f"FAILED {failure.aggregate_id} ({failure.aggregate_type}) "
                    f"at version {failure.version}: {failure.error}"
                )
        if result.failures:
            raise CommandError(
                f"{len(result.failures)} of {result.streams} streams failed to replay",
                returncode=1,
            )
        if not as_json:
            self.stdout.write(self.style.SUCCESS("All streams replay."))


def _timestamp(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_timestamp.__name__ = "ISO 8601 timestamp"


def _as_json(replay: StreamReplay) -> dict[str, Any]:
    return {
        "aggregate_id": str(replay.aggregate_id),
        "aggregate_type": replay.aggregate_type,
        "version": replay.version,
        "stream_version": replay.stream_version,
        "events": [
            {
                "id": str(e.id),
                "version": e.version,
                "event_type": e.event_type,
                "created_at": e.created_at.isoformat(),
                "global_position": e.global_position,
                "transaction_id": e.transaction_id,
                "data": serialize_event(e.event),
                "metadata": e.metadata,
            }
            for e in replay.events
        ],
        "state": replay.state,
    }
