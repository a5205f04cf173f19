"""Queue type on the real broker: quorum by default, classic on request, a clear error on a
mismatch with an existing queue."""
import kombu
import pytest

from shared import topology
from tests.deploy.conftest import rabbitmqctl

pytestmark = pytest.mark.rabbit

SUB = topology.Subscription("registration", "MemberCheckedIn", "ops_probe", "on_checked_in")


def declared_type(amqp_uri: str, queue_name: str) -> str:
    """The type RabbitMQ gives the queue, asked by `rabbitmqctl` (the management API is not
    guaranteed to be there)."""
    vhost = amqp_uri.rsplit("/", 1)[1]
    out = rabbitmqctl("list_queues", "-p", vhost, "name", "type")
    types = dict(line.split("\t")[:2] for line in out.splitlines() if "\t" in line)
    return types[queue_name]


def delete_queues(amqp_uri, sub):
    with kombu.Connection(amqp_uri) as conn:
        for name in (sub.queue_name, topology.retry_queue_name(sub.queue_name),
                     topology.dead_letter_queue_name(sub.queue_name)):
            conn.channel().queue_delete(name)


def test_queue_type_defaults_to_quorum_and_rejects_unknown(monkeypatch):
    monkeypatch.delenv("QUEUE_TYPE", raising=False)
    assert topology.queue_type() == "quorum"
    monkeypatch.setenv("QUEUE_TYPE", "Classic")
    assert topology.queue_type() == "classic"
    monkeypatch.setenv("QUEUE_TYPE", "stream")
    with pytest.raises(ValueError, match="QUEUE_TYPE"):
        topology.queue_type()


def test_declared_queues_are_quorum_by_default(own_vhost, monkeypatch):
    amqp_uri = own_vhost
    monkeypatch.delenv("QUEUE_TYPE", raising=False)
    topology.declare(amqp_uri, [SUB], sources=["registration"])
    try:
        for name in (SUB.queue_name, topology.retry_queue_name(SUB.queue_name),
                     topology.dead_letter_queue_name(SUB.queue_name)):
            assert declared_type(amqp_uri, name) == "quorum"
        # Idempotent: a second declare with the same type is accepted.
        topology.declare(amqp_uri, [SUB], sources=["registration"])
    finally:
        delete_queues(amqp_uri, SUB)


def test_a_quorum_retry_queue_dead_letters_back_to_its_queue(own_vhost, monkeypatch):
    amqp_uri = own_vhost
    monkeypatch.delenv("QUEUE_TYPE", raising=False)
    topology.declare(amqp_uri, [SUB], sources=["registration"])
    try:
        with kombu.Connection(amqp_uri) as conn:
            conn.Producer().publish({"n": 1}, exchange="", routing_key=topology.retry_queue_name(SUB.queue_name),
                                    expiration=0.2, delivery_mode=2)
            queue = kombu.Queue(SUB.queue_name, no_declare=True)(conn.default_channel)
            import time
            deadline = time.monotonic() + 15
            message = None
            while message is None and time.monotonic() < deadline:
                message = queue.get(no_ack=True)
                time.sleep(0.1)
            assert message is not None and message.payload == {"n": 1}
    finally:
        delete_queues(amqp_uri, SUB)


def test_classic_on_request_and_a_type_change_is_a_clear_error(own_vhost, monkeypatch):
    amqp_uri = own_vhost
    monkeypatch.setenv("QUEUE_TYPE", "classic")
    topology.declare(amqp_uri, [SUB], sources=["registration"])
    try:
        assert declared_type(amqp_uri, SUB.queue_name) == "classic"
        monkeypatch.setenv("QUEUE_TYPE", "quorum")
        with pytest.raises(topology.QueueTypeMismatch) as err:
            topology.declare(amqp_uri, [SUB], sources=["registration"])
        assert "PRECONDITION_FAILED" in str(err.value)
        assert "QUEUE_TYPE" in str(err.value) and "docs/operations.md" in str(err.value)
        # The failed declare changed nothing.
        assert declared_type(amqp_uri, SUB.queue_name) == "classic"
    finally:
        delete_queues(amqp_uri, SUB)


class _Probe:
    name = "qtype_probe"

    from nameko.rpc import rpc as _rpc

    @_rpc
    def ping(self):
        return "pong"


def test_rpc_request_queues_follow_queue_type_and_reply_queues_are_always_classic(own_vhost, monkeypatch):
    """Per queue, not one broker-wide default: the service's durable request queue is quorum
    (QUEUE_TYPE), the reply queues of the service process and of a standalone client classic."""
    from shared.nameko_edge import patches

    patches.install()
    from nameko.containers import ServiceContainer
    from nameko.standalone.rpc import ClusterRpcProxy

    amqp_uri = own_vhost
    monkeypatch.delenv("QUEUE_TYPE", raising=False)
    container = ServiceContainer(_Probe, {"AMQP_URI": amqp_uri})
    container.start()
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
            assert rpc.qtype_probe.ping() == "pong"
            vhost = amqp_uri.rsplit("/", 1)[1]
            types = dict(line.split("\t")[:2] for line in rabbitmqctl("list_queues", "-p", vhost, "name", "type")
                         .splitlines() if "\t" in line)
    finally:
        container.stop()
    assert types.pop("rpc-qtype_probe") == "quorum"
    replies = {name: kind for name, kind in types.items() if name.startswith("rpc.reply-")}
    assert {n.split("-")[1] for n in replies} >= {"standalone_rpc_proxy"} and set(replies.values()) == {"classic"}
    monkeypatch.setenv("QUEUE_TYPE", "classic")
    from shared import topology as t
    assert t.rpc_queue_arguments({"x-expires": 1}) == {"x-expires": 1, "x-queue-type": "classic"}
