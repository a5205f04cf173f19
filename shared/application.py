"""The service layer's kernel: a unit of work over the event store, and the two ways work
enters a service — a command, and an event from another service (through the inbox).

Handlers are plain functions `handler(uow, ...)`: they load aggregates from the unit of work
and call their methods; the unit of work appends every pending event atomically, stamped with
the correlation id, causation id and actor of what caused it. A concurrency conflict re-runs
the handler on fresh state (`Application.retry_on_conflict`, the one retry loop).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, TypeVar

import structlog
from sqlalchemy import Connection

from shared.codec import EventCodec
from shared.contracts import ReceivedEvent
from shared.db import Database
from shared.domain import Aggregate, DomainEvent
from shared.eventstore import ConcurrencyConflict, EventStore, NewEvent, StreamAppend
from shared.inbox import MISSING, CommandReplies, Inbox, ReplyRace, StreamWatermarks

log = structlog.get_logger("baodao.application")
A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


@dataclass(frozen=True)
class Context:
    """Who and what caused the work: stamped on every event it appends."""

    correlation_id: str | None = None
    causation_id: str | None = None
    actor: dict | None = None

    @classmethod
    def of_event(cls, event: ReceivedEvent) -> "Context":
        return cls(correlation_id=event.correlation_id, causation_id=event.event_id, actor=event.actor)


@dataclass
class BatchOutcome:
    """What `Application.handle_batch` did: events applied, duplicates skipped, and the events
    that failed (event id -> reason), which the caller retries or dead-letters one by one."""

    applied: int = 0
    duplicates: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def rerun_on_redelivery(handler: Callable) -> Callable:
    """Mark a command handler that is never answered from a stored reply: it works through
    batches it chooses from fresh state (the letters not yet issued, the members of a district),
    so a redelivered request must choose again — the first delivery may have committed some
    batches before it died, and the n-th stored reply would answer for a batch never decided.
    Such a handler must be safe to run again: it picks only what is still to do."""
    handler.rerun_on_redelivery = True
    return handler


class UnitOfWork:
    """One transaction's aggregates: each loaded once (`load`, or several with one read,
    `load_many`), their pending events appended together by `flush`.

    `cache` (optional, see `shared.throughput.StreamCache`): decoded events of streams read
    before; only the events after them are read from the store. `fresh` keeps what this unit
    of work read, for the application to cache once the transaction committed."""

    def __init__(self, store: EventStore, codec: EventCodec, conn: Connection, context: Context, cache=None):
        self.store, self.codec, self.conn, self.context, self.cache = store, codec, conn, context, cache
        self._aggregates: dict[str, Aggregate] = {}
        self._contexts: dict[str, Context] = {}
        self._sealed: dict[str, list[NewEvent]] = {}
        self.fresh: dict[str, tuple[DomainEvent, ...]] = {}
        self.appended_positions: list[int] = []

    def load(self, cls: type[A], aggregate_id: str, context: Context | None = None) -> A:
        """The aggregate, rebuilt from its stream (version 0 if the stream is empty).

        `context`: what caused the work on this aggregate, when it is not the unit of work's
        own (a batch handler working for many events at once stamps each aggregate's events
        with the event that caused them)."""
        stream_id = cls.stream_id_for(aggregate_id)
        if context is not None:
            self._contexts[stream_id] = context
        if stream_id not in self._aggregates:
            self._read({stream_id: (cls, aggregate_id)})
        return self._aggregates[stream_id]  # type: ignore[return-value]

    def load_many(self, *wanted: tuple[type[Aggregate], str]) -> list[Aggregate]:
        """`load` for several aggregates (`(cls, aggregate_id)` pairs) with one read of the
        store; returns them in the order asked."""
        todo = {}
        for cls, aggregate_id in wanted:
            stream_id = cls.stream_id_for(aggregate_id)
            if stream_id not in self._aggregates:
                todo[stream_id] = (cls, aggregate_id)
        if todo:
            self._read(todo)
        return [self._aggregates[cls.stream_id_for(aggregate_id)] for cls, aggregate_id in wanted]

    def _read(self, todo: dict[str, tuple[type[Aggregate], str]]) -> None:
        known = {s: (self.cache.get(s) if self.cache is not None else ()) for s in todo}
        stored = self.store.read_streams({s: len(events) for s, events in known.items()}, conn=self.conn)
        for stream_id, (cls, aggregate_id) in todo.items():
            events = known[stream_id]
            if stored[stream_id]:
                events = events + tuple(self.codec.decode(e) for e in stored[stream_id])
                self.fresh[stream_id] = events   # committed events only: read before this uow wrote
            self._aggregates[stream_id] = cls.replay(aggregate_id, events)

    def append_decided(self, decided: Iterable[tuple[type[Aggregate], str, int, list[DomainEvent]]]) -> list[int]:
        """Append events decided without loading their aggregates — on a read model that folded
        each stream up to a known version — as `(aggregate class, id, that version, events)`,
        all in one statement, stamped as `flush` stamps. Every stream must still be at its
        version, else ConcurrencyConflict is raised and none of them is written (the unit of
        work stays usable: the caller may decide again on the replayed aggregates)."""
        meta = self._meta(self.context)
        appends = []
        for cls, aggregate_id, version, events in decided:
            stream_id = cls.stream_id_for(aggregate_id)
            if stream_id in self._aggregates:
                raise ValueError(f"{stream_id} is loaded in this unit of work: append through the aggregate")
            appends.append(StreamAppend(stream_id, [self.codec.encode(e, **meta) for e in events], version))
        positions = self.store.append_many(appends, conn=self.conn)
        self.appended_positions.extend(positions)
        return positions

    @staticmethod
    def _meta(context: Context) -> dict:
        return dict(correlation_id=context.correlation_id, causation_id=context.causation_id, actor=context.actor)

    def has_pending(self) -> bool:
        """Whether a loaded aggregate has events not yet sealed or flushed."""
        return any(aggregate.pending for aggregate in self._aggregates.values())

    def seal(self, context: Context) -> int:
        """Encode the events now pending on the loaded aggregates, stamped with `context`, to be
        appended by `flush`: several commands sharing this unit of work (group commit) each
        stamp their own events. Returns how many were sealed."""
        meta, sealed = self._meta(context), 0
        for stream_id, aggregate in self._aggregates.items():
            pending = aggregate.collect_pending()
            if pending:
                self._sealed.setdefault(stream_id, []).extend(self.codec.encode(e, **meta) for e in pending)
                sealed += len(pending)
        return sealed

    def flush(self) -> list[int]:
        """Append every pending event, each stream at the version it was loaded at."""
        appends, flushed = [], []
        for stream_id, aggregate in self._aggregates.items():
            pending = aggregate.collect_pending()
            sealed = self._sealed.pop(stream_id, [])
            if pending or sealed:
                meta = self._meta(self._contexts.get(stream_id, self.context))
                events = sealed + [self.codec.encode(e, **meta) for e in pending]
                appends.append(StreamAppend(stream_id, events, aggregate.loaded_version))
                flushed.append(aggregate)
        positions = self.store.append_many(appends, conn=self.conn)
        for aggregate in flushed:  # the store now holds them: a later flush appends after them
            aggregate.loaded_version = aggregate.version
        self.appended_positions.extend(positions)
        return positions


def back_off(attempt: int) -> None:
    """A short random pause before re-running on fresh state, growing with each attempt, so
    writers contending for one stream spread out instead of colliding again at once."""
    time.sleep(random.uniform(0, min(0.25, 0.004 * 2 ** attempt)))


class Application:
    """A service's event-sourced application: its event store, codec, inbox and command replies.

    `cache`: an optional stream cache (`shared.throughput.StreamCache`) shared by every unit
    of work; it only ever receives events read in a transaction that committed."""

    max_conflict_retries = 8

    def __init__(self, database: Database, codec: EventCodec, cache=None):
        self.db = database
        self.store = EventStore(database)
        self.codec = codec
        if database.is_memory:   # service-layer tests
            from shared.eventstore.memory import MemoryCommandReplies, MemoryInbox, MemoryWatermarks

            self.inbox, self.replies = MemoryInbox(database), MemoryCommandReplies(database)
            self.watermarks = MemoryWatermarks(database)
        else:
            self.inbox, self.replies = Inbox(database), CommandReplies(database)
            self.watermarks = StreamWatermarks(database)
        self.streams = cache
        self._listeners: list[Callable[[], None]] = []

    def on_appended(self, listener: Callable[[], None]) -> None:
        """`listener()` is called after a transaction that appended events commits."""
        self._listeners.append(listener)

    def unit_of_work(self, conn: Connection, context: Context = Context()) -> UnitOfWork:
        return UnitOfWork(self.store, self.codec, conn, context, self.streams)

    def committed(self, *uows: UnitOfWork) -> None:
        """After the transaction of `uows` committed: cache what they read, wake the relay and
        the projector if they appended."""
        appended = False
        for uow in uows:
            if self.streams is not None:
                for stream_id, events in uow.fresh.items():
                    self.streams.put(stream_id, events)
            appended = appended or bool(uow.appended_positions)
        if appended:
            for listener in self._listeners:
                listener()

    def retry_on_conflict(self, attempt: Callable[[int], R], what: str) -> R:
        """`attempt(n)` (n = 0, 1, …), run again on a concurrency conflict — the stream moved
        on, or another delivery of the same request stored its reply first — up to
        `max_conflict_retries` times, after a growing random pause; the last conflict is raised."""
        for n in range(self.max_conflict_retries + 1):
            try:
                return attempt(n)
            except (ConcurrencyConflict, ReplyRace) as conflict:
                if n == self.max_conflict_retries:
                    raise
                log.info("conflict_retry", work=what, attempt=n + 1, conflict=str(conflict))
                back_off(n)
        raise AssertionError("unreachable")  # pragma: no cover

    def execute(self, handler: Callable[..., R], *args, context: Context = Context(), request_key: str | None = None,
                repeat_possible: bool = True, **kwargs) -> R:
        """Run a command handler in one transaction, re-run on fresh state after a conflict.

        `request_key`: the command is answered once per key. Its reply is stored with its
        effects, and a repeat of the key (a redelivered request) gets the stored reply back
        without deciding again. `repeat_possible=False` (a first delivery, as the broker says)
        skips looking for a stored reply on the first attempt; the reply is stored all the same."""
        name = getattr(handler, "__name__", str(handler))

        def attempt(n: int):
            with self.db.transaction() as conn:
                if request_key is not None and (repeat_possible or n > 0):
                    found = self.replies.find(conn, request_key)
                    if found is not MISSING:
                        log.info("command_repeat_answered", request_key=request_key)
                        return found
                uow = self.unit_of_work(conn, context)
                result = handler(uow, *args, **kwargs)
                uow.flush()
                if request_key is not None:
                    self.replies.record(conn, request_key, result)   # ReplyRace: the other delivery won
            log.info("command_executed", handler=name, events=len(uow.appended_positions))
            self.committed(uow)
            return result

        return self.retry_on_conflict(attempt, name)

    def handle_once(self, event: ReceivedEvent, handler: Callable[[UnitOfWork, ReceivedEvent], None],
                    handler_name: str, ordered: bool = False) -> bool:
        """Apply `handler` to `event` unless this handler already has; the inbox row and the
        handler's effects commit together. Returns False for a duplicate delivery.

        `ordered`: the handler keeps the state of the source stream (not a sum of its events),
        so it must never apply an older event after a newer one of the same stream; such a
        stale event is skipped (see StreamWatermarks) and False is returned."""

        def attempt(n: int) -> bool:
            with self.db.transaction() as conn:
                if not self.inbox.claim(conn, event.event_id, handler_name):
                    log.info("event_duplicate_skipped", event_id=event.event_id, event_type=event.event_type,
                             handler=handler_name)
                    return False
                if ordered and not self.watermarks.advance(conn, handler_name, f"{event.source}:{event.stream_id}",
                                                           event.stream_version):
                    log.info("event_stale_skipped", event_id=event.event_id, handler=handler_name,
                             stream_id=event.stream_id, stream_version=event.stream_version)
                    return False
                uow = self.unit_of_work(conn, Context.of_event(event))
                handler(uow, event)
                uow.flush()
            log.info("event_handled", handler=handler_name, event_id=event.event_id,
                     events=len(uow.appended_positions))
            self.committed(uow)
            return True

        return self.retry_on_conflict(attempt, handler_name)

    def handle_batch(self, events: list[ReceivedEvent], handler: Callable[[UnitOfWork, ReceivedEvent], None],
                     handler_name: str,
                     batch_handler: Callable[[UnitOfWork, list[ReceivedEvent]], None] | None = None) -> BatchOutcome:
        """`handle_once` for many events with one commit: every event this handler has not
        applied yet is applied in order, each with its own causation, and the inbox rows and
        all the effects commit together. If the batch fails, nothing of it stays and each event
        is handled on its own, so a bad event fails alone (reported in `failed`).

        `batch_handler(uow, events)`: set-based work for the whole batch at once — called with
        the events not applied yet (in order, each once) and one unit of work, which it loads
        aggregates from with each event's `Context` (`uow.load(cls, id, context=...)`). It must
        have the same effects as `handler` applied to each event in turn; `handler` is still
        what the one-by-one fallback runs."""

        def attempt(n: int) -> BatchOutcome:
            outcome, uows = BatchOutcome(), []
            with self.db.transaction() as conn:
                fresh = self.inbox.claim_many(conn, [e.event_id for e in events], handler_name)
                todo = []
                for event in events:
                    if event.event_id not in fresh:
                        outcome.duplicates += 1
                        log.info("event_duplicate_skipped", event_id=event.event_id, event_type=event.event_type,
                                 handler=handler_name)
                        continue
                    fresh.discard(event.event_id)  # the same event twice in one batch: once
                    todo.append(event)
                if batch_handler is not None and todo:
                    uows.append(self.unit_of_work(conn))
                    batch_handler(uows[-1], todo)
                    uows[-1].flush()
                elif batch_handler is None:
                    for event in todo:
                        uows.append(self.unit_of_work(conn, Context.of_event(event)))
                        handler(uows[-1], event)
                        uows[-1].flush()
                outcome.applied = len(todo)
            log.info("event_batch_handled", handler=handler_name, applied=outcome.applied,
                     duplicates=outcome.duplicates)
            self.committed(*uows)
            return outcome

        try:
            return self.retry_on_conflict(attempt, handler_name)
        except Exception as exc:  # noqa: BLE001 - find the bad event(s) one by one
            log.warning("event_batch_failed", handler=handler_name, events=len(events), error=repr(exc))
        outcome = BatchOutcome()
        for event in events:
            try:
                if self.handle_once(event, handler, handler_name):
                    outcome.applied += 1
                else:
                    outcome.duplicates += 1
            except Exception as exc:  # noqa: BLE001 - reported for this event alone
                outcome.failed[event.event_id] = f"{type(exc).__name__}: {exc}"
        return outcome
