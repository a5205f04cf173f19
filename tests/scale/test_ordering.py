"""Two instances of a consumer on one queue, and two relays of one service.

Per-stream order: nameko's service-pool queue hands messages to whichever consumer (and whichever
of its workers) is free, so with two instances the events of one stream are handled
concurrently and can commit out of order. Measured here: version 1 of a stream, slow to handle,
commits after versions 2..6 and overwrites the newer state. The kernel's fix is the ordered
inbox (`handle_once(..., ordered=True)`, StreamWatermarks): the same run then ends with the
newest state, and the handler sees the stream's versions in increasing order.

Relays: two relays of one service (two instances) share one lease row; only the holder
publishes, each event exactly once while nobody crashes, and the other takes over when the
holder stops renewing.
"""
import time
import uuid

import eventlet
import kombu
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.notify import domain as notify_domain
from shared.application import Application
from shared.codec import EventCodec
from shared.db import Database
from shared.eventstore import EventStore, NewEvent
from shared.nameko_edge import ApplicationProvider, subscribe
from shared.relay import Relay
from tests.conftest import PG_URL, fresh_schema
from tests.messaging.helpers import running, unique, wait_for

state_metadata = MetaData()
unit_state = Table("t_unit_state", state_metadata, Column("stream_id", String(200), primary_key=True),
                   Column("title", String(200), nullable=False), Column("version", Integer, nullable=False))


def version_event(stream_no: int, version: int) -> NewEvent:
    return NewEvent("CampaignOpened", {"unit_id": f"u{stream_no}", "campaign_id": f"c{version}",
                                       "title": f"v{version}", "deadline": "2026-12-31"})


def make_consumer(ordered: bool, slow_version: int, applied: list):
    """A consumer keeping each unit's latest campaign title (state of the source stream)."""

    def build(database):
        state_metadata.create_all(database.engine)
        return Application(database, EventCodec("notify", notify_domain.EVENTS)), []

    def keep_latest(uow, event):
        if event.stream_version == slow_version:
            time.sleep(1.0)  # a slow first event: the others overtake it
        stmt = pg_insert(unit_state).values(stream_id=event.stream_id, title=event.data["title"],
                                            version=event.stream_version)
        uow.conn.execute(stmt.on_conflict_do_update(index_elements=["stream_id"],
                                                    set_={"title": stmt.excluded.title,
                                                          "version": stmt.excluded.version}))
        applied.append((event.stream_id, event.stream_version))

    class Consumer:
        name = unique("ordered")
        app = ApplicationProvider(build)

        @subscribe("registration", "CampaignOpened")
        def on_campaign_opened(self, event):
            self.app.handle_once(event, keep_latest, name="keep_latest", ordered=ordered)

    return Consumer


def consumer_config(amqp_uri, schema):
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": PG_URL, "DATABASE_SCHEMA": schema, "RELAY_ENABLED": False,
            "INBOX_RETRY_DELAYS": [0.2, 0.5], "TOPOLOGY": "tests.scale.test_ordering:no_topology", "max_workers": 10}


def no_topology():
    return []


@pytest.fixture
def source_db():
    db = Database(PG_URL, schema=fresh_schema())
    yield db
    db.drop_schema()


def run_two_instances(amqp_uri, source_db, ordered: bool):
    schema = fresh_schema()
    applied: list = []
    Consumer = make_consumer(ordered, slow_version=1, applied=applied)
    config = consumer_config(amqp_uri, schema)
    store = EventStore(source_db)
    streams = 3
    try:
        with running(Consumer, config=config), running(Consumer, config=config):
            for s in range(streams):
                store.append(f"unit-{s}-{uuid.uuid4().hex[:6]}", [version_event(s, v) for v in range(1, 7)], 0)
            relay = Relay("registration", store, amqp_uri)
            relay.run_once()
            relay.close()
            relay.release_lease()
            db = Database(PG_URL, schema=schema)
            try:
                def settled():
                    with db.transaction() as conn:
                        done = conn.exec_driver_sql("SELECT count(*) FROM inbox").scalar_one()
                    return done == streams * 6
                wait_for(settled, timeout=30)
                with db.transaction() as conn:
                    final = {r.stream_id: r.title for r in conn.execute(select(unit_state))}
            finally:
                db.drop_schema()
    finally:
        pass
    return final, applied


