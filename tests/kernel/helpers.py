"""Small domain model shared by the kernel tests, backed by the real `registration` contracts."""
from __future__ import annotations

from dataclasses import dataclass

from shared.codec import EventCodec
from shared.domain import Aggregate, DomainError, DomainEvent
from shared.eventstore import NewEvent


@dataclass(frozen=True)
class UnitRegistered(DomainEvent):
    unit_id: str
    name: str
    kind: str
    district_id: str
    linked_community_id: str | None = None


class AlreadyRegistered(DomainError):
    code = "already_registered"


class Unit(Aggregate):
    stream_prefix = "unit"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.name: str | None = None
        self.kind: str | None = None
        self.registrations = 0

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, UnitRegistered):
            self.name, self.kind = event.name, event.kind
            self.registrations += 1
        else:  # pragma: no cover
            raise TypeError(event)

    def register(self, name: str, kind: str = "机关", district_id: str = "d-1",
                 linked_community_id: str | None = None) -> None:
        if self.exists:
            raise AlreadyRegistered(f"单位 {self.id} 已经报到", unit_id=self.id)
        self._trigger(UnitRegistered(unit_id=self.id, name=name, kind=kind, district_id=district_id,
                                     linked_community_id=linked_community_id))


def registration_codec() -> EventCodec:
    return EventCodec("registration", [UnitRegistered])


def unit_registered(unit_id: str, name: str = "区委组织部", kind: str = "机关", **meta) -> NewEvent:
    """A raw `UnitRegistered` event for appending straight to the store."""
    return NewEvent(
        event_type="UnitRegistered",
        data={"unit_id": unit_id, "name": name, "kind": kind, "district_id": "d-1",
              "linked_community_id": None},
        **meta,
    )
