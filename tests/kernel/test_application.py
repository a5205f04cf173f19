"""The application kernel on both back ends: commands through a unit of work, and events from
other services handled exactly once through the inbox."""
from __future__ import annotations

from uuid import uuid4

import eventlet
import eventlet.event
import pytest

from shared.application import Application, Context
from shared.contracts import ContractError, ReceivedEvent
from shared.domain import DomainError
from shared.eventstore import ConcurrencyConflict, EventStore

from .helpers import AlreadyRegistered, Unit, UnitRegistered, registration_codec, unit_registered

ACTOR = {"user_id": "admin-1", "name": "李四", "role": "组织部管理员"}


@pytest.fixture
def app(database):
    return Application(database, registration_codec())


def register_unit(uow, unit_id, name, kind="机关"):
    unit = uow.load(Unit, unit_id)
    unit.register(name, kind=kind)
    return unit.version


def everything(app: Application) -> list[dict]:
    return [e.to_wire() for e in app.store.read_all(0)]


# -- commands ------------------------------------------------------------------------------

def test_execute_appends_events_stamped_with_the_context(app):
    notified = []
    app.on_appended(lambda: notified.append(True))
    ctx = Context(correlation_id="corr-42", causation_id="cmd-1", actor=ACTOR)

    assert app.execute(register_unit, "u1", "区教育局", context=ctx) == 1

    [stored] = app.store.read_stream("unit-u1")
    assert stored.stream_version == 1
    assert stored.event_type == "UnitRegistered"
    assert stored.schema_version == UnitRegistered.schema_version
    assert stored.data == {"unit_id": "u1", "name": "区教育局", "kind": "机关", "district_id": "d-1",
                           "linked_community_id": None}
    assert stored.correlation_id == "corr-42"
    assert stored.causation_id == "cmd-1"
    assert stored.actor == ACTOR
    assert notified == [True]

    # the aggregate is rebuilt from its stream on the next command
    seen = {}

    def inspect(uow, unit_id):
        unit = uow.load(Unit, unit_id)
        seen.update(version=unit.version, loaded=unit.loaded_version, name=unit.name, kind=unit.kind)

    app.execute(inspect, "u1")
    assert seen == {"version": 1, "loaded": 1, "name": "区教育局", "kind": "机关"}
    assert notified == [True]  # nothing appended, nobody notified


def test_execute_with_default_context_stamps_nothing(app):
    app.execute(register_unit, "u1", "区财政局")
    [stored] = app.store.read_all(0)
    assert (stored.correlation_id, stored.causation_id, stored.actor) == (None, None, None)


def test_a_domain_error_writes_nothing(app):
    app.execute(register_unit, "u1", "区教育局", context=Context(correlation_id="c1"))
    before = everything(app)
    notified = []
    app.on_appended(lambda: notified.append(True))

    with pytest.raises(AlreadyRegistered) as info:
        app.execute(register_unit, "u1", "别的名字")
    assert isinstance(info.value, DomainError)
    assert "已经报到" in str(info.value)
    assert everything(app) == before
    assert notified == []


def test_a_domain_error_after_events_were_flushed_rolls_everything_back(app):
    """Even events already appended inside the command's transaction are rolled back."""

    def register_two_then_fail(uow):
        uow.load(Unit, "u1").register("单位一")
        uow.load(Unit, "u2").register("单位二", kind="企业")
        assert len(uow.flush()) == 2  # written in this transaction...
        assert len(app.store.read_stream("unit-u1", conn=uow.conn)) == 1
        raise DomainError("规则不允许")  # ...and undone by the failure

    with pytest.raises(DomainError):
        app.execute(register_two_then_fail)
    assert everything(app) == []
    assert app.store.max_position() == 0


