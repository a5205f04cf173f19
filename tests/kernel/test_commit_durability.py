"""How a commit waits for the disk, on both back ends.

- A SQLite commit runs in eventlet's native thread pool: while it writes and syncs the log, the
  hub keeps running other greenthreads (were it blocking, a ticker greenthread would not tick
  once during the commit).
- `transaction(durable=False)` commits without waiting for the disk (PostgreSQL's
  `synchronous_commit`, SQLite's `synchronous`), that transaction only: the next durable
  transaction on the same connection waits again.
"""
from __future__ import annotations

import time

import eventlet
from sqlalchemy import text


def test_a_sqlite_commit_leaves_the_hub_running(tmp_path):
    from shared.db import Database

    db = Database(f"sqlite:///{tmp_path / 'service.db'}")
    with db.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)")
    ticks: list[float] = []
    stop = eventlet.event.Event()

    def ticker():
        while not stop.ready():
            ticks.append(time.monotonic())
            eventlet.sleep(0.002)

    ticker_gt = eventlet.spawn(ticker)
    eventlet.sleep(0.01)
    try:
        with db.transaction() as conn:
            # 64 MB to write to the log at commit: a commit of many milliseconds, on any disk
            for _ in range(64):
                conn.exec_driver_sql("INSERT INTO blobs (b) VALUES (randomblob(1048576))")
            committing = time.monotonic()
        committed = time.monotonic()
    finally:
        stop.send()
        ticker_gt.wait()
        db.dispose()

    during = [t for t in ticks if committing < t < committed]
    assert committed - committing > 0.01, "the commit was too quick to tell anything"
    assert len(during) >= 3, (f"the ticker ran {len(during)} times during a commit of "
                              f"{1000 * (committed - committing):.0f} ms: the commit blocks the hub")


def _commit_wait(database, conn) -> str:
    if database.is_postgres:
        return conn.execute(text("SHOW synchronous_commit")).scalar_one()
    return {0: "off", 1: "normal", 2: "full", 3: "extra"}[conn.exec_driver_sql("PRAGMA synchronous").scalar_one()]


def test_only_a_transaction_that_says_so_skips_waiting_for_the_disk(database):
    waits = []
    for durable in (True, False, False, True, False):
        with database.transaction(durable=durable) as conn:
            waits.append(_commit_wait(database, conn))
    wait, no_wait = ("on", "off") if database.is_postgres else ("full", "normal")
    assert waits == [wait, no_wait, no_wait, wait, no_wait]


def test_a_transaction_that_does_not_wait_is_still_atomic(database):
    with database.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE marks (n INTEGER)")
    try:
        with database.transaction(durable=False) as conn:
            conn.exec_driver_sql("INSERT INTO marks (n) VALUES (1)")
            raise RuntimeError("give up")
    except RuntimeError:
        pass
    with database.transaction(durable=False) as conn:
        conn.exec_driver_sql("INSERT INTO marks (n) VALUES (2)")
    with database.transaction() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT n FROM marks")] == [2]
