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
