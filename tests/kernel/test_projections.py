"""Projections on both back ends: catch-up, checkpoint, rebuild, and two instances at once."""
from __future__ import annotations

import eventlet
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.db import Database
from shared.eventstore import EventStore, NewEvent
from shared.projections import CheckpointMoved, Projection, Projector, checkpoints_table

from .helpers import registration_codec, unit_registered

test_metadata = MetaData()
unit_counts = Table(
    "t_unit_counts",
    test_metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("registrations", Integer, nullable=False),
    Column("last_name", String(200), nullable=False),
    Column("last_kind", String(20), nullable=False),
    Column("last_position", Integer, nullable=False),
)


class UnitCounts(Projection):
    """Counts `UnitRegistered` events per stream (an increment: double-applying shows)."""

    name = "unit_counts"
    metadata = test_metadata

    def when_UnitRegistered(self, conn, event, data):
        ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = ins(unit_counts).values(
            stream_id=event.stream_id, registrations=1, last_name=data["name"],
            last_kind=data["kind"], last_position=event.global_position,
        )
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["stream_id"],
            set_={"registrations": unit_counts.c.registrations + 1,
                  "last_name": stmt.excluded.last_name,
                  "last_kind": stmt.excluded.last_kind,
                  "last_position": stmt.excluded.last_position},
        ))


event_log = Table(
    "t_event_log",
    test_metadata,
    Column("event_id", String(36), primary_key=True),
    Column("global_position", Integer, nullable=False),
)


class EventLog(Projection):
    """One row per event by plain INSERT: a double-apply is a primary-key violation."""

    name = "event_log"
    metadata = test_metadata

    def when_UnitRegistered(self, conn, event, data):
        conn.execute(event_log.insert().values(event_id=event.event_id, global_position=event.global_position))


def rows(db: Database) -> list[tuple]:
    with db.transaction() as conn:
        return [tuple(r) for r in conn.execute(select(unit_counts).order_by(unit_counts.c.stream_id))]


def checkpoint(projector: Projector) -> int:
    return projector.position(projector.get(UnitCounts.name))


@pytest.fixture
def store(database):
    return EventStore(database)


def make_projector(db, store, batch_size=1000):
    return Projector(db, store, registration_codec(), [UnitCounts()], batch_size=batch_size)


def append_units(store, streams=5, per_stream=4) -> list[int]:
    """Interleaved appends: stream k gets `per_stream` registrations (names 单位k-0, 单位k-1, …)."""
    positions = []
    for version in range(per_stream):
        for k in range(streams):
            positions += store.append(f"unit-{k}", [unit_registered(f"u{k}", name=f"单位{k}-{version}",
                                                                    kind="企业" if k % 2 else "机关")],
                                      expected_version=version)
    return positions


def expected_rows(store, streams=5, per_stream=4) -> list[tuple]:
    last_pos = {}
    for e in store.read_all(0, limit=100_000):
        if e.event_type == "UnitRegistered":
            last_pos[e.stream_id] = e.global_position
    return [(f"unit-{k}", per_stream, f"单位{k}-{per_stream - 1}", "企业" if k % 2 else "机关",
             last_pos[f"unit-{k}"]) for k in range(streams)]


def test_catch_up_applies_events_and_moves_the_checkpoint(database, store):
    projector = make_projector(database, store, batch_size=3)
    assert checkpoint(projector) == 0
    assert projector.catch_up() == 0
    assert rows(database) == []

    append_units(store)
    # an event type the projection does not handle is read past, not applied
    store.append("other-1", [NewEvent(event_type="SomethingElse", data={"x": 1})], expected_version=0)
    progress = []
    applied = projector.catch_up(progress=lambda pos, head: progress.append((pos, head)))

    assert applied == 21
    assert rows(database) == expected_rows(store)
    assert checkpoint(projector) == store.max_position()
    assert progress[-1] == (store.max_position(), store.max_position())
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)

    # a second catch-up has nothing to do and changes nothing
    assert projector.catch_up() == 0
    assert rows(database) == expected_rows(store)

    # new events are applied incrementally, exactly once
    store.append("unit-0", [unit_registered("u0", name="新单位")], expected_version=4)
    assert projector.catch_up() == 1
    assert projector.catch_up() == 0
    got = dict((r[0], r) for r in rows(database))
    assert got["unit-0"][1:3] == (5, "新单位")
    assert got["unit-1"][1] == 4
    assert checkpoint(projector) == store.max_position()


