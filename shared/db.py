"""Database adapter: one SQLAlchemy engine per service, PostgreSQL or SQLite, same code.

- PostgreSQL (`postgresql://…` in `DATABASE_URL`): each service lives in its own schema,
  selected with `search_path`; the driver is psycopg2 made cooperative under eventlet by
  psycogreen, so a slow query yields the hub instead of blocking every greenthread.
- SQLite (the embedded default, a file under `var/`): one writer at a time. Every transaction
  starts with `BEGIN IMMEDIATE` and is serialised in-process by a lock that is green under
  eventlet, so a greenthread holding SQLite's write lock is never starved by one spinning in
  SQLite's busy handler. Commits are grouped (see `_GroupCommit`): a commit writes the log
  under the lock without waiting for the disk, and the committer then waits, outside the lock
  and in a native thread, for one sync of the log that covers every commit made before it.
  SQLite calls block the hub while they run (they work from the page cache); production uses
  PostgreSQL.
"""
from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import structlog
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy import exc as exc_mod
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
_sqlite_locks: dict[str, threading.RLock] = {}
_sqlite_locks_guard = threading.Lock()
_sqlite_groups: dict[str, "_GroupCommit"] = {}


def default_url(service: str) -> str:
    data_dir = Path(os.environ.get("BAODAO_DATA_DIR", PROJECT_ROOT / "var"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / (service + '.db')}"


def eventlet_patched() -> bool:
    try:
        from eventlet import patcher
    except ImportError:  # pragma: no cover
        return False
    return patcher.is_monkey_patched("socket")


def make_green_psycopg2() -> None:
    """Install psycogreen's wait callback, so psycopg2 yields to the eventlet hub."""
    from psycogreen.eventlet import patch_psycopg

    patch_psycopg()


@contextmanager
def dbapi_cursor(conn: Connection, statement: str) -> Iterator:
    """A cursor of the DBAPI connection inside `conn`'s transaction, for hot paths (no statement
    compilation or result wrapping). DBAPI errors come out as SQLAlchemy's, as they would from
    `conn.execute`, and a lost connection is invalidated."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as exc:
        disconnect = conn.dialect.is_disconnect(exc, conn.connection.driver_connection, cursor)
        if disconnect:
            conn.invalidate(exc)
        raise exc_mod.DBAPIError.instance(statement, None, exc, conn.dialect.loaded_dbapi.Error,
                                          connection_invalidated=disconnect,
                                          dialect=conn.dialect) from exc
    finally:
        try:
            cursor.close()
        except Exception:  # noqa: BLE001 - closing a cursor of a broken connection
            pass


class Database:
    """A service's database: an engine plus a `transaction()` that is safe on both back ends."""

    is_memory = False

    def __init__(self, url: str, schema: str | None = None, pool_size: int = 10):
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        self.schema = schema
        if self.is_postgres:
            if schema is None or not _SCHEMA_RE.match(schema):
                raise ValueError(f"a PostgreSQL service needs a plain schema name, got {schema!r}")
            if eventlet_patched():
                make_green_psycopg2()
            url_obj = self.url.set(drivername="postgresql+psycopg2")
            self.engine: Engine = create_engine(
                url_obj,
                pool_size=pool_size,
                max_overflow=pool_size,
                connect_args={"options": f"-c search_path={schema}"},
            )
            _ping_idle_connections(self.engine)
            with self.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            self._lock = None
        elif self.is_sqlite:
            in_memory = self.url.database in (None, "", ":memory:")
            kwargs = {"connect_args": {"check_same_thread": False}}
            if in_memory:
                kwargs["poolclass"] = StaticPool
            self.engine = create_engine(self.url, **kwargs)
            _configure_sqlite(self.engine, wal=not in_memory)
            key = str(self.url)
            with _sqlite_locks_guard:   # one lock and one group commit per file in a process
                self._lock = _sqlite_locks.setdefault(key, threading.Lock())
                self._group_commit = None if in_memory else _sqlite_groups.setdefault(
                    key, _GroupCommit(self.url.database, self._lock))
            self._owner = None
        else:
            raise ValueError(f"unsupported database {self.url.get_backend_name()!r}")

    @property
    def advisory_key(self) -> int:
        """A stable 32-bit key for this service's event-store append lock (PostgreSQL)."""
        return zlib.crc32(f"baodao.events.{self.schema}".encode())

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Connection]:
        """One atomic unit: commits on success, rolls back on any exception; when it returns,
        what it wrote, and what it could read, is on disk.

        `durable=False`: the commit does not wait for the disk (PostgreSQL: `synchronous_commit
        = off` for this transaction; SQLite: no sync of the log). Still atomic, and a crash of
        the service loses nothing; a crash of the machine or the database server may lose it,
        along with nothing committed durably (the log is written in order, so a durable commit
        also makes every commit before it durable). Only for what can be derived again from
        durable data: a relay checkpoint (the events are published again, consumers drop
        duplicates), a projection batch (applied again from its checkpoint)."""
        if self._lock is not None:
            me = threading.get_ident()  # the greenthread's id under eventlet
            if self._owner == me:
                raise RuntimeError(
                    "nested transaction on SQLite in the same thread: pass the open connection (conn=) "
                    "instead of opening a second transaction, which would wait on the first for ever")
            commit = None
            with self._lock:
                self._owner = me
                try:
                    with self.engine.connect() as conn:
                        raw = conn.connection.dbapi_connection
                        changes = raw.total_changes
                        with conn.begin():
                            yield conn
                        if self._group_commit is not None and raw.total_changes != changes:
                            commit = self._group_commit.committed()
                finally:
                    self._owner = None
            if durable and self._group_commit is not None:
                # outside the lock: others commit meanwhile. A transaction that only read waits
                # too, for what it may have read: nothing leaves the service before it is on disk
                # (a stored reply, an inbox duplicate acked, a query's answer).
                group = self._group_commit
                upto = commit if commit is not None else group.commits
                if upto > group.synced:
                    group.wait_on_disk(upto)
        else:
            with self.engine.begin() as conn:
                if not durable:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield conn

    def make_durable(self) -> None:
        """Wait until everything committed so far in this process is on disk: before telling
        the world about something read from the database (the relay publishing events). On
        PostgreSQL, and for SQLite in memory, commits are on disk (or never) when they return."""
        if self._lock is not None and self._group_commit is not None:
            if self._owner == threading.get_ident():
                raise RuntimeError("make_durable inside a transaction: call it after the transaction")
            self._group_commit.wait_on_disk(self._group_commit.commits)

    @property
    def syncs(self) -> int:
        """How many times SQLite's log was synced (0 on PostgreSQL): for tests and metrics."""
        return self._group_commit.syncs if self._lock is not None and self._group_commit is not None else 0

    def dispose(self) -> None:
        self.engine.dispose()
        if self.is_sqlite and self._group_commit is not None:
            self._group_commit.close()

    def drop_schema(self) -> None:
        """Tests and the demo only: remove this service's PostgreSQL schema."""
        if self.is_postgres:
            with self.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.dispose()


