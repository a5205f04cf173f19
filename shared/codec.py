"""The codec: a service's domain event classes to and from their public contracts."""
from __future__ import annotations

from typing import Iterable

from shared.contracts import get_contract
from shared.domain import DomainEvent
from shared.eventstore import NewEvent, StoredEvent


class EventCodec:
    """Encodes a service's domain events for the store (validated against their contract) and
    decodes stored events back (upcast to the current schema version first)."""

    def __init__(self, source: str, event_classes: Iterable[type[DomainEvent]]):
        self.source = source
        self.classes = {cls.event_type: cls for cls in event_classes}
        for event_type, cls in self.classes.items():
            contract = get_contract(source, event_type)
            if contract.version != cls.schema_version:
                raise ValueError(f"{cls.__name__} is v{cls.schema_version}, its contract v{contract.version}")

    def encode(self, event: DomainEvent, **meta) -> NewEvent:
        data = get_contract(self.source, event.event_type).validate_outgoing(event.to_data())
        return NewEvent(event_type=event.event_type, schema_version=event.schema_version, data=data, **meta)

    def decode_data(self, stored: StoredEvent) -> dict:
        """The stored event's data upcast to the current schema version."""
        return get_contract(self.source, stored.event_type).decode(stored.data, stored.schema_version)

    def decode(self, stored: StoredEvent) -> DomainEvent:
        return self.classes[stored.event_type].from_data(self.decode_data(stored))
