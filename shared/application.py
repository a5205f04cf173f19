"""The service layer's kernel: a unit of work over the event store, and the two ways work
enters a service — a command, and an event from another service (through the inbox).

Handlers are plain functions `handler(uow, ...)`; they load aggregates from the unit of work,
call their methods, and the unit of work appends every pending event atomically, stamped with
the correlation id, causation id and actor of what caused it.
"""
from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable, TypeVar

import structlog
from sqlalchemy import Connection

from shared.contracts import ReceivedEvent, get_contract
from shared.db import Database
from shared.domain import Aggregate, DomainEvent
from shared.eventstore import ConcurrencyConflict, EventStore, NewEvent, StoredEvent, StreamAppend
from shared.inbox import MISSING, CommandReplies, Inbox, ReplyRace, StreamWatermarks

log = structlog.get_logger("baodao.application")
A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


class EventCodec:
    """Maps a service's domain event classes to and from their public contracts."""

    def __init__(self, source: str, event_classes: Iterable[type[DomainEvent]]):
        self.source = source
        self.classes = {cls.event_type: cls for cls in event_classes}
        for event_type, cls in self.classes.items():
            contract = get_contract(source, event_type)
            if contract.version != cls.schema_version:
                raise ValueError(f"{cls.__name__} is v{cls.schema_version}, its contract v{contract.version}")

    def encode(self, event: DomainEvent, **meta) -> NewEvent:
        data = get_contract(self.source, event.event_type).validate_outgoing(event.to_data())
        return NewEvent(event_type=event.event_type, schema_version=event.schema_version, data=data, **meta)

    def decode_data(self, stored: StoredEvent) -> dict:
        """The stored event's data upcast to the current schema version."""
        return get_contract(self.source, stored.event_type).decode(stored.data, stored.schema_version)

    def decode(self, stored: StoredEvent) -> DomainEvent:
        return self.classes[stored.event_type].from_data(self.decode_data(stored))


@dataclass(frozen=True)
class Context:
    """Who and what caused the work: stamped on every event it appends."""

    correlation_id: str | None = None
    causation_id: str | None = None
    actor: dict | None = None


class StreamCache:
    """The decoded events of recently loaded streams, in this process.

    A stream only ever grows, and its events are immutable, so what was read once stays true:
    loading a cached stream reads only the events after the cached version. A stream another
    instance appended to meanwhile is therefore still read in full; a stale cache costs a
    concurrency conflict at worst, never a wrong decision. Bounded by a number of events
    (least recently used streams are dropped first).
    """

    def __init__(self, max_events: int = 200_000):
        self.max_events = max_events
        self._streams: OrderedDict[str, tuple[DomainEvent, ...]] = OrderedDict()
        self._size = 0

    def get(self, stream_id: str) -> tuple[DomainEvent, ...]:
        events = self._streams.get(stream_id, ())
        if events:
            self._streams.move_to_end(stream_id)
        return events

    def put(self, stream_id: str, events: tuple[DomainEvent, ...]) -> None:
        if len(events) > self.max_events:
            return
        self._size += len(events) - len(self._streams.pop(stream_id, ()))
        self._streams[stream_id] = events
        while self._size > self.max_events:
            _, dropped = self._streams.popitem(last=False)
            self._size -= len(dropped)


class _CommitOnlyCache:
    """A StreamCache seen from inside a transaction that may hold uncommitted events of its
    own (a batch of handlers): reads come from the real cache, writes wait for the commit."""

    def __init__(self, cache: StreamCache):
        self.cache = cache
        self.pending: dict[str, tuple[DomainEvent, ...]] = {}

    def get(self, stream_id: str) -> tuple[DomainEvent, ...]:
        return self.cache.get(stream_id)

    def put(self, stream_id: str, events: tuple[DomainEvent, ...]) -> None:
        self.pending[stream_id] = events

    def commit(self) -> None:
        for stream_id, events in self.pending.items():
            self.cache.put(stream_id, events)


@dataclass
class BatchOutcome:
    """What `Application.handle_batch` did: events applied, duplicates skipped, and the events
    that failed (event id -> reason), which the caller retries or dead-letters one by one."""

    applied: int = 0
    duplicates: int = 0
    failed: dict[str, str] = field(default_factory=dict)