IDLE_PING_SECONDS = 5.0


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling, for idle connections only.

    `pool_pre_ping` costs a round trip on every checkout, a large part of an append. A
    connection checked in less than IDLE_PING_SECONDS ago was just working; one idle longer (for
    instance across a PostgreSQL restart) is pinged, and a dead one is replaced by the pool
    (raising DisconnectionError from "checkout" makes it reconnect, SQLAlchemy's recipe).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, proxy):
        last = record.info.get("checked_in_at")
        if last is not None and time.monotonic() - last < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
            raise DisconnectionError(f"stale connection: {exc}") from exc


class _GroupCommit:
    """Group commit for a SQLite database in WAL mode.

    Connections commit with `synchronous=NORMAL`: the commit appends to the log (the `-wal`
    file) without syncing it, under the transaction lock, so the lock is held only for the
    work itself. A committer that needs durability then waits outside the lock for a sync of
    the log (`fdatasync`) that began after its commit: the log is appended in order, so that
    one sync covers its commit and every commit before it, and one sync serves everyone who
    waits for it. Under eventlet the sync runs in a native thread (eventlet's tpool): the hub
    runs other greenthreads, including the next transactions, while the disk works.

    SQLite in WAL mode with `synchronous=NORMAL` never corrupts the database on a crash; it
    may lose the commits after the last sync, and `wait_on_disk` is what closes that gap.

    Checkpoints (copying the log into the database file) also wait for the disk. SQLite runs
    them inside a commit once the log holds 1,000 pages, which would stop the hub; here the
    committer that finds one due (once a second) runs it in a native thread, holding the
    transaction lock (so no commit lands meanwhile, the checkpoint completes and the log starts
    over). SQLite's own stays as a backstop, at a larger log (`AUTOCHECKPOINT_PAGES`).
    """

    checkpoint_every_s = 1.0

    def __init__(self, database_path: str, lock):
        self.path = database_path
        self.lock = lock   # the database's transaction lock
        self.commits = 0   # commits written to the log, in order
        self.synced = 0    # commits covered by a finished sync
        self.syncs = 0
        self.checkpoints = 0
        self.checkpoint_errors = 0
        self._syncing = False
        self._cond = threading.Condition()
        self._last_checkpoint = time.monotonic()
        self._checkpointer = None

    def committed(self) -> int:
        """Count a commit just written (called under the transaction lock); its number."""
        self.commits += 1
        return self.commits

    def wait_on_disk(self, commit: int) -> None:
        with self._cond:
            while self.synced < commit:
                if self._syncing:   # a sync is under way: the next one (or this) covers us
                    self._cond.wait()
                    continue
                self._syncing, target, done = True, self.commits, False
                self._cond.release()
                try:
                    self._sync()
                    done = True
                finally:
                    self._cond.acquire()
                    self._syncing = False
                    if done:
                        self.synced, self.syncs = max(self.synced, target), self.syncs + 1
                    self._cond.notify_all()
        if time.monotonic() - self._last_checkpoint >= self.checkpoint_every_s:
            self._checkpoint()

    def _checkpoint(self) -> None:
        with self.lock:
            if time.monotonic() - self._last_checkpoint < self.checkpoint_every_s:
                return   # another committer ran it while this one waited for the lock
            try:
                _in_native_thread(self._checkpoint_log)
                self.checkpoints += 1
            except Exception as exc:  # noqa: BLE001 - the caller's commit is on disk: never fail it
                self.checkpoint_errors += 1
                structlog.get_logger("baodao.db").warning("sqlite_checkpoint_failed", path=self.path,
                                                          error=repr(exc))
                self.close()   # a fresh checkpoint connection next time
            finally:
                self._last_checkpoint = time.monotonic()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None

    def _checkpoint_log(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _sync(self) -> None:
        _in_native_thread(self._sync_files)

    def _sync_files(self) -> None:
        # fdatasync flushes the file, whichever descriptor wrote it. No log file: SQLite moved
        # everything into the database file (the last connection closed), which it then syncs
        # itself at NORMAL; syncing the database file as well costs nothing when it is clean.
        for path in (self.path + "-wal", self.path):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
            return


def _in_native_thread(fn) -> None:
    """Run `fn` in eventlet's native thread pool when eventlet runs (the calling greenthread
    waits, the hub goes on), else right here."""
    if eventlet_patched():
        from eventlet import tpool

        tpool.execute(fn)
    else:
        fn()


# SQLite's own checkpoint, inside a commit (the hub stops), only if _GroupCommit's is late.
AUTOCHECKPOINT_PAGES = 20_000


def _configure_sqlite(engine: Engine, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            # commits do not sync the log; Database.transaction does, grouped (_GroupCommit)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def database_for(service: str, url: str | None = None, schema: str | None = None,
                 pool_size: int | None = None) -> Database:
    """The database of `service`: `url` or `DATABASE_URL`, else the embedded SQLite file.
    PostgreSQL connections: `pool_size` (or `DB_POOL_SIZE`, default 10) plus as many again in
    overflow, per process — size it so that every process of every service together stays
    under the server's `max_connections` (deploy.processes does)."""
    url = url or os.environ.get("DATABASE_URL") or default_url(service)
    size = int(pool_size or os.environ.get("DB_POOL_SIZE") or 10)
    database = Database(url, schema=schema or service, pool_size=size)
    return database
