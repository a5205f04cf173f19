"""RabbitMQ housekeeping for the tests, the benchmarks and the tools: `rabbitmqctl` that never
leaves a hung CLI behind."""
from __future__ import annotations

import os
import signal
import subprocess
import uuid
from contextlib import contextmanager


def rabbitmqctl(*args: str, timeout: float = 60, node: str | None = None) -> str:
    """rabbitmqctl in its own process group, killed whole on a timeout: killing only the
    `su` wrapper would leave its Erlang VM behind holding one of the few CLI distribution
    ports, and after a handful of those every rabbitmqctl on the machine fails. `node`: the
    node to talk to (`-n`), else the machine's default node."""
    target = ["-n", node] if node else []
    proc = subprocess.Popen(["rabbitmqctl", "-q", *target, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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


@contextmanager
def fresh_vhost(base: str, prefix: str = "baodao-bench-"):
    """A RabbitMQ vhost of the caller's own (a benchmark, a test), deleted afterwards."""
    vhost = prefix + uuid.uuid4().hex[:8]
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{base.rstrip('/')}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)