class UnitOfWork:
    def __init__(self, store: EventStore, codec: EventCodec, conn: Connection, context: Context,
                 cache: StreamCache | None = None):
        self.store, self.codec, self.conn, self.context = store, codec, conn, context
        self.cache = cache
        self._aggregates: dict[str, Aggregate] = {}
        self._contexts: dict[str, Context] = {}
        self._sealed: dict[str, list[NewEvent]] = {}
        self._peeked: dict[str, Aggregate] = {}   # `cached` results, reused by a load that finds no newer events
        self.appended_positions: list[int] = []

    def load(self, cls: type[A], aggregate_id: str, context: Context | None = None) -> A:
        """The aggregate, rebuilt from its stream (version 0 if the stream is empty).

        `context`: what caused the work on this aggregate, when it is not the unit of work's
        own (a batch handler working for many events at once stamps each aggregate's events
        with the event that caused them)."""
        stream_id = cls.stream_id_for(aggregate_id)
        if context is not None:
            self._contexts[stream_id] = context
        if stream_id in self._aggregates:
            return self._aggregates[stream_id]  # type: ignore[return-value]
        known = self.cache.get(stream_id) if self.cache is not None else ()
        stored = self.store.read_stream(stream_id, after_version=len(known), conn=self.conn)
        events = known + tuple(self.codec.decode(s) for s in stored) if stored else known
        if stored and self.cache is not None:
            # Read before this unit of work wrote to the stream: committed events only.
            self.cache.put(stream_id, events)
        aggregate = self._rebuilt(cls, aggregate_id, stream_id, events)
        self._aggregates[stream_id] = aggregate
        return aggregate

    def _rebuilt(self, cls: type[A], aggregate_id: str, stream_id: str, events: tuple[DomainEvent, ...]) -> A:
        peeked = self._peeked.pop(stream_id, None)
        if peeked is not None and peeked.version == len(events):   # `cached` replayed these already
            return peeked  # type: ignore[return-value]
        return cls.replay(aggregate_id, events)

    def load_many(self, *wanted: tuple[type[Aggregate], str]) -> list[Aggregate]:
        """`load` for several aggregates (`(cls, aggregate_id)` pairs), reading the new events
        of all their streams with one query; returns them in the order asked."""
        todo = []
        for cls, aggregate_id in wanted:
            stream_id = cls.stream_id_for(aggregate_id)
            if stream_id not in self._aggregates:
                known = self.cache.get(stream_id) if self.cache is not None else ()
                todo.append((cls, aggregate_id, stream_id, known))
        if len(todo) > 1:
            tails = self.store.read_stream_tails([(s, len(known)) for _, _, s, known in todo], conn=self.conn)
            for cls, aggregate_id, stream_id, known in todo:
                stored = tails[stream_id]
                events = known + tuple(self.codec.decode(s) for s in stored) if stored else known
                if stored and self.cache is not None:
                    self.cache.put(stream_id, events)
                self._aggregates[stream_id] = self._rebuilt(cls, aggregate_id, stream_id, events)
        return [self.load(cls, aggregate_id) for cls, aggregate_id in wanted]

    def cached(self, cls: type[A], aggregate_id: str) -> A | None:
        """The aggregate as this process last saw it (the stream cache), without reading the
        store: possibly stale, so only for facts that never change once recorded (e.g. which
        unit a member belongs to), to know what else to load. None if not cached."""
        stream_id = cls.stream_id_for(aggregate_id)
        if stream_id in self._aggregates:
            return self._aggregates[stream_id]  # type: ignore[return-value]
        if stream_id in self._peeked:
            return self._peeked[stream_id]  # type: ignore[return-value]
        known = self.cache.get(stream_id) if self.cache is not None else ()
        if not known:
            return None
        # kept for a later load that finds no newer events: the caller only reads it
        aggregate = self._peeked[stream_id] = cls.replay(aggregate_id, known)
        return aggregate

    def preload(self, cls: type[A], aggregate_ids: Iterable[str]) -> None:
        """Load many aggregates with one read of the store (the stream cache is used as in
        `load`); a later `load` of one of them costs nothing."""
        wanted = [(a, cls.stream_id_for(a)) for a in aggregate_ids]
        wanted = [(a, s) for a, s in wanted if s not in self._aggregates]
        known = {s: (self.cache.get(s) if self.cache is not None else ()) for _, s in wanted}
        missing = [s for _, s in wanted if not known[s]]
        stored = self.store.read_streams(missing, conn=self.conn) if missing else {}
        for aggregate_id, stream_id in wanted:
            events = known[stream_id]
            if stream_id in stored:
                events = tuple(self.codec.decode(e) for e in stored[stream_id])
                if events and self.cache is not None:
                    self.cache.put(stream_id, events)
            elif events:
                newer = self.store.read_stream(stream_id, after_version=len(events), conn=self.conn)
                if newer:
                    events = events + tuple(self.codec.decode(e) for e in newer)
                    if self.cache is not None:
                        self.cache.put(stream_id, events)
            self._aggregates[stream_id] = cls.replay(aggregate_id, events)

    def append_decided(self, decided: Iterable[tuple[type[Aggregate], str, int, list[DomainEvent]]]) -> list[int]:
        """Append events decided without loading their aggregates — on a read model that folded
        each stream up to a known version — as `(aggregate class, id, that version, events)`,
        all in one statement, stamped as `flush` stamps. Every stream must still be at its
        version, else ConcurrencyConflict is raised and none of them is written (the unit of
        work stays usable: the caller may decide again on the replayed aggregates)."""
        meta = dict(correlation_id=self.context.correlation_id, causation_id=self.context.causation_id,
                    actor=self.context.actor)
        appends = []
        for cls, aggregate_id, version, events in decided:
            stream_id = cls.stream_id_for(aggregate_id)
            if stream_id in self._aggregates:
                raise ValueError(f"{stream_id} is loaded in this unit of work: append through the aggregate")
            appends.append(StreamAppend(stream_id, [self.codec.encode(e, **meta) for e in events], version))
        positions = self.store.append_many(appends, conn=self.conn)
        self.appended_positions.extend(positions)
        return positions

    def has_pending(self) -> bool:
        """Whether a loaded aggregate has events not yet sealed or flushed."""
        return any(aggregate.pending for aggregate in self._aggregates.values())

    def seal(self, context: Context) -> int:
        """Encode the events now pending on the loaded aggregates, stamped with `context`, to be
        appended by `flush`: several commands sharing this unit of work (`Application.
        execute_together`) each stamp their own events. Returns how many were sealed."""
        meta = dict(correlation_id=context.correlation_id, causation_id=context.causation_id, actor=context.actor)
        sealed = 0
        for stream_id, aggregate in self._aggregates.items():
            pending = aggregate.collect_pending()
            if pending:
                self._sealed.setdefault(stream_id, []).extend(self.codec.encode(e, **meta) for e in pending)
                sealed += len(pending)
        return sealed

    def flush(self) -> list[int]:
        appends, flushed = [], []
        for stream_id, aggregate in self._aggregates.items():
            pending = aggregate.collect_pending()
            sealed = self._sealed.pop(stream_id, None)
            if pending or sealed:
                context = self._contexts.get(stream_id, self.context)
                meta = dict(correlation_id=context.correlation_id,
                            causation_id=context.causation_id, actor=context.actor)
                events = [self.codec.encode(e, **meta) for e in pending]
                appends.append(StreamAppend(stream_id, sealed + events if sealed else events,
                                            aggregate.loaded_version))
                flushed.append(aggregate)
        positions = self.store.append_many(appends, conn=self.conn)
        for aggregate in flushed:  # the store now holds them: a later flush appends after them
            aggregate.loaded_version = aggregate.version
        self.appended_positions.extend(positions)
        return positions


