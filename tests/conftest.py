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
from shared.db import Database  # noqa: E402
from shared.logging import configure_logging  # noqa: E402

PG_URL = os.environ.get("BAODAO_TEST_PG_URL", "postgresql://postgres@localhost:5432/test")
AMQP_BASE = os.environ.get("BAODAO_TEST_AMQP_BASE", "amqp://guest:guest@localhost:5672")

configure_logging("tests", level=os.environ.get("BAODAO_LOG_LEVEL", "WARNING"))

# Queues are classic in the test suite unless a test asks for quorum (tests/deploy do, each in a
# vhost of its own): hundreds of short-lived quorum queues, one Raft group each, per test
# session weigh on the shared broker of a 2-core machine. Deployments default to quorum.
os.environ.setdefault("QUEUE_TYPE", "classic")


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
