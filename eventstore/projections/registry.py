"""Registered projections by name: one instance of each class serves every call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from ..exceptions import UnknownProjection
from .base import Projection

P = TypeVar("P", bound=type[Projection])

_registry: dict[str, Projection] = {}


def register_projection(projection_cls: P) -> P:
    """Register a projection class (usable as a decorator); one instance serves all calls."""
    name = projection_cls.name
    existing = _registry.get(name)
    if existing is not None and type(existing).__qualname__ != projection_cls.__qualname__:
        raise TypeError(f"projection name {name!r} is already used by {type(existing)}")
    _registry[name] = projection_cls()
    return projection_cls


def unregister_projection(name: str) -> None:
    _registry.pop(name, None)


def projection_registry() -> dict[str, Projection]:
    """Registered projections by name, in registration order."""
    return dict(_registry)


def registered_projections() -> Iterable[Projection]:
    """The registered projections in registration order (a live view: no copy per call)."""
    return _registry.values()


def get_projection(name: str) -> Projection:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownProjection(name, list(_registry)) from None


def projections_with_tables() -> list[str]:
    """The names of the projections that own a table: what rebuild and verify cover by default."""
    return [name for name, projection in _registry.items() if projection.table is not None]