def test_rebuild_ends_with_exactly_the_same_rows(database, store):
    append_units(store, streams=6, per_stream=5)
    projector = make_projector(database, store, batch_size=7)
    projector.catch_up()
    before = rows(database)
    assert before == expected_rows(store, streams=6, per_stream=5)

    # scribble over the read model: rebuild must throw this away
    with database.transaction() as conn:
        conn.execute(unit_counts.update().values(registrations=999))
        conn.execute(unit_counts.insert().values(stream_id="junk", registrations=1, last_name="x",
                                                 last_kind="机关", last_position=0))

    assert projector.rebuild(UnitCounts.name) == 30
    assert rows(database) == before
    assert checkpoint(projector) == store.max_position()
    assert projector.catch_up() == 0
    assert rows(database) == before


def test_a_new_projector_instance_resumes_from_the_checkpoint(database, store):
    append_units(store, streams=2, per_stream=2)
    assert make_projector(database, store).catch_up() == 4
    head = store.max_position()
    store.append("unit-0", [unit_registered("u0", name="后来")], expected_version=2)
    again = make_projector(database, store)  # e.g. after a restart: the checkpoint row survives
    assert checkpoint(again) == head
    assert again.catch_up() == 1
    assert dict((r[0], r[1]) for r in rows(database)) == {"unit-0": 3, "unit-1": 2}


def test_two_projector_instances_catching_up_concurrently_never_double_apply(database, store):
    streams, per_stream = 5, 12
    append_units(store, streams, per_stream)

    # A second instance of the service: its own engine on the same database.
    if database.is_postgres:
        other_db = Database(str(database.url.render_as_string(hide_password=False)), schema=database.schema)
    else:
        other_db = Database(database.url.render_as_string(hide_password=False))

    class YieldingStore(EventStore):
        """Yields after each read, so the two instances interleave between reading a batch and
        applying it (on SQLite nothing else would yield)."""

        def read_all(self, *args, **kwargs):
            events = super().read_all(*args, **kwargs)
            eventlet.sleep(0)
            return events

    moved = []

    class CountingProjector(Projector):
        def _step(self, projection, *args):
            try:
                return super()._step(projection, *args)
            except CheckpointMoved:
                moved.append(self)
                raise

    try:
        p1 = CountingProjector(database, YieldingStore(database), registration_codec(), [UnitCounts(), EventLog()],
                               batch_size=4)
        p2 = CountingProjector(other_db, YieldingStore(other_db), registration_codec(), [UnitCounts(), EventLog()],
                               batch_size=4)
        start = eventlet.event.Event()

        def run(p):
            start.wait()
            return p.catch_up()

        g1, g2 = eventlet.spawn(run, p1), eventlet.spawn(run, p2)
        eventlet.sleep(0)
        start.send()
        applied = g1.wait() + g2.wait()

        # The checkpoint row is locked before a batch is read, so the instances take turns:
        # each event is applied by exactly one of them, for both projections.
        assert applied == 2 * streams * per_stream
        with database.transaction() as conn:
            assert conn.execute(select(event_log.c.event_id)).scalars().all().__len__() == streams * per_stream
        assert rows(database) == expected_rows(store, streams, per_stream)
        assert checkpoint(p1) == checkpoint(p2) == store.max_position()

        # more events, both instances again
        store.append("unit-0", [unit_registered("u0", name="再来")], expected_version=per_stream)
        g1, g2 = eventlet.spawn(p1.catch_up), eventlet.spawn(p2.catch_up)
        assert g1.wait() + g2.wait() == 2
        assert dict((r[0], r[1]) for r in rows(database))["unit-0"] == per_stream + 1
    finally:
        other_db.dispose()


def test_the_projector_keeps_the_planner_statistics_of_its_tables_on_postgresql(pg_database):
    """Read models filled from empty are analyzed by the projector itself (autovacuum may be
    off or late): after the first `analyze_after_events` events, then whenever they doubled."""
    store = EventStore(pg_database)
    projector = make_projector(pg_database, store, batch_size=50)
    projector.analyze_after_events = 40

    def analyzed() -> int:
        with pg_database.transaction() as conn:
            return conn.exec_driver_sql(
                "SELECT coalesce(sum(analyze_count), 0) FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = 't_unit_counts'").scalar()

    def settled_analyzed() -> int:  # the statistics collector reports with a delay
        for _ in range(50):
            with pg_database.transaction() as conn:
                conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            n = analyzed()
            if n:
                return n
            eventlet.sleep(0.1)
        return analyzed()

    append_units(store, streams=5, per_stream=6)  # 30 events: below the threshold
    projector.catch_up()
    assert projector._applied == {"unit_counts": 30}
    append_units_after(store, streams=5, first=6, last=8)  # 40 events in all: analyzed
    projector.catch_up()
    assert projector._applied == {"unit_counts": 0} and projector._analyzed == {"unit_counts": 40}
    assert settled_analyzed() >= 1
    with pg_database.transaction() as conn:
        reltuples = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 't_unit_counts'::regclass").scalar()
    assert reltuples == 5  # the planner knows the table's size
    append_units_after(store, streams=5, first=8, last=12)  # 20 more: not doubled yet
    projector.catch_up()
    assert projector._applied == {"unit_counts": 20} and projector._analyzed == {"unit_counts": 40}


