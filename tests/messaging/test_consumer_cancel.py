"""A consumer cancelled by the broker (basic.cancel: its queue deleted, a queue's home node
lost, a quorum queue's leader moving on newer brokers) reconnects, consumes again, and nothing
published to the queue afterwards is lost. py-amqp raises `ConsumerCancelled`, a recoverable
connection error, and nameko's queue consumer reconnects and re-declares its queue."""
import time
import uuid

import amqp.channel
import eventlet
import kombu
from nameko.containers import ServiceContainer
from nameko.messaging import consume

from shared.nameko_edge import patches

NAME = "cancel-probe-" + uuid.uuid4().hex[:6]
EXCHANGE = kombu.Exchange(NAME, type="direct", durable=True)
QUEUE = kombu.Queue(NAME, exchange=EXCHANGE, routing_key="k", durable=True)
SEEN: list[int] = []


class CancelProbe:
    name = "cancel_probe"

    @consume(QUEUE)
    def handle(self, body):
        eventlet.sleep(0.01)
        SEEN.append(body["n"])


def publish(amqp_uri, numbers):
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for n in numbers:
            producer.publish({"n": n}, exchange=EXCHANGE, routing_key="k", delivery_mode=2, declare=[QUEUE])


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.2)
    return predicate()


def test_a_consumer_cancelled_by_the_broker_consumes_again_and_loses_nothing(amqp_uri, monkeypatch):
    cancels = []
    original = amqp.channel.Channel._on_basic_cancel

    def spy(self, consumer_tag):
        cancels.append(consumer_tag)
        return original(self, consumer_tag)

    patches.install()   # the project's consumer, with its patches
    monkeypatch.setattr(amqp.channel.Channel, "_on_basic_cancel", spy)
    SEEN.clear()
    container = ServiceContainer(CancelProbe, {"AMQP_URI": amqp_uri})
    container.start()
    try:
        publish(amqp_uri, range(50))
        assert wait_until(lambda: len(set(SEEN)) == 50)

        with kombu.Connection(amqp_uri) as conn:          # the broker cancels the consumer
            conn.default_channel.queue_delete(NAME)
        assert wait_until(lambda: cancels, 30), "the broker sent no basic.cancel"

        publish(amqp_uri, range(50, 150))                 # the queue is declared again by the publisher
        assert wait_until(lambda: len(set(SEEN)) == 150), sorted(set(range(150)) - set(SEEN))[:10]
        assert sorted(set(SEEN)) == list(range(150))
    finally:
        container.stop()
        with kombu.Connection(amqp_uri) as conn:
            conn.default_channel.queue_delete(NAME)
            conn.default_channel.exchange_delete(NAME)
