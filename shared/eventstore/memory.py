"""The kernel in memory: a database, event recorder, inbox and command replies in plain Python,
for service-layer tests that run handlers in milliseconds (no read models: projections need SQL).

`MemoryDatabase.transaction()` has the same contract as `shared.db.Database`'s: one writer at
a time, everything written is undone if the block raises.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from shared.eventstore import PublishableEvent, Recorder, StoredEvent, StreamAppend, check_append, utcnow_iso
from shared.inbox import MISSING, ReplyRace


class MemoryTransaction:
    """The `conn` of a memory transaction: undoes its writes if it does not commit."""

    def __init__(self, database: "MemoryDatabase"):
        self.db = database
        self._undo: list[Callable[[], None]] = []

    def on_rollback(self, undo: Callable[[], None]) -> None:
        self._undo.append(undo)

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            undo()


class MemoryDatabase:
    """A service's database in memory: the kernel's state, no SQL."""

    is_memory, is_postgres, is_sqlite = True, False, False
    syncs = 0
    _engine = None

    @property
    def engine(self):
        """An empty SQLite database in memory, only so that a service's set-up that creates its
        own tables (`metadata.create_all(database.engine)`) runs; the kernel never uses it."""
        if self._engine is None:
            from sqlalchemy import create_engine

            self._engine = create_engine("sqlite://")
        return self._engine

    def __init__(self):
        self.events: list[StoredEvent] = []              # position n is events[n - 1]
        self.streams: dict[str, list[StoredEvent]] = {}
        self.ids: set[str] = set()
        self.inbox: set[tuple[str, str]] = set()
        self.replies: dict[str, object] = {}
        self.watermarks: dict[tuple[str, str], int] = {}
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[MemoryTransaction]:
        with self._lock:
            txn = MemoryTransaction(self)
            try:
                yield txn
            except BaseException:
                txn.rollback()
                raise

    def make_durable(self) -> None:
        pass

    def dispose(self) -> None:
        pass

    drop_schema = dispose


class MemoryRecorder(Recorder):
    def __init__(self, database: MemoryDatabase):
        self.db = database

    def append(self, conn: MemoryTransaction, appends: list[StreamAppend]) -> list[int]:
        db = self.db
        ids = [e.event_id for a in appends for e in a.events]
        heads = {a.stream_id: len(db.streams.get(a.stream_id, ())) for a in appends}
        if not check_append(appends, ids, {i for i in ids if i in db.ids}, heads):
            return []
        positions = []
        for a in appends:
            stream = db.streams.setdefault(a.stream_id, [])
            for e in a.events:
                stored = StoredEvent(e.event_id, e.event_type, e.schema_version, a.stream_id, len(stream) + 1,
                                     len(db.events) + 1, e.occurred_at, e.correlation_id, e.causation_id,
                                     e.actor, dict(e.data))
                stream.append(stored)
                db.events.append(stored)
                db.ids.add(e.event_id)
                positions.append(stored.global_position)
                conn.on_rollback(lambda s=stream, i=e.event_id: (s.pop(), db.events.pop(), db.ids.discard(i)))
        return positions

    def read_streams(self, conn, tails: dict[str, int]) -> dict[str, list[StoredEvent]]:
        return {s: list(self.db.streams.get(s, ())[after:]) for s, after in tails.items()}

    def read_all(self, conn, after_position: int, limit: int) -> list[StoredEvent]:
        return self.db.events[after_position:after_position + limit]

    def read_all_publishable(self, conn, after_position: int, limit: int) -> list[PublishableEvent]:
        return [PublishableEvent.of(e) for e in self.read_all(conn, after_position, limit)]

    def max_position(self, conn) -> int:
        return len(self.db.events)


class MemoryInbox:
    def __init__(self, database: MemoryDatabase):
        self.db = database

    def claim(self, conn: MemoryTransaction, event_id: str, handler: str) -> bool:
        return bool(self.claim_many(conn, [event_id], handler))

    def claim_many(self, conn: MemoryTransaction, event_ids: list[str], handler: str) -> set[str]:
        fresh = {e for e in event_ids if (e, handler) not in self.db.inbox}
        for e in fresh:
            self.db.inbox.add((e, handler))
            conn.on_rollback(lambda key=(e, handler): self.db.inbox.discard(key))
        return fresh


class MemoryCommandReplies:
    def __init__(self, database: MemoryDatabase):
        self.db = database

    def find(self, conn, request_key: str):
        return self.db.replies.get(request_key, MISSING)

    def find_many(self, conn, request_keys: list[str]) -> dict:
        return {k: self.db.replies[k] for k in request_keys if k in self.db.replies}

    def record_many(self, conn: MemoryTransaction, replies: list[tuple[str, object]]) -> bool:
        if any(key in self.db.replies for key, _ in replies):
            return False
        for key, reply in replies:
            self.db.replies[key] = json.loads(json.dumps(reply, ensure_ascii=False, default=str))   # as stored in SQL
            conn.on_rollback(lambda k=key: self.db.replies.pop(k, None))
        return True

    def record(self, conn: MemoryTransaction, request_key: str, reply) -> None:
        if not self.record_many(conn, [(request_key, reply)]):
            raise ReplyRace(request_key)


class MemoryWatermarks:
    def __init__(self, database: MemoryDatabase):
        self.db = database

    def advance(self, conn: MemoryTransaction, handler: str, stream_id: str, version: int) -> bool:
        key = (handler, stream_id)
        before = self.db.watermarks.get(key)
        if before is not None and before >= version:
            return False
        self.db.watermarks[key] = version
        conn.on_rollback(lambda: self.db.watermarks.pop(key) if before is None
                         else self.db.watermarks.__setitem__(key, before))
        return True


__all__ = ["MemoryDatabase", "MemoryRecorder", "MemoryInbox", "MemoryCommandReplies", "MemoryWatermarks",
           "utcnow_iso"]
