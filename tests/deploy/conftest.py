import os
import signal
import subprocess
import uuid

import pytest

from tests.conftest import AMQP_BASE


def rabbitmqctl(*args, timeout: float = 60) -> str:
    """rabbitmqctl in its own process group, killed whole on a timeout: killing only the
    `su` wrapper would leave its Erlang VM behind holding one of the few CLI distribution
    ports, and after a handful of those every rabbitmqctl on the machine fails."""
    proc = subprocess.Popen(["rabbitmqctl", "-q", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, ["rabbitmqctl", *args], stderr=err)
    return out


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
