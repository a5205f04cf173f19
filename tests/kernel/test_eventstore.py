"""The event store on both back ends: append/read, optimistic concurrency, idempotent retries."""
from __future__ import annotations

import eventlet
import pytest

from shared.eventstore import (
    ConcurrencyConflict,
    EventStore,
    IdempotencyMismatch,
    NewEvent,
    StreamAppend,
)


@pytest.fixture
def store(kernel_database):
    return EventStore(kernel_database)


def ev(event_type="Happened", **data) -> NewEvent:
    return NewEvent(event_type=event_type, data=data or {"n": 1})


def snapshot(store: EventStore) -> tuple:
    """Everything observable about the store, to compare before and after a failed write."""
    return store.max_position(), [e.to_wire() for e in store.read_all(0)]


# -- append and read -----------------------------------------------------------------------

def test_append_and_read_round_trip(store):
    actor = {"user_id": "u-7", "name": "张三", "roles": ["组织部", "管理员"]}
    first = NewEvent(
        event_type="UnitRegistered",
        data={"unit_id": "u-1", "name": "中共某区委组织部", "kind": "机关",
              "nested": {"地址": "人民路 1 号", "list": [1, 2.5, None, True], "emoji": "🎉"}},
        correlation_id="corr-1",
        causation_id="cause-1",
        actor=actor,
    )
    second = NewEvent(event_type="CampaignOpened", data={"title": "“双报到”活动", "n": 2},
                      schema_version=2, correlation_id="corr-1")
    other = NewEvent(event_type="UnitRegistered", data={"unit_id": "u-2", "name": "街道办事处"})

    p1 = store.append("unit-u1", [first, second], expected_version=0)
    p2 = store.append("unit-u2", [other], expected_version=0)
    p3 = store.append("unit-u1", [ev("Renamed", name="新名字")], expected_version=2)

    assert len(p1) == 2 and len(p2) == 1 and len(p3) == 1
    positions = p1 + p2 + p3
    assert positions == sorted(positions) and len(set(positions)) == 4
    assert store.max_position() == positions[-1]

    stream = store.read_stream("unit-u1")
    assert [e.stream_version for e in stream] == [1, 2, 3]
    assert [e.global_position for e in stream] == [p1[0], p1[1], p3[0]]
    assert [e.event_type for e in stream] == ["UnitRegistered", "CampaignOpened", "Renamed"]
    got = stream[0]
    assert got.event_id == first.event_id
    assert got.stream_id == "unit-u1"
    assert got.data == first.data  # Chinese text, nesting, floats, None, bool, emoji
    assert got.data["nested"]["地址"] == "人民路 1 号"
    assert got.actor == actor
    assert got.correlation_id == "corr-1" and got.causation_id == "cause-1"
    assert got.occurred_at == first.occurred_at
    assert got.schema_version == 1
    assert stream[1].schema_version == 2 and stream[1].data == {"title": "“双报到”活动", "n": 2}
    assert stream[1].actor is None and stream[1].causation_id is None
    assert stream[2].data == {"name": "新名字"}

    assert [e.stream_version for e in store.read_stream("unit-u1", after_version=1)] == [2, 3]
    assert store.read_stream("unit-u1", after_version=3) == []
    assert store.read_stream("no-such-stream") == []

    everything = store.read_all()
    assert [e.global_position for e in everything] == positions
    assert [e.stream_id for e in everything] == ["unit-u1", "unit-u1", "unit-u2", "unit-u1"]
    assert [(e.stream_id, e.stream_version) for e in everything][2] == ("unit-u2", 1)
    assert [e.global_position for e in store.read_all(after_position=p1[1])] == p2 + p3
    assert [e.global_position for e in store.read_all(0, limit=2)] == p1
    assert store.read_all(after_position=positions[-1]) == []

    wire = everything[0].to_wire()
    assert wire["data"]["name"] == "中共某区委组织部" and wire["global_position"] == p1[0]


def test_empty_store_and_empty_append(store):
    assert store.max_position() == 0
    assert store.read_all() == []
    assert store.append("s-1", [], expected_version=0) == []
    assert store.append_many([StreamAppend("s-1", [], 0)]) == []
    assert store.max_position() == 0


def test_append_many_writes_all_streams_in_one_go(store):
    a, b = ev(), ev()
    positions = store.append_many([StreamAppend("s-a", [a], 0), StreamAppend("s-b", [b, ev()], 0)])
    assert len(positions) == 3 and positions == sorted(positions)
    assert [e.event_id for e in store.read_stream("s-a")] == [a.event_id]
    assert [e.stream_version for e in store.read_stream("s-b")] == [1, 2]


# -- optimistic concurrency ----------------------------------------------------------------

def test_stale_expected_version_conflicts_and_writes_nothing(store):
    store.append("s-1", [ev(), ev()], expected_version=0)
    before = snapshot(store)

    with pytest.raises(ConcurrencyConflict) as info:
        store.append("s-1", [ev(), ev()], expected_version=1)

    err = info.value
    assert (err.stream_id, err.expected, err.actual) == ("s-1", 1, 2)
    msg = str(err)
    assert "'s-1'" in msg and "version 2" in msg and "expected 1" in msg and "nothing was written" in msg
    assert snapshot(store) == before
    assert [e.stream_version for e in store.read_stream("s-1")] == [1, 2]


