"""Group commit for a rush of small commands: the commands arriving while one transaction runs
share the next one."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import structlog

from shared.application import Application, Context, back_off
from shared.eventstore import ConcurrencyConflict

log = structlog.get_logger("baodao.throughput")
R = TypeVar("R")


@dataclass(eq=False)
class _Waiting:
    """A command waiting for the batch that runs it."""

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

    def run_alone(self, app: Application) -> None:
        try:
            result = app.execute(self.handler, *self.args, context=self.context, request_key=self.request_key,
                                 repeat_possible=self.repeat_possible, **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - the command's own outcome, raised to its caller
            self.finish(error=exc)
        else:
            self.finish(result)


class _RunAlone(Exception):
    """Leave the shared transaction: `command` (or, if None, every command) runs on its own."""

    def __init__(self, command: _Waiting | None):
        super().__init__()
        self.command = command


def _wanted(w: _Waiting, uow) -> list:
    """What `w`'s handler says it will load (`handler.wants`); nothing if it cannot say (the
    handler then finds out for itself, and raises if the command is bad)."""
    wants = getattr(w.handler, "wants", None)
    if wants is None:
        return []
    try:
        return list(wants(uow, *w.args, **w.kwargs))
    except Exception:  # noqa: BLE001
        return []


class GroupCommit:
    """`Application.execute` with a stored reply, sharing one transaction with the commands that
    arrive meanwhile.

    While one caller runs a batch, the commands arriving wait; when it is done, the first of
    them runs all of them (up to `max_together`) in one transaction (one unit of work, one
    append, one commit), each with its own reply stored and its own events stamped with its
    own context (`UnitOfWork.seal`); the commands see each other's effects in the order they
    run, as if they had run one after the other. A command that raises (a refusal) before
    triggering any event gets that refusal once the batch has committed, as if it had run alone
    after the commands before it; one that raises after triggering events leaves the batch,
    which runs again without it, and then runs on its own, after the batch. A handler run this
    way must decide only from the aggregates it loads through the unit of work (not from read
    models or its own SQL, which do not see the batch's earlier commands).

    `handler.wants(uow, *args, **kwargs)`, if the handler has it, names the aggregates it will
    load, as `(cls, aggregate_id)` pairs: on SQLite the batch reads all of them with one query
    before running its commands (on PostgreSQL each command's own read costs the server less
    than one statement for the whole batch)."""

    max_together = 50

    def __init__(self, app: Application):
        self.app = app
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []   # commands waiting for the next shared transaction
        self._busy = False                  # a caller is running a batch of them

    def execute(self, request_key: str, handler: Callable[..., R], *args, context: Context = Context(),
                repeat_possible: bool = True, **kwargs) -> R:
        me = _Waiting(request_key, handler, args, kwargs, context, repeat_possible)
        with self._lock:
            self._queue.append(me)
            lead = not self._busy
            self._busy = True
        if not lead:
            try:
                me.woken.wait()   # finished by another caller's batch, or first in line to lead one
            except BaseException:
                self._stop_waiting(me)   # its worker was killed: the queue must not wait for it
                raise
        if not me.finished:
            with self._lock:   # this caller is first in line: it leads the next batch
                batch, self._queue = self._queue[:self.max_together], self._queue[self.max_together:]
            try:
                for w in self._commit_together(batch) if len(batch) > 1 else batch:
                    w.run_alone(self.app)
            finally:
                # A leader killed mid-batch (its worker stopped) leaves its batch to the next:
                # each such command looks for a reply the batch may have committed.
                orphans = [w for w in batch if not w.finished and w is not me]
                for w in orphans:
                    w.repeat_possible = True
                with self._lock:
                    self._queue[:0] = orphans
                    if self._queue:
                        self._queue[0].woken.set()
                    else:
                        self._busy = False
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[return-value]

    def _stop_waiting(self, me: _Waiting) -> None:
        with self._lock:
            if me not in self._queue:
                return   # taken into a batch already: that batch finishes it
            promoted = self._queue[0] is me and me.woken.is_set()
            self._queue.remove(me)
            if promoted:   # it was to lead the next batch: the next in line does
                if self._queue:
                    self._queue[0].woken.set()
                else:
                    self._busy = False

    def _commit_together(self, batch: list[_Waiting]) -> list[_Waiting]:
        """Run `batch` in one transaction, leaving out each command that raises; returns the
        commands still to run on their own, in order."""
        app = self.app
        together, alone, attempt = list(batch), [], 0
        while len(together) > 1:
            results: dict[_Waiting, object] = {}
            events: dict[_Waiting, int] = {}
            refused: dict[_Waiting, Exception] = {}
            try:
                with app.db.transaction() as conn:
                    uow = app.unit_of_work(conn)
                    found = app.replies.find_many(conn, [w.request_key for w in together if w.repeat_possible])
                    if not app.db.is_postgres:
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
                    if not app.replies.record_many(conn, [(w.request_key, r) for w, r in results.items()]):
                        raise _RunAlone(None)   # another delivery of one of them answered first
            except _RunAlone as leave:
                if leave.command is None:
                    return together + alone
                together.remove(leave.command)
                alone.append(leave.command)
                continue
            except ConcurrencyConflict as conflict:
                attempt += 1
                if attempt > app.max_conflict_retries:
                    return together + alone
                log.info("conflict_retry", work="group_commit", attempt=attempt, conflict=str(conflict),
                         batch=len(together))
                back_off(attempt - 1)
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
            app.committed(uow)
            return alone
        return together + alone
