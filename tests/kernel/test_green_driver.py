"""psycopg2 is green under eventlet (psycogreen): a slow query yields the hub.

The one timing assertion in the kernel tests: two 0.5 s queries in two greenthreads overlap,
and a third greenthread keeps running meanwhile. Were the driver blocking, the queries would
take ~1.0 s back to back and the ticker would stall while each ran.
"""
from __future__ import annotations

import time

import eventlet
import pytest
from sqlalchemy import text

pytestmark = pytest.mark.postgres


def test_slow_queries_overlap_and_the_hub_keeps_running(pg_database):
    db = pg_database

    def hold(seconds):
        with db.transaction() as conn:
            return conn.execute(text("SELECT pg_sleep(:s), 1"), {"s": seconds}).one()[1]

    # Warm the pool: two connections open at once, so connecting is not part of the timing.
    warm = [eventlet.spawn(hold, 0.05) for _ in range(2)]
    assert [g.wait() for g in warm] == [1, 1]

    ticks = 0
    stop = eventlet.event.Event()

    def ticker():
        nonlocal ticks
        while not stop.ready():
            ticks += 1
            eventlet.sleep(0.01)

    ticker_gt = eventlet.spawn(ticker)
    eventlet.sleep(0)
    ticks_before = ticks
    t0 = time.monotonic()
    queries = [eventlet.spawn(hold, 0.5) for _ in range(2)]
    results = [g.wait() for g in queries]
    elapsed = time.monotonic() - t0
    ticks_during = ticks - ticks_before
    stop.send()
    ticker_gt.wait()

    assert results == [1, 1]
    assert elapsed >= 0.5  # the queries really did sleep
    assert elapsed < 0.85, f"two 0.5 s queries took {elapsed:.2f} s: the driver blocks the hub"
    assert ticks_during > 20, f"the ticker ran only {ticks_during} times during the queries"
