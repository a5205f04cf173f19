"""Service processes together stay under PostgreSQL's max_connections (the fault suite's long
form once failed with 'too many clients': 12 processes at 20 connections each)."""
import pytest

from deploy.processes import pool_size_for
from shared.db import database_for


@pytest.mark.parametrize("processes", [1, 2, 6, 12, 18, 30])
def test_every_process_at_full_pool_and_overflow_fits_under_max_connections(processes):
    size = pool_size_for(processes)
    assert 2 <= size <= 10
    if processes <= 40:   # below that, the reserve of 20 stays free
        assert processes * 2 * size <= 80 or size == 2


def test_the_pool_size_reaches_the_engine(monkeypatch):
    from tests.conftest import PG_URL

    monkeypatch.setenv("DB_POOL_SIZE", "3")
    db = database_for("registration", PG_URL, "public")
    try:
        assert db.engine.pool.size() == 3 and db.engine.pool._max_overflow == 3
    finally:
        db.dispose()
