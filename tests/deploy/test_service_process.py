"""A service as its own `nameko run` process, configured from the environment as in a
container: it migrates first, serves /ready on METRICS_PORT, and the operator CLI sees it."""
import socket
import time

import pytest

from deploy import migrate, ops, probe
from deploy.processes import ServiceProcess, service_env
from shared.db import Database
from tests.conftest import PG_URL, fresh_schema

pytestmark = [pytest.mark.rabbit, pytest.mark.postgres]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_migrated_service_process_is_ready_and_seen_by_the_operator(own_vhost, tmp_path, monkeypatch):
    prefix = fresh_schema() + "_"
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    monkeypatch.setenv("BAODAO_SCHEMA_PREFIX", prefix)
    db = Database(PG_URL, schema=prefix + "notify")
    port = free_port()
    try:
        assert migrate.main(["notify"]) == 0                          # as the init container does
        env = service_env(own_vhost, PG_URL, tmp_path, schema_prefix=prefix)
        env["METRICS_PORT"] = str(port)
        env["QUEUE_TYPE"] = "quorum"
        service = ServiceProcess("notify", env, tmp_path / "notify.log").start()
        try:
            deadline = time.monotonic() + 60
            while probe.main(["ready", "--port", str(port)]) != 0:
                assert service.alive(), (tmp_path / "notify.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "notify not ready within 60 s"
                time.sleep(0.3)
            [state] = ops.service_states(own_vhost, ["notify"])
            assert state["instances"] == 1 and state["health"]["status"] == "ok"
            assert state["health"]["database"] == "postgresql"
            assert migrate.current("notify", db) is not None and migrate.schema_diff(db, "notify") == []
        finally:
            service.kill()
        assert probe.main(["live", "--port", str(port)]) == 1
    finally:
        db.drop_schema()
        db.dispose()
