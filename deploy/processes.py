"""A small supervisor: each service as its own `nameko run` process on the local broker.

Used by the demo and the end-to-end tests. `wait_ready` polls the service's `health` RPC, so a
caller only proceeds once the service consumes and its database answers.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVICE_CLASSES = {
    "registration": "services.registration.service:RegistrationService",
    "dispatch": "services.dispatch.service:DispatchService",
    "notify": "services.notify.service:NotifyService",
    "evaluation": "services.evaluation.service:EvaluationService",
    "funds": "services.funds.service:FundsService",
}


class BrokerUnreachable(Exception):
    pass


def check_broker(amqp_uri: str, timeout: float = 5.0) -> None:
    """Fail fast, with what to do, when RabbitMQ is not reachable."""
    import kombu

    try:
        with kombu.Connection(amqp_uri, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure means the same to the operator
        raise BrokerUnreachable(
            f"RabbitMQ is not reachable at {amqp_uri} ({exc.__class__.__name__}: {exc}).\n"
            "Start it with `rabbitmq-server -detached` (Debian: apt-get install rabbitmq-server), "
            "or point AMQP_URI at a running broker."
        ) from None


@dataclass
class ServiceProcess:
    name: str
    env: dict
    log_path: Path
    process: subprocess.Popen | None = None
    _log_file: object = field(default=None, repr=False)

    def start(self) -> "ServiceProcess":
        self._log_file = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "deploy" / "config" / f"{self.name}.yaml"),
               SERVICE_CLASSES[self.name]]
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file:
            self._log_file.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, no clean-up."""
        if self.alive():
            self.process.kill()
            self.process.wait()


def service_env(amqp_uri: str, database_url: str | None, data_dir: Path, schema_prefix: str = "",
                log_level: str = "INFO") -> dict:
    env = dict(os.environ)
    env.update({"AMQP_URI": amqp_uri, "BAODAO_DATA_DIR": str(data_dir), "BAODAO_SCHEMA_PREFIX": schema_prefix,
                "BAODAO_LOG_LEVEL": log_level, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"})
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)
    return env


def wait_ready(amqp_uri: str, services: list[ServiceProcess], timeout: float = 60.0) -> dict:
    """Wait until every service answers its `health` RPC; raise with its log tail if it died."""
    from nameko.exceptions import RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    deadline = time.monotonic() + timeout
    health = {}
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=2) as rpc:
        for svc in services:
            while True:
                if not svc.alive():
                    tail = svc.log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"service {svc.name} exited with {svc.process.returncode}:\n{tail}")
                try:
                    health[svc.name] = getattr(rpc, svc.name).health()
                    break
                except (RpcTimeout, UnknownService):
                    time.sleep(0.2)
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"service {svc.name} not ready after {timeout}s") from None
    return health


def pool_size_for(processes: int, max_connections: int = 100, reserve: int = 20) -> int:
    """Connections per process (pool, and as many in overflow) so that `processes` service
    processes together stay under PostgreSQL's `max_connections` (100 by default), leaving
    `reserve` for tests, operators and migrations: 12 processes (two instances of six services)
    get 3 + 3, six get 6 + 6, a single one 10 + 10."""
    return max(2, min(10, (max_connections - reserve) // (2 * max(processes, 1))))


class Cluster:
    """Every service of SERVICE_CLASSES as `instances` `nameko run` processes each.

    Instances of one service share its database schema and its queues (nameko's service-pool
    queues: RabbitMQ hands each message to one consumer), and elect one relay through the
    relay's lease row. Logs go to `<log_dir>/<service>-<i>.log`.

        with Cluster(amqp_uri, database_url, log_dir, instances=2) as cluster:
            ...  # every instance answers `health`
    """

    def __init__(self, amqp_uri: str, database_url: str | None, log_dir: Path, *, instances: int | dict = 1,
                 services: list[str] | None = None, schema_prefix: str = "", log_level: str = "INFO",
                 extra_env: dict | None = None):
        self.amqp_uri = amqp_uri
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.services = list(services or SERVICE_CLASSES)
        self.instances = {name: (instances.get(name, 1) if isinstance(instances, dict) else instances)
                          for name in self.services}
        self.env = service_env(amqp_uri, database_url, self.log_dir, schema_prefix=schema_prefix,
                               log_level=log_level)
        if database_url and "DB_POOL_SIZE" not in os.environ:
            self.env["DB_POOL_SIZE"] = str(pool_size_for(sum(self.instances.values())))
        self.env.update(extra_env or {})
        self.processes: dict[str, list[ServiceProcess]] = {name: [] for name in self.services}

    def _new(self, name: str, index: int) -> ServiceProcess:
        return ServiceProcess(name, self.env, self.log_dir / f"{name}-{index}.log")

    def start(self, timeout: float = 90.0) -> "Cluster":
        # The first instance of each service first: it creates the service's tables (two
        # processes creating them at once on a fresh schema collide in PostgreSQL's catalogue;
        # a deployment migrates before it starts) and declares the whole topology before its
        # relay publishes. Then the other instances.
        for name in self.services:
            self.processes[name].append(self._new(name, 0).start())
        wait_ready(self.amqp_uri, self.all(), timeout=timeout)
        for name in self.services:
            for i in range(1, self.instances[name]):
                self.processes[name].append(self._new(name, i).start())
        for proc in self.all():
            wait_alive(proc, timeout)
        return self

    def all(self) -> list[ServiceProcess]:
        return [p for procs in self.processes.values() for p in procs]

    def pids(self) -> dict[str, list[int]]:
        return {name: [p.process.pid for p in procs if p.alive()] for name, procs in self.processes.items()}

    def kill(self, name: str, index: int = 0) -> None:
        """SIGKILL one instance (a crash)."""
        self.processes[name][index].kill()

    def restart(self, name: str, index: int = 0, timeout: float = 90.0) -> ServiceProcess:
        """Start instance `index` of `name` again (after a kill or a stop) and wait until it answers."""
        old = self.processes[name][index]
        if old.alive():
            old.stop()
        elif old._log_file:
            old._log_file.close()
        new = self._new(name, index)
        offset = new.log_path.stat().st_size if new.log_path.exists() else 0
        new.start()
        self.processes[name][index] = new
        wait_alive(new, timeout, offset)
        return new

    def stop(self) -> None:
        for proc in self.all():
            proc.stop()

    def log_lines(self, name: str, *needles: bytes) -> dict[int, int]:
        """How many lines of each instance's log of `name` contain every one of `needles`."""
        counts = {}
        for i in range(self.instances[name]):
            path = self.log_dir / f"{name}-{i}.log"
            try:
                with open(path, "rb") as f:
                    counts[i] = sum(1 for line in f if all(n in line for n in needles))
            except OSError:
                counts[i] = 0
        return counts

    def __enter__(self) -> "Cluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_alive(proc: ServiceProcess, timeout: float = 90.0, log_offset: int = 0) -> None:
    """Wait until one given process consumes: its log says its containers started.

    `health` by RPC may be answered by another instance of the same service, so a restarted
    instance is watched through its own log instead: the kernel logs `topology_declared` (INFO,
    so the processes must log at INFO) once the service's dependencies started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            tail = proc.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"service {proc.name} exited with {proc.process.returncode}:\n{tail}")
        try:
            with open(proc.log_path, "rb") as f:
                f.seek(log_offset)
                started = b"topology_declared" in f.read()
            if started:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"service {proc.name} not started after {timeout}s")
