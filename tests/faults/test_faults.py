"""The short form of the fault suite (tests/faults/suite.py), in the default test run: one
instance of each service under load, on a RabbitMQ node and a PostgreSQL cluster the test starts
itself (own ports and data directories; the machine's own broker and database are not touched);
each service SIGKILLed and restarted, the vhost's broker connections closed, the database's
backends terminated, the broker node and the database cluster SIGKILLed and started again, a
malformed message in every consumer queue; then nothing lost, nothing applied twice, only the
malformed messages dead-lettered, and the points ledgers equal a fresh replay."""
import pytest

from deploy.processes import SERVICE_CLASSES
from tests.faults import suite


@pytest.fixture
def own_servers():
    with suite.own_servers() as servers:
        yield servers


def test_under_load_crashes_and_cut_connections_lose_nothing_and_apply_nothing_twice(own_servers, tmp_path):
    broker_pid, postgres_pid = own_servers.broker.pid, own_servers.postgres.pid
    result = suite.run(own_servers, tmp_path, instances=1, rounds=1, pause=1.0, members=3, restarts=True,
                       out=lambda r: None)
    assert result["faults_injected"] == len(SERVICE_CLASSES) + 5   # a crash of each service, then 5 more
    assert {"rabbitmq_restarted", "postgres_restarted"} <= {f["fault"] for f in result["faults"]}
    # the restarts were real: both servers run as new processes
    assert own_servers.broker.pid not in (None, broker_pid)
    assert own_servers.postgres.pid not in (None, postgres_pid)
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