def test_expected_version_ahead_of_actual_conflicts(store):
    with pytest.raises(ConcurrencyConflict) as info:
        store.append("s-new", [ev()], expected_version=3)
    assert (info.value.expected, info.value.actual) == (3, 0)
    store.append("s-1", [ev()], expected_version=0)
    with pytest.raises(ConcurrencyConflict) as info:
        store.append("s-1", [ev()], expected_version=2)
    assert (info.value.expected, info.value.actual) == (2, 1)
    assert store.read_stream("s-new") == []
    assert len(store.read_stream("s-1")) == 1
    assert store.max_position() == 1


@pytest.mark.parametrize("stale_first", [True, False])
def test_append_many_is_atomic_when_one_stream_is_stale(store, stale_first):
    store.append("s-ok", [ev()], expected_version=0)
    store.append("s-stale", [ev(), ev()], expected_version=0)
    before = snapshot(store)

    ok = StreamAppend("s-ok", [ev(), ev()], expected_version=1)       # correct
    stale = StreamAppend("s-stale", [ev()], expected_version=1)        # really at 2
    batch = [stale, ok] if stale_first else [ok, stale]
    with pytest.raises(ConcurrencyConflict) as info:
        store.append_many(batch)

    assert info.value.stream_id == "s-stale"
    assert snapshot(store) == before
    assert len(store.read_stream("s-ok")) == 1  # the good stream did not move either


def test_conflict_inside_callers_transaction_leaves_it_usable_and_clean(store):
    store.append("s-1", [ev()], expected_version=0)
    with store.db.transaction() as conn:
        with pytest.raises(ConcurrencyConflict):
            store.append_many([StreamAppend("s-2", [ev()], 0), StreamAppend("s-1", [ev()], 0)], conn=conn)
        # nothing of the failed batch is visible even inside the same transaction
        assert store.read_stream("s-2", conn=conn) == []
        store.append("s-3", [ev()], expected_version=0, conn=conn)
    assert [e.stream_id for e in store.read_all()] == ["s-1", "s-3"]


# -- idempotent retries --------------------------------------------------------------------

def test_reappending_the_same_events_is_a_no_op(store):
    batch = [ev(), ev()]
    positions = store.append("s-1", batch, expected_version=0)
    assert len(positions) == 2
    before = snapshot(store)

    # a retry of a batch that committed: same ids, expected version now stale
    assert store.append("s-1", batch, expected_version=0) == []
    assert store.append_many([StreamAppend("s-1", batch, 0)]) == []
    assert snapshot(store) == before


def test_reappending_a_committed_multi_stream_batch_is_a_no_op(store):
    a, b = ev(), ev()
    store.append_many([StreamAppend("s-a", [a], 0), StreamAppend("s-b", [b], 0)])
    store.append("s-a", [ev()], expected_version=1)  # the stream moved on since
    before = snapshot(store)
    assert store.append_many([StreamAppend("s-a", [a], 0), StreamAppend("s-b", [b], 0)]) == []
    assert snapshot(store) == before


def test_partially_stored_batch_is_an_idempotency_mismatch(store):
    old = ev()
    store.append("s-1", [old], expected_version=0)
    before = snapshot(store)

    with pytest.raises(IdempotencyMismatch):
        store.append("s-1", [old, ev()], expected_version=0)
    # even with the "right" expected version for the new part
    with pytest.raises(IdempotencyMismatch):
        store.append_many([StreamAppend("s-2", [ev()], 0), StreamAppend("s-1", [old], 1)])
    assert snapshot(store) == before


# -- concurrent appenders ------------------------------------------------------------------

def test_concurrent_appenders_to_one_stream_exactly_one_wins(store):
    store.append("s-1", [ev()], expected_version=0)
    writers = 10
    start = eventlet.event.Event()
    outcomes = []

    def writer(i):
        start.wait()
        try:
            positions = store.append("s-1", [ev("Attempt", writer=i)], expected_version=1)
        except ConcurrencyConflict as exc:
            outcomes.append(("conflict", i, exc.actual))
        else:
            outcomes.append(("ok", i, positions))

    pool = eventlet.GreenPool(writers)
    for i in range(writers):
        pool.spawn(writer, i)
    eventlet.sleep(0)  # let them all reach the start line
    start.send()
    pool.waitall()

    winners = [o for o in outcomes if o[0] == "ok"]
    losers = [o for o in outcomes if o[0] == "conflict"]
    assert len(outcomes) == writers  # nobody died of anything else (e.g. IntegrityError)
    assert len(winners) == 1, outcomes
    assert len(losers) == writers - 1
    assert all(actual == 2 for _, _, actual in losers)
    stream = store.read_stream("s-1")
    assert [e.stream_version for e in stream] == [1, 2]
    assert stream[1].data == {"writer": winners[0][1]}
    assert stream[1].global_position == winners[0][2][0]
    assert store.max_position() == stream[1].global_position


@pytest.mark.parametrize("streams", [2, 7])
@pytest.mark.parametrize("whole", [False, True])
def test_read_streams_gives_each_stream_after_its_version(store, streams, whole):
    for i in range(streams):
        store.append(f"s-{i}", [ev(n=i * 10 + k) for k in range(i + 1)], 0)
    store.append("other", [ev(n=-1)], 0)
    tails = [(f"s-{i}", 0 if whole else i // 2) for i in range(streams)] + [("missing", 0)]
    got = store.read_streams(dict(tails))
    assert set(got) == {s for s, _ in tails}
    for stream_id, after in tails:
        assert [e.to_wire() for e in got[stream_id]] == [e.to_wire() for e in store.read_stream(stream_id, after)]
    assert sum(len(v) for v in got.values()) == sum(i + 1 - (0 if whole else i // 2) for i in range(streams))
