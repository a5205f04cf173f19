import subprocess
import uuid

import pytest

from tests.conftest import AMQP_BASE


def _rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


@pytest.fixture
def own_vhost():
    """A vhost of this test alone (queue counts and dead letters of other tests stay out)."""
    vhost = "baodao-ops-" + uuid.uuid4().hex[:8]
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"{AMQP_BASE}/{vhost}"
    _rabbitmqctl("delete_vhost", vhost)
