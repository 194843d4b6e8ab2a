"""Domain events: frozen dataclasses named in the past tense, registered by type name and
schema version, serialized so that Decimal, UUID, datetime and enums come back exactly.

    @dataclass(frozen=True)
    class OrderCreated(DomainEvent):
        customer_id: UUID
        currency: str

Old payloads are brought up to date on load by upcasters (`upcaster("OrderCreated", 1)`
turns a version-1 payload into version 2).

Secrets an event must carry (a card token for the saga) are named in `redacted_fields`;
every read surface (APIs, admin pages) shows an event's data through `redacted_event_data`,
the one place that hides them.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar, Union
from uuid import UUID

from .exceptions import UnknownEventType, UnknownEventVersion

_registry: dict[str, type[DomainEvent]] = {}
_upcasters: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    """Base of every event. Subclasses are `@dataclass(frozen=True)` and registered under
    their class name; bump `schema_version` and add an upcaster when the payload changes."""

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    # Fields stored for the code that needs them but never shown: see redacted_event_data.
    redacted_fields: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.event_type = cls.__name__
        existing = _registry.get(cls.event_type)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(f"event type {cls.event_type!r} is already registered by {existing}")
        _registry[cls.event_type] = cls


E = TypeVar("E", bound=DomainEvent)


def event_class(event_type: str) -> type[DomainEvent]:
    try:
        return _registry[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


REDACTED = "[redacted]"


def redacted_event_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event's data (serialized or as stored) as any reader may see it: the fields its
    class names in `redacted_fields` replaced by "[redacted]". An event type nobody
    registered has nothing declared, so its data is returned as it is."""
    cls = _registry.get(event_type)
    hidden = cls.redacted_fields if cls is not None else frozenset()
    return {k: (REDACTED if k in hidden else v) for k, v in data.items()}


def upcaster(
    event_type: str, from_version: int
) -> Callable[
    [Callable[[dict[str, Any]], dict[str, Any]]], Callable[[dict[str, Any]], dict[str, Any]]
]:
    """Register a function turning a `from_version` payload into `from_version + 1`."""

    def register(
        fn: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        _upcasters[(event_type, from_version)] = fn
        return fn

    return register


def serialize_event(event: DomainEvent) -> dict[str, Any]:
    return {name: to_json_value(getattr(event, name)) for name, _ in _typed_fields(type(event))}


def deserialize_event(event_type: str, schema_version: int, data: dict[str, Any]) -> DomainEvent:
    cls = event_class(event_type)
    version = schema_version
    while version < cls.schema_version:
        step = _upcasters.get((event_type, version))
        if step is None:
            raise UnknownEventVersion(event_type, schema_version, cls.schema_version)
        data = step(dict(data))
        version += 1
    if version != cls.schema_version:
        raise UnknownEventVersion(event_type, schema_version, cls.schema_version)
    return _decode_dataclass(cls, data)


def to_json_value(value: Any) -> Any:
    """Plain JSON for a value an event may hold; exact for Decimal, UUID, datetime, enums."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not allowed in events")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        raise TypeError("floats are not allowed in events; use Decimal")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    raise TypeError(f"cannot serialize {type(value).__name__} in an event")


_fields_cache: dict[type, list[tuple[str, Any]]] = {}


def _typed_fields(cls: type) -> list[tuple[str, Any]]:
    """(name, type hint) of each dataclass field; looked up once per class, since loading
    a long stream decodes the same classes over and over."""
    fields = _fields_cache.get(cls)
    if fields is None:
        hints = typing.get_type_hints(cls)
        fields = [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]
        _fields_cache[cls] = fields
    return fields


def _decode_dataclass(cls: type[Any], data: dict[str, Any]) -> Any:
    kwargs = {}
    for name, hint in _typed_fields(cls):
        if name in data:
            kwargs[name] = from_json_value(hint, data[name])
    return cls(**kwargs)


def from_json_value(hint: Any, value: Any) -> Any:
    """The inverse of `to_json_value`, guided by the type hint of the field."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return from_json_value(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json_value(args[0], v) for v in value)
        return tuple(from_json_value(a, v) for a, v in zip(args, value, strict=True))
    if origin is list:
        (arg,) = typing.get_args(hint)
        return [from_json_value(arg, v) for v in value]
    if origin is dict:
        _, arg = typing.get_args(hint)
        return {k: from_json_value(arg, v) for k, v in value.items()}
    if hint is Any:
        return value
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return hint(value)
        if hint is Decimal:
            return Decimal(value)
        if hint is UUID:
            return UUID(value)
        if hint is datetime:
            return datetime.fromisoformat(value)
        if hint is date:
            return date.fromisoformat(value)
        if dataclasses.is_dataclass(hint):
            return _decode_dataclass(hint, value)
    return value
