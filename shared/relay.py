"""The relay: the event store is the outbox; this publishes it to RabbitMQ, in order, at least once.

Each service runs one relay (several instances of a service elect one through a lease row).
It reads stored events after its checkpoint, publishes each to the topic exchange
`<service>.events` with the event type as routing key, with publisher confirms, keeping up to
`window` confirms outstanding instead of waiting for each one (nameko's EventDispatcher waits
for every confirm in turn). The checkpoint advances only over a contiguous run of confirmed
events, so a crash at any point re-publishes from the last confirmed event: never loses, may
repeat, and consumers' inboxes make a repeat harmless.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import amqp
import kombu
import structlog
from sqlalchemy import Column, Float, Integer, String, Table, BigInteger, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared import metrics
from shared.eventstore import EventStore, PublishableEvent, StoredEvent, kernel_metadata

log = structlog.get_logger("baodao.relay")

relay_state_table = Table(
    "relay_state",
    kernel_metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger().with_variant(Integer, "sqlite"), nullable=False, default=0),
    Column("owner", String(100)),
    Column("lease_until", Float, nullable=False, default=0.0),
)

# Built once (building a statement costs more than running a cached one; the relay runs these
# after every commit of its service).
_t = relay_state_table
_ACQUIRE = (update(_t).where(_t.c.name == bindparam("r_name"))
            .where((_t.c.owner == bindparam("r_owner")) | (_t.c.lease_until < bindparam("r_now"))
                   | (_t.c.owner.is_(None)))
            .values(owner=bindparam("r_owner"), lease_until=bindparam("r_until")))
_RELEASE = (update(_t).where(_t.c.name == bindparam("r_name")).where(_t.c.owner == bindparam("r_owner"))
            .values(owner=None, lease_until=0.0))
_POSITION = select(_t.c.position).where(_t.c.name == bindparam("r_name"))
_SAVE = (update(_t).where(_t.c.name == bindparam("r_name")).where(_t.c.owner == bindparam("r_owner"))
         .values(position=bindparam("r_position"), lease_until=bindparam("r_until")))
del _t


class PublishNacked(Exception):
    pass


class LeaseLost(Exception):
    pass


def event_exchange_name(service: str) -> str:
    return f"{service}.events"


def message_for(event: StoredEvent | PublishableEvent) -> amqp.Message:
    """The AMQP message of a stored event: nameko-compatible JSON body and headers."""
    if isinstance(event, PublishableEvent):
        body = event.body
    else:
        body = json.dumps(event.to_wire(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"event_type": event.event_type, "schema_version": event.schema_version}
    if event.correlation_id:
        # nameko turns `nameko.*` headers into the worker's context data.
        headers["nameko.correlation_id"] = event.correlation_id
    return amqp.Message(
        body,
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=2,
        message_id=event.event_id,
        correlation_id=event.correlation_id or "",
        type=event.event_type,
        application_headers=headers,
    )


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0


@contextmanager
def _written_as_they_come(transport):
    """The relay's default: frames go to the socket as py-amqp writes them (`flush` has nothing
    to do). The nameko edge hands the relay `patches.coalesced_writes` instead."""
    yield lambda: None


class Relay:
    def __init__(self, service: str, store: EventStore, amqp_uri: str, *, batch_size: int = 1000,
                 window: int = 500, lease_seconds: float = 10.0, instance_id: str | None = None,
                 confirm_timeout: float = 30.0, standby_seconds: float = 0.0,
                 coalesced_writes: Callable = _written_as_they_come):
        self.service = service
        # `coalesced_writes(transport)`: a context manager yielding `flush()`; the frames of a
        # window of publishes go to the socket together, at each flush and at the end
        self.coalesced_writes = coalesced_writes
        self.standby_seconds = standby_seconds
        self.store = store
        self.db = store.db
        self.amqp_uri = amqp_uri
        self.batch_size = batch_size
        self.window = window
        self.lease_seconds = lease_seconds
        self.confirm_timeout = confirm_timeout
        self.instance_id = instance_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.exchange = event_exchange_name(service)
        self.stats = RelayStats()
        self._conn: kombu.Connection | None = None
        self._channel = None
        # While this relay holds the lease, no other instance can take it before `_lease_until`
        # nor move the checkpoint; so `run_once` renews the lease only once half of it is used
        # up, and keeps the checkpoint it read or wrote instead of reading it on every run.
        self._lease_until = 0.0
        self._standby_until = 0.0
        self._position: int | None = None
        kernel_metadata.create_all(self.db.engine, tables=[relay_state_table])
        self._ensure_state_row()

    # -- lease and checkpoint ---------------------------------------------------------------
    def _ensure_state_row(self) -> None:
        ins = pg_insert if self.db.is_postgres else sqlite_insert
        with self.db.transaction() as conn:
            conn.execute(
                ins(relay_state_table)
                .values(name=self.service, position=0, owner=None, lease_until=0.0)
                .on_conflict_do_nothing(index_elements=["name"])
            )

    def acquire_lease(self) -> bool:
        now = time.time()
        self._forget_lease()  # until the database says otherwise
        with self.db.transaction() as conn:
            result = conn.execute(_ACQUIRE, {"r_name": self.service, "r_owner": self.instance_id, "r_now": now,
                                             "r_until": now + self.lease_seconds})
            if result.rowcount != 1:
                return False
        self._lease_until = now + self.lease_seconds
        return True

    def release_lease(self) -> None:
        self._forget_lease()
        with self.db.transaction() as conn:
            conn.execute(_RELEASE, {"r_name": self.service, "r_owner": self.instance_id})

    def _forget_lease(self) -> None:
        self._lease_until, self._position = 0.0, None

    def _hold_lease(self) -> bool:
        """Take the lease, or renew it once half of it is used up. An instance that failed to
        take it (another holds it) stands by for `standby_seconds` before asking again, instead
        of asking the database after every commit of its service."""
        now = time.time()
        if self._lease_until - now > self.lease_seconds / 2:
            return True
        if now < self._standby_until:
            return False
        if self.acquire_lease():
            return True
        self._standby_until = now + self.standby_seconds
        return False

    def checkpoint(self) -> int:
        with self.db.transaction() as conn:
            return conn.execute(_POSITION, {"r_name": self.service}).scalar_one()

    def _save_checkpoint(self, position: int) -> None:
        until = time.time() + self.lease_seconds
        # Not durable (no wait for the disk): a checkpoint lost in a crash of the machine means
        # publishing those events again, which at-least-once delivery allows.
        with self.db.transaction(durable=False) as conn:
            result = conn.execute(_SAVE, {"r_name": self.service, "r_owner": self.instance_id,
                                          "r_position": position, "r_until": until})
            if result.rowcount != 1:
                self._forget_lease()
                raise LeaseLost(f"relay {self.instance_id} lost the lease of {self.service}")
        self._lease_until, self._position = until, position

    def lag(self) -> int:
        """Events stored but not yet confirmed by the broker."""
        return self.store.max_position() - self.checkpoint()

    # -- broker ---------------------------------------------------------------------------
    def _connect(self) -> None:
        if self._channel is not None:
            return
        self._conn = kombu.Connection(self.amqp_uri, heartbeat=0)
        self._conn.connect()
        kombu.Exchange(self.exchange, type="topic", durable=True)(self._conn.default_channel).declare()
        channel = self._conn.connection.channel()
        channel.confirm_select()
        self._acked_upto = 0
        self._nacked = False
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._next_tag = 1
        self._channel = channel

    def close(self) -> None:
        try:
            if self._conn is not None:
                self._conn.release()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
        self._conn, self._channel = None, None

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._acks.append((delivery_tag, multiple))

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True

    # -- publishing -----------------------------------------------------------------------
    def publish_batch(self, events: list[StoredEvent] | list[PublishableEvent]) -> int:
        """Publish `events` with a window of outstanding confirms; returns the last position
        such that it and everything before it in the batch is confirmed."""
        self._connect()
        channel, conn = self._channel, self._conn.connection
        self._acks: deque = deque()
        outstanding: deque[tuple[int, int]] = deque()  # (delivery tag, position), in tag order
        confirmed_tags: set[int] = set()
        confirmed_upto = None

        def absorb_acks():
            nonlocal confirmed_upto
            while self._acks:
                tag, multiple = self._acks.popleft()
                if multiple:
                    while outstanding and outstanding[0][0] <= tag:
                        confirmed_upto = outstanding.popleft()[1]
                else:
                    confirmed_tags.add(tag)
                while outstanding and outstanding[0][0] in confirmed_tags:
                    t, pos = outstanding.popleft()
                    confirmed_tags.discard(t)
                    confirmed_upto = pos
            if self._nacked:
                raise PublishNacked(f"broker refused an event of {self.service}")

        def wait_for_confirms(max_outstanding: int):
            deadline = time.monotonic() + self.confirm_timeout
            while len(outstanding) > max_outstanding:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no publisher confirm within {self.confirm_timeout}s")
                try:
                    conn.drain_events(timeout=min(remaining, 1.0))
                except socket.timeout:
                    pass
                absorb_acks()

        with self.coalesced_writes(conn.transport) as flush:
            for event in events:
                channel.basic_publish(message_for(event), exchange=self.exchange, routing_key=event.event_type)
                outstanding.append((self._next_tag, event.global_position))
                self._next_tag += 1
                if len(outstanding) >= self.window:
                    flush()
                    wait_for_confirms(self.window // 2)
        wait_for_confirms(0)
        return confirmed_upto

    def run_once(self) -> int:
        """Publish everything stored now; returns how many events were published."""
        if not self._hold_lease():
            return 0
        published = 0
        try:
            if self._position is None:
                self._position = self.checkpoint()
            position = self._position
            while True:
                events = self.store.read_all_publishable(position, limit=self.batch_size)
                if not events:
                    return published
                # never publish an event a crash of the machine could still take back (SQLite's
                # grouped commits: read once committed, on disk once synced)
                self.db.make_durable()
                try:
                    upto = self.publish_batch(events)
                except Exception:
                    self.close()
                    raise
                self._save_checkpoint(upto)
                published += len(events)
                self.stats.published += len(events)
                metrics.observe_published(self.service, len(events))
                self.stats.batches += 1
                position = upto
                log.debug("relay_batch_confirmed", service=self.service, count=len(events), position=upto)
                if len(events) < self.batch_size:
                    return published  # a short batch read up to the head
        except BaseException:
            self._forget_lease()  # read the lease and the checkpoint afresh next time
            raise

    def run_forever(self, should_stop, wakeup=None, idle_sleep: float = 0.05, sleep=time.sleep,
                    linger: float = 0.0) -> None:
        """Loop until `should_stop()`; `wakeup` (optional) is an object with `wait(timeout)`
        that an appender can signal to skip the idle sleep. After a round that published
        something, pause `linger` seconds so the next round publishes a batch. Errors are
        logged and retried with backoff: a broker or database outage delays events, never
        drops them."""
        backoff = idle_sleep
        while not should_stop():
            try:
                count = self.run_once()
                backoff = idle_sleep
            except Exception as exc:  # noqa: BLE001 - the loop must survive outages
                log.warning("relay_error", service=self.service, error=repr(exc), retry_in=backoff)
                sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if count and linger > 0:
                sleep(linger)
            elif count == 0:
                if wakeup is not None:
                    wakeup.wait(idle_sleep)
                else:
                    sleep(idle_sleep)
        self.close()
        try:
            self.release_lease()
        except Exception:  # noqa: BLE001
            pass
