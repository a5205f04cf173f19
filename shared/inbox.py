"""The inbox: a consumer records `(event_id, handler)` in the same transaction as its effects,
so a redelivered event is recognised and changes nothing."""
from __future__ import annotations

from sqlalchemy import Column, Connection, Integer, String, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.db import Database
from shared.eventstore import kernel_metadata, utcnow_iso

inbox_table = Table(
    "inbox",
    kernel_metadata,
    Column("event_id", String(36), primary_key=True),
    Column("handler", String(200), primary_key=True),
    Column("processed_at", String(40), nullable=False),
)


class Inbox:
    def __init__(self, database: Database):
        self.db = database
        kernel_metadata.create_all(database.engine, tables=[inbox_table])
        self._insert = pg_insert if database.is_postgres else sqlite_insert

    def claim(self, conn: Connection, event_id: str, handler: str) -> bool:
        """True if this handler has not processed the event yet (and now has, once `conn`
        commits). A concurrent claim of the same pair waits for the first to commit or roll
        back, then loses or wins accordingly."""
        result = conn.execute(
            self._insert(inbox_table)
            .values(event_id=event_id, handler=handler, processed_at=utcnow_iso())
            .on_conflict_do_nothing(index_elements=["event_id", "handler"])
        )
        return result.rowcount == 1

    def claim_many(self, conn: Connection, event_ids: list[str], handler: str) -> set[str]:
        """The ids among `event_ids` this handler has not processed yet (now claimed, once
        `conn` commits), in one statement."""
        unique_ids = list(dict.fromkeys(event_ids))
        if not unique_ids:
            return set()
        now = utcnow_iso()
        rows = conn.execute(
            self._insert(inbox_table)
            .values([{"event_id": e, "handler": handler, "processed_at": now} for e in unique_ids])
            .on_conflict_do_nothing(index_elements=["event_id", "handler"])
            .returning(inbox_table.c.event_id)
        ).scalars().all()
        return set(rows)

    def processed(self, conn: Connection, event_id: str, handler: str) -> bool:
        row = conn.execute(
            inbox_table.select().where(inbox_table.c.event_id == event_id).where(inbox_table.c.handler == handler)
        ).first()
        return row is not None


# -- per-stream order (the kernel's answer to reordering by several consumers) ---------------
inbox_streams_table = Table(
    "inbox_streams",
    kernel_metadata,
    Column("handler", String(200), primary_key=True),
    Column("stream_id", String(300), primary_key=True),
    Column("stream_version", Integer, nullable=False),
)


class StreamWatermarks:
    """The newest version of each source stream an ordered handler has applied.

    Two instances of a service (or two workers of one) consume a queue concurrently, so the
    events of one stream can be handled out of order: version 2 may commit before version 1.
    An ordered handler advances its watermark in the same transaction as its effects; the
    upsert takes the row lock, so concurrent events of one stream apply one after the other
    and an event older than what was applied is recognised as stale (superseded) instead of
    overwriting newer state. The handler thus sees each stream in increasing version order,
    possibly with gaps, and never misses the newest event of a stream.
    """

    def __init__(self, database: Database):
        kernel_metadata.create_all(database.engine, tables=[inbox_streams_table])
        self._insert = pg_insert if database.is_postgres else sqlite_insert

    def advance(self, conn: Connection, handler: str, stream_id: str, version: int) -> bool:
        """True if `version` is newer than what `handler` applied of the stream (and is now it)."""
        stmt = self._insert(inbox_streams_table).values(handler=handler, stream_id=stream_id,
                                                        stream_version=version)
        result = conn.execute(stmt.on_conflict_do_update(
            index_elements=["handler", "stream_id"], set_={"stream_version": stmt.excluded.stream_version},
            where=inbox_streams_table.c.stream_version < stmt.excluded.stream_version))
        return result.rowcount == 1
