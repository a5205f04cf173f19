"""The event store: one table per service, append with optimistic concurrency, read by stream
or by global position in commit order.

Ordering guarantee (the sequence-gap hazard): on PostgreSQL a position comes from a sequence
when a row is inserted, but transactions commit in any order, so a reader tailing positions
could see 8 committed while 7 is still in flight and skip 7 for ever. Here every append takes a
transaction-scoped advisory lock (`pg_advisory_xact_lock`, as Message DB does) right before its
insert and holds it to commit; so positions become visible strictly in position order and a
tailing reader never skips. The lock is held only for the insert and the commit. SQLite has a
single writer (`BEGIN IMMEDIATE`), which gives the same order.

Hot path: append and read run their SQL on the DBAPI cursor of the SQLAlchemy connection (same
transaction, errors re-raised as SQLAlchemy's). On PostgreSQL an append is one round trip: the
lock statement followed by one prepared statement that checks stored ids and stream heads and
inserts only when both pass; on SQLite the checks are one statement and each row one INSERT.
"""
from __future__ import annotations

import json
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import lru_cache
from datetime import datetime, timezone
from typing import Iterable, Iterator, Sequence
from uuid import uuid4

from sqlalchemy import exc as exc_mod
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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


@dataclass(frozen=True)
class PublishableEvent:
    """A stored event as the relay publishes it: what its message's properties need, and its
    wire body (`StoredEvent.to_wire()` as JSON) made around the stored JSON text of its data and
    actor, which are never decoded (the relay would only encode them again)."""

    global_position: int
    event_id: str
    event_type: str
    schema_version: int
    correlation_id: str | None
    body: bytes


def _publishable(row, _dumps=json.dumps) -> PublishableEvent:
    (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
     correlation_id, causation_id, actor, data) = row
    head = _dumps({"event_id": event_id, "event_type": event_type, "schema_version": schema_version,
                   "stream_id": stream_id, "stream_version": stream_version, "global_position": position,
                   "occurred_at": occurred_at, "correlation_id": correlation_id, "causation_id": causation_id},
                  ensure_ascii=False, separators=(",", ":"))
    body = f'{head[:-1]},"actor":{actor if actor is not None else "null"},"data":{data}}}'
    return PublishableEvent(position, event_id, event_type, schema_version, correlation_id, body.encode("utf-8"))


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


_ROW_COLUMNS = ("global_position, event_id, stream_id, stream_version, event_type, schema_version, "
                "occurred_at, correlation_id, causation_id, actor, data")
# Reads run on the DBAPI cursor too; `{p}` is the driver's placeholder (`?` or `%s`).
_SELECT_ALL_AFTER = (f"SELECT {_ROW_COLUMNS} FROM events WHERE global_position > {{p}} "
                     "ORDER BY global_position LIMIT {p}")
_SELECT_STREAM = (f"SELECT {_ROW_COLUMNS} FROM events WHERE stream_id = {{p}} AND stream_version > {{p}} "
                  "ORDER BY stream_version")


@lru_cache(maxsize=16)
def _tails_sql(n: int, p: str) -> str:
    """The tails of n streams: each condition is one range of the (stream_id, stream_version)
    unique index."""
    where = " OR ".join([f"(stream_id = {p} AND stream_version > {p})"] * n)
    return f"SELECT {_ROW_COLUMNS} FROM events WHERE {where} ORDER BY stream_id, stream_version"


_INSERT_COLUMNS = ("event_id, stream_id, stream_version, event_type, schema_version, occurred_at, "
                   "correlation_id, causation_id, actor, data")
_SQLITE_INSERT = f"INSERT INTO events ({_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@lru_cache(maxsize=64)
def _sqlite_check_sql(n_ids: int, n_streams: int) -> str:
    """Stored ids of the batch (kind 1) and the head of each of its streams (kind 2)."""
    return (
        f"SELECT 1, event_id, NULL FROM events WHERE event_id IN ({', '.join('?' * n_ids)}) "
        "UNION ALL "
        "SELECT 2, stream_id, max(stream_version) FROM events "
        f"WHERE stream_id IN ({', '.join('?' * n_streams)}) GROUP BY stream_id"
    )