def test_flushing_twice_in_one_command_appends_after_the_first_flush(app):
    """A handler may flush mid-way and then trigger more events on the same aggregate; the
    second flush must expect the version the first one wrote, not conflict with itself."""
    calls = []

    def register_flush_and_again(uow):
        calls.append(1)
        unit = uow.load(Unit, "u1")
        unit.register("第一次")
        assert len(uow.flush()) == 1
        assert unit.loaded_version == 1
        unit._trigger(UnitRegistered(unit_id="u1", name="第二次", kind="机关", district_id="d-1"))

    app.execute(register_flush_and_again, context=Context(correlation_id="c"))
    assert calls == [1]  # not re-run as if it had conflicted
    stream = app.store.read_stream("unit-u1")
    assert [(e.stream_version, e.data["name"]) for e in stream] == [(1, "第一次"), (2, "第二次")]


def test_an_event_breaking_its_contract_writes_nothing(app):
    def bad_kind(uow):
        uow.load(Unit, "u1").register("单位一")
        uow.load(Unit, "u2").register("单位二", kind="个体户")  # not one of UNIT_KINDS

    with pytest.raises(ContractError):
        app.execute(bad_kind)
    assert everything(app) == []


def test_one_command_touching_two_aggregates_appends_both_atomically(app):
    def register_both(uow):
        uow.load(Unit, "a").register("甲")
        uow.load(Unit, "b").register("乙", kind="社会组织")

    app.execute(register_both, context=Context(correlation_id="both"))
    stored = app.store.read_all(0)
    assert sorted(e.stream_id for e in stored) == ["unit-a", "unit-b"]
    assert {e.correlation_id for e in stored} == {"both"}


def test_events_decided_on_known_versions_append_only_while_every_stream_is_still_there(app):
    """`append_decided`: events decided without loading the aggregates (e.g. on a read model
    that folded each stream to a version) append, stamped, only if every stream is still at
    that version; otherwise nothing of them is written and the unit of work goes on."""
    app.execute(register_unit, "a", "甲")
    notified = []
    app.on_appended(lambda: notified.append(True))
    second = UnitRegistered(unit_id="a", name="甲二", kind="机关", district_id="d-1")

    def decide(uow, versions):
        try:
            uow.append_decided([(Unit, "a", versions["a"], [second]),
                                (Unit, "b", versions["b"], [UnitRegistered(unit_id="b", name="乙", kind="机关",
                                                                           district_id="d-1")])])
            return "appended"
        except ConcurrencyConflict:
            b = uow.load(Unit, "b")                             # decide again, on the aggregate
            if not b.exists:
                b.register("乙（重新决定）")
            return "decided again"

    assert app.execute(decide, {"a": 0, "b": 0}, context=Context(correlation_id="c")) == "decided again"
    assert [(e.stream_id, e.data["name"]) for e in app.store.read_all(0)] == [("unit-a", "甲"), ("unit-b", "乙（重新决定）")]
    assert notified == [True]
    assert app.execute(decide, {"a": 1, "b": 0}) == "decided again"            # b has moved on too
    assert len(app.store.read_all(0)) == 2
    assert app.execute(decide, {"a": 1, "b": 1}, context=Context(correlation_id="c2")) == "appended"
    stored = app.store.read_all(0)
    assert [(e.stream_id, e.stream_version, e.data["name"]) for e in stored[2:]] == [
        ("unit-a", 2, "甲二"), ("unit-b", 2, "乙")]
    assert {e.correlation_id for e in stored[2:]} == {"c2"} and notified == [True, True]


# (PostgreSQL only: on SQLite no other transaction can commit while a command runs.)
def test_a_conflicting_command_is_rerun_on_fresh_state(pg_database):
    """A concurrent writer moves the stream after the handler loaded it: execute re-runs the
    handler, which now sees the new event and decides again."""
    app = Application(pg_database, registration_codec())
    store = EventStore(pg_database)
    calls = []

    def handler(uow):
        unit = uow.load(Unit, "u1")
        calls.append(unit.version)
        if len(calls) == 1:  # someone else registers it meanwhile, in their own transaction
            store.append("unit-u1", [unit_registered("u1", name="抢先")], expected_version=0)
        if not unit.exists:
            unit.register("我的")
        return unit.name

    assert app.execute(handler) == "抢先"
    assert calls == [0, 1]
    assert [e.data["name"] for e in app.store.read_stream("unit-u1")] == ["抢先"]


