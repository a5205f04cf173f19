"""The short form of the fault suite (tests/faults/suite.py), in the default test run: one
instance of each service under load; each service SIGKILLed and restarted, the vhost's broker
connections closed, the database's backends terminated, RabbitMQ and PostgreSQL restarted, a
malformed message in every consumer queue; then nothing lost, nothing applied twice, only the
malformed messages dead-lettered, and the points ledgers equal a fresh replay. (The restarts
touch the whole machine: the test run is serial, so nothing else is using them meanwhile.)"""
import uuid

import pytest

from deploy.pg import ensure_database
from deploy.processes import SERVICE_CLASSES
from tests.conftest import PG_URL
from tests.faults import suite


@pytest.fixture
def own_database():
    """A database of this run only: pg_terminate_backend must touch nobody else."""
    from sqlalchemy import create_engine, text

    base = PG_URL.rsplit("/", 1)[0]
    name = "baodao_faults_" + uuid.uuid4().hex[:8]
    url = ensure_database(base, name)
    yield url
    admin = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def own_vhost():
    """A vhost of this test only: its connections are cut, its dead-letter queues counted."""
    from deploy.broker import fresh_vhost
    from tests.conftest import AMQP_BASE

    with fresh_vhost(AMQP_BASE, prefix="baodao-faults-") as uri:
        yield uri


def test_under_load_crashes_and_cut_connections_lose_nothing_and_apply_nothing_twice(own_vhost, own_database,
                                                                                      tmp_path):
    amqp_uri = own_vhost
    result = suite.run(amqp_uri, own_database, tmp_path, instances=1, rounds=1, pause=1.0, members=3, restarts=True,
                       out=lambda r: None)
    assert result["faults_injected"] == len(SERVICE_CLASSES) + 5   # a crash of each service, then 5 more
    assert {"rabbitmq_restarted", "postgres_restarted"} <= {f["fault"] for f in result["faults"]}
    assert result["lifecycles_finished"] > 0 and result["check_ins"] > 0
    assert result["lost"] == 0 and result["duplicated"] == 0, (result["reconciliation"], result["processes"])
    assert result["refused"] == []
    diagnostics = result["processes"]   # liveness, and log tails when something is off
    assert result["stuck"] == [], diagnostics
    assert all(p["alive"] for p in diagnostics.values()), diagnostics
    assert result["unexpected_dead_letters"] == {}, diagnostics
    assert result["dead_letters"] == result["malformed_fed"] > 0
    replay = result["points_ledgers_vs_replay"]
    assert replay["ledger_lines"] > 0 and replay["equal"], replay
