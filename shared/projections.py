"""Projections: read models built from a service's own event store, with a checkpoint.

A projection applies events in global-position order; each batch and the new checkpoint commit
together, and the checkpoint only moves from the position it was read at, so two instances of
a service running the same projector never apply a batch twice. `rebuild` empties the
projection's tables and replays from position zero; it must end with the same rows.
"""
from __future__ import annotations

from typing import Callable, ClassVar, Iterable

import structlog
from sqlalchemy import (BigInteger, Column, Connection, Integer, MetaData, String, Table, bindparam, exists, select,
                        update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.codec import EventCodec
from shared.db import Database, dbapi_cursor
from shared.eventstore import EventStore, StoredEvent, events_table, kernel_metadata

log = structlog.get_logger("baodao.projections")

checkpoints_table = Table(
    "projection_checkpoints",
    kernel_metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
)


# Built once: building a statement costs more than executing a cached one (the hot path runs
# them for every batch).
_LOCK_CHECKPOINT = (select(checkpoints_table.c.position).where(checkpoints_table.c.name == bindparam("p_name"))
                    .with_for_update())
_BEHIND = select(exists().where(events_table.c.global_position > (
    select(checkpoints_table.c.position).where(checkpoints_table.c.name == bindparam("p_name")).scalar_subquery())))
_MOVE_CHECKPOINT = (update(checkpoints_table).where(checkpoints_table.c.name == bindparam("p_name"))
                    .where(checkpoints_table.c.position == bindparam("p_start"))
                    .values(position=bindparam("p_position")))


class Projection:
    """Subclass: set `name`, `metadata` (its tables), and `when_<EventType>(conn, event, data)`.
    `data` (the event's decoded data) is shared with the service's other projections: read it,
    never change it."""

    name: ClassVar[str] = ""
    metadata: ClassVar[MetaData]

    def handles(self, event_type: str) -> bool:
        return hasattr(self, f"when_{event_type}")

    def apply(self, conn: Connection, event: StoredEvent, data: dict) -> None:
        getattr(self, f"when_{event.event_type}")(conn, event, data)

    def create_tables(self, database: Database) -> None:
        self.metadata.create_all(database.engine)

    def start_batch(self) -> None:
        """Called before a batch is applied (a projection that buffers rows drops them here)."""

    def end_batch(self, conn: Connection) -> None:
        """Called after a batch is applied, in its transaction (a projection that buffers rows
        writes them here, many at once)."""

    def clear(self, conn: Connection) -> None:
        for table in reversed(self.metadata.sorted_tables):
            conn.execute(table.delete())


def execute_many(conn: Connection, statement: str, rows: list[tuple]) -> None:
    """Run one plain SQL statement (`%s` placeholders) for every row, in order, on the DBAPI
    cursor of `conn` (its transaction): for a projection's batch of row changes. On
    PostgreSQL the rows go in pages of many statements per round trip (psycopg2's
    `execute_batch`), not one round trip each; on SQLite `executemany` runs in-process."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from psycopg2.extras import execute_batch

        with dbapi_cursor(conn, statement) as cursor:
            execute_batch(cursor, statement, rows, page_size=200)
    else:
        statement = statement.replace("%s", "?")
        with dbapi_cursor(conn, statement) as cursor:
            cursor.executemany(statement, rows)


def insert_many(conn: Connection, table: Table, rows: list[dict], skip_existing: bool = False) -> None:
    """INSERT `rows` (dicts with the same keys, every column the rows need) into `table` on the
    DBAPI cursor of `conn`: on PostgreSQL as multi-row statements (psycopg2's `execute_values`,
    500 rows a statement), on SQLite by `executemany` in-process — for a projection's batch of
    new rows, without SQLAlchemy's per-row parameter processing. `skip_existing`: a row whose
    key is already there is skipped (ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    columns = tuple(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    conflict = " ON CONFLICT DO NOTHING" if skip_existing else ""
    values = [tuple(row[c] for c in columns) for row in rows]
    if conn.dialect.name == "postgresql":
        from psycopg2.extras import execute_values

        statement = f'INSERT INTO "{table.name}" ({names}) VALUES %s{conflict}'
        with dbapi_cursor(conn, statement) as cursor:
            execute_values(cursor, statement, values, page_size=500)
    else:
        statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(columns))}){conflict}'
        with dbapi_cursor(conn, statement) as cursor:
            cursor.executemany(statement, values)


class CheckpointMoved(Exception):
    pass


