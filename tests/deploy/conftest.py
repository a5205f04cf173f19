import uuid

import pytest

from deploy.broker import rabbitmqctl  # noqa: F401 - the deploy tests import it from here
from tests.conftest import AMQP_BASE


@pytest.fixture
def own_vhost(monkeypatch):
    """A vhost of this test alone (queue counts and dead letters of other tests stay out), with
    quorum queues, the deployment default (the rest of the suite uses classic ones)."""
    monkeypatch.setenv("QUEUE_TYPE", "quorum")
    vhost = "baodao-ops-" + uuid.uuid4().hex[:8]
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"{AMQP_BASE}/{vhost}"
    rabbitmqctl("delete_vhost", vhost)
