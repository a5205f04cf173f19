"""Database adapter: one SQLAlchemy engine per service, PostgreSQL or SQLite, same code.

- PostgreSQL (`postgresql://…` in `DATABASE_URL`): each service lives in its own schema,
  selected with `search_path`; the driver is psycopg2 made cooperative under eventlet by
  psycogreen, so a slow query yields the hub instead of blocking every greenthread.
- SQLite (the embedded default, a file under `var/`): one writer at a time. Every transaction
  starts with `BEGIN IMMEDIATE` and is serialised in-process by a lock that is green under
  eventlet, so a greenthread holding SQLite's write lock is never starved by one spinning in
  SQLite's busy handler. Under eventlet a commit runs in a native thread (eventlet's tpool):
  it waits for the disk (a WAL fsync), and the hub keeps running other greenthreads meanwhile.
  Other SQLite calls block the hub while they run (they work in memory, from the page cache);
  production uses PostgreSQL.
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

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
_sqlite_locks: dict[str, threading.RLock] = {}
_sqlite_locks_guard = threading.Lock()


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


class Database:
    """A service's database: an engine plus a `transaction()` that is safe on both back ends."""

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
            elif eventlet_patched():
                kwargs["connect_args"]["factory"] = _CommitOffTheHub
            self.engine = create_engine(self.url, **kwargs)
            _configure_sqlite(self.engine, wal=not in_memory)
            key = str(self.url)
            with _sqlite_locks_guard:
                self._lock = _sqlite_locks.setdefault(key, threading.Lock())
            self._owner = None
        else:
            raise ValueError(f"unsupported database {self.url.get_backend_name()!r}")

    @property
    def advisory_key(self) -> int:
        """A stable 32-bit key for this service's event-store append lock (PostgreSQL)."""
        return zlib.crc32(f"baodao.events.{self.schema}".encode())

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Connection]:
        """One atomic unit: commits on success, rolls back on any exception.

        `durable=False`: the commit does not wait for the disk (PostgreSQL: `synchronous_commit
        = off` for this transaction; SQLite: no WAL sync for this commit). Still atomic, and
        a crash of the service loses nothing; a crash of the machine or the database server
        may lose it, along with nothing committed durably (the log is written in order, so a
        durable commit also makes every commit before it durable). Only for what can be
        derived again from durable data: a relay checkpoint (the events are published again,
        consumers drop duplicates), a projection batch (applied again from its checkpoint)."""
        if self._lock is not None:
            me = threading.get_ident()  # the greenthread's id under eventlet
            if self._owner == me:
                raise RuntimeError(
                    "nested transaction on SQLite in the same thread: pass the open connection (conn=) "
                    "instead of opening a second transaction, which would wait on the first for ever")
            with self._lock:
                self._owner = me
                try:
                    with self.engine.connect() as conn:
                        if not durable:
                            conn = conn.execution_options(baodao_durable=False)
                        with conn.begin():
                            yield conn
                finally:
                    self._owner = None
        else:
            with self.engine.begin() as conn:
                if not durable:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    def drop_schema(self) -> None:
        """Tests and the demo only: remove this service's PostgreSQL schema."""
        if self.is_postgres:
            with self.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.dispose()


IDLE_PING_SECONDS = 5.0


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling, for idle connections only.

    `pool_pre_ping` costs a round trip on every checkout (measured: 12% of an append). A
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


class _CommitOffTheHub(sqlite3.Connection):
    """A SQLite connection whose commit runs in eventlet's native thread pool.

    A commit is where SQLite waits for the disk (the WAL fsync): measured at 0.6 ms per check-in
    in the registration benchmark, all of it with the hub stopped. In a native thread the
    greenthread waits and the others run (the GIL is released while SQLite syncs). The
    transaction lock of `Database` is still held, so no other transaction interleaves."""

    def commit(self) -> None:
        from eventlet import tpool

        tpool.execute(super().commit)


def _configure_sqlite(engine: Engine, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # WAL mode: FULL syncs the log at every commit, NORMAL leaves it to the next sync. The
        # level can only change outside a transaction, so it is set here, and only when the
        # transaction wants another level than the connection's last one.
        level = "FULL" if conn.get_execution_options().get("baodao_durable", True) else "NORMAL"
        info = conn.connection.info
        if info.get("synchronous") != level:
            conn.exec_driver_sql(f"PRAGMA synchronous={level}")
            info["synchronous"] = level
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
