"""The relay publishes the event store to RabbitMQ in order, at least once, through crashes."""
import kombu
import pytest

from shared.eventstore import EventStore, NewEvent
from shared.nameko_edge import patches
from shared.relay import LeaseLost, Relay
from tests.messaging.helpers import campaign_event, drain_queue, unique


def bind_probe(amqp_uri, service):
    """A queue that sees everything the relay of `service` publishes."""
    name = unique("probe-")
    with kombu.Connection(amqp_uri) as conn:
        exchange = kombu.Exchange(f"{service}.events", type="topic", durable=True)
        kombu.Queue(name, exchange=exchange, routing_key="#", durable=False, auto_delete=False)(conn.default_channel).declare()
    return name


def store_events(store, n, per_stream=1):
    for i in range(n):
        store.append(f"unit-u{i}", [campaign_event(i)], 0)


def test_relay_publishes_everything_in_order_and_checkpoints(database, amqp_uri):
    service = unique("relaytest")
    store = EventStore(database)
    store_events(store, 250)
    relay = Relay(service, store, amqp_uri, batch_size=40, window=16)
    probe = bind_probe(amqp_uri, service)  # after the exchange exists
    assert relay.run_once() == 250
    assert relay.checkpoint() == store.max_position() and relay.lag() == 0
    got = drain_queue(amqp_uri, probe)
    positions = [body["global_position"] for body, _ in got]
    assert positions == sorted(positions) and len(positions) == 250
    assert {body["event_type"] for body, _ in got} == {"CampaignOpened"}
    assert got[0][0]["data"]["title"] == "报到活动0"
    assert relay.run_once() == 0  # nothing new, nothing re-published
    relay.close()


def test_a_batch_goes_to_the_socket_in_few_writes(database, amqp_uri):
    """With the edge's `coalesced_writes` (shared/nameko_edge/patches.py), publishes between two
    waits for confirms leave in one socket write, in order."""
    service = unique("relaytest")
    store = EventStore(database)
    store_events(store, 120)
    relay = Relay(service, store, amqp_uri, batch_size=1000, window=50, coalesced_writes=patches.coalesced_writes)
    probe = bind_probe(amqp_uri, service)
    relay._connect()
    transport = relay._conn.connection.transport
    writes = []
    real_send = transport._write

    def counted(data):
        writes.append(len(data))
        real_send(data)

    transport._write = counted
    assert relay.run_once() == 120
    relay.close()
    # a flush at each full window (50, then 25 more after waiting down to 25 outstanding...)
    # and one at the end: a handful of writes, not one per event
    assert 1 <= len(writes) <= 6, f"{len(writes)} writes for 120 events"
    positions = [body["global_position"] for body, _ in drain_queue(amqp_uri, probe)]
    assert positions == [e.global_position for e in store.read_all(0, limit=1000)]


def test_a_crash_before_the_checkpoint_republishes_and_loses_nothing(database, amqp_uri, monkeypatch):
    service = unique("relaytest")
    store = EventStore(database)
    store_events(store, 100)
    crashing = Relay(service, store, amqp_uri, batch_size=30, window=8, lease_seconds=0.2)
    probe = bind_probe(amqp_uri, service)
    calls = {"n": 0}
    real_save = crashing._save_checkpoint

    def save_then_crash(position):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("simulated crash after confirms, before the checkpoint")
        real_save(position)

    monkeypatch.setattr(crashing, "_save_checkpoint", save_then_crash)
    with pytest.raises(SystemExit):
        crashing.run_once()
    crashing.close()
    assert crashing.checkpoint() == 30  # only the first batch was checkpointed

    import time
    time.sleep(0.3)  # the crashed relay's lease runs out
    survivor = Relay(service, store, amqp_uri, batch_size=30, window=8)
    assert survivor.run_once() == 70
    survivor.close()
    ids = [body["event_id"] for body, _ in drain_queue(amqp_uri, probe)]
    all_ids = [e.event_id for e in store.read_all(0, limit=1000)]
    assert set(ids) == set(all_ids)            # nothing lost
    assert len(ids) == 100 + 30                # the unchecked batch came twice: at least once
    assert ids[60:] == all_ids[30:]            # and the re-publication is in order


def test_only_the_lease_holder_publishes(database, amqp_uri):
    service = unique("relaytest")
    store = EventStore(database)
    store_events(store, 20)
    first = Relay(service, store, amqp_uri, lease_seconds=30)
    second = Relay(service, store, amqp_uri, lease_seconds=30)
    probe = bind_probe(amqp_uri, service)
    assert first.acquire_lease() is True
    assert second.run_once() == 0              # another instance holds the lease
    assert first.run_once() == 20
    with pytest.raises(LeaseLost):
        second._save_checkpoint(5)             # a relay without the lease cannot move the checkpoint
    first.release_lease()
    store_events_more = [campaign_event(100 + i) for i in range(5)]
    store.append("unit-extra", store_events_more, 0)
    assert second.run_once() == 5              # the lease passes on once released
    assert len(drain_queue(amqp_uri, probe)) == 25
    first.close(), second.close()


def test_events_carry_the_nameko_compatible_envelope(database, amqp_uri):
    service = unique("relaytest")
    store = EventStore(database)
    store.append("unit-u1", [campaign_event(1, correlation_id="corr-1")], 0)
    relay = Relay(service, store, amqp_uri)
    probe = bind_probe(amqp_uri, service)
    relay.run_once()
    relay.close()
    [(body, headers)] = drain_queue(amqp_uri, probe)
    assert set(body) == {"event_id", "event_type", "schema_version", "stream_id", "stream_version",
                         "global_position", "occurred_at", "correlation_id", "causation_id", "actor", "data"}
    assert headers["nameko.correlation_id"] == "corr-1" and body["stream_version"] == 1


def test_the_published_body_is_the_stored_event_on_the_wire(database, amqp_uri):
    """The relay builds the body around the stored JSON of data and actor without decoding them:
    what a consumer parses is the stored event's wire form, exactly."""
    service = unique("relaytest")
    store = EventStore(database)
    actor = {"user_id": "u-7", "name": "王五", "role": "社区工作者"}
    first = campaign_event(1, correlation_id="corr-1")
    store.append("unit-u1", [NewEvent(first.event_type, first.data, correlation_id="corr-1", causation_id="cmd-1",
                                      actor=actor)], 0)
    store.append("unit-u2", [campaign_event(2)], 0)
    relay = Relay(service, store, amqp_uri)
    probe = bind_probe(amqp_uri, service)
    relay.run_once()
    relay.close()
    bodies = [body for body, _ in drain_queue(amqp_uri, probe)]
    assert bodies == [e.to_wire() for e in store.read_all(0)]
    assert bodies[0]["actor"] == actor and bodies[1]["actor"] is None
