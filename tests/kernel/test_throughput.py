"""The opt-in throughput helpers (shared/throughput): group commit — commands arriving together
share one transaction, each with its own context, reply and refusal — and the stream cache."""
from __future__ import annotations

import eventlet
import eventlet.event
import pytest

from shared.application import Application, Context
from shared.domain import DomainError
from shared.throughput import GroupCommit, StreamCache, cached

from .helpers import AlreadyRegistered, Unit, UnitRegistered, registration_codec, unit_registered
from .test_application import ACTOR, everything, received, register_unit


@pytest.fixture
def app(database):
    return Application(database, registration_codec(), cache=StreamCache())


# -- commands sharing one transaction (GroupCommit) -------------------------------------

class Together:
    """Drives `GroupCommit.execute`: a first command holds the application busy at a gate, so the
    commands spawned meanwhile queue up and run as one batch once the gate opens."""

    def __init__(self, app: Application):
        self.app, self.pool, self.outcomes = app, eventlet.GreenPool(64), {}
        self.group = GroupCommit(app)
        self.gate = eventlet.event.Event()
        self.transactions = 0
        transaction = app.db.transaction

        def counted(*args, **kwargs):
            self.transactions += 1
            return transaction(*args, **kwargs)

        app.db.transaction = counted

    def hold(self, key="hold#1"):
        def wait_at_gate(uow):
            self.gate.wait()
            return "held"

        thread = self.spawn(key, wait_at_gate)
        eventlet.sleep(0.01)
        return thread

    def spawn(self, key, handler, *args, context=Context(), repeat_possible=False):
        def run():
            try:
                self.outcomes[key] = self.group.execute(key, handler, *args, context=context,
                                                               repeat_possible=repeat_possible)
            except Exception as exc:  # noqa: BLE001 - what the caller would get
                self.outcomes[key] = exc

        thread = self.pool.spawn(run)
        eventlet.sleep(0)
        return thread

    def release(self):
        """Opens the gate, waits for every command; returns the transactions run in all."""
        self.gate.send()
        self.pool.waitall()
        return self.transactions


def tally(uow, name):
    """Adds an event to one shared stream and returns its version: commands of one batch see
    each other's events."""
    shared = uow.load(Unit, "tally")
    shared._trigger(UnitRegistered(unit_id="tally", name=name, kind="机关", district_id="d-1"))
    return shared.version


def test_commands_arriving_together_share_one_transaction_each_with_its_own_context_and_reply(app):
    run = Together(app)
    run.hold()
    for i in range(5):
        run.spawn(f"req-{i}#1", register_unit, f"u{i}", f"单位{i}",
                  context=Context(correlation_id=f"corr-{i}", causation_id=f"cmd-{i}", actor=ACTOR))
    assert run.release() == 2   # the held command's own transaction, then one for the five

    assert {k: run.outcomes[k] for k in sorted(run.outcomes)} == {
        "hold#1": "held", **{f"req-{i}#1": 1 for i in range(5)}}
    for i in range(5):
        [stored] = app.store.read_stream(f"unit-u{i}")
        assert (stored.correlation_id, stored.causation_id, stored.actor) == (f"corr-{i}", f"cmd-{i}", ACTOR)
        # each reply is stored: a redelivered request is answered, not decided again
        assert app.execute(register_unit, f"u{i}", f"单位{i}", request_key=f"req-{i}#1") == 1
    assert len(everything(app)) == 5


def test_commands_of_one_batch_see_each_other_in_the_order_they_arrived(app):
    run = Together(app)
    run.hold()
    for i in range(4):
        run.spawn(f"t-{i}#1", tally, f"第{i}次", context=Context(correlation_id=f"corr-{i}"))
    assert run.release() == 2
    assert [run.outcomes[f"t-{i}#1"] for i in range(4)] == [1, 2, 3, 4]
    stream = app.store.read_stream("unit-tally")
    assert [(e.stream_version, e.data["name"], e.correlation_id) for e in stream] == [
        (i + 1, f"第{i}次", f"corr-{i}") for i in range(4)]


