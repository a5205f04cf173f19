"""The patched acks (shared/nameko_edge/patches.py, `guard_acks_on_dead_connections`).

- A worker that finishes after RabbitMQ dropped its connection must not take the service down:
  nameko 2.14.1 lets the socket's ConnectionResetError escape from its ack, and amqp's own
  "connection already closed" from the acks written together; the ack is skipped, the broker
  redelivers the message.
- Acks of requests finished together go to the socket in one write, and all take effect.
"""
from __future__ import annotations

import uuid

import eventlet
import kombu
import pytest
from amqp.exceptions import RecoverableConnectionError
from nameko.messaging import QueueConsumer

from shared.nameko_edge import patches


@pytest.fixture(autouse=True)
def patched():
    patches.install()


class DeadSocketChannel:
    def __init__(self, error):
        self.connection = object()   # "alive" as far as nameko's check goes
        self.error = error

    def basic_ack(self, *args, **kwargs):
        raise self.error


class Message:
    def __init__(self, error):
        self.channel = DeadSocketChannel(error)
        self.error = error
        self.delivery_tag = 1

    def ack(self):
        self.channel.basic_ack(self.delivery_tag)

    def requeue(self):
        raise self.error


def test_acks_and_requeues_on_a_reset_or_broken_socket_are_skipped_not_raised():
    consumer = QueueConsumer.__new__(QueueConsumer)
    # the last one, amqp's own "connection already closed", nameko's ack itself ignores
    for error in (ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError(32, "Broken pipe"),
                  RecoverableConnectionError("connection already closed")):
        consumer.ack_message(Message(error))          # raised before the guard, killing the container
        consumer.requeue_message(Message(error))


def test_acks_made_one_after_the_other_are_written_once_and_all_count(amqp_uri):
    name = "acks-" + uuid.uuid4().hex[:8]
    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue(name, durable=False, auto_delete=False)(conn.default_channel)
        queue.declare()
        producer = kombu.Producer(conn.default_channel)
        for i in range(20):
            producer.publish({"n": i}, routing_key=name)

    with kombu.Connection(amqp_uri) as conn:
        channel = conn.channel()
        channel.basic_qos(0, 50, False)
        got = []
        consumer = kombu.Consumer(channel, [kombu.Queue(name, no_declare=True)], callbacks=[lambda b, m: got.append(m)])
        with consumer:
            while len(got) < 20:
                conn.drain_events(timeout=5)
        transport = conn.connection.transport
        writes, write = [], transport._write
        transport._write = lambda data: writes.append(len(data)) or write(data)
        for message in got:                  # the workers of a batch, one after the other
            QueueConsumer.ack_message(None, message)
        assert writes == []                  # held back until the writer runs
        eventlet.sleep(0.05)
        assert len(writes) == 1
        transport._write = write
        channel.close()

    with kombu.Connection(amqp_uri) as conn:   # nothing came back: every ack took effect
        _, ready, _ = conn.default_channel.queue_declare(name, passive=True)
        conn.default_channel.queue_delete(name)
    assert ready == 0