def test_conflicts_beyond_the_retry_limit_propagate(pg_database):
    app = Application(pg_database, registration_codec())
    store = EventStore(pg_database)
    app.max_conflict_retries = 2
    calls = []

    def always_raced(uow):
        unit = uow.load(Unit, "u1")
        calls.append(unit.version)
        store.append("unit-u1", [unit_registered("u1", name=f"抢先{len(calls)}")],
                     expected_version=unit.version)
        unit._trigger(UnitRegistered(unit_id="u1", name="我的", kind="机关", district_id="d-1"))

    with pytest.raises(ConcurrencyConflict):
        app.execute(always_raced)
    assert calls == [0, 1, 2]
    assert [e.data["name"] for e in app.store.read_stream("unit-u1")] == ["抢先1", "抢先2", "抢先3"]


def test_concurrent_commands_on_one_aggregate_one_wins_the_rest_decide_again(app):
    """Five greenthreads register the same unit at once: one succeeds; the others conflict,
    are re-run on fresh state, and then fail on the rule, not on the conflict."""
    outcomes = []

    runs = []
    loaded_first_time = []
    everyone_loaded = eventlet.event.Event()

    def slow_register(uow, unit_id, name):
        first_attempt = name not in runs
        runs.append(name)
        unit = uow.load(Unit, unit_id)
        if first_attempt and app.db.is_postgres:
            # a barrier: everyone loads before anyone commits (SQLite has one writer at a time)
            loaded_first_time.append(name)
            if len(loaded_first_time) == 5:
                everyone_loaded.send()
            everyone_loaded.wait()
        unit.register(name)

    def attempt(i):
        try:
            app.execute(slow_register, "u1", f"名字{i}")
            outcomes.append(("ok", i))
        except AlreadyRegistered:
            outcomes.append(("already", i))

    pool = eventlet.GreenPool(5)
    for i in range(5):
        pool.spawn(attempt, i)
    pool.waitall()

    assert sorted(o[0] for o in outcomes) == ["already"] * 4 + ["ok"]
    [stored] = app.store.read_stream("unit-u1")
    winner = next(i for kind, i in outcomes if kind == "ok")
    assert stored.data["name"] == f"名字{winner}"
    if app.db.is_postgres:  # the four losers really conflicted and were re-run
        assert len(runs) == 5 + 4
    else:  # one writer at a time: each saw the registered unit straight away
        assert len(runs) == 5


# -- commands answered once per request -----------------------------------------------------

def test_a_repeated_request_gets_the_first_reply_and_decides_nothing_again(app):
    """A redelivered RPC request (its worker died after the commit): without the stored reply
    the repeat would be refused with "already registered" although the first delivery won."""
    assert app.execute(register_unit, "u1", "财政局", request_key="req-1#1") == 1
    assert app.execute(register_unit, "u1", "财政局", request_key="req-1#1") == 1      # the same reply, no refusal
    assert len(app.store.read_stream("unit-u1")) == 1
    with pytest.raises(AlreadyRegistered):                                       # a new request decides
        app.execute(register_unit, "u1", "财政局", request_key="req-2#1")
    with pytest.raises(AlreadyRegistered):                                       # and a refusal is not kept:
        app.execute(register_unit, "u1", "财政局", request_key="req-2#1")               # nothing was applied


