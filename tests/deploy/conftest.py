"""The deploy tests run on quorum queues, the deployment default, on a RabbitMQ node the session
starts itself (its own name, ports and data directory): quorum queues are one Raft group each,
and a few hundred of them on the machine's shared broker take its file-handle budget
(docs/operations.md, "RabbitMQ 3.10 and quorum queues"). The rest of the suite uses classic
queues on the machine's broker."""
import uuid

import pytest

from deploy import broker
from deploy.local_nodes import RabbitNode

_node: RabbitNode | None = None


@pytest.fixture(scope="session")
def quorum_node():
    """A single RabbitMQ node of the deploy tests, stopped and removed after the session."""
    global _node
    _node = RabbitNode.fresh("deploy").start()
    try:
        yield _node
    finally:
        _node.stop()
        _node.remove()
        _node = None


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """rabbitmqctl against the deploy tests' own node (`own_vhost` starts it)."""
    assert _node is not None, "use the own_vhost fixture first"
    return _node.ctl(*args, timeout=timeout)


@pytest.fixture
def own_vhost(quorum_node, monkeypatch):
    """A vhost of this test alone on the deploy tests' node (queue counts and dead letters of
    other tests stay out), with quorum queues."""
    monkeypatch.setenv("QUEUE_TYPE", "quorum")
    vhost = "baodao-ops-" + uuid.uuid4().hex[:8]
    quorum_node.ctl("add_vhost", vhost, timeout=60)
    quorum_node.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield quorum_node.amqp_uri(vhost)
    try:
        quorum_node.ctl("delete_vhost", vhost, timeout=60)
    except Exception:  # noqa: BLE001 - the node is removed at the end of the session anyway
        pass


__all__ = ["broker", "rabbitmqctl", "own_vhost", "quorum_node"]