def test_a_refused_command_leaves_its_batch_and_is_refused_as_after_it(app):
    """The second registration of u1 is refused because the first, in the same batch, came
    before it; the rest of the batch commits without it, and nothing of it is stored."""
    run = Together(app)
    run.hold()
    run.spawn("a#1", register_unit, "u1", "财政局")
    run.spawn("b#1", register_unit, "u1", "卫健委")
    run.spawn("c#1", register_unit, "u2", "民政局")
    # the held command's transaction and the batch's: a refusal before any event costs no re-run
    assert run.release() == 2

    assert run.outcomes["a#1"] == 1 and run.outcomes["c#1"] == 1
    assert isinstance(run.outcomes["b#1"], AlreadyRegistered)
    assert [e.data["name"] for e in app.store.read_stream("unit-u1")] == ["财政局"]
    assert len(everything(app)) == 2
    # no reply kept for the refusal: a redelivery decides afresh (and is refused again)
    with pytest.raises(AlreadyRegistered):
        app.execute(register_unit, "u1", "卫健委", request_key="b#1")


def test_a_command_failing_after_its_events_leaves_the_batch_and_none_of_them_stays(app):
    """It registered u9, then failed: the batch runs again without it (its event must not stay),
    and it then runs on its own, failing again, with nothing of it stored."""
    def register_then_fail(uow):
        register_unit(uow, "u9", "半途而废")
        raise ValueError("通讯故障")

    run = Together(app)
    run.hold()
    run.spawn("a#1", register_unit, "u1", "财政局")
    run.spawn("bad#1", register_then_fail)
    run.spawn("c#1", register_unit, "u2", "民政局")
    # held, the batch, the batch again without it, then it alone
    assert run.release() == 4
    assert (run.outcomes["a#1"], run.outcomes["c#1"]) == (1, 1)
    assert isinstance(run.outcomes["bad#1"], ValueError)
    assert app.store.read_stream("unit-u9") == []
    assert len(everything(app)) == 2


def test_a_waiting_command_whose_worker_is_killed_holds_up_nobody(app):
    """The first in line is killed while it waits (its worker stopped): the next in line leads
    the next batch instead of waiting for ever for a leader that is gone."""
    run = Together(app)
    run.hold()
    gone = run.spawn("gone#1", register_unit, "u0", "不会执行")
    run.spawn("x#1", register_unit, "u1", "财政局")
    run.spawn("y#1", register_unit, "u2", "民政局")
    gone.kill()
    with eventlet.Timeout(10):
        assert run.release() == 2
    assert (run.outcomes["x#1"], run.outcomes["y#1"]) == (1, 1)
    assert "gone#1" not in run.outcomes and app.store.read_stream("unit-u0") == []


def test_a_redelivered_request_in_a_batch_gets_its_stored_reply(app):
    calls = []

    def counted_register(uow, unit_id, name):
        calls.append(unit_id)
        return register_unit(uow, unit_id, name)

    assert app.execute(counted_register, "u1", "财政局", request_key="r#1") == 1
    run = Together(app)
    run.hold()
    run.spawn("r#1", counted_register, "u1", "财政局", repeat_possible=True)   # redelivered
    run.spawn("s#1", counted_register, "u2", "民政局")
    assert run.release() == 2
    assert (run.outcomes["r#1"], run.outcomes["s#1"]) == (1, 1)
    assert calls == ["u1", "u2"]   # u1 decided once, on its first delivery
    assert len(everything(app)) == 2


