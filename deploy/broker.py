"""RabbitMQ housekeeping for the tests, the benchmarks and the tools: `rabbitmqctl` that never
leaves a hung CLI behind."""
from __future__ import annotations

import os
import pwd
import signal
import subprocess
import uuid
from contextlib import contextmanager

# The CLI itself, not Debian's /usr/sbin wrapper: the wrapper runs it through `su rabbitmq`,
# and su starts the command in a process group of its own, which a kill of the caller's group
# does not reach.
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def _command() -> list[str]:
    if os.path.exists(RABBITMQCTL):
        try:
            home = pwd.getpwnam("rabbitmq").pw_dir
        except KeyError:
            home = None
        if os.geteuid() == 0 and home:   # as the broker's user, with its Erlang cookie
            return ["runuser", "-u", "rabbitmq", "--", "env", f"HOME={home}", RABBITMQCTL]
        if home and os.geteuid() == pwd.getpwnam("rabbitmq").pw_uid:
            return ["env", f"HOME={home}", RABBITMQCTL]
    return ["rabbitmqctl"]


def rabbitmqctl(*args: str, timeout: float = 60, node: str | None = None) -> str:
    """rabbitmqctl in its own process group, killed whole when it does not answer within
    `timeout` (or the caller is interrupted): a CLI left behind keeps its Erlang VM and one of
    the few CLI distribution ports (35672-35682), and after a handful of those every rabbitmqctl
    on the machine fails with "Distribution failed". `node`: the node to talk to (`-n`), else
    the machine's default node.

    Any exception from the wait kills the group, not only `subprocess.TimeoutExpired`: under
    eventlet's monkey-patching the timeout arrives as another class."""
    target = ["-n", node] if node else []
    cmd = [*_command(), "-q", *target, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, ["rabbitmqctl", *args], output=out, stderr=err)
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