def test_a_refused_request_stores_no_reply_and_a_redelivery_decides_afresh(app):
    app.execute(register_unit, "u1", "财政局")
    with pytest.raises(AlreadyRegistered):
        app.execute(register_unit, "u1", "卫健委", request_key="req-3#1")
    with app.db.transaction() as conn:
        from shared.inbox import MISSING

        assert app.replies.find(conn, "req-3#1") is MISSING


def test_replies_older_than_the_retention_are_pruned(app):
    from shared.inbox import MISSING, command_replies_table

    app.execute(register_unit, "u1", "财政局", request_key="old#1")
    app.execute(register_unit, "u2", "卫健委", request_key="new#1")
    with app.db.transaction() as conn:
        conn.execute(command_replies_table.update().where(command_replies_table.c.request_key == "old#1")
                     .values(recorded_at="2020-01-01T00:00:00+00:00"))
        assert app.replies.prune(conn, "2026-01-01T00:00:00+00:00") == 1
        assert app.replies.find(conn, "old#1") is MISSING and app.replies.find(conn, "new#1") == 1


def test_two_deliveries_of_one_request_at_once_apply_it_once_and_answer_alike(app):
    """Both deliveries run together (the first worker's connection was cut, RabbitMQ handed the
    request to another instance): one commits, the other re-runs and finds its reply."""
    replies, ready = [], eventlet.event.Event()
    started = []

    def slow(uow, unit_id, name):
        started.append(name)
        if len(started) == 2:
            ready.send()
        if app.db.is_postgres and len(started) <= 2:
            ready.wait()
        return register_unit(uow, unit_id, name)

    pool = eventlet.GreenPool(2)
    for _ in range(2):
        pool.spawn(lambda: replies.append(app.execute(slow, "u9", "民政局", request_key="req-4#1")))
    pool.waitall()
    assert replies == [1, 1]
    assert len(app.store.read_stream("unit-u9")) == 1


def test_a_first_delivery_skips_the_lookup_but_still_keeps_its_reply(app):
    assert app.execute(register_unit, "u5", "财政局", repeat_possible=False, request_key="req-5#1") == 1
    assert app.execute(register_unit, "u5", "财政局", repeat_possible=True, request_key="req-5#1") == 1
    assert len(app.store.read_stream("unit-u5")) == 1


# -- events from other services, exactly once ----------------------------------------------

def received(event_id=None, **data) -> ReceivedEvent:
    return ReceivedEvent(
        source="registration",
        event_id=event_id or str(uuid4()),
        event_type="UnitRegistered",
        schema_version=1,
        stream_id="unit-ext-1",
        stream_version=1,
        global_position=17,
        occurred_at="2024-06-01T08:00:00+00:00",
        correlation_id="corr-ext",
        causation_id="cmd-ext",
        actor=ACTOR,
        data={"unit_id": "ext-1", "name": "外部单位", "kind": "事业单位", "district_id": "d-9",
              "linked_community_id": None, **data},
    )


def mirror_unit(calls):
    def handler(uow, event: ReceivedEvent):
        calls.append(event.event_id)
        unit = uow.load(Unit, "mirror-" + event.data["unit_id"])
        unit.register(event.data["name"], kind=event.data["kind"])
    return handler


def test_handle_once_applies_an_event_once(app):
    calls = []
    notified = []
    app.on_appended(lambda: notified.append(True))
    event = received()

    assert app.handle_once(event, mirror_unit(calls), "mirror") is True
    [stored] = app.store.read_stream("unit-mirror-ext-1")
    assert stored.data["name"] == "外部单位" and stored.data["kind"] == "事业单位"
    # the effect is stamped with what caused it
    assert stored.correlation_id == "corr-ext"
    assert stored.causation_id == event.event_id
    assert stored.actor == ACTOR
    before = everything(app)

    # redelivery: the same event to the same handler does nothing (the handler would raise
    # AlreadyRegistered were it run again)
    assert app.handle_once(event, mirror_unit(calls), "mirror") is False
    assert calls == [event.event_id]
    assert everything(app) == before
    assert notified == [True]
    with app.db.transaction() as conn:
        assert app.inbox.processed(conn, event.event_id, "mirror")


