"""The broker tests run once, on PostgreSQL (the production database): what differs between
the databases is the event store's and the inbox's business, tested on every back end in
tests/kernel."""
import pytest

from shared.db import Database
from tests.conftest import PG_URL, fresh_schema


@pytest.fixture
def database():
    db = Database(PG_URL, schema=fresh_schema())
    yield db
    db.drop_schema()
