"""The event store: one table per service, append with optimistic concurrency, read by stream
or by global position in commit order.

Ordering guarantee (the sequence-gap hazard): on PostgreSQL a position comes from a sequence
when a row is inserted, but transactions commit in any order, so a reader tailing positions
could see 8 committed while 7 is still in flight and skip 7 for ever. Here every append takes a
transaction-scoped advisory lock (`pg_advisory_xact_lock`, as Message DB does) right before its
insert and holds it to commit; so positions become visible strictly in position order and a
tailing reader never skips. The lock is held only for the insert and the commit. SQLite has a
single writer (`BEGIN IMMEDIATE`), which gives the same order.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Sequence
from uuid import uuid4

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    select,
    text,
)

from shared.db import Database

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
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "global_position": self.global_position,
            "occurred_at": self.occurred_at,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "actor": self.actor,
            "data": self.data,
        }


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


_ROW_COLUMNS = (
    events_table.c.global_position,
    events_table.c.event_id,
    events_table.c.stream_id,
    events_table.c.stream_version,
    events_table.c.event_type,
    events_table.c.schema_version,
    events_table.c.occurred_at,
    events_table.c.correlation_id,
    events_table.c.causation_id,
    events_table.c.actor,
    events_table.c.data,
)

_SELECT_ALL_AFTER = (
    select(*_ROW_COLUMNS)
    .where(events_table.c.global_position > bindparam("after"))
    .order_by(events_table.c.global_position)
    .limit(bindparam("limit"))
)
_SELECT_STREAM = (
    select(*_ROW_COLUMNS)
    .where(events_table.c.stream_id == bindparam("stream_id"))
    .where(events_table.c.stream_version > bindparam("after"))
    .order_by(events_table.c.stream_version)
)
_STREAM_HEADS = (
    select(events_table.c.stream_id, func.max(events_table.c.stream_version))
    .where(events_table.c.stream_id.in_(bindparam("streams", expanding=True)))
    .group_by(events_table.c.stream_id)
)
_EXISTING_IDS = select(events_table.c.event_id).where(
    events_table.c.event_id.in_(bindparam("ids", expanding=True))
)


def _row_to_event(row) -> StoredEvent:
    return StoredEvent(
        global_position=row[0],
        event_id=row[1],
        stream_id=row[2],
        stream_version=row[3],
        event_type=row[4],
        schema_version=row[5],
        occurred_at=row[6],
        correlation_id=row[7],
        causation_id=row[8],
        actor=json.loads(row[9]) if row[9] else None,
        data=json.loads(row[10]),
    )


class EventStore:
    """The recorder: hides the database behind append and read."""

    def __init__(self, database: Database):
        self.db = database
        kernel_metadata.create_all(database.engine, tables=[events_table])
        if database.is_postgres:
            self._lock_sql = text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=database.advisory_key)
        else:
            self._lock_sql = None

    # -- writing ---------------------------------------------------------------------------
    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int,
               conn: Connection | None = None) -> list[int]:
        """Append `events` to one stream if it is at `expected_version`; return their positions."""
        return self.append_many([StreamAppend(stream_id, events, expected_version)], conn=conn)

    def append_many(self, appends: Iterable[StreamAppend], conn: Connection | None = None) -> list[int]:
        """Append to several streams atomically (all or nothing).

        Returns the global positions written; `[]` when every event was already stored (an
        idempotent retry of a batch that committed). Raises ConcurrencyConflict when a stream
        is not at its expected version, and writes nothing then.
        """
        appends = [a for a in appends if a.events]
        if not appends:
            return []
        if conn is None:
            with self.db.transaction() as own:
                return self._append_in(own, appends)
        return self._append_in(conn, appends)

    def _append_in(self, conn: Connection, appends: list[StreamAppend]) -> list[int]:
        if self._lock_sql is not None:
            conn.execute(self._lock_sql)
        ids = [e.event_id for a in appends for e in a.events]
        existing = set(conn.execute(_EXISTING_IDS, {"ids": ids}).scalars())
        if existing:
            if len(existing) == len(set(ids)):
                return []
            raise IdempotencyMismatch(
                f"{len(existing)} of {len(ids)} events of this batch are already stored"
            )
        heads = dict(conn.execute(_STREAM_HEADS, {"streams": [a.stream_id for a in appends]}).all())
        rows = []
        for a in appends:
            actual = heads.get(a.stream_id) or 0
            if actual != a.expected_version:
                raise ConcurrencyConflict(a.stream_id, a.expected_version, actual)
            for offset, e in enumerate(a.events, start=1):
                rows.append({
                    "event_id": e.event_id,
                    "stream_id": a.stream_id,
                    "stream_version": a.expected_version + offset,
                    "event_type": e.event_type,
                    "schema_version": e.schema_version,
                    "occurred_at": e.occurred_at,
                    "correlation_id": e.correlation_id,
                    "causation_id": e.causation_id,
                    "actor": json.dumps(e.actor, ensure_ascii=False) if e.actor else None,
                    "data": json.dumps(e.data, ensure_ascii=False, separators=(",", ":")),
                })
        result = conn.execute(
            events_table.insert().returning(events_table.c.global_position, sort_by_parameter_order=True),
            rows,
        )
        return [r[0] for r in result]

    # -- reading ---------------------------------------------------------------------------
    def read_stream(self, stream_id: str, after_version: int = 0,
                    conn: Connection | None = None) -> list[StoredEvent]:
        params = {"stream_id": stream_id, "after": after_version}
        if conn is not None:
            return [_row_to_event(r) for r in conn.execute(_SELECT_STREAM, params)]
        with self.db.transaction() as own:
            return [_row_to_event(r) for r in own.execute(_SELECT_STREAM, params)]

    def read_all(self, after_position: int = 0, limit: int = 1000,
                 conn: Connection | None = None) -> list[StoredEvent]:
        """Events after `after_position`, in commit order (which equals position order)."""
        params = {"after": after_position, "limit": limit}
        if conn is not None:
            return [_row_to_event(r) for r in conn.execute(_SELECT_ALL_AFTER, params)]
        with self.db.transaction() as own:
            return [_row_to_event(r) for r in own.execute(_SELECT_ALL_AFTER, params)]

    def max_position(self, conn: Connection | None = None) -> int:
        q = select(func.coalesce(func.max(events_table.c.global_position), 0))
        if conn is not None:
            return conn.execute(q).scalar_one()
        with self.db.transaction() as own:
            return own.execute(q).scalar_one()