def increasing_per_stream(applied) -> bool:
    last: dict = {}
    for stream, version in applied:
        if version <= last.get(stream, 0):
            return False
        last[stream] = version
    return True


def test_two_consumers_without_the_ordered_inbox_let_an_old_event_overwrite_newer_state(amqp_uri, source_db):
    final, applied = run_two_instances(amqp_uri, source_db, ordered=False)
    # measured hazard: version 1 (slow) committed after 2..6 of the same stream
    assert set(final.values()) == {"v1"}
    assert not increasing_per_stream(applied)


def test_the_ordered_inbox_keeps_each_streams_order_across_two_consumers(amqp_uri, source_db):
    final, applied = run_two_instances(amqp_uri, source_db, ordered=True)
    assert set(final.values()) == {"v6"}          # the newest event of every stream won
    assert increasing_per_stream(applied)          # and each stream was applied in version order
    assert len(applied) >= 3 and len(set(applied)) == len(applied)


# -- relays of two instances ---------------------------------------------------------------------
def bind_probe(amqp_uri) -> str:
    name = unique("probe-relay-")
    with kombu.Connection(amqp_uri) as conn:
        ch = conn.default_channel
        kombu.Exchange("registration.events", type="topic", durable=True)(ch).declare()
        kombu.Queue(name, exchange=kombu.Exchange("registration.events", type="topic", durable=True),
                    routing_key="#", auto_delete=False, durable=False)(ch).declare()
    return name


def drain_ids(amqp_uri, queue) -> list[int]:
    import json

    got = []
    with kombu.Connection(amqp_uri) as conn:
        q = kombu.Queue(queue, no_declare=True)(conn.default_channel)
        idle = time.monotonic() + 1.0
        while time.monotonic() < idle:
            m = q.get(no_ack=True)
            if m is None:
                time.sleep(0.05)
                continue
            got.append(json.loads(m.body)["global_position"])
            idle = time.monotonic() + 1.0
        q.delete()
    return got


def test_two_relays_of_one_service_never_both_publish_and_one_takes_over(amqp_uri, source_db):
    store = EventStore(source_db)
    probe = bind_probe(amqp_uri)
    a = Relay("registration", store, amqp_uri, lease_seconds=1.0, instance_id="a")
    b = Relay("registration", store, amqp_uri, lease_seconds=1.0, instance_id="b")
    stop = {"a": False, "b": False}
    threads = [eventlet.spawn(r.run_forever, lambda n=n: stop[n], None, 0.01)
               for n, r in (("a", a), ("b", b))]
    for i in range(300):
        store.append(f"unit-{i}", [version_event(i, 1)], 0)
        if i % 50 == 0:
            eventlet.sleep(0.02)
    wait_for(lambda: max(a.stats.published, b.stats.published) == 300, timeout=30)
    first = min((a, b), key=lambda r: -r.stats.published)
    other = b if first is a else a
    assert other.stats.published == 0             # while the holder lives, the other never publishes
    # the holder crashes (stops without releasing its lease): the other takes over after it expires
    first.release_lease = lambda: None
    stop["a" if first is a else "b"] = True
    for i in range(300, 400):
        store.append(f"unit-{i}", [version_event(i, 1)], 0)
    wait_for(lambda: other.stats.published == 100, timeout=30)
    stop["a"] = stop["b"] = True
    for t in threads:
        t.wait()
    positions = drain_ids(amqp_uri, probe)
    assert sorted(positions) == list(range(1, 401))   # every event, each once, no two publishers
    assert positions == sorted(positions)             # in store order


def test_a_relay_without_the_lease_stands_by_instead_of_asking_after_every_commit(amqp_uri, source_db):
    store = EventStore(source_db)
    holder = Relay("registration", store, amqp_uri, instance_id="holder")
    standby = Relay("registration", store, amqp_uri, instance_id="standby", standby_seconds=60)
    assert holder.acquire_lease()
    asked = []
    real_acquire = standby.acquire_lease
    standby.acquire_lease = lambda: asked.append(1) or real_acquire()
    store.append("unit-a", [version_event(1, 1)], 0)
    for _ in range(20):                        # twenty commits' wake-ups: one question to the database
        assert standby.run_once() == 0
    assert len(asked) == 1
    holder.release_lease()
    assert standby.run_once() == 0             # still standing by
    standby._standby_until = 0.0               # its standby is over
    assert standby.run_once() == 1 and len(asked) == 2
    standby.close(), holder.close()
