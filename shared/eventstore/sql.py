"""The event store's recorders on SQL databases: PostgreSQL and SQLite.

Ordering guarantee (the sequence-gap hazard): on PostgreSQL a position comes from a sequence
when a row is inserted, but transactions commit in any order, so a reader tailing positions
could see 8 committed while 7 is still in flight and skip 7 for ever. Here every append takes a
transaction-scoped advisory lock (`pg_advisory_xact_lock`, as Message DB does) right before its
insert and holds it to commit; so positions become visible strictly in position order and a
tailing reader never skips. The lock is held only for the insert and the commit. SQLite has a
single writer (`BEGIN IMMEDIATE`), which gives the same order.

Appends and reads run their SQL on the DBAPI cursor of the SQLAlchemy connection (same
transaction, errors re-raised as SQLAlchemy's). On PostgreSQL an append is one round trip: the
lock statement followed by one prepared statement that checks stored ids and stream heads and
inserts only when both pass; on SQLite the checks are one statement and each row one INSERT.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import fields
from functools import lru_cache

from sqlalchemy import Connection, func, select

from shared.db import Database, dbapi_cursor
from shared.eventstore import (PublishableEvent, Recorder, StoredEvent, StreamAppend, check_append, events_table,
                               kernel_metadata)


def _publishable(row, _dumps=json.dumps) -> PublishableEvent:
    """The relay's event, its wire body made around the stored JSON text of its data and actor,
    which are never decoded (the relay would only encode them again)."""
    (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
     correlation_id, causation_id, actor, data) = row
    head = _dumps({"event_id": event_id, "event_type": event_type, "schema_version": schema_version,
                   "stream_id": stream_id, "stream_version": stream_version, "global_position": position,
                   "occurred_at": occurred_at, "correlation_id": correlation_id, "causation_id": causation_id},
                  ensure_ascii=False, separators=(",", ":"))
    body = f'{head[:-1]},"actor":{actor if actor is not None else "null"},"data":{data}}}'
    return PublishableEvent(position, event_id, event_type, schema_version, correlation_id, body.encode("utf-8"))


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


def _rows(appends: list[StreamAppend]) -> list[tuple]:
    return [(e.event_id, a.stream_id, a.expected_version + offset, e.event_type, e.schema_version, e.occurred_at,
             e.correlation_id, e.causation_id,
             json.dumps(e.actor, ensure_ascii=False) if e.actor is not None else None,
             json.dumps(e.data, ensure_ascii=False, separators=(",", ":")))
            for a in appends for offset, e in enumerate(a.events, start=1)]


class SQLRecorder(Recorder):
    """What both SQL recorders share: the reads (plain SQL on the DBAPI cursor)."""

    placeholder = "?"

    def __init__(self, database: Database):
        self.db = database
        kernel_metadata.create_all(database.engine, tables=[events_table])
        self._select_all_after = _SELECT_ALL_AFTER.format(p=self.placeholder)
        self._select_stream = _SELECT_STREAM.format(p=self.placeholder)

    def _fetch(self, conn: Connection, statement: str, params) -> list:
        with dbapi_cursor(conn, statement) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()

    def read_streams(self, conn: Connection, tails: dict[str, int]) -> dict[str, list[StoredEvent]]:
        out: dict[str, list[StoredEvent]] = {s: [] for s in tails}
        if len(tails) == 1:
            ((stream_id, after),) = tails.items()
            rows = self._fetch(conn, self._select_stream, (stream_id, after))
        elif not any(tails.values()):   # whole streams: one IN list
            statement = (f"SELECT {_ROW_COLUMNS} FROM events WHERE stream_id IN "
                         f"({', '.join([self.placeholder] * len(tails))}) ORDER BY stream_id, stream_version")
            rows = self._fetch(conn, statement, tuple(tails))
        else:
            rows = self._fetch(conn, _tails_sql(len(tails), self.placeholder), tuple(x for t in tails.items() for x in t))
        for row in rows:
            out[row[2]].append(_row_to_event(row))
        return out

    def read_all(self, conn: Connection, after_position: int, limit: int) -> list[StoredEvent]:
        return [_row_to_event(r) for r in self._fetch(conn, self._select_all_after, (after_position, limit))]

    def read_all_publishable(self, conn: Connection, after_position: int, limit: int) -> list[PublishableEvent]:
        return [_publishable(r) for r in self._fetch(conn, self._select_all_after, (after_position, limit))]

    def max_position(self, conn: Connection) -> int:
        return conn.execute(select(func.coalesce(func.max(events_table.c.global_position), 0))).scalar_one()


class SQLiteRecorder(SQLRecorder):
    """One writer (BEGIN IMMEDIATE), in-process calls; the cost is Python per statement, so the
    checks are one statement and each row one INSERT (its rowid is its global position:
    `global_position` is the INTEGER PRIMARY KEY)."""

    def append(self, conn: Connection, appends: list[StreamAppend]) -> list[int]:
        rows = _rows(appends)
        ids = [r[0] for r in rows]
        streams = [a.stream_id for a in appends]
        check_sql = _sqlite_check_sql(len(ids), len(streams))
        with dbapi_cursor(conn, check_sql) as cursor:
            cursor.execute(check_sql, (*ids, *streams))
            _, existing, heads = _classify(cursor.fetchall(), {})
            if not check_append(appends, ids, existing, heads):
                return []
            positions = []
            for row in rows:
                cursor.execute(_SQLITE_INSERT, row)
                positions.append(cursor.lastrowid)
        return positions


class PostgresRecorder(SQLRecorder):
    """One round trip per append. The append lock is its own statement so that the checks,
    which follow it in the same simple query, see everything committed before the lock was
    granted (READ COMMITTED takes a fresh snapshot per statement); then one prepared statement
    checks ids and heads and inserts only if both pass."""

    placeholder = "%s"

    def __init__(self, database: Database, append_lock: bool = True):
        super().__init__(database)
        self.append_lock = append_lock   # False only in the test that shows why it exists

    def append(self, conn: Connection, appends: list[StreamAppend]) -> list[int]:
        if not conn.connection.info.get("baodao_prepared"):
            self._prepare(conn)
        rows = _rows(appends)
        if len(rows) == 1:
            params = [*rows[0], appends[0].expected_version]
            statement = _PG_APPEND_ONE[2]
        else:
            params = [list(column) for column in zip(*rows)]
            params.append([a.stream_id for a in appends])
            params.append([a.expected_version for a in appends])
            statement = _PG_APPEND_MANY[2]
        if self.append_lock:
            statement = _PG_LOCK + statement
            params.insert(0, self.db.advisory_key)
        result = self._fetch(conn, statement, params)
        ids = [r[0] for r in rows]
        # only heads that differ from the expected version come back: the others are as expected
        written, existing, heads = _classify(result, {a.stream_id: a.expected_version for a in appends})
        if not check_append(appends, ids, existing, heads):
            return []
        return [written[i] for i in ids]

    @staticmethod
    def _prepare(conn: Connection) -> None:
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
