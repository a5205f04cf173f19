"""The sequence-gap hazard on PostgreSQL, and the append lock that prevents it.

A position is taken from a sequence when the row is inserted, but transactions may commit in
any order; a reader tailing `read_all(after=last_seen)` that sees position 2 committed while 1
is still in flight would skip 1 for ever. The store's transaction-scoped advisory lock makes
positions visible strictly in position order.
"""
from __future__ import annotations

import random

import eventlet
import pytest
from eventlet.event import Event
from sqlalchemy import text

from shared.eventstore import EventStore, NewEvent

pytestmark = pytest.mark.postgres


def ev(**data) -> NewEvent:
    return NewEvent(event_type="Happened", data=data or {"n": 1})


class UnlockedEventStore(EventStore):
    """The store without its append lock: only here to show why the lock exists."""

    def __init__(self, database):
        super().__init__(database)
        self.recorder.append_lock = False


def waiting_for_append_lock(db) -> int:
    """Sessions waiting for this schema's append lock (an ungranted advisory lock on its key)."""
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                 " AND classid = 0 AND objid::bigint = :k AND objsubid = 1"),
            {"k": db.advisory_key},
        ).scalar_one()


def test_later_writer_waits_for_earlier_one_to_commit(pg_database):
    db = pg_database
    store = EventStore(db)
    a_event, b_event = ev(writer="A"), ev(writer="B")
    b_started, b_result = Event(), Event()

    def writer_b():
        b_started.send()
        try:
            b_result.send(store.append("stream-b", [b_event], expected_version=0))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            b_result.send_exception(exc)

    with db.transaction() as conn_a:
        [pos_a] = store.append("stream-a", [a_event], expected_version=0, conn=conn_a)
        gt = eventlet.spawn(writer_b)
        b_started.wait()
        eventlet.sleep(0.3)  # plenty of time for B to insert and commit, were it not waiting

        assert not b_result.ready(), "B committed while A still holds the append lock"
        assert waiting_for_append_lock(db) == 1  # B is blocked on the lock, not on anything else
        assert store.read_all(0) == []  # neither A (uncommitted) nor B is visible
        assert store.max_position() == 0
    # A commits here; B can now take the lock, insert and commit.
    [pos_b] = b_result.wait()
    gt.wait()

    assert pos_a < pos_b
    seen = store.read_all(0)
    assert [e.event_id for e in seen] == [a_event.event_id, b_event.event_id]
    assert [e.global_position for e in seen] == [pos_a, pos_b]
    # a reader tailing from A's position gets exactly B: nothing skipped
    assert [e.event_id for e in store.read_all(pos_a)] == [b_event.event_id]


def test_without_the_lock_a_tailing_reader_skips_an_event(pg_database):
    """Documents the hazard: with `append_lock = False`, B commits while A is in flight, and a
    reader that has already read B's position never sees A."""
    db = pg_database
    store = UnlockedEventStore(db)
    assert store.recorder.append_lock is False
    a_event, b_event = ev(writer="A"), ev(writer="B")

    with db.transaction() as conn_a:
        [pos_a] = store.append("stream-a", [a_event], expected_version=0, conn=conn_a)
        b = eventlet.spawn(store.append, "stream-b", [b_event], 0)
        [pos_b] = b.wait()  # B is not held back: it commits while A is still open
        assert pos_a < pos_b

        # the tailing reader polls now: it sees B (the higher position) and moves past it
        first_read = store.read_all(0)
        assert [e.event_id for e in first_read] == [b_event.event_id]
        last_seen = max(e.global_position for e in first_read)
        assert last_seen == pos_b
    # A commits, with a position below what the reader has already passed
    assert store.read_all(last_seen) == []  # A is skipped for ever by this reader
    assert [e.event_id for e in store.read_all(0)] == [a_event.event_id, b_event.event_id]


def run_writers_and_tailing_reader(db, store, writers=8, per_writer=60, seed=1234):
    """Writers append single-event transactions (sometimes lingering before commit) while a
    reader tails `read_all(after=last_seen)`.
    Returns (appended ids, [(position, id) read], how often the reader polled)."""
    rng = random.Random(seed)
    appended: list[str] = []
    read: list[tuple[int, str]] = []
    done = Event()

    def writer(w: int):
        sleeps = [rng.random() for _ in range(per_writer)]
        for i in range(per_writer):
            e = ev(writer=w, i=i)
            with db.transaction() as conn:
                store.append(f"stream-{w}", [e], expected_version=i, conn=conn)
                if sleeps[i] < 0.3:
                    eventlet.sleep(sleeps[i] * 0.005)  # linger between insert and commit
                else:
                    eventlet.sleep(0)
            appended.append(e.event_id)
            if sleeps[i] > 0.7:
                eventlet.sleep(0.001)

    def reader():
        last_seen = 0
        polls = 0
        while True:
            finished = done.ready()
            batch = store.read_all(last_seen, limit=50)
            polls += 1
            for e in batch:
                read.append((e.global_position, e.event_id))
            if batch:
                last_seen = max(e.global_position for e in batch)
            elif finished:
                return polls
            else:
                eventlet.sleep(0)

    reader_gt = eventlet.spawn(reader)
    writer_gts = [eventlet.spawn(writer, w) for w in range(writers)]
    for gt in writer_gts:
        gt.wait()
    done.send(True)
    polls = reader_gt.wait()
    return appended, read, polls


def test_tailing_reader_under_concurrent_writers_sees_every_event_once_in_order(pg_database):
    db = pg_database
    store = EventStore(db)
    writers, per_writer = 8, 60
    appended, read, polls = run_writers_and_tailing_reader(db, store, writers, per_writer)

    assert len(appended) == writers * per_writer
    assert polls > 20, "the reader should really have tailed while the writers wrote"
    positions = [p for p, _ in read]
    ids = [i for _, i in read]
    assert all(a < b for a, b in zip(positions, positions[1:])), "positions not strictly increasing"
    assert len(ids) == len(set(ids)), "an event was read twice"
    assert set(ids) == set(appended), (
        f"{len(set(appended) - set(ids))} appended events were skipped by the tailing reader"
    )
    assert [e.event_id for e in store.read_all(0, limit=10_000)] == ids
