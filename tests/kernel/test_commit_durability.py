"""How a commit waits for the disk, on both back ends.

- SQLite groups commits: a transaction writes the log under the lock without syncing it, and
  then waits, outside the lock, for one sync of the log that covers its commit; concurrent
  committers share syncs, and the sync runs in a native thread while the hub keeps running.
- `transaction(durable=False)` commits without waiting for the disk (PostgreSQL's
  `synchronous_commit`; SQLite: no sync), that transaction only.
"""
from __future__ import annotations

import time

import eventlet
import pytest
from sqlalchemy import text


@pytest.fixture
def sqlite_db(tmp_path):
    from shared.db import Database

    db = Database(f"sqlite:///{tmp_path / 'service.db'}")
    with db.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE marks (n INTEGER)")
        conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)")
    yield db
    db.dispose()


def test_waiting_for_the_disk_leaves_the_hub_running(sqlite_db):
    ticks: list[float] = []
    stop = eventlet.event.Event()

    def ticker():
        while not stop.ready():
            ticks.append(time.monotonic())
            eventlet.sleep(0.002)

    ticker_gt = eventlet.spawn(ticker)
    eventlet.sleep(0.01)
    syncs = sqlite_db.syncs
    try:
        with sqlite_db.transaction() as conn:
            # 32 MB for the log: syncing it takes many milliseconds, on any disk
            for _ in range(32):
                conn.exec_driver_sql("INSERT INTO blobs (b) VALUES (randomblob(1048576))")
            committing = time.monotonic()
        committed = time.monotonic()
    finally:
        stop.send()
        ticker_gt.wait()

    assert sqlite_db.syncs == syncs + 1
    during = [t for t in ticks if committing < t < committed]
    assert committed - committing > 0.01, "the commit was too quick to tell anything"
    assert len(during) >= 3, (f"the ticker ran {len(during)} times during a commit of "
                              f"{1000 * (committed - committing):.0f} ms: waiting for the disk blocks the hub")


def test_concurrent_commits_share_syncs_and_all_wait_for_one(sqlite_db):
    syncs = sqlite_db.syncs
    done = []

    def write(n):
        with sqlite_db.transaction() as conn:
            conn.exec_driver_sql(f"INSERT INTO marks (n) VALUES ({n})")
        # back from the transaction: a sync that began after this commit has finished
        done.append((n, sqlite_db._group_commit.synced >= n_commit[n]))

    n_commit = {}
    original = sqlite_db._group_commit.committed

    def counted():
        number = original()
        n_commit[len(n_commit)] = number
        return number

    sqlite_db._group_commit.committed = counted
    threads = [eventlet.spawn(write, n) for n in range(20)]
    for t in threads:
        t.wait()

    assert sorted(n for n, _ in done) == list(range(20))
    assert all(on_disk for _, on_disk in done)
    assert 1 <= sqlite_db.syncs - syncs < 20, "every commit synced on its own: no grouping"
    with sqlite_db.transaction() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM marks").scalar_one() == 20


def test_not_durable_writes_do_not_sync_and_a_reader_waits_for_what_it_could_read(sqlite_db):
    syncs = sqlite_db.syncs
    with sqlite_db.transaction() as conn:   # read only, everything on disk: no sync
        conn.exec_driver_sql("SELECT count(*) FROM marks").scalar_one()
    with sqlite_db.transaction(durable=False) as conn:
        conn.exec_driver_sql("INSERT INTO marks (n) VALUES (1)")
    assert sqlite_db.syncs == syncs
    with sqlite_db.transaction(durable=False) as conn:   # a reader that keeps what it reads
        assert conn.exec_driver_sql("SELECT count(*) FROM marks").scalar_one() == 1
    assert sqlite_db.syncs == syncs
    with sqlite_db.transaction() as conn:   # a reader that may tell someone: waits for the disk
        assert conn.exec_driver_sql("SELECT count(*) FROM marks").scalar_one() == 1
    assert sqlite_db.syncs == syncs + 1
    with sqlite_db.transaction(durable=False) as conn:
        conn.exec_driver_sql("INSERT INTO marks (n) VALUES (2)")
    sqlite_db.make_durable()   # what the relay does before publishing
    assert sqlite_db.syncs == syncs + 2
    sqlite_db.make_durable()   # nothing new since
    assert sqlite_db.syncs == syncs + 2


def test_postgres_skips_the_wait_for_that_transaction_only(pg_database):
    waits = []
    for durable in (True, False, False, True, False):
        with pg_database.transaction(durable=durable) as conn:
            waits.append(conn.execute(text("SHOW synchronous_commit")).scalar_one())
    assert waits == ["on", "off", "off", "on", "off"]


def test_a_transaction_that_does_not_wait_is_still_atomic(database):
    with database.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE marks (n INTEGER)")
    with pytest.raises(RuntimeError):
        with database.transaction(durable=False) as conn:
            conn.exec_driver_sql("INSERT INTO marks (n) VALUES (1)")
            raise RuntimeError("give up")
    with database.transaction(durable=False) as conn:
        conn.exec_driver_sql("INSERT INTO marks (n) VALUES (2)")
    with database.transaction() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT n FROM marks")] == [2]


def test_the_log_is_checkpointed_off_the_commit_and_starts_over(sqlite_db, tmp_path):
    group = sqlite_db._group_commit
    group.checkpoint_every_s = 0.0   # due after every commit
    for _ in range(40):
        with sqlite_db.transaction() as conn:
            conn.exec_driver_sql("INSERT INTO blobs (b) VALUES (randomblob(1048576))")
    wal = tmp_path / "service.db-wal"
    assert group.checkpoints >= 40
    # 40 MB went through the log, under SQLite's own checkpoint threshold (80 MB): only these
    # checkpoints kept the log at about one transaction's size
    assert wal.stat().st_size < 8 * 1048576, f"the log grew to {wal.stat().st_size} bytes"
    with sqlite_db.transaction() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 40


def test_a_failed_checkpoint_does_not_fail_the_commit_before_it(sqlite_db):
    group = sqlite_db._group_commit
    group.checkpoint_every_s = 0.0

    def broken():
        raise OSError("disk trouble")

    group._checkpoint_log = broken
    with sqlite_db.transaction() as conn:   # committed and on disk: returns normally
        conn.exec_driver_sql("INSERT INTO marks (n) VALUES (7)")
    assert group.checkpoint_errors == 1 and group.synced == group.commits
    del group._checkpoint_log
    with sqlite_db.transaction() as conn:   # the next commit checkpoints again
        conn.exec_driver_sql("INSERT INTO marks (n) VALUES (8)")
    assert group.checkpoints >= 1
    with sqlite_db.transaction() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT n FROM marks ORDER BY n")] == [7, 8]