def test_a_batch_reads_the_aggregates_its_commands_want_with_one_query(app):
    for i in range(4):
        app.execute(register_unit, f"u{i}", f"单位{i}")
    app.streams = type(app.streams)()   # nothing cached: everything comes from the store
    reads = []
    streams = app.store.read_streams
    app.store.read_streams = lambda wanted, conn=None: reads.append(len(wanted)) or streams(wanted, conn)

    def rename(uow, unit_id):
        unit = uow.load(Unit, unit_id)
        return unit.name

    rename.wants = lambda uow, unit_id: [(Unit, unit_id), (Unit, "u0")]
    run = Together(app)
    run.hold()
    for i in range(4):
        run.spawn(f"w-{i}#1", rename, f"u{i}")
    run.release()
    assert [run.outcomes[f"w-{i}#1"] for i in range(4)] == [f"单位{i}" for i in range(4)]
    if app.db.is_postgres:   # each command reads its own (see _commit_together)
        assert reads == [1] * 4
    else:
        assert reads == [4]   # u0..u3 at once; no command read on its own


def test_a_command_that_cannot_say_what_it_wants_still_gets_its_own_outcome(app):
    def register_named(uow, cmd):
        return register_unit(uow, cmd["unit_id"], cmd["name"])

    register_named.wants = lambda uow, cmd: [(Unit, cmd["unit_id"])]   # KeyError on a bad command
    run = Together(app)
    run.hold()
    run.spawn("ok#1", register_named, {"unit_id": "u1", "name": "财政局"})
    run.spawn("bad#1", register_named, {"name": "没有编号"})
    run.spawn("ok#2", register_named, {"unit_id": "u2", "name": "民政局"})
    run.release()
    assert (run.outcomes["ok#1"], run.outcomes["ok#2"]) == (1, 1)
    assert isinstance(run.outcomes["bad#1"], KeyError)
    assert len(everything(app)) == 2


def test_a_batch_whose_leader_dies_is_run_by_the_next_caller(app):
    """The worker running a batch is killed (its container stopped) while the batch is open:
    the commands it was running for are not left waiting; they run, once."""
    run = Together(app)
    run.hold()
    second_gate = eventlet.event.Event()

    def stuck(uow):
        register_unit(uow, "u0", "不会提交")
        second_gate.wait()

    leader = run.spawn("dies#1", stuck)
    run.spawn("x#1", register_unit, "u1", "财政局")
    run.spawn("y#1", register_unit, "u2", "民政局")
    run.gate.send()
    eventlet.sleep(0.05)    # the held command is done; "dies" now leads the batch of three
    leader.kill()
    with eventlet.Timeout(10):   # (without the hand-over they would wait for ever)
        run.pool.waitall()
    assert (run.outcomes["x#1"], run.outcomes["y#1"]) == (1, 1)
    assert "dies#1" not in run.outcomes
    assert app.store.read_stream("unit-u0") == []
    assert len(everything(app)) == 2


# -- the stream cache -----------------------------------------------------------------------

def inspect_unit(uow, unit_id):
    unit = uow.load(Unit, unit_id)
    return unit.version, unit.name, unit.registrations


def test_a_cached_stream_still_sees_what_another_instance_appended(database):
    first = Application(database, registration_codec(), cache=StreamCache())
    second = Application(database, registration_codec())
    first.execute(register_unit, "u1", "区教育局")
    assert first.execute(inspect_unit, "u1") == (1, "区教育局", 1)
    assert len(first.streams.get("unit-u1")) == 1

    # another instance of the service appends to the same stream
    second.store.append("unit-u1", [unit_registered("u1", name="区教育体育局")], expected_version=1)

    assert first.execute(inspect_unit, "u1") == (2, "区教育体育局", 2)
    assert [e.name for e in first.streams.get("unit-u1")] == ["区教育局", "区教育体育局"]
    # and a command on the stale cache decides on fresh state, not on the cached prefix
    with pytest.raises(AlreadyRegistered):
        first.execute(register_unit, "u1", "区教育局")
    assert [e.data["name"] for e in first.store.read_stream("unit-u1")] == ["区教育局", "区教育体育局"]