def append_units_after(store, streams: int, first: int, last: int) -> None:
    for version in range(first, last):
        for k in range(streams):
            store.append(f"unit-{k}", [unit_registered(f"u{k}", name=f"单位{k}-{version}")],
                         expected_version=version)


def test_projections_at_the_same_position_share_one_read_and_one_decode_per_event(database, store):
    """A round of catch-up reads each batch once and decodes each event once for all the
    projections that start at the same position; one that is elsewhere reads its own."""
    append_units(store, streams=3, per_stream=3)
    reads, decodes = [], []

    class CountingStore(EventStore):
        def read_all(self, after_position=0, limit=1000, conn=None):
            reads.append(after_position)
            return super().read_all(after_position, limit, conn)

    codec = registration_codec()
    decode_data = codec.decode_data
    codec.decode_data = lambda stored: decodes.append(stored.global_position) or decode_data(stored)
    projector = Projector(database, CountingStore(database), codec, [UnitCounts(), EventLog()], batch_size=4)

    assert projector.catch_up() == 2 * 9
    assert reads == [0, 4, 8]                      # three batches, each read once for both
    assert sorted(decodes) == sorted(e.global_position for e in store.read_all(0))
    assert rows(database) == expected_rows(store, streams=3, per_stream=3)
    with database.transaction() as conn:
        assert len(conn.execute(select(event_log.c.event_id)).scalars().all()) == 9

    # one projection far behind the other: each reads from where it is
    store.append("unit-0", [unit_registered("u0", name="又一")], expected_version=3)
    with database.transaction() as conn:
        conn.execute(event_log.delete())
        conn.execute(checkpoints_table.update().where(checkpoints_table.c.name == EventLog.name).values(position=0))
    reads.clear()
    assert projector.catch_up() == 1 + 10
    assert reads == [9, 0, 4, 8]
    assert rows(database)[0][1:3] == (4, "又一")
    with database.transaction() as conn:
        assert len(conn.execute(select(event_log.c.event_id)).scalars().all()) == 10


def test_insert_many_writes_every_row_and_skips_existing_keys_when_asked(database):
    from shared.projections import insert_many

    test_metadata.create_all(database.engine, tables=[event_log])
    with database.transaction() as conn:
        insert_many(conn, event_log, [{"event_id": f"e{i}", "global_position": i} for i in range(1, 1201)])
        insert_many(conn, event_log, [])
    with database.transaction() as conn:
        insert_many(conn, event_log, [{"event_id": "e5", "global_position": 999},
                                      {"event_id": "new", "global_position": 0}], skip_existing=True)
    with database.transaction() as conn:
        got = dict(conn.execute(select(event_log.c.event_id, event_log.c.global_position)).all())
    assert len(got) == 1201 and got["e5"] == 5 and got["new"] == 0 and got["e1200"] == 1200
    with pytest.raises(Exception):   # without skip_existing a duplicate key fails, as a plain INSERT does
        with database.transaction() as conn:
            insert_many(conn, event_log, [{"event_id": "e1", "global_position": 1}])


def test_the_projector_keeps_the_planner_statistics_of_its_tables_on_sqlite(tmp_path):
    """SQLite has no autovacuum: the projector analyzes its tables as on PostgreSQL."""
    sqlite_database = Database(f"sqlite:///{tmp_path / 'service.db'}")
    try:
        _statistics_kept(sqlite_database)
    finally:
        sqlite_database.dispose()


def _statistics_kept(sqlite_database) -> None:
    store = EventStore(sqlite_database)
    projector = make_projector(sqlite_database, store, batch_size=50)
    projector.analyze_after_events = 40

    def statistics() -> list:
        with sqlite_database.transaction() as conn:
            known = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar()
            return conn.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1 WHERE tbl = 't_unit_counts'").all() \
                if known else []

    append_units(store, streams=5, per_stream=6)  # 30 events: below the threshold
    projector.catch_up()
    assert statistics() == []
    append_units_after(store, streams=5, first=6, last=8)  # 40 events in all: analyzed
    projector.catch_up()
    assert projector._analyzed == {"unit_counts": 40}
    [(table, stat)] = statistics()
    assert stat.split()[0] == "5"   # the planner knows the table's size
