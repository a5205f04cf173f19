"""A worker that finishes after RabbitMQ dropped its connection must not take the service down
(nameko 2.14.1 lets the socket's ConnectionResetError escape from its ack; see
shared/nameko_support.py): the ack is skipped, the broker redelivers the message."""
from amqp.exceptions import RecoverableConnectionError
from nameko.messaging import QueueConsumer

import shared.nameko_support  # noqa: F401 - installs the guard


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