class Projector:
    """Applies a service's projections; on PostgreSQL it also keeps the planner's statistics of
    their tables current (see `_note_applied`)."""

    # ANALYZE a projection's tables once this many events were applied since the last time,
    # and again each time the count since then reaches what it was before (1k, 2k, 4k, …).
    analyze_after_events = 1000
    # batches of one round kept for the next projections (a long catch-up reads the rest again)
    shared_batches = 4

    def __init__(self, database: Database, store: EventStore, codec: EventCodec,
                 projections: Iterable[Projection], batch_size: int = 1000):
        self.db, self.store, self.codec = database, store, codec
        self.projections = list(projections)
        self.batch_size = batch_size
        self._applied: dict[str, int] = {}  # projection -> events since the last ANALYZE
        self._analyzed: dict[str, int] = {}  # projection -> events applied before it
        kernel_metadata.create_all(database.engine, tables=[checkpoints_table])
        ins = pg_insert if database.is_postgres else sqlite_insert
        for p in self.projections:
            p.create_tables(database)
            with database.transaction() as conn:
                conn.execute(ins(checkpoints_table).values(name=p.name, position=0)
                             .on_conflict_do_nothing(index_elements=["name"]))

    def get(self, name: str) -> Projection:
        return next(p for p in self.projections if p.name == name)

    def position(self, projection: Projection, conn: Connection | None = None) -> int:
        q = select(checkpoints_table.c.position).where(checkpoints_table.c.name == projection.name)
        if conn is not None:
            return conn.execute(q).scalar_one()
        with self.db.transaction() as own:
            return own.execute(q).scalar_one()

    def _step(self, projection: Projection, shared: dict | None = None) -> int:
        """Apply one batch; returns how many events were read (0 when caught up).

        The checkpoint row is locked first (FOR UPDATE on PostgreSQL; SQLite has one writer),
        and the batch is read and applied in the same transaction, so two projectors of the
        same projection — another instance, or a query catching up to read its own writes —
        take turns instead of applying a batch twice.

        `shared` (from `catch_up`): batches read and decoded by the projections before this one
        in the same round, by the position they start after. A projection starting at the same
        position applies that batch instead of reading and decoding the events again: stored
        events never change, and positions become visible in order, so the batch is what a read
        would return, or a prefix of it (events committed since wait for the next round; the
        round started after every commit its caller waits for, and so did that read).

        A projection already at the head is recognised first without the lock (a plain read:
        the checkpoint commits with its batch, so a checkpoint seen means its rows are
        visible): the lock is a row write that other instances' queries would queue behind.
        """
        with self.db.transaction(durable=False) as conn:   # read only, and kept in the service
            if not conn.execute(_BEHIND, {"p_name": projection.name}).scalar_one():
                return 0
        # Not durable (no wait for the disk): the rows and the checkpoint commit together, so a
        # batch lost in a crash of the machine is applied again from the checkpoint.
        with self.db.transaction(durable=False) as conn:
            start = conn.execute(_LOCK_CHECKPOINT, {"p_name": projection.name}).scalar_one()
            batch = shared.get(start) if shared is not None else None
            if batch is None:
                batch = (self.store.read_all(start, limit=self.batch_size, conn=conn), {})
                if shared is not None and len(shared) < self.shared_batches:
                    shared[start] = batch
            events, decoded = batch   # decoded: global position -> data, filled as needed
            if not events:
                return 0
            projection.start_batch()
            for event in events:
                if projection.handles(event.event_type):
                    data = decoded.get(event.global_position)
                    if data is None:
                        data = decoded[event.global_position] = self.codec.decode_data(event)
                    projection.apply(conn, event, data)
            projection.end_batch(conn)
            moved = conn.execute(_MOVE_CHECKPOINT, {"p_name": projection.name, "p_start": start,
                                                    "p_position": events[-1].global_position})
            if moved.rowcount != 1:
                raise CheckpointMoved(projection.name)  # belt and braces: roll the batch back
        return len(events)

    def _note_applied(self, projection: Projection, n: int) -> None:
        """Read models fill from empty (a new service, a rebuild, a deadline rush), and a
        table that was never analyzed gets plans for a table of a few rows (nested loops over
        every member of a district). PostgreSQL's autovacuum would analyze them in time, but it
        may be off or behind, and SQLite has none; so the projector runs ANALYZE on the
        projection's tables itself whenever they may have doubled since it last did."""
        if n <= 0:
            return
        applied = self._applied.get(projection.name, 0) + n
        before = self._analyzed.get(projection.name, 0)
        if applied < max(self.analyze_after_events, before):
            self._applied[projection.name] = applied
            return
        self._applied[projection.name] = 0
        self._analyzed[projection.name] = before + applied
        self.analyze(projection)

    def analyze(self, projection: Projection) -> None:
        """Refresh the planner's statistics of the projection's tables."""
        tables = [f'"{t.name}"' for t in projection.metadata.sorted_tables]
        try:
            with self.db.transaction(durable=False) as conn:
                if self.db.is_postgres:
                    conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
                else:   # SQLite analyzes one table (or everything) at a time
                    for table in tables:
                        conn.exec_driver_sql(f"ANALYZE {table}")
        except Exception as exc:  # noqa: BLE001 - statistics are an optimisation, never a failure
            log.warning("projection_analyze_failed", projection=projection.name, error=repr(exc))
            return
        log.info("projection_analyzed", projection=projection.name)

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Bring every projection up to the head of the store; returns events applied."""
        total = 0
        shared: dict = {}   # the batches read in this round, shared between the projections
        for projection in self.projections:
            while True:
                try:
                    n = self._step(projection, shared)
                except CheckpointMoved:
                    continue
                total += n
                self._note_applied(projection, n)
                if n and progress:
                    progress(self.position(projection), self.store.max_position())
                if n < self.batch_size:
                    break  # a short batch read up to the head: no need to read again to find nothing
        return total

    def rebuild(self, name: str, progress: Callable[[int, int], None] | None = None) -> int:
        """Empty the projection and replay it from position zero."""
        projection = self.get(name)
        with self.db.transaction() as conn:
            projection.clear(conn)
            conn.execute(update(checkpoints_table).where(checkpoints_table.c.name == name).values(position=0))
        applied = 0
        while True:
            n = self._step(projection)
            if n == 0:
                break
            applied += n
            if progress:
                progress(self.position(projection), self.store.max_position())
        self.analyze(projection)
        log.info("projection_rebuilt", projection=name, events=applied)
        return applied