# The append as one statement, in two prepared forms. Each inserts only when no id of the batch
# is stored and every stream is at its expected version, and returns the written
# (event_id, position) (kind 0), the stored ids of the batch (kind 1) and the heads that differ
# from the expected version (kind 2), for `_check` to decide exactly as separate checks would.
#
# The general form takes the batch as arrays: $1..$10 the new rows column by column (in batch
# order), $11/$12 each stream of the batch and its expected version.
_PG_APPEND_MANY_BODY = f"""
WITH new_rows AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::text[])
        WITH ORDINALITY AS r(event_id, stream_id, stream_version, event_type, schema_version,
                             occurred_at, correlation_id, causation_id, actor, data, ord)
), heads AS (
    SELECT x.stream_id, x.expected,
           COALESCE((SELECT max(e.stream_version) FROM events e WHERE e.stream_id = x.stream_id), 0)
               AS actual
    FROM unnest($11::text[], $12::int[]) AS x(stream_id, expected)
), stored AS (
    SELECT e.event_id FROM events e WHERE e.event_id = ANY($1::text[])
), written AS (
    INSERT INTO events ({_INSERT_COLUMNS})
    SELECT event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
           correlation_id, causation_id, actor, data
    FROM new_rows
    WHERE NOT EXISTS (SELECT 1 FROM stored)
      AND NOT EXISTS (SELECT 1 FROM heads WHERE actual <> expected)
    ORDER BY ord
    RETURNING event_id, global_position
)
SELECT 0, event_id, global_position FROM written
UNION ALL SELECT 1, event_id, NULL FROM stored
UNION ALL SELECT 2, stream_id, actual FROM heads WHERE actual <> expected"""
_PG_APPEND_MANY_TYPES = "text[], text[], int[], text[], int[], text[], text[], text[], text[], text[], text[], int[]"

# The form for the common case, one event on one stream, with scalar parameters: $1..$10 the
# row, $11 the expected version. PostgreSQL settles on a generic plan for it (the array form
# gets a custom plan, i.e. planning, on every execution).
_PG_APPEND_ONE_BODY = f"""
WITH heads AS (
    SELECT COALESCE((SELECT max(stream_version) FROM events WHERE stream_id = $2), 0) AS actual
), stored AS (
    SELECT event_id FROM events WHERE event_id = $1
), written AS (
    INSERT INTO events ({_INSERT_COLUMNS})
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
    WHERE NOT EXISTS (SELECT 1 FROM stored) AND (SELECT actual FROM heads) = $11
    RETURNING event_id, global_position
)
SELECT 0, event_id, global_position FROM written
UNION ALL SELECT 1, event_id, NULL FROM stored
UNION ALL SELECT 2, $2, actual FROM heads WHERE actual <> $11"""
_PG_APPEND_ONE_TYPES = "text, text, int, text, int, text, text, text, text, text, int"


def _pg_statement(body: str, types: str, n_params: int) -> tuple[str, str, str]:
    """(name, PREPARE sql, EXECUTE sql) of a prepared statement; the name is versioned by the
    text, so a changed statement never meets an old one prepared on a pooled connection."""
    name = f"baodao_append_{zlib.crc32(body.encode()):08x}"
    return name, f"PREPARE {name} ({types}) AS {body}", f"EXECUTE {name}({', '.join(['%s'] * n_params)})"


_PG_APPEND_MANY = _pg_statement(_PG_APPEND_MANY_BODY, _PG_APPEND_MANY_TYPES, 12)
_PG_APPEND_ONE = _pg_statement(_PG_APPEND_ONE_BODY, _PG_APPEND_ONE_TYPES, 11)
_PG_PREPARED = "SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)"
_PG_LOCK = "SELECT pg_advisory_xact_lock(%s); "


