"""The framework-free part of the kernel: domain events, aggregates and domain errors.

Nothing here imports nameko, kombu or SQLAlchemy; every service's domain model builds on it.
An aggregate's command methods check the rules and *trigger* events; state changes only by
applying events, so replaying a stream rebuilds the aggregate exactly.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable


@dataclass(frozen=True)
class DomainEvent:
    """A fact that happened. Subclasses are small frozen dataclasses, made with keyword
    arguments only.

    `event_type` defaults to the class name and is the routing key on the wire;
    `schema_version` is bumped when the shape changes (old versions are upcast on read).
    """

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "event_type" not in cls.__dict__:
            cls.event_type = cls.__name__
        # Keyword arguments only: `MemberMoved(member_id=..., to_community_id=...)`, never a row
        # of positions to keep in step with the field order. (Runs before @dataclass reads the
        # annotations: a leading KW_ONLY pseudo-field makes every field of the class keyword-only.)
        own = cls.__dict__.get("__annotations__", {})
        if own and dataclasses.KW_ONLY not in own.values():
            cls.__annotations__ = {"_": dataclasses.KW_ONLY, **own}

    def to_data(self) -> dict:
        """`dataclasses.asdict(self)`, without its deep copy of every field when every field
        is a plain value, or a list or dict of plain values (copied): most events' fields."""
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in dataclasses.fields(self))
        out = {}
        for name in names:
            value = getattr(self, name)
            kind = type(value)
            if kind in _PLAIN:
                out[name] = value
            elif kind is list and all(type(v) in _PLAIN for v in value):
                out[name] = list(value)
            elif kind is dict and all(type(k) in _PLAIN and type(v) in _PLAIN for k, v in value.items()):
                out[name] = dict(value)
            else:   # nested containers, dataclasses, tuples, other objects: asdict's own rules
                return dataclasses.asdict(self)
        return out

    @classmethod
    def from_data(cls, data: dict) -> "DomainEvent":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


_PLAIN = frozenset({str, int, float, bool, type(None)})   # asdict copies these as they are
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class DomainError(Exception):
    """A command broke a rule. `code` is stable for machines, `message` is Chinese for people."""

    code: str = "domain_error"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    code = "not_found"


class Aggregate:
    """Base for event-sourced aggregates.

    A subclass implements `apply(event)` (usually with `functools.singledispatchmethod`) and
    command methods that call `self._trigger(event)`. `version` is the number of events the
    aggregate has been built from, including pending ones; `loaded_version` is what the store
    held when it was loaded, used as the expected version for optimistic concurrency.
    """

    stream_prefix: ClassVar[str] = ""

    def __init__(self, aggregate_id: str):
        self.id = aggregate_id
        self.version = 0
        self.loaded_version = 0
        self._pending: list[DomainEvent] = []

    @classmethod
    def stream_id_for(cls, aggregate_id: str) -> str:
        return f"{cls.stream_prefix}-{aggregate_id}"

    @property
    def stream_id(self) -> str:
        return self.stream_id_for(self.id)

    @property
    def exists(self) -> bool:
        return self.version > 0

    @classmethod
    def replay(cls, aggregate_id: str, events: Iterable[DomainEvent]):
        aggregate = cls(aggregate_id)
        appliers = _appliers(cls)
        for event in events:
            applier = appliers.get(type(event)) or _applier(cls, type(event))
            applier(aggregate, event)
            aggregate.version += 1
        aggregate.loaded_version = aggregate.version
        return aggregate

    def apply(self, event: DomainEvent) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _trigger(self, event: DomainEvent) -> DomainEvent:
        (_appliers(type(self)).get(type(event)) or _applier(type(self), type(event)))(self, event)
        self.version += 1
        self._pending.append(event)
        return event

    def collect_pending(self) -> list[DomainEvent]:
        pending, self._pending = self._pending, []
        return pending

    @property
    def pending(self) -> tuple[DomainEvent, ...]:
        return tuple(self._pending)


# `apply` is usually a `functools.singledispatchmethod`, whose `__get__` (Python 3.11) builds and
# wraps a new function on every call, which can cost more than applying the event. The function for each (aggregate class, event class) is looked
# up once here instead, as singledispatch itself would choose it.
_APPLIERS: dict[type, dict[type, Callable]] = {}


def _appliers(cls: type) -> dict[type, Callable]:
    table = _APPLIERS.get(cls)
    if table is None:
        table = _APPLIERS[cls] = {}
    return table


def _applier(cls: type, event_cls: type) -> Callable:
    method = next(klass.__dict__["apply"] for klass in cls.__mro__ if "apply" in klass.__dict__)
    if isinstance(method, functools.singledispatchmethod):
        function = method.dispatcher.dispatch(event_cls)
    else:
        function = method
    _appliers(cls)[event_cls] = function
    return function
