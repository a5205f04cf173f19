"""The stream cache: decoded events of recently loaded streams, kept in the process."""
from __future__ import annotations

from collections import OrderedDict

from shared.domain import Aggregate, DomainEvent


class StreamCache:
    """The decoded events of recently loaded streams, in this process.

    A stream only ever grows, and its events are immutable, so what was read once stays true:
    loading a cached stream reads only the events after the cached version. A stream another
    instance appended to meanwhile is therefore still read in full; a stale cache costs a
    concurrency conflict at worst, never a wrong decision. Bounded by a number of events
    (least recently used streams are dropped first). Give it to `Application(cache=...)`.
    """

    def __init__(self, max_events: int = 200_000):
        self.max_events = max_events
        self._streams: OrderedDict[str, tuple[DomainEvent, ...]] = OrderedDict()
        self._size = 0

    def get(self, stream_id: str) -> tuple[DomainEvent, ...]:
        events = self._streams.get(stream_id, ())
        if events:
            self._streams.move_to_end(stream_id)
        return events

    def put(self, stream_id: str, events: tuple[DomainEvent, ...]) -> None:
        if len(events) > self.max_events:
            return
        self._size += len(events) - len(self._streams.pop(stream_id, ()))
        self._streams[stream_id] = events
        while self._size > self.max_events:
            _, dropped = self._streams.popitem(last=False)
            self._size -= len(dropped)


def cached(uow, cls: type[Aggregate], aggregate_id: str) -> Aggregate | None:
    """The aggregate as this process last saw it (the unit of work's stream cache), without
    reading the store: possibly stale, so only to guess what else to load (the unit of a member
    about to check in); the handler still loads, and decides on, the aggregates themselves.
    None if neither loaded nor cached."""
    stream_id = cls.stream_id_for(aggregate_id)
    if stream_id in uow._aggregates:
        return uow._aggregates[stream_id]
    known = uow.cache.get(stream_id) if uow.cache is not None else ()
    return cls.replay(aggregate_id, known) if known else None