@contextmanager
def dbapi_cursor(conn: Connection, statement: str) -> Iterator:
    """A cursor of the DBAPI connection inside `conn`'s transaction, for the hot path (no
    statement compilation or result wrapping). DBAPI errors come out as SQLAlchemy's, as they
    would from `conn.execute`, and a lost connection is invalidated."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as exc:
        disconnect = conn.dialect.is_disconnect(exc, conn.connection.driver_connection, cursor)
        if disconnect:
            conn.invalidate(exc)
        raise exc_mod.DBAPIError.instance(statement, None, exc, conn.dialect.loaded_dbapi.Error,
                                          connection_invalidated=disconnect,
                                          dialect=conn.dialect) from exc
    finally:
        try:
            cursor.close()
        except Exception:  # noqa: BLE001 - closing a cursor of a broken connection
            pass


_STORED_EVENT_FIELDS = ("global_position", "event_id", "stream_id", "stream_version", "event_type",
                        "schema_version", "occurred_at", "correlation_id", "causation_id", "actor", "data")
# `_row_to_event` fills the frozen dataclass's __dict__ directly: the generated __init__ sets each
# of the 11 fields through object.__setattr__, which costs more than decoding the data. Should the
# dataclass change (a field, a default, a __post_init__), this fails at import, not silently.
if {f.name for f in fields(StoredEvent)} != set(_STORED_EVENT_FIELDS) or hasattr(StoredEvent, "__post_init__"):
    raise ImportError("StoredEvent changed: update _row_to_event and _STORED_EVENT_FIELDS")


def _row_to_event(row, _new=object.__new__, _loads=json.loads) -> StoredEvent:
    event = _new(StoredEvent)
    event.__dict__.update(
        global_position=row[0],
        event_id=row[1],
        stream_id=row[2],
        stream_version=row[3],
        event_type=row[4],
        schema_version=row[5],
        occurred_at=row[6],
        correlation_id=row[7],
        causation_id=row[8],
        actor=_loads(row[9]) if row[9] is not None else None,
        data=_loads(row[10]),
    )
    return event


def _classify(rows, heads: dict) -> tuple[dict, set, dict]:
    """Split the check rows of an append: kind 0 (event id, position written), kind 1 (an id of
    the batch already stored), kind 2 (a stream and its actual head) — updating `heads`."""
    written, existing = {}, set()
    for kind, key, value in rows:
        if kind == 0:
            written[key] = value
        elif kind == 1:
            existing.add(key)
        else:
            heads[key] = value
    return written, existing, heads


class EventStore:
    """The recorder: hides the database behind append and read."""

    def __init__(self, database: Database):
        self.db = database
        kernel_metadata.create_all(database.engine, tables=[events_table])
        if database.is_postgres:
            self._lock_sql = text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=database.advisory_key)
        else:
            self._lock_sql = None
        placeholder = "%s" if database.is_postgres else "?"
        self._select_all_after = _SELECT_ALL_AFTER.format(p=placeholder)
        self._select_stream = _SELECT_STREAM.format(p=placeholder)

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
        rows = []
        for a in appends:
            for offset, e in enumerate(a.events, start=1):
                rows.append((
                    e.event_id,
                    a.stream_id,
                    a.expected_version + offset,
                    e.event_type,
                    e.schema_version,
                    e.occurred_at,
                    e.correlation_id,
                    e.causation_id,
                    json.dumps(e.actor, ensure_ascii=False) if e.actor is not None else None,
                    json.dumps(e.data, ensure_ascii=False, separators=(",", ":")),
                ))
        if len({r[0] for r in rows}) != len(rows):
            raise ValueError("the same event_id appears twice in one append")
        if self.db.is_postgres:
            return self._append_postgres(conn, appends, rows)
        return self._append_sqlite(conn, appends, rows)

    @staticmethod
    def _check(appends: list[StreamAppend], ids: list[str], existing: set[str],
               heads: dict[str, int]) -> bool:
        """Raise unless the batch may be written; False when it is an idempotent retry.

        The order of the checks is the contract: stored ids first (a retry of a committed
        batch is a no-op even though its streams have moved on), then every stream's head.
        """
        if existing:
            if len(existing) == len(set(ids)):
                return False
            raise IdempotencyMismatch(
                f"{len(existing)} of {len(ids)} events of this batch are already stored"
            )
        for a in appends:
            actual = heads.get(a.stream_id) or 0
            if actual != a.expected_version:
                raise ConcurrencyConflict(a.stream_id, a.expected_version, actual)
        return True

    # SQLite: one writer (BEGIN IMMEDIATE), in-process calls; the cost is Python per statement,
    # so the checks are one statement on the DBAPI cursor and each row one INSERT (its rowid
    # is its global position: `global_position` is the INTEGER PRIMARY KEY).
    def _append_sqlite(self, conn: Connection, appends: list[StreamAppend], rows: list[tuple]) -> list[int]:
        ids = [r[0] for r in rows]
        streams = [a.stream_id for a in appends]
        check_sql = _sqlite_check_sql(len(ids), len(streams))
        with dbapi_cursor(conn, check_sql) as cursor:
            cursor.execute(check_sql, (*ids, *streams))
            _, existing, heads = _classify(cursor.fetchall(), {})
            if not self._check(appends, ids, existing, heads):
                return []
            positions = []
            for row in rows:
                cursor.execute(_SQLITE_INSERT, row)
                positions.append(cursor.lastrowid)
        return positions

    # PostgreSQL: one round trip. The append lock is its own statement so that the checks,
    # which follow it in the same simple query, see everything committed before the lock was
    # granted (READ COMMITTED takes a fresh snapshot per statement); then one prepared
    # statement checks ids and heads and inserts only if both pass.
    def _append_postgres(self, conn: Connection, appends: list[StreamAppend], rows: list[tuple]) -> list[int]:
        if not conn.connection.info.get("baodao_prepared"):
            self._prepare_postgres(conn)
        if len(rows) == 1:
            params = [*rows[0], appends[0].expected_version]
            statement = _PG_APPEND_ONE[2]
        else:
            params = [list(column) for column in zip(*rows)]
            params.append([a.stream_id for a in appends])
            params.append([a.expected_version for a in appends])
            statement = _PG_APPEND_MANY[2]
        if self._lock_sql is not None:
            statement = _PG_LOCK + statement
            params.insert(0, self.db.advisory_key)
        # (else: only a test's deliberately unsafe store has no append lock)
        with dbapi_cursor(conn, statement) as cursor:
            cursor.execute(statement, params)
            result = cursor.fetchall()
        ids = [r[0] for r in rows]
        # only heads that differ from the expected version come back: the others are as expected
        written, existing, heads = _classify(result, {a.stream_id: a.expected_version for a in appends})
        if not self._check(appends, ids, existing, heads):
            return []
        return [written[i] for i in ids]

    @staticmethod
    def _prepare_postgres(conn: Connection) -> None:
        """PREPARE the append statements on this connection: once, as they outlive
        transactions (PREPARE is not rolled back) and last as long as the connection."""
        statements = (_PG_APPEND_ONE, _PG_APPEND_MANY)
        with dbapi_cursor(conn, _PG_PREPARED) as cursor:
            cursor.execute(_PG_PREPARED, ([name for name, _, _ in statements],))
            present = {r[0] for r in cursor.fetchall()}
            for name, prepare, _ in statements:
                if name not in present:
                    cursor.execute(prepare)
        conn.connection.info["baodao_prepared"] = True

    # -- reading ---------------------------------------------------------------------------
    def read_stream(self, stream_id: str, after_version: int = 0,
                    conn: Connection | None = None) -> list[StoredEvent]:
        return self._read(self._select_stream, (stream_id, after_version), conn)

    def read_stream_tails(self, tails: Sequence[tuple[str, int]],
                          conn: Connection | None = None) -> dict[str, list[StoredEvent]]:
        """The events after a version of several streams, `[(stream_id, after_version), ...]`,
        in one query (a command loading the few aggregates it needs at once)."""
        out: dict[str, list[StoredEvent]] = {s: [] for s, _ in tails}
        if not tails:
            return out
        if conn is None:
            with self.db.transaction() as own:
                return self.read_stream_tails(tails, own)
        statement = _tails_sql(len(tails), "%s" if self.db.is_postgres else "?")
        with dbapi_cursor(conn, statement) as cursor:
            cursor.execute(statement, tuple(x for tail in tails for x in tail))
            rows = cursor.fetchall()
        for row in rows:
            out[row[2]].append(_row_to_event(row))
        return out

    def read_streams(self, stream_ids: Sequence[str], conn: Connection | None = None) -> dict[str, list[StoredEvent]]:
        """Several whole streams in one query (e.g. a batch of aggregates loaded at once)."""
        out: dict[str, list[StoredEvent]] = {s: [] for s in stream_ids}
        if not stream_ids:
            return out
        placeholder = "%s" if self.db.is_postgres else "?"
        statement = (f"SELECT {_ROW_COLUMNS} FROM events WHERE stream_id IN "
                     f"({', '.join([placeholder] * len(stream_ids))}) ORDER BY stream_id, stream_version")
        if conn is None:
            with self.db.transaction() as own:
                return self.read_streams(stream_ids, own)
        with dbapi_cursor(conn, statement) as cursor:
            cursor.execute(statement, tuple(stream_ids))
            rows = cursor.fetchall()
        for row in rows:
            out[row[2]].append(_row_to_event(row))
        return out

    def read_all(self, after_position: int = 0, limit: int = 1000,
                 conn: Connection | None = None) -> list[StoredEvent]:
        """Events after `after_position`, in commit order (which equals position order)."""
        return self._read(self._select_all_after, (after_position, limit), conn)

    def read_all_publishable(self, after_position: int = 0, limit: int = 1000) -> list[PublishableEvent]:
        """`read_all` for the relay: each event with its wire body ready (see PublishableEvent)."""
        with self.db.transaction() as conn:
            with dbapi_cursor(conn, self._select_all_after) as cursor:
                cursor.execute(self._select_all_after, (after_position, limit))
                rows = cursor.fetchall()
        return [_publishable(r) for r in rows]

    def _read(self, statement: str, params: tuple, conn: Connection | None) -> list[StoredEvent]:
        if conn is None:
            with self.db.transaction() as own:
                return self._read(statement, params, own)
        with dbapi_cursor(conn, statement) as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        return [_row_to_event(r) for r in rows]

    def max_position(self, conn: Connection | None = None) -> int:
        q = select(func.coalesce(func.max(events_table.c.global_position), 0))
        if conn is not None:
            return conn.execute(q).scalar_one()
        with self.db.transaction() as own:
            return own.execute(q).scalar_one()
