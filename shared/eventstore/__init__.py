"""The event store: append with optimistic concurrency, read by stream or by global position in
commit order. `EventStore` is what the kernel uses; a *recorder* does the work for one kind of
database (`Recorder`): PostgreSQL and SQLite (`shared/eventstore/sql.py`) and memory
(`shared/eventstore/memory.py`, for service-layer tests).

Every method takes the open transaction (`conn`) of the database it belongs to, or opens its
own; a unit of work appends in the transaction of its command's other effects.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Sequence
from uuid import uuid4

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, UniqueConstraint

kernel_metadata = MetaData()

events_table = Table(
    "events",
    kernel_metadata,
    Column("global_position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("correlation_id", String(64)),
    Column("causation_id", String(64)),
    Column("actor", Text),
    Column("data", Text, nullable=False),
    UniqueConstraint("event_id", name="uq_events_event_id"),
    UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
)


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended (the envelope without its place in the store)."""

    event_type: str
    data: dict
    schema_version: int = 1
    event_id: str = field(default_factory=lambda: str(uuid4()))
    occurred_at: str = field(default_factory=utcnow_iso)
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: dict | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event as recorded: the wire envelope of the public contract."""

    event_id: str
    event_type: str
    schema_version: int
    stream_id: str
    stream_version: int
    global_position: int
    occurred_at: str
    correlation_id: str | None
    causation_id: str | None
    actor: dict | None
    data: dict

    def to_wire(self) -> dict:
        return {"event_id": self.event_id, "event_type": self.event_type, "schema_version": self.schema_version,
                "stream_id": self.stream_id, "stream_version": self.stream_version,
                "global_position": self.global_position, "occurred_at": self.occurred_at,
                "correlation_id": self.correlation_id, "causation_id": self.causation_id, "actor": self.actor,
                "data": self.data}


@dataclass(frozen=True)
class PublishableEvent:
    """A stored event as the relay publishes it: what its message's properties need, and its
    wire body (`StoredEvent.to_wire()` as JSON)."""

    global_position: int
    event_id: str
    event_type: str
    schema_version: int
    correlation_id: str | None
    body: bytes

    @classmethod
    def of(cls, event: StoredEvent) -> "PublishableEvent":
        body = json.dumps(event.to_wire(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(event.global_position, event.event_id, event.event_type, event.schema_version,
                   event.correlation_id, body)


class ConcurrencyConflict(Exception):
    """The stream moved on since it was read: reload and decide again."""

    def __init__(self, stream_id: str, expected: int, actual: int):
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, not the expected {expected}; nothing was written"
        )
        self.stream_id, self.expected, self.actual = stream_id, expected, actual


class IdempotencyMismatch(Exception):
    """Some but not all events of an atomic batch are already stored: not a retry of it."""


@dataclass(frozen=True)
class StreamAppend:
    stream_id: str
    events: Sequence[NewEvent]
    expected_version: int


def check_append(appends: list[StreamAppend], ids: list[str], existing: set[str], heads: dict[str, int]) -> bool:
    """Raise unless the batch may be written; False when it is an idempotent retry.

    The order of the checks is the contract: stored ids first (a retry of a committed batch is
    a no-op even though its streams have moved on), then every stream's head."""
    if existing:
        if len(existing) == len(set(ids)):
            return False
        raise IdempotencyMismatch(f"{len(existing)} of {len(ids)} events of this batch are already stored")
    for a in appends:
        actual = heads.get(a.stream_id) or 0
        if actual != a.expected_version:
            raise ConcurrencyConflict(a.stream_id, a.expected_version, actual)
    return True


class Recorder:
    """What a kind of database implements for the event store; `conn` is an open transaction.

    - `append(conn, appends)`: write every event of `appends` (none empty, ids unique) at the
      next versions of their streams if each stream is at its `expected_version` and none of
      the ids is stored; return their global positions in order. `[]` if every id is stored
      (a retry of a committed append); `ConcurrencyConflict` / `IdempotencyMismatch` (via
      `check_append`) and nothing written otherwise. Positions become visible in order.
    - `read_streams(conn, tails)`: for each `stream_id: after_version`, its events after
      that version, in version order.
    - `read_all(conn, after_position, limit)` / `read_all_publishable(...)`: events after a
      position, in position order (= commit order).
    - `max_position(conn)`: the highest position stored (0 if none).
    """

    def append(self, conn, appends: list[StreamAppend]) -> list[int]:
        raise NotImplementedError

    def read_streams(self, conn, tails: dict[str, int]) -> dict[str, list[StoredEvent]]:
        raise NotImplementedError

    def read_all(self, conn, after_position: int, limit: int) -> list[StoredEvent]:
        raise NotImplementedError

    def read_all_publishable(self, conn, after_position: int, limit: int) -> list[PublishableEvent]:
        return [PublishableEvent.of(e) for e in self.read_all(conn, after_position, limit)]

    def max_position(self, conn) -> int:
        raise NotImplementedError


def recorder_for(database) -> Recorder:
    if getattr(database, "is_memory", False):
        from shared.eventstore.memory import MemoryRecorder

        return MemoryRecorder(database)
    from shared.eventstore.sql import PostgresRecorder, SQLiteRecorder

    return PostgresRecorder(database) if database.is_postgres else SQLiteRecorder(database)


class EventStore:
    """A service's event store on its database (`shared.db.Database` or `MemoryDatabase`)."""

    def __init__(self, database):
        self.db = database
        self.recorder = recorder_for(database)

    def _in(self, conn, work):
        if conn is not None:
            return work(conn)
        with self.db.transaction() as own:
            return work(own)

    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int, conn=None) -> list[int]:
        """Append `events` to one stream if it is at `expected_version`; return their positions."""
        return self.append_many([StreamAppend(stream_id, events, expected_version)], conn=conn)

    def append_many(self, appends: Iterable[StreamAppend], conn=None) -> list[int]:
        """Append to several streams atomically (all or nothing).

        Returns the global positions written; `[]` when every event was already stored (an
        idempotent retry of a batch that committed). Raises ConcurrencyConflict when a stream
        is not at its expected version, and writes nothing then."""
        appends = [a for a in appends if a.events]
        if not appends:
            return []
        ids = [e.event_id for a in appends for e in a.events]
        if len(set(ids)) != len(ids):
            raise ValueError("the same event_id appears twice in one append")
        return self._in(conn, lambda c: self.recorder.append(c, appends))

    def read_stream(self, stream_id: str, after_version: int = 0, conn=None) -> list[StoredEvent]:
        return self.read_streams({stream_id: after_version}, conn=conn)[stream_id]

    def read_streams(self, tails: dict[str, int], conn=None) -> dict[str, list[StoredEvent]]:
        """Several streams at once, each after its version (`{stream_id: after_version}`)."""
        if not tails:
            return {}
        return self._in(conn, lambda c: self.recorder.read_streams(c, tails))

    def read_all(self, after_position: int = 0, limit: int = 1000, conn=None) -> list[StoredEvent]:
        """Events after `after_position`, in commit order (which equals position order)."""
        return self._in(conn, lambda c: self.recorder.read_all(c, after_position, limit))

    def read_all_publishable(self, after_position: int = 0, limit: int = 1000) -> list[PublishableEvent]:
        """`read_all` for the relay: each event with its wire body ready."""
        return self._in(None, lambda c: self.recorder.read_all_publishable(c, after_position, limit))

    def max_position(self, conn=None) -> int:
        return self._in(conn, self.recorder.max_position)