def test_handle_once_is_per_handler_and_per_event(app):
    counted = []

    def count(uow, event):
        counted.append((event.event_id, "count"))

    e1, e2 = received(), received()
    assert app.handle_once(e1, count, "count") is True
    assert app.handle_once(e1, count, "count-v2") is True  # another handler: its own claim
    assert app.handle_once(e2, count, "count") is True     # another event
    assert app.handle_once(e1, count, "count") is False
    assert app.handle_once(e2, count, "count-v2") is True
    assert app.handle_once(e2, count, "count-v2") is False
    assert len(counted) == 4
    assert app.store.read_all(0) == []  # a handler that appends nothing leaves no events


def test_concurrent_deliveries_of_one_event_are_handled_once(app):
    """The same event delivered to two consumers of one service at once: one applies it, the
    other's inbox claim waits for that commit and then loses."""
    event = received()
    calls = []

    def slow_mirror(uow, ev):
        calls.append(ev.event_id)
        eventlet.sleep(0.05)  # hold the claim open while the other delivery arrives
        uow.load(Unit, "mirror-ext-1").register(ev.data["name"])

    g1 = eventlet.spawn(app.handle_once, event, slow_mirror, "mirror")
    g2 = eventlet.spawn(app.handle_once, event, slow_mirror, "mirror")
    assert sorted([g1.wait(), g2.wait()]) == [False, True]
    assert len(calls) == 1
    assert len(app.store.read_stream("unit-mirror-ext-1")) == 1


def test_a_failed_handling_is_not_recorded_and_can_be_retried(app):
    event = received()
    attempts = []

    def flaky(uow, ev):
        attempts.append(ev.event_id)
        uow.load(Unit, "mirror-ext-1").register("外部单位")
        uow.flush()
        if len(attempts) == 1:
            raise RuntimeError("downstream hiccup")

    with pytest.raises(RuntimeError):
        app.handle_once(event, flaky, "flaky")
    assert everything(app) == []  # effects rolled back with the inbox claim
    with app.db.transaction() as conn:
        assert not app.inbox.processed(conn, event.event_id, "flaky")

    assert app.handle_once(event, flaky, "flaky") is True
    assert app.handle_once(event, flaky, "flaky") is False
    assert len(attempts) == 2
    assert len(app.store.read_stream("unit-mirror-ext-1")) == 1


# -- a batch of events, one commit ------------------------------------------------------------

def test_handle_batch_applies_each_new_event_once_with_its_own_causation(app):
    calls = []
    notified = []
    app.on_appended(lambda: notified.append(True))
    e1, e2, e3 = received(unit_id="b1"), received(unit_id="b2"), received(unit_id="b3")
    assert app.handle_once(e1, mirror_unit(calls), "mirror") is True

    outcome = app.handle_batch([e1, e2, e3, e2], mirror_unit(calls), "mirror")

    assert (outcome.applied, outcome.duplicates, outcome.failed) == (2, 2, {})
    assert calls == [e1.event_id, e2.event_id, e3.event_id]
    for event in (e2, e3):
        [stored] = app.store.read_stream(f"unit-mirror-{event.data['unit_id']}")
        assert stored.causation_id == event.event_id and stored.correlation_id == "corr-ext"
    assert len(notified) == 2
    before = everything(app)
    again = app.handle_batch([e3, e2, e1], mirror_unit(calls), "mirror")  # redelivered
    assert (again.applied, again.duplicates, again.failed) == (0, 3, {})
    assert everything(app) == before and len(calls) == 3


