"""Acks of requests finished together go to the socket in one write, and all take effect."""
from __future__ import annotations

import uuid

import eventlet
import kombu
from nameko.messaging import QueueConsumer


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