def _back_off(attempt: int) -> None:
    """A short random pause before re-running on fresh state, growing with each attempt, so
    writers contending for one stream (every check-in appends to its community's) spread out
    instead of colliding again at once."""
    time.sleep(random.uniform(0, min(0.25, 0.004 * 2 ** attempt)))


@dataclass(eq=False)
class _Waiting:
    """A command waiting in `Application.execute_together` for the batch that runs it."""

    request_key: str
    handler: Callable
    args: tuple
    kwargs: dict
    context: Context
    repeat_possible: bool
    woken: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    result: object = None
    error: BaseException | None = None

    def finish(self, result=None, error: BaseException | None = None) -> None:
        self.result, self.error, self.finished = result, error, True
        self.woken.set()

    def run_alone(self, app: "Application") -> None:
        try:
            result = app.execute_once(self.request_key, self.handler, *self.args, context=self.context,
                                      repeat_possible=self.repeat_possible, **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - the command's own outcome, raised to its caller
            self.finish(error=exc)
        else:
            self.finish(result)


def _wanted(w: _Waiting, uow: "UnitOfWork") -> list:
    """What `w`'s handler says it will load (`handler.wants`); nothing if it cannot say (the
    handler then finds out for itself, and raises if the command is bad)."""
    wants = getattr(w.handler, "wants", None)
    if wants is None:
        return []
    try:
        return list(wants(uow, *w.args, **w.kwargs))
    except Exception:  # noqa: BLE001
        return []


class _RunAlone(Exception):
    """Leave the shared transaction: `command` (or, if None, every command) runs on its own."""

    def __init__(self, command: _Waiting | None):
        super().__init__()
        self.command = command


class Application:
    """A service's event-sourced application: the store, its codec and its inbox."""

    max_conflict_retries = 8
    max_together = 50   # commands in one shared transaction (execute_together)

    def __init__(self, database: Database, codec: EventCodec):
        self.db = database
        self.store = EventStore(database)
        self.codec = codec
        self.inbox = Inbox(database)
        self.replies = CommandReplies(database)
        self.watermarks = StreamWatermarks(database)
        self.streams = StreamCache()
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._together_lock = threading.Lock()
        self._together: list[_Waiting] = []   # commands waiting for the next shared transaction
        self._together_busy = False           # a caller is running a batch of them

    def on_appended(self, listener: Callable[[], None]) -> None:
        """`listener()` is called after a transaction that appended events commits."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def execute_once(self, request_key: str, handler: Callable[..., R], *args, context: Context = Context(),
                     repeat_possible: bool = True, **kwargs) -> R:
        """`execute`, answered once per `request_key`: the reply is stored with the command's
        effects, and a repeat of the key (a redelivered request) gets the stored reply back
        without deciding again. Two deliveries racing: the loser re-runs and finds the reply.
        `repeat_possible=False` (a first delivery, as the broker says) skips looking for a
        stored reply; the reply is stored all the same."""
        replies, look = self.replies, [repeat_possible]

        def once(uow, *a, **kw):
            if look[0]:
                found = replies.find(uow.conn, request_key)
                if found is not MISSING:
                    log.info("command_repeat_answered", request_key=request_key)
                    return found
            look[0] = True       # a re-run after a conflict: perhaps with the other delivery
            result = handler(uow, *a, **kw)
            replies.record(uow.conn, request_key, result)
            return result

        once.__name__ = getattr(handler, "__name__", "command")
        for attempt in range(self.max_conflict_retries + 1):
            try:
                return self.execute(once, *args, context=context, **kwargs)
            except ReplyRace:
                look[0] = True   # the other delivery committed first: its reply is ours
                if attempt == self.max_conflict_retries:
                    raise
                _back_off(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def execute_together(self, request_key: str, handler: Callable[..., R], *args, context: Context = Context(),
                         repeat_possible: bool = True, **kwargs) -> R:
        """`execute_once`, sharing one transaction with the commands that arrive meanwhile.

        Group commit for a rush of small commands: while one caller runs a batch, the commands
        arriving wait; when it is done, the first of them runs all of them in one transaction
        (one unit of work, one append, one commit), each with its own reply stored and its own
        events stamped with its own context (`UnitOfWork.seal`); the commands see each other's
        effects in the order they run, as if they had run one after the other. A command that
        raises (a refusal) before triggering any event gets that refusal once the batch has
        committed, as if it had run alone after the commands before it; one that raises after
        triggering events leaves the batch, which runs again without it, and then runs on its
        own, after the batch. A handler run this way
        must decide only from the aggregates it loads through the unit of work (not from read
        models or its own SQL, which do not see the batch's earlier commands).

        `handler.wants(uow, *args, **kwargs)`, if the handler has it, names the aggregates it
        will load, as `(cls, aggregate_id)` pairs: the batch reads all of them with one query
        before running its commands."""
        me = _Waiting(request_key, handler, args, kwargs, context, repeat_possible)
        with self._together_lock:
            self._together.append(me)
            lead = not self._together_busy
            self._together_busy = True
        if not lead:
            try:
                me.woken.wait()   # finished by another caller's batch, or first in line to lead one
            except BaseException:
                self._stop_waiting(me)   # its worker was killed: the queue must not wait for it
                raise
        if not me.finished:
            with self._together_lock:   # this caller is first in line: it leads the next batch
                batch, self._together = self._together[:self.max_together], self._together[self.max_together:]
            try:
                self._run_together(batch)
            finally:
                # A leader killed mid-batch (its worker stopped) leaves its batch to the next:
                # each such command looks for a reply the batch may have committed.
                orphans = [w for w in batch if not w.finished and w is not me]
                for w in orphans:
                    w.repeat_possible = True
                with self._together_lock:
                    self._together[:0] = orphans
                    if self._together:
                        self._together[0].woken.set()
                    else:
                        self._together_busy = False
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[return-value]

    def _stop_waiting(self, me: _Waiting) -> None:
        with self._together_lock:
            if me not in self._together:
                return   # taken into a batch already: that batch finishes it
            promoted = self._together[0] is me and me.woken.is_set()
            self._together.remove(me)
            if promoted:   # it was to lead the next batch: the next in line does
                if self._together:
                    self._together[0].woken.set()
                else:
                    self._together_busy = False

    def _run_together(self, batch: list[_Waiting]) -> None:
        for w in self._commit_together(batch) if len(batch) > 1 else batch:
            w.run_alone(self)

    def _commit_together(self, batch: list[_Waiting]) -> list[_Waiting]:
        """Run `batch` in one transaction, leaving out each command that raises; returns the
        commands still to run on their own, in order."""
        together, alone, attempt = list(batch), [], 0
        while len(together) > 1:
            results: dict[_Waiting, object] = {}
            events: dict[_Waiting, int] = {}
            refused: dict[_Waiting, Exception] = {}
            try:
                with self.db.transaction() as conn:
                    uow = UnitOfWork(self.store, self.codec, conn, Context(), self.streams)
                    found = self.replies.find_many(conn, [w.request_key for w in together if w.repeat_possible])
                    # the aggregates the handlers say they will load, read with one query (not
                    # on PostgreSQL: one statement for a batch's ~50 streams cost its server 4.3 ms
                    # of CPU per check-in, against 1.2 ms for each command's own read)
                    if not self.db.is_postgres:
                        wanted = [want for w in together if w.request_key not in found for want in _wanted(w, uow)]
                        if wanted:
                            uow.load_many(*dict.fromkeys(wanted))
                    for w in together:
                        if w.request_key in found:
                            continue
                        try:
                            results[w] = w.handler(uow, *w.args, **w.kwargs)
                        except ConcurrencyConflict:
                            raise
                        except Exception as exc:  # noqa: BLE001 - its own outcome
                            if uow.has_pending():   # it changed aggregates before failing: run
                                raise _RunAlone(w) from None   # the batch again without it, then it alone
                            # A refusal before any event (the usual one): aggregates change only by
                            # events, so the batch goes on without it, and the refusal is its answer,
                            # as if it had run alone right after the commands before it.
                            refused[w] = exc
                            continue
                        events[w] = uow.seal(w.context)
                    uow.flush()
                    if not self.replies.record_many(conn, [(w.request_key, r) for w, r in results.items()]):
                        raise _RunAlone(None)   # another delivery of one of them answered first
            except _RunAlone as leave:
                if leave.command is None:
                    return together + alone
                together.remove(leave.command)
                alone.append(leave.command)
                continue
            except ConcurrencyConflict as conflict:
                attempt += 1
                if attempt > self.max_conflict_retries:
                    return together + alone
                log.info("command_conflict_retry", stream_id=conflict.stream_id, attempt=attempt, batch=len(together))
                _back_off(attempt - 1)
                continue
            except Exception as exc:  # noqa: BLE001 - the batch itself failed (the database): each on its own
                log.warning("command_batch_failed", commands=len(together), error=repr(exc))
                return together + alone
            for w in together:
                if w in refused:
                    w.finish(error=refused[w])
                elif w in results:
                    log.info("command_executed", handler=getattr(w.handler, "__name__", str(w.handler)),
                             events=events[w], together=len(together))
                    w.finish(results[w])
                else:
                    log.info("command_repeat_answered", request_key=w.request_key)
                    w.finish(found[w.request_key])
            if uow.appended_positions:
                self._notify()
            return alone
        return together + alone

    def execute(self, handler: Callable[..., R], *args, context: Context = Context(), **kwargs) -> R:
        """Run a command handler in one transaction; on a concurrency conflict, re-run it on
        fresh state (the handler decides again), up to `max_conflict_retries` times."""
        for attempt in range(self.max_conflict_retries + 1):
            try:
                with self.db.transaction() as conn:
                    uow = UnitOfWork(self.store, self.codec, conn, context, self.streams)
                    result = handler(uow, *args, **kwargs)
                    uow.flush()
                log.info("command_executed", handler=getattr(handler, "__name__", str(handler)),
                         events=len(uow.appended_positions))
                if uow.appended_positions:
                    self._notify()
                return result
            except ConcurrencyConflict as conflict:
                if attempt == self.max_conflict_retries:
                    raise
                log.info("command_conflict_retry", stream_id=conflict.stream_id, attempt=attempt + 1)
                _back_off(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def handle_once(self, event: ReceivedEvent, handler: Callable[[UnitOfWork, ReceivedEvent], None],
                    handler_name: str, ordered: bool = False) -> bool:
        """Apply `handler` to `event` unless this handler already has; the inbox row and the
        handler's effects commit together. Returns False for a duplicate delivery.

        `ordered`: the handler keeps the state of the source stream (not a sum of its events),
        so it must never apply an older event after a newer one of the same stream; such a
        stale event is skipped (see StreamWatermarks) and False is returned."""
        context = Context(correlation_id=event.correlation_id, causation_id=event.event_id, actor=event.actor)
        for attempt in range(self.max_conflict_retries + 1):
            try:
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
                    uow = UnitOfWork(self.store, self.codec, conn, context, self.streams)
                    handler(uow, event)
                    uow.flush()
                log.info("event_handled", handler=handler_name, event_id=event.event_id,
                         events=len(uow.appended_positions))
                if uow.appended_positions:
                    self._notify()
                return True
            except ConcurrencyConflict:
                if attempt == self.max_conflict_retries:
                    raise
                _back_off(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

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
        for attempt in range(self.max_conflict_retries + 1):
            outcome = BatchOutcome()
            cache = _CommitOnlyCache(self.streams)
            appended = False
            try:
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
                    if batch_handler is not None:
                        if todo:
                            uow = UnitOfWork(self.store, self.codec, conn, Context(), cache)  # type: ignore[arg-type]
                            batch_handler(uow, todo)
                            appended = bool(uow.flush()) or appended
                            outcome.applied += len(todo)
                    else:
                        for event in todo:
                            context = Context(correlation_id=event.correlation_id, causation_id=event.event_id,
                                              actor=event.actor)
                            uow = UnitOfWork(self.store, self.codec, conn, context, cache)  # type: ignore[arg-type]
                            handler(uow, event)
                            appended = bool(uow.flush()) or appended
                            outcome.applied += 1
            except ConcurrencyConflict:
                if attempt == self.max_conflict_retries:
                    break
                _back_off(attempt)
                continue
            except Exception as exc:  # noqa: BLE001 - find the bad event(s) one by one
                log.warning("event_batch_failed", handler=handler_name, events=len(events), error=repr(exc))
                break
            cache.commit()
            log.info("event_batch_handled", handler=handler_name, applied=outcome.applied,
                     duplicates=outcome.duplicates)
            if appended:
                self._notify()
            return outcome
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