def test_load_many_reads_every_stream_tail_at_once_and_sees_other_instances(database):
    first = Application(database, registration_codec(), cache=StreamCache())
    second = Application(database, registration_codec())
    for unit_id, name in (("u1", "区教育局"), ("u2", "区财政局")):
        first.execute(register_unit, unit_id, name)

    def names(uow):
        units = uow.load_many((Unit, "u1"), (Unit, "u2"), (Unit, "u3"))
        assert [u.id for u in units] == ["u1", "u2", "u3"]
        assert uow.load(Unit, "u2") is units[1]  # loaded once per unit of work
        return [(u.version, u.name) for u in units]

    assert first.execute(names) == [(1, "区教育局"), (1, "区财政局"), (0, None)]
    assert uow_cached_name(first, "u1") == "区教育局"
    # another instance appends to one of them: the cached prefix plus the new tail
    second.store.append("unit-u2", [unit_registered("u2", name="区财政和税务局")], expected_version=1)
    assert first.execute(names) == [(1, "区教育局"), (2, "区财政和税务局"), (0, None)]
    assert [e.name for e in first.streams.get("unit-u2")] == ["区财政局", "区财政和税务局"]
    # cached() answers from the cache alone, without reading the store
    second.store.append("unit-u1", [unit_registered("u1", name="区教育体育局")], expected_version=1)
    assert uow_cached_name(first, "u1") == "区教育局"
    assert first.execute(names)[0] == (2, "区教育体育局")


def uow_cached_name(app: Application, unit_id: str) -> str | None:
    def peek(uow):
        unit = cached(uow, Unit, unit_id)
        return unit.name if unit is not None else None
    return app.execute(peek)


def test_a_refused_command_on_a_new_stream_caches_nothing(app):
    app.execute(register_unit, "u1", "区教育局")

    def register_then_fail(uow, unit_id):
        uow.load(Unit, unit_id)
        raise DomainError("不行")

    with pytest.raises(DomainError):
        app.execute(register_then_fail, "u2")
    assert app.streams.get("unit-u2") == ()
    assert app.execute(register_unit, "u2", "区财政局") == 1
    assert app.execute(inspect_unit, "u2") == (1, "区财政局", 1)


def test_the_stream_cache_drops_the_least_recently_used_streams_beyond_its_bound():
    cache = StreamCache(max_events=4)
    a, b, c = ((UnitRegistered(unit_id=u, name=n, kind="机关", district_id="d"),) * 2
               for u, n in (("a", "甲"), ("b", "乙"), ("c", "丙")))
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") == a  # a is now the most recently used
    cache.put("c", c)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (a, (), c)
    cache.put("huge", a + b + c)  # larger than the whole cache: not kept
    assert cache.get("huge") == () and cache.get("a") == a

def test_a_failed_batch_leaves_none_of_its_events_in_the_stream_cache(app):
    attempts = {}

    def append_to_shared_stream(uow, event):
        unit_id = event.data["unit_id"]
        attempts[unit_id] = attempts.get(unit_id, 0) + 1
        shared = uow.load(Unit, "shared")  # the second event reads the first one's append
        if unit_id == "bad":
            raise ValueError("无法处理")
        shared._trigger(UnitRegistered(unit_id="shared", name=f"{unit_id} 第{attempts[unit_id]}次", kind="机关",
                                       district_id="d-1"))

    first, bad = received(unit_id="first"), received(unit_id="bad")
    outcome = app.handle_batch([first, bad], append_to_shared_stream, "shared")

    assert list(outcome.failed) == [bad.event_id]
    assert [e.data["name"] for e in app.store.read_stream("unit-shared")] == ["first 第2次"]
    # what a later command sees is what was committed, not the rolled-back batch's append
    assert app.execute(inspect_unit, "shared") == (1, "first 第2次", 1)
