"""RabbitMQ nodes and PostgreSQL clusters of our own on this machine, beside the machine's own.

The fault suite crashes and restarts a broker and a database server; `make cluster` runs three
clustered broker nodes and a PostgreSQL primary with a standby. Neither may touch the machine's
RabbitMQ (5672) or PostgreSQL (5432), which other programs use. A `RabbitNode` or a
`PostgresCluster` is a server process with its own ports and its own data directory:

    node = RabbitNode.fresh("faults")          # free ports, a temporary data directory
    node.start()                               # as the `rabbitmq` user, waits for AMQP
    node.kill(); node.start()                  # a crash (SIGKILL) and a restart
    node.ctl("list_queues")                    # rabbitmqctl -n <this node>
    node.stop(); node.remove()

    pg = PostgresCluster.fresh()               # initdb as `postgres`, trust auth, own port
    pg.start(); pg.kill(); pg.start()          # a crash: crash recovery at the next start
    pg.url("test")                             # postgresql://postgres@localhost:<port>/test

RabbitMQ: `rabbitmq-server` (the script of the package, not Debian's `su` wrapper) runs as the
`rabbitmq` user (its home holds the Erlang cookie `rabbitmqctl` uses) with its own node name,
`RABBITMQ_NODE_PORT`, dist port, mnesia and log directories, `RABBITMQ_CONFIG_FILE` (the
system-wide `rabbitmq.conf` pins the listener to 5672), enabled-plugins file and
`RABBITMQ_CONF_ENV_FILE` (the system's `rabbitmq-env.conf` names the default node). It shares
the machine's epmd, as every node of a host does.

PostgreSQL: `initdb` / `pg_ctl` of the installed version as the `postgres` user (or as the
current user when not root), on its own port and socket directory.

`listener(port)`: the process id and socket inode listening on a port, so a test session can
check that the machine's servers were neither restarted nor replaced.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from deploy.broker import rabbitmqctl

RABBITMQ_SCRIPT_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)


# -- helpers ----------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port nothing listens on now, from the kernel's ephemeral range (never one of the
    fixed ports people give their servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listener(port: int) -> tuple[int | None, tuple[int, ...]] | None:
    """(process id, socket inodes) of what listens on TCP `port` on this machine, or None when
    nothing does. The pid changes when a server is restarted; the inodes change too when only
    its listener is re-opened (RabbitMQ's `stop_app` / `start_app` keeps the pid). The pid is
    None when we may not see it (not root, another user's process)."""
    try:
        out = subprocess.run(["ss", "-Hltnpe", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    pids = sorted({int(p) for p in re.findall(r"pid=(\d+)", out)})
    inodes = tuple(sorted(int(i) for i in re.findall(r"ino:(\d+)", out)))
    if not inodes:
        return None
    return (pids[0] if pids else None), inodes


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _as_user(user: str, cmd: list[str]) -> list[str]:
    """`cmd` run as `user` when we are root, as ourselves otherwise."""
    if os.geteuid() == 0 and _user_exists(user):
        return ["runuser", "-u", user, "--", *cmd]
    return cmd


def _own_dir(path: Path, user: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and _user_exists(user):
        entry = pwd.getpwnam(user)
        for p in [path, *path.rglob("*")]:
            os.chown(p, entry.pw_uid, entry.pw_gid)
    return path


def _wait(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout:.0f} s")


# -- RabbitMQ ---------------------------------------------------------------------------------------
class RabbitNode:
    """One RabbitMQ node of ours: `name@localhost` on `port` (AMQP) and `dist_port` (Erlang
    distribution), everything it writes under `data_dir`."""

    def __init__(self, name: str, port: int, dist_port: int, data_dir: Path, *, extra_config: str = ""):
        self.name, self.port, self.dist_port = name, port, dist_port
        self.node = f"{name}@localhost"
        self.data_dir = Path(data_dir)
        self.extra_config = extra_config
        self.process: subprocess.Popen | None = None
        self._log = None

    @classmethod
    def fresh(cls, label: str, **kw) -> "RabbitNode":
        """A node with a unique name, free ports and a temporary data directory."""
        suffix = uuid.uuid4().hex[:6]
        return cls(f"baodao-{label}-{suffix}", free_port(), free_port(),
                   Path(tempfile.mkdtemp(prefix=f"baodao-rabbit-{label}-")), **kw)

    def amqp_uri(self, vhost: str = "") -> str:
        return f"amqp://guest:guest@localhost:{self.port}/{vhost}"

    def _write_config(self) -> dict:
        d = self.data_dir
        d.mkdir(parents=True, exist_ok=True)
        (d / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "log.console = false\n"
            "log.file.level = info\n" + self.extra_config)
        (d / "enabled_plugins").write_text("[].\n")
        (d / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        for sub in ("mnesia", "log"):
            (d / sub).mkdir(exist_ok=True)
        _own_dir(d, "rabbitmq")
        home = pwd.getpwnam("rabbitmq").pw_dir if _user_exists("rabbitmq") else str(d)
        return {
            "HOME": home, "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"), "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "node.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = 90.0, wait: bool = True) -> "RabbitNode":
        """Start the node (as `rabbitmq`) and wait until it answers an AMQP handshake (`wait`:
        the nodes of a stopped cluster start together, each waiting for its peers)."""
        if self.alive():
            return self
        script = next((p for p in RABBITMQ_SCRIPT_CANDIDATES if os.path.exists(p)), None) or \
            shutil.which("rabbitmq-server")
        if script is None:
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        if os.geteuid() not in (0, _uid("rabbitmq")):
            raise RuntimeError("a RabbitMQ node of our own is started as the `rabbitmq` user: run as root or rabbitmq")
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use: not starting {self.node} on it")
        env = self._write_config()
        self._log = open(self.data_dir / "server.out", "ab")
        cmd = _as_user("rabbitmq", ["sh", "-c", RAISE_OPEN_FILES, "rabbitmq-server",
                                    "env", "-i", *[f"{k}={v}" for k, v in env.items()], script])
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, cwd=self.data_dir)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 90.0) -> "RabbitNode":
        """Wait until the node answers an AMQP handshake (raise with its output if it exited)."""

        def ready():
            if self.process is not None and self.process.poll() is not None:
                tail = (self.data_dir / "server.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"RabbitMQ node {self.node} exited with {self.process.returncode}:\n{tail}")
            return port_open(self.port) and self._handshake()

        _wait(ready, timeout, f"RabbitMQ node {self.node} on port {self.port}", interval=0.3)
        return self

    def _handshake(self) -> bool:
        import amqp

        try:
            conn = amqp.Connection(f"localhost:{self.port}", userid="guest", password="guest", connect_timeout=2)
            conn.connect()
            conn.close()
            return True
        except Exception:  # noqa: BLE001 - still booting
            return False

    def alive(self) -> bool:
        """The node's VM runs (started by this object, or found by its pid file: `make cluster`
        starts nodes in one command and stops them in another)."""
        if self.process is not None:
            return self.process.poll() is None
        pid = self.pid
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    @property
    def pid(self) -> int | None:
        """The node's Erlang VM (beam) process id."""
        try:
            return int((self.data_dir / "node.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """rabbitmqctl against this node (never waited on without a timeout)."""
        return rabbitmqctl(*args, timeout=timeout, node=self.node)

    def kill(self) -> None:
        """SIGKILL the node (a crash: no clean shutdown, Mnesia and the queues recover at the next
        start); returns once its ports are closed."""
        beam = self.pid if self.alive() else None
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if beam:
            try:
                os.kill(beam, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None:
            self.process.wait()
        (self.data_dir / "node.pid").unlink(missing_ok=True)
        _wait(lambda: not port_open(self.port) and not port_open(self.dist_port), 30, f"{self.node} ports closed")
        self._close_log()

    def stop(self, timeout: float = 60) -> None:
        """A clean stop (`rabbitmqctl stop`), a kill if it does not end in time."""
        if not self.alive():
            self._close_log()
            return
        try:
            self.ctl("stop", timeout=timeout)
            if self.process is not None:
                self.process.wait(timeout)
            else:
                _wait(lambda: not self.alive(), timeout, f"{self.node} stopped")
        except (subprocess.SubprocessError, OSError, TimeoutError):
            pass
        if self.alive():
            self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def remove(self) -> None:
        """Delete the data directory (the node must be stopped)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)


# RabbitMQ 3.10's file handle cache budgets every file and socket of the node against its
# open-files limit, and the members of quorum queues hold theirs (about five each): at the
# common default soft limit of 1024 (a budget of 927), a node with ~180 quorum queues is over
# budget and every later request for a handle (a classic queue's index, a new vhost's message
# stores in `add_vhost`) waits for ever. The node starts with its soft limit raised to the hard
# one (`ulimit -n`, as the node's user: PAM resets limits on the way).
RAISE_OPEN_FILES = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null; exec "$@"'


def _uid(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return -1


# -- PostgreSQL -------------------------------------------------------------------------------------
def pg_bindir() -> Path:
    """The installed PostgreSQL's binaries (BAODAO_PG_BINDIR, else the newest under
    /usr/lib/postgresql, else the directory of `pg_ctl` on PATH)."""
    if os.environ.get("BAODAO_PG_BINDIR"):
        return Path(os.environ["BAODAO_PG_BINDIR"])
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
                      if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")


class PostgresCluster:
    """One PostgreSQL cluster of ours: data in `<base_dir>/data`, listening on localhost:`port`
    (its Unix socket in `base_dir`), trust authentication for `postgres`."""

    def __init__(self, base_dir: Path, port: int, *, settings: dict | None = None):
        self.base_dir = Path(base_dir)
        self.data = self.base_dir / "data"
        self.port = port
        self.settings = {"listen_addresses": "'localhost'", "unix_socket_directories": f"'{self.base_dir}'",
                         "port": str(port), "max_connections": "100", "shared_buffers": "64MB",
                         "wal_level": "replica", "max_wal_senders": "10", "hot_standby": "on",
                         "logging_collector": "off", **(settings or {})}

    @classmethod
    def fresh(cls, label: str = "pg", port: int | None = None, **kw) -> "PostgresCluster":
        """A new cluster (initdb) in a temporary directory, on a free port (or `port`)."""
        c = cls(Path(tempfile.mkdtemp(prefix=f"baodao-{label}-")), port or free_port(), **kw)
        c.init()
        return c

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        full = _as_user("postgres", [str(pg_bindir() / cmd[0]), *cmd[1:]])
        proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, cwd="/")
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _write_settings(self) -> None:
        conf = self.data / "postgresql.conf"
        lines = [f"{k} = {v}" for k, v in self.settings.items()]
        text = conf.read_text()
        marker = "# -- baodao local cluster --\n"
        text = text.split(marker)[0] + marker + "\n".join(lines) + "\n"
        conf.write_text(text)

    def init(self) -> "PostgresCluster":
        _own_dir(self.base_dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "-N")
        self._write_settings()
        return self

    def start(self, timeout: float = 60) -> "PostgresCluster":
        if self.running():
            return self
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base_dir / "server.log"), "-w",
                  "-t", str(int(timeout)), "start", timeout=timeout + 10)
        return self

    def running(self) -> bool:
        pid = self.pid
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return port_open(self.port)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self, mode: str = "fast") -> None:
        if self.pid is None or not self.running():
            return
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash); its backends, which notice their postmaster is gone,
        end too (killed if they linger). The next start runs crash recovery."""
        pid = self.pid
        if pid is None:
            return
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                    text=True).stdout.split()]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

        def gone(p: int) -> bool:
            try:
                os.kill(p, 0)
                return False
            except ProcessLookupError:
                return True

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(gone(p) for p in [pid, *children]):
            time.sleep(0.1)
        for p in children:
            if not gone(p):
                os.kill(p, signal.SIGKILL)
        _wait(lambda: all(gone(p) for p in [pid, *children]) and not port_open(self.port), 30,
              f"PostgreSQL on {self.port} gone")

    def is_in_recovery(self) -> bool:
        out = self._run("psql", "-h", str(self.base_dir), "-p", str(self.port), "-U", "postgres", "-Atc",
                        "SELECT pg_is_in_recovery()")
        return out.stdout.strip() == "t"

    def standby(self, base_dir: Path, port: int) -> "PostgresCluster":
        """A streaming standby of this (running) cluster: `pg_basebackup -R` into `base_dir`,
        listening on `port`; not started."""
        s = PostgresCluster(base_dir, port, settings={k: v for k, v in self.settings.items()
                                                      if k not in ("port", "unix_socket_directories")})
        _own_dir(s.base_dir, "postgres")
        self._run("pg_basebackup", "-h", "localhost", "-p", str(self.port), "-U", "postgres", "-D", str(s.data),
                  "-X", "stream", "-R", "-c", "fast", timeout=300)
        s._write_settings()
        return s

    def promote(self, timeout: float = 60) -> None:
        """Promote a standby to primary (`pg_ctl promote`, waits until it accepts writes)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", str(int(timeout)), "promote", timeout=timeout + 10)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@localhost:{self.port}/{database}"

    def remove(self) -> None:
        shutil.rmtree(self.base_dir, ignore_errors=True)


if __name__ == "__main__":  # python -m deploy.local_nodes 5672 5432: what listens there
    import sys

    for arg in sys.argv[1:] or ["5672", "5432"]:
        print(arg, listener(int(arg)))
