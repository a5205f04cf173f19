"""Consumers never lose an event and never apply one twice.

A tiny consumer service subscribes to registration's CampaignOpened; a relay publishes events
from a store of our own onto `registration.events` in this session's vhost.
"""
import time
import uuid

import kombu
import pytest

from services.notify import domain as notify_domain
from shared import topology
from shared.application import Application
from shared.codec import EventCodec
from shared.eventstore import EventStore
from shared.nameko_edge import ApplicationProvider, subscribe
from shared.relay import Relay
from tests.messaging.helpers import campaign_event, drain_queue, queue_depth, running, unique, wait_for


def make_consumer(behaviour):
    """A consumer service class with a unique name; `behaviour(event)` runs inside the inbox."""
    seen = []

    def build(database):
        return Application(database, EventCodec("notify", notify_domain.EVENTS)), []

    def effect(uow, event):
        behaviour(event)
        seen.append(event.event_id)

    class Consumer:
        name = unique("consumer")
        app = ApplicationProvider(build)

        @subscribe("registration", "CampaignOpened")
        def on_campaign_opened(self, event):
            self.app.handle_once(event, effect, name="record")

    return Consumer, seen


def config(amqp_uri, tmp_path, name):
    return {"AMQP_URI": amqp_uri, "DATABASE_URL": f"sqlite:///{tmp_path / name}.db", "RELAY_ENABLED": False,
            "INBOX_RETRY_DELAYS": [0.1, 0.2, 0.3], "TOPOLOGY": "tests.messaging.test_consuming:no_topology"}


def no_topology():
    return []


def publish(database, amqp_uri, events, stream_prefix="unit-x"):
    store = EventStore(database)
    for i, e in enumerate(events):
        store.append(f"{stream_prefix}{uuid.uuid4().hex[:6]}", [e], 0)
    relay = Relay("registration", store, amqp_uri)
    relay.run_once()
    relay.close()
    relay.release_lease()
    return store


def test_a_failing_handler_is_retried_with_backoff_then_succeeds_once(database, amqp_uri, tmp_path):
    attempts = {}

    def flaky(event):
        attempts[event.event_id] = attempts.get(event.event_id, 0) + 1
        if attempts[event.event_id] <= 2:
            raise RuntimeError("database hiccup")

    Consumer, seen = make_consumer(flaky)
    with running(Consumer, config=config(amqp_uri, tmp_path, "c")):
        store = publish(database, amqp_uri, [campaign_event(1)])
        event_id = store.read_all(0)[0].event_id
        wait_for(lambda: seen == [event_id])
    assert attempts[event_id] == 3
    queue = topology.consumer_queue_name("registration", "CampaignOpened", Consumer.name, "on_campaign_opened")
    assert queue_depth(amqp_uri, topology.dead_letter_queue_name(queue)) == 0


def test_a_handler_that_always_fails_is_dead_lettered_with_its_reason_and_others_flow(database, amqp_uri, tmp_path):
    def poison_for_unit_1(event):
        if event.data["unit_id"] == "u1":
            raise ValueError("无法处理 u1")

    Consumer, seen = make_consumer(poison_for_unit_1)
    queue = topology.consumer_queue_name("registration", "CampaignOpened", Consumer.name, "on_campaign_opened")
    with running(Consumer, config=config(amqp_uri, tmp_path, "c")):
        publish(database, amqp_uri, [campaign_event(1), campaign_event(2), campaign_event(3)])
        wait_for(lambda: len(seen) == 2)
        wait_for(lambda: queue_depth(amqp_uri, topology.dead_letter_queue_name(queue)) == 1)
    [(body, headers)] = drain_queue(amqp_uri, topology.dead_letter_queue_name(queue))
    assert body["data"]["unit_id"] == "u1"
    assert headers[topology.RETRY_ATTEMPTS_HEADER] == 4  # first try + three retries
    assert "ValueError: 无法处理 u1" in headers[topology.ERROR_HEADER]
    assert headers[topology.ORIGIN_QUEUE_HEADER] == queue


def test_a_redelivered_event_is_applied_once(database, amqp_uri, tmp_path):
    Consumer, seen = make_consumer(lambda event: None)
    with running(Consumer, config=config(amqp_uri, tmp_path, "c")):
        store = publish(database, amqp_uri, [campaign_event(1), campaign_event(2)])
        wait_for(lambda: len(seen) == 2)
        # The relay crashes and re-publishes everything from position zero.
        relay = Relay("registration", store, amqp_uri)
        assert relay.acquire_lease()
        relay._save_checkpoint(0)
        assert relay.run_once() == 2
        relay.close()
        time.sleep(1.0)
    assert sorted(seen) == sorted(e.event_id for e in store.read_all(0))


def test_an_event_published_before_its_consumer_first_started_still_reaches_it(database, amqp_uri, tmp_path):
    Consumer, seen = make_consumer(lambda event: None)
    # Deploy step: declare the topology, with the consumer never having run.
    topology.declare(amqp_uri, topology.subscriptions_of(Consumer), sources=["registration"])
    store = publish(database, amqp_uri, [campaign_event(7)])
    with running(Consumer, config=config(amqp_uri, tmp_path, "c")):
        wait_for(lambda: seen == [store.read_all(0)[0].event_id])


def test_without_the_topology_step_rabbitmq_drops_the_event(database, amqp_uri, tmp_path):
    """The trap the topology step exists for: confirmed, then dropped."""
    Consumer, seen = make_consumer(lambda event: None)
    publish(database, amqp_uri, [campaign_event(8)])  # no queue bound yet: confirmed and dropped
    with running(Consumer, config=config(amqp_uri, tmp_path, "c")):
        time.sleep(1.0)
    assert seen == []


@pytest.mark.parametrize("body", [
    {"event_id": "x", "event_type": "CampaignOpened"},                      # a bad envelope
    "a JSON string, not an object",
])
def test_a_malformed_message_goes_to_the_dead_letter_queue(amqp_uri, tmp_path, database, body):
    Consumer, seen = make_consumer(lambda event: None)
    queue = topology.consumer_queue_name("registration", "CampaignOpened", Consumer.name, "on_campaign_opened")
    with running(Consumer, config=config(amqp_uri, tmp_path, "c")):
        with kombu.Connection(amqp_uri) as conn:
            conn.Producer().publish(body, exchange="", routing_key=queue, serializer="json")
        wait_for(lambda: queue_depth(amqp_uri, topology.dead_letter_queue_name(queue)) == 1)
        publish(database, amqp_uri, [campaign_event(9)])  # and the consumer goes on
        wait_for(lambda: len(seen) == 1)
    [(parked, headers)] = drain_queue(amqp_uri, topology.dead_letter_queue_name(queue))
    assert parked == body and headers[topology.ERROR_HEADER].startswith("undecodable")
