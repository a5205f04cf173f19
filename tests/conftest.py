"""Test fixtures on the real broker and databases.

eventlet is monkey-patched first thing: nameko's pytest plugin no longer does it, and the
services under test run on eventlet.
"""
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.broker import rabbitmqctl  # noqa: E402
from deploy.local_nodes import listener  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.logging import configure_logging  # noqa: E402

PG_URL = os.environ.get("BAODAO_TEST_PG_URL", "postgresql://postgres@localhost:5432/test")
AMQP_BASE = os.environ.get("BAODAO_TEST_AMQP_BASE", "amqp://guest:guest@localhost:5672")

configure_logging("tests", level=os.environ.get("BAODAO_LOG_LEVEL", "WARNING"))

# Queues are classic in the test suite unless a test asks for quorum (tests/deploy do, each in a
# vhost of its own): hundreds of short-lived quorum queues, one Raft group each, per test
# session weigh on the shared broker of a 2-core machine. Deployments default to quorum.
os.environ.setdefault("QUEUE_TYPE", "classic")
# Small connection pools for the services the tests start (in-process and as processes): two test
# sessions run side by side (tests/run.py) on one PostgreSQL with the default max_connections.
os.environ.setdefault("DB_POOL_SIZE", "4")


# -- the layers ------------------------------------------------------------------------------
# Each test gets the marker of its layer from where it lives, and `postgres` / `rabbit` from the
# fixtures it uses, so any layer runs alone: `pytest -m service_layer`, `-m "not rabbit"`, ...
LAYERS = {"unit": "the pure domain and helpers, no I/O",
          "service_layer": "handlers on the in-memory store (tests/<service>/test_handlers.py)",
          "integration": "the kernel and the services on the real PostgreSQL / SQLite and RabbitMQ",
          "e2e": "services as separate processes, the demos, two instances of everything"}


def layer_of(path: Path) -> str:
    parts = path.relative_to(ROOT / "tests").parts
    if parts[0] == "unit":
        return "unit"
    if path.name == "test_handlers.py":
        return "service_layer"
    if parts[0] in ("e2e", "scale", "faults"):
        return "e2e"
    return "integration"


def pytest_configure(config):
    for name, meaning in LAYERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(layer_of(Path(str(item.path))))
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database", callspec.params.get("kernel_database")) if callspec else None
        if "pg_database" in fixtures or backend == "postgres" or (
                "database" in fixtures and Path(str(item.path)).parent.name == "messaging"):
            item.add_marker("postgres")
        if "amqp_uri" in fixtures:
            item.add_marker("rabbit")


def machine_servers() -> dict:
    """What listens on the machine's RabbitMQ and PostgreSQL ports the tests use (when they are
    on this machine): {name: (pid, socket inodes)}."""
    from urllib.parse import urlsplit

    found = {}
    for name, url, default in (("RabbitMQ", AMQP_BASE, 5672), ("PostgreSQL", PG_URL, 5432)):
        parts = urlsplit(url)
        if parts.hostname in ("localhost", "127.0.0.1", "::1"):
            found[name] = listener(parts.port or default)
    return found


def servers_changed(before: dict, after: dict) -> dict:
    """The servers whose process or listening socket is not the one seen before."""
    return {name: {"before": seen, "after": after.get(name)} for name, seen in before.items()
            if seen is not None and after.get(name) != seen}


@pytest.fixture(scope="session", autouse=True)
def machine_servers_untouched():
    """The test session neither stops, restarts nor replaces the machine's own RabbitMQ and
    PostgreSQL, which other programs use (the fault suite crashes servers of its own, see
    tests/faults): the process listening on each port, and its listening socket, are the same
    at the end as at the start; otherwise the session ends in an error naming the server."""
    before = machine_servers()
    yield before
    changed = servers_changed(before, machine_servers())
    if changed:
        pytest.fail(f"the machine's own servers were restarted or replaced during the tests: {changed}",
                    pytrace=False)


def fresh_schema() -> str:
    return "t_" + uuid.uuid4().hex[:12]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    """A fresh, empty service database on each back end."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'service.db'}")
    else:
        db = Database(PG_URL, schema=fresh_schema())
    yield db
    db.drop_schema()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def kernel_database(request, tmp_path):
    """A fresh, empty database of each kind the kernel runs on (memory: no read models)."""
    if request.param == "memory":
        from shared.eventstore.memory import MemoryDatabase

        db = MemoryDatabase()
    elif request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'service.db'}")
    else:
        db = Database(PG_URL, schema=fresh_schema())
    yield db
    db.drop_schema()


@pytest.fixture
def pg_database():
    db = Database(PG_URL, schema=fresh_schema())
    yield db
    db.drop_schema()


@pytest.fixture(scope="session")
def amqp_uri():
    """A fresh RabbitMQ vhost for the test session, deleted afterwards."""
    vhost = "baodao-test-" + uuid.uuid4().hex[:8]
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"{AMQP_BASE}/{vhost}"
    rabbitmqctl("delete_vhost", vhost)