def test_a_bad_event_fails_alone_and_the_rest_of_its_batch_commits(app):
    calls = []

    def refuse_bad(uow, event):
        if event.data["unit_id"] == "bad":
            raise ValueError("无法处理")
        mirror_unit(calls)(uow, event)

    good1, bad, good2 = received(unit_id="g1"), received(unit_id="bad"), received(unit_id="g2")
    outcome = app.handle_batch([good1, bad, good2], refuse_bad, "mirror")

    assert outcome.applied == 2 and outcome.duplicates == 0
    assert outcome.failed == {bad.event_id: "ValueError: 无法处理"}
    # the first, whole-batch attempt was rolled back: each good event's effect exists once
    assert [len(app.store.read_stream(f"unit-mirror-{u}")) for u in ("g1", "g2")] == [1, 1]
    with app.db.transaction() as conn:
        assert app.inbox.processed(conn, good1.event_id, "mirror")
        assert app.inbox.processed(conn, good2.event_id, "mirror")
        assert not app.inbox.processed(conn, bad.event_id, "mirror")  # free to be retried



# -- a batch handler: set-based work for the whole batch --------------------------------------

def mirror_units_at_once(batches, fail_on=None):
    """A batch handler with the effects of `mirror_unit` on each event, stamped per event."""
    def handler(uow, events):
        batches.append([e.event_id for e in events])
        for event in events:
            if event.data["unit_id"] == fail_on:
                raise ValueError("整批失败")
            context = Context(correlation_id=event.correlation_id, causation_id=event.event_id, actor=event.actor)
            uow.load(Unit, "mirror-" + event.data["unit_id"], context=context).register(
                event.data["name"], kind=event.data["kind"])
    return handler


def test_a_batch_handler_gets_each_new_event_once_and_stamps_each_aggregate_with_its_event(app):
    calls, batches = [], []
    e1, e2, e3 = received(unit_id="s1"), received(unit_id="s2"), received(unit_id="s3")
    assert app.handle_once(e1, mirror_unit(calls), "mirror") is True

    outcome = app.handle_batch([e1, e2, e3, e2], mirror_unit(calls), "mirror",
                               batch_handler=mirror_units_at_once(batches))

    assert (outcome.applied, outcome.duplicates, outcome.failed) == (2, 2, {})
    assert batches == [[e2.event_id, e3.event_id]] and calls == [e1.event_id]   # one call, no fallback
    for event in (e2, e3):
        [stored] = app.store.read_stream(f"unit-mirror-{event.data['unit_id']}")
        assert (stored.causation_id, stored.correlation_id, stored.actor) == (event.event_id, "corr-ext", ACTOR)
    before = everything(app)
    again = app.handle_batch([e3, e2, e1], mirror_unit(calls), "mirror", batch_handler=mirror_units_at_once(batches))
    assert (again.applied, again.duplicates, again.failed) == (0, 3, {})
    assert everything(app) == before and len(batches) == 1   # nothing new: the handler is not called


def test_a_failing_batch_handler_falls_back_to_the_event_handler_one_by_one(app):
    calls, batches = [], []

    def refuse_bad(uow, event):
        if event.data["unit_id"] == "bad":
            raise ValueError("无法处理")
        mirror_unit(calls)(uow, event)

    good1, bad, good2 = received(unit_id="g1"), received(unit_id="bad"), received(unit_id="g2")
    outcome = app.handle_batch([good1, bad, good2], refuse_bad, "mirror",
                               batch_handler=mirror_units_at_once(batches, fail_on="bad"))

    assert len(batches) == 1 and calls == [good1.event_id, good2.event_id]
    assert outcome.applied == 2 and outcome.failed == {bad.event_id: "ValueError: 无法处理"}
    assert [len(app.store.read_stream(f"unit-mirror-{u}")) for u in ("g1", "g2")] == [1, 1]
    [stored] = app.store.read_stream("unit-mirror-g2")
    assert stored.causation_id == good2.event_id
    with app.db.transaction() as conn:
        assert not app.inbox.processed(conn, bad.event_id, "mirror")  # free to be retried
