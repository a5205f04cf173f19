"""The inbox: a consumer records `(event_id, handler)` in the same transaction as its effects,
so a redelivered event is recognised and changes nothing. Its twin for commands,
`CommandReplies`, records the reply of an RPC command with its effects, so a redelivered
request is answered as the first time instead of being decided again."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, Connection, Integer, String, Table, Text, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.db import Database, dbapi_cursor
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
        self._claim_many = (self._insert(inbox_table)
                            .on_conflict_do_nothing(index_elements=["event_id", "handler"])
                            .returning(inbox_table.c.event_id))

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
        # one cached statement run for many rows ("insertmanyvalues": multi-row INSERTs with
        # RETURNING), rather than a multi-VALUES statement compiled anew for every batch
        rows = conn.execute(self._claim_many,
                            [{"event_id": e, "handler": handler, "processed_at": now} for e in unique_ids]
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


# -- RPC commands answered once ---------------------------------------------------------------
command_replies_table = Table(
    "command_replies",
    kernel_metadata,
    Column("request_key", String(200), primary_key=True),
    Column("reply", Text, nullable=False),
    Column("recorded_at", String(40), nullable=False, index=True),
)
MISSING = object()
RETENTION = timedelta(days=2)   # a redelivery comes within minutes; two days is ample
PRUNE_EVERY = 500               # one record in this many also drops (at most 1,000) expired ones


class ReplyRace(Exception):
    """Another delivery of the same request committed its reply first."""


class CommandReplies:
    """The reply of each RPC command, stored in the transaction of the command's effects.

    RabbitMQ redelivers a request whose worker died before acknowledging it (a crash after the
    commit, a connection lost): without this the command would be decided again on the new
    state, and its caller told e.g. "already taken" about its own success. The key is the
    request's AMQP correlation id (the same on every delivery) and the command's n-th
    transaction within the request. Rows are kept `retention_days` (pruned by `prune`)."""

    def __init__(self, database: Database):
        kernel_metadata.create_all(database.engine, tables=[command_replies_table])
        # Every command runs these: plain SQL on the DBAPI cursor (as the event store's hot
        # path), not a Core statement built, keyed and compiled per call.
        self._pg = database.is_postgres
        p = "%s" if self._pg else "?"
        self._find_sql = f"SELECT reply FROM command_replies WHERE request_key = {p}"
        self._record_sql = (f"INSERT INTO command_replies (request_key, reply, recorded_at) VALUES ({p}, {p}, {p}) "
                            "ON CONFLICT (request_key) DO NOTHING")

    def find(self, conn: Connection, request_key: str):
        with dbapi_cursor(conn, self._find_sql) as cursor:
            cursor.execute(self._find_sql, (request_key,))
            row = cursor.fetchone()
        return MISSING if row is None else json.loads(row[0])

    def find_many(self, conn: Connection, request_keys: list[str]) -> dict:
        """The stored replies among `request_keys`, by key."""
        if not request_keys:
            return {}
        p = "%s" if self._pg else "?"
        statement = f"SELECT request_key, reply FROM command_replies WHERE request_key IN ({', '.join([p] * len(request_keys))})"
        with dbapi_cursor(conn, statement) as cursor:
            cursor.execute(statement, tuple(request_keys))
            return {key: json.loads(reply) for key, reply in cursor.fetchall()}

    def record_many(self, conn: Connection, replies: list[tuple[str, object]]) -> bool:
        """`record` for several commands at once; False (and nothing to rely on: roll back)
        when one of the keys was recorded already."""
        if not replies:
            return True
        now = utcnow_iso()
        rows = [(key, json.dumps(reply, ensure_ascii=False, default=str), now) for key, reply in replies]
        if self._pg:   # one round trip
            statement = ("INSERT INTO command_replies (request_key, reply, recorded_at) "
                         "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT (request_key) DO NOTHING")
            params = [list(column) for column in zip(*rows)]
            with dbapi_cursor(conn, statement) as cursor:
                cursor.execute(statement, params)
                recorded = cursor.rowcount
        else:
            with dbapi_cursor(conn, self._record_sql) as cursor:
                cursor.executemany(self._record_sql, rows)
                recorded = cursor.rowcount
        if recorded != len(rows):
            return False
        if random.randrange(PRUNE_EVERY) < len(rows):
            self.prune(conn, (datetime.now(timezone.utc) - RETENTION).isoformat())
        return True

    def record(self, conn: Connection, request_key: str, reply) -> None:
        if not self.record_many(conn, [(request_key, reply)]):
            raise ReplyRace(request_key)

    def prune(self, conn: Connection, older_than_iso: str, limit: int = 1000) -> int:
        """Drop up to `limit` replies recorded before `older_than_iso`."""
        expired = (select(command_replies_table.c.request_key)
                   .where(command_replies_table.c.recorded_at < older_than_iso).limit(limit))
        return conn.execute(command_replies_table.delete()
                            .where(command_replies_table.c.request_key.in_(expired))).rowcount
