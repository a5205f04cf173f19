"""Event store and relay benchmark: Baodao's kernel against the `eventsourcing` library and
nameko's standalone event dispatcher.

    python -m bench.eventstore            # readable table
    python -m bench.eventstore --json     # one JSON object
    python -m bench.eventstore --quick    # a tiny run (smoke test)

What is measured, with the same shape on both sides:

- append: N transactions, each appending ONE event (~200 bytes of JSON data) to a NEW
  stream/aggregate. Ours: `EventStore.append(stream, [NewEvent(...)], expected_version=0)`.
  Library: `ApplicationRecorder.insert_events([StoredEvent(uuid4(), 1, topic, state)])`.
  Both sides serialise the payload dict to JSON inside the timed loop. The two stores append
  in interleaved rounds (ours, lib, ours, lib, ...) so drift of the machine hits both alike.
  Database defaults are left alone on both sides (fsync, synchronous_commit; SQLite WAL with
  its default synchronous=FULL, which both set up).
- read: all stored events in pages of 1000, by global position. Ours: `read_all(after, 1000)`
  (returns envelopes with the data decoded from JSON). Library:
  `select_notifications(start, 1000)` (returns the state as raw bytes, no decoding: the
  conservative comparison for us). Best of `--read-repeats` passes.
- relay: N events stored in our store, then `Relay.run_once()` until all are published and
  confirmed, to a topic exchange with a bound durable queue. Against nameko's
  `event_dispatcher(...)` called in a loop (it waits for each publisher confirm), same
  bodies (the same wire envelopes), same persistent delivery, same kind of exchange/queue.

Runs without eventlet monkey-patching; `--eventlet` patches first (then psycopg2 is made green
by psycogreen in shared.db, as in the services).
"""
from __future__ import annotations

import sys

if __name__ == "__main__" and "--eventlet" in sys.argv:  # must precede every other import
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit, unquote  # noqa: E402

PG_URL = os.environ.get("BAODAO_BENCH_PG_URL", "postgresql://postgres@localhost:5432/test")
AMQP_URI = os.environ.get("BAODAO_BENCH_AMQP_URI", "amqp://guest:guest@localhost:5672/")
EVENT_TYPE = "MemberReported"
TOPIC = "baodao.bench:MemberReported"
PAYLOAD_BYTES = 200
PAGE = 1000
WARMUP = 50


# -- payloads ----------------------------------------------------------------------------------
def make_payload(i: int, size: int = PAYLOAD_BYTES) -> dict:
    """A realistic-ish event data dict whose compact JSON is exactly `size` bytes."""
    data = {
        "member_id": str(uuid.UUID(int=i + 1)),
        "community_id": f"community-{i % 97:04d}",
        "name": f"Member {i:06d}",
        "unit": "Street Office No.3",
        "note": "",
    }
    base = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
    data["note"] = "x" * max(0, size - base)
    return data


def json_bytes(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


# -- the two stores behind one small interface ---------------------------------------------------
class OursStore:
    label = "ours"

    def __init__(self, url: str, schema: str | None = None):
        from shared.db import Database
        from shared.eventstore import EventStore, NewEvent

        self.db = Database(url, schema=schema)
        self.store = EventStore(self.db)
        self._new_event = NewEvent

    def append_one(self, payload: dict) -> None:
        stream_id = f"member-{uuid.uuid4()}"
        self.store.append(stream_id, [self._new_event(EVENT_TYPE, payload)], expected_version=0)

    def read_all(self) -> int:
        count, after = 0, 0
        while True:
            page = self.store.read_all(after, PAGE)
            if not page:
                return count
            count += len(page)
            after = page[-1].global_position

    def close(self) -> None:
        self.db.drop_schema()  # PostgreSQL: drops the schema; SQLite: disposes the engine


class LibStore:
    label = "eventsourcing"

    def __init__(self, recorder, datastore, cleanup):
        from eventsourcing.persistence import StoredEvent

        self.recorder = recorder
        self.datastore = datastore
        self._cleanup = cleanup
        self._stored_event = StoredEvent

    @classmethod
    def sqlite(cls, path: Path) -> "LibStore":
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

        datastore = SQLiteDatastore(str(path))
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        return cls(recorder, datastore, datastore.close)

    @classmethod
    def postgres(cls, url: str, schema: str) -> "LibStore":
        import psycopg
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        parts = urlsplit(url)
        conninfo = dict(dbname=parts.path.lstrip("/") or "postgres", host=parts.hostname or "localhost",
                        port=parts.port or 5432, user=unquote(parts.username or "postgres"),
                        password=unquote(parts.password or ""))
        with psycopg.connect(autocommit=True, **conninfo) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        datastore = PostgresDatastore(schema=schema, **conninfo)
        recorder = PostgresApplicationRecorder(datastore)
        recorder.create_table()

        def cleanup():
            datastore.close()
            with psycopg.connect(autocommit=True, **conninfo) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

        return cls(recorder, datastore, cleanup)

    def append_one(self, payload: dict) -> None:
        self.recorder.insert_events([
            self._stored_event(originator_id=uuid.uuid4(), originator_version=1, topic=TOPIC,
                               state=json_bytes(payload))
        ])

    def read_all(self) -> int:
        count, start = 0, None
        while True:
            page = self.recorder.select_notifications(start, PAGE, inclusive_of_start=False)
            if not page:
                return count
            count += len(page)
            start = page[-1].id

    def close(self) -> None:
        self._cleanup()


@contextmanager
def gc_paused():
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compare_stores(stores: list, n: int, rounds: int, read_repeats: int) -> dict:
    """Append n one-event transactions to each store in interleaved rounds, then read all."""
    payloads = [make_payload(i) for i in range(n + WARMUP)]
    for s in stores:  # warm up connections, statement caches, table pages (not timed)
        for p in payloads[n:]:
            s.append_one(p)
    elapsed = {s.label: 0.0 for s in stores}
    chunks = [payloads[r * n // rounds:(r + 1) * n // rounds] for r in range(rounds)]
    for chunk in chunks:
        for s in stores:
            with gc_paused():
                t0 = time.perf_counter()
                for p in chunk:
                    s.append_one(p)
                elapsed[s.label] += time.perf_counter() - t0
    results = {s.label: {"append_per_s": rate(n, elapsed[s.label]),
                         "append_seconds": round(elapsed[s.label], 3)} for s in stores}
    read_times = {s.label: [] for s in stores}
    for _ in range(read_repeats):
        for s in stores:
            with gc_paused():
                t0 = time.perf_counter()
                count = s.read_all()
                read_times[s.label].append(time.perf_counter() - t0)
            if count != n + WARMUP:
                raise AssertionError(f"{s.label} read {count} events, stored {n + WARMUP}")
    for s in stores:
        best = min(read_times[s.label])
        results[s.label]["read_per_s"] = rate(n + WARMUP, best)
        results[s.label]["read_events"] = n + WARMUP
    return results


def bench_sqlite(n: int, rounds: int, read_repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="baodao-bench-") as tmp:
        ours = OursStore(f"sqlite:///{Path(tmp) / 'ours.db'}")
        lib = LibStore.sqlite(Path(tmp) / "eventsourcing.db")
        try:
            return compare_stores([ours, lib], n, rounds, read_repeats)
        finally:
            ours.close()
            lib.close()


def bench_postgres(n: int, rounds: int, read_repeats: int, url: str) -> dict:
    tag = uuid.uuid4().hex[:10]
    ours = OursStore(url, schema=f"bench_ours_{tag}")
    try:
        lib = LibStore.postgres(url, schema=f"bench_es_{tag}")
    except Exception:
        ours.close()
        raise
    try:
        return compare_stores([ours, lib], n, rounds, read_repeats)
    finally:
        ours.close()
        lib.close()


# -- relay ------------------------------------------------------------------------------------
@contextmanager
def routed_exchange(amqp_uri: str, service: str):
    """The topic exchange `<service>.events` with a durable queue bound by '#'; deleted after.
    Yields a function returning the queue's message count."""
    import kombu

    conn = kombu.Connection(amqp_uri)
    conn.connect()
    channel = conn.channel()
    exchange = kombu.Exchange(f"{service}.events", type="topic", durable=True)
    queue = kombu.Queue(f"{service}.bench-sink", exchange=exchange, routing_key="#", durable=True)
    bound = queue(channel)
    bound.declare()

    def message_count() -> int:
        return channel.queue_declare(queue=queue.name, passive=True).message_count

    try:
        yield message_count
    finally:
        try:
            channel.queue_delete(queue.name)
            channel.exchange_delete(exchange.name)
        finally:
            conn.release()


def fill_store(store, n: int) -> list:
    from shared.eventstore import NewEvent, StreamAppend

    batch = 500
    for start in range(0, n, batch):
        store.append_many([
            StreamAppend(f"member-{uuid.uuid4()}", [NewEvent(EVENT_TYPE, make_payload(i))], 0)
            for i in range(start, min(n, start + batch))
        ])
    return store.read_all(0, limit=n)


def wait_for_count(message_count, expected: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    count = message_count()
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = message_count()
    return count


def bench_relay(n: int, nameko_n: int, amqp_uri: str, store_kind: str, pg_url: str) -> dict:
    from nameko.standalone.events import event_dispatcher

    from shared.db import Database
    from shared.eventstore import EventStore
    from shared.relay import Relay

    tag = uuid.uuid4().hex[:10]
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="baodao-bench-relay-") as tmp:
        if store_kind == "postgres":
            db = Database(pg_url, schema=f"bench_relay_{tag}")
        else:
            db = Database(f"sqlite:///{Path(tmp) / 'relay.db'}")
        try:
            store = EventStore(db)
            events = fill_store(store, n)
            body_bytes = statistics.mean(len(json_bytes(e.to_wire())) for e in events[:100])

            service = f"benchrelay{tag}"
            with routed_exchange(amqp_uri, service) as message_count:
                relay = Relay(service, store, amqp_uri)
                try:
                    relay._connect()  # connection setup is not part of the steady-state rate
                    published = 0
                    with gc_paused():
                        t0 = time.perf_counter()
                        while published < n:
                            got = relay.run_once()
                            if got == 0 and relay.lag() > 0:
                                raise RuntimeError("relay made no progress")
                            published += got
                        seconds = time.perf_counter() - t0
                    routed = wait_for_count(message_count, n)
                    if routed != n or relay.checkpoint() != events[-1].global_position:
                        raise AssertionError(f"relay: {routed} of {n} messages routed, checkpoint "
                                             f"{relay.checkpoint()} of {events[-1].global_position}")
                finally:
                    relay.close()
            out["ours_per_s"] = rate(n, seconds)
            out["ours_seconds"] = round(seconds, 3)

            nameko_service = f"benchnameko{tag}"
            with routed_exchange(amqp_uri, nameko_service) as message_count:
                dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
                wires = [e.to_wire() for e in events[:nameko_n + 1]]
                dispatch(nameko_service, EVENT_TYPE, wires[0])  # warm-up: connection + declare
                with gc_paused():
                    t0 = time.perf_counter()
                    for w in wires[1:nameko_n + 1]:
                        dispatch(nameko_service, w["event_type"], w)
                    seconds = time.perf_counter() - t0
                routed = wait_for_count(message_count, nameko_n + 1)
                if routed != nameko_n + 1:
                    raise AssertionError(f"nameko: {routed} of {nameko_n + 1} messages routed")
            _reset_kombu_pools()
            out["nameko_dispatch_per_s"] = rate(nameko_n, seconds)
            out["nameko_seconds"] = round(seconds, 3)
            out["relay_events"] = n
            out["nameko_events"] = nameko_n
            out["message_body_bytes"] = round(body_bytes)
            out["store"] = store_kind
        finally:
            db.drop_schema()
    return out


def _reset_kombu_pools() -> None:
    try:
        from kombu import pools

        pools.reset()
    except Exception:  # noqa: BLE001 - best effort
        pass


# -- output -----------------------------------------------------------------------------------
def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def add_ratios(result: dict) -> None:
    for kind in ("sqlite", "postgres"):
        r = result.get(kind)
        if r:
            r["ratio"] = {
                "append": ratio(r["ours"]["append_per_s"], r["eventsourcing"]["append_per_s"]),
                "read": ratio(r["ours"]["read_per_s"], r["eventsourcing"]["read_per_s"]),
            }
    r = result.get("relay")
    if r:
        r["ratio"] = ratio(r["ours_per_s"], r["nameko_dispatch_per_s"])


def print_table(result: dict) -> None:
    p = result["params"]
    print(f"Baodao event store benchmark  (N={p['events']} appends per store, "
          f"~{p['payload_bytes']} B data, pages of {p['read_page']}, eventlet={p['eventlet']})")
    print()
    print(f"{'database':<10} {'store':<14} {'append/s':>10} {'read/s':>12}")
    print("-" * 50)
    for kind in ("sqlite", "postgres"):
        r = result.get(kind)
        if not r:
            continue
        for label in ("ours", "eventsourcing"):
            x = r[label]
            print(f"{kind:<10} {label:<14} {x['append_per_s']:>10,.0f} {x['read_per_s']:>12,.0f}")
        print(f"{'':<10} {'ours / lib':<14} {r['ratio']['append']:>9.2f}x {r['ratio']['read']:>11.2f}x"
              f"   (target >= 2x)")
        print()
    r = result.get("relay")
    if r:
        print(f"relay ({r['store']} store, {r['relay_events']} events, ~{r['message_body_bytes']} B bodies)")
        print(f"  ours Relay.run_once        {r['ours_per_s']:>10,.0f} events/s")
        print(f"  nameko dispatch loop       {r['nameko_dispatch_per_s']:>10,.0f} events/s "
              f"({r['nameko_events']} events)")
        print(f"  ours / nameko              {r['ratio']:>9.2f}x   (target >= 5x)")
        print()
    print(f"total {result['params']['total_seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.eventstore", description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--events", type=int, default=5000, help="append transactions per store")
    ap.add_argument("--relay-events", type=int, default=10000, help="events published by the relay")
    ap.add_argument("--nameko-events", type=int, default=2000, help="events dispatched by nameko")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved append rounds")
    ap.add_argument("--read-repeats", type=int, default=3, help="read passes (best is kept)")
    ap.add_argument("--relay-store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-relay", action="store_true")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--amqp-uri", default=AMQP_URI)
    ap.add_argument("--eventlet", action="store_true", help="eventlet.monkey_patch() first")
    args = ap.parse_args(argv)
    if args.quick:
        args.events, args.relay_events, args.nameko_events = 300, 1000, 200
        args.rounds, args.read_repeats = 2, 1
    args.nameko_events = min(args.nameko_events, args.relay_events - 1)
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from shared.db import eventlet_patched
    from shared.logging import configure_logging

    configure_logging("bench", level="WARNING")  # JSON lines on stderr; stdout is the result

    t_start = time.perf_counter()
    result: dict = {}
    if not args.no_sqlite:
        result["sqlite"] = bench_sqlite(args.events, args.rounds, args.read_repeats)
    if not args.no_postgres:
        result["postgres"] = bench_postgres(args.events, args.rounds, args.read_repeats, args.pg_url)
    if not args.no_relay:
        result["relay"] = bench_relay(args.relay_events, args.nameko_events, args.amqp_uri,
                                      args.relay_store, args.pg_url)
    add_ratios(result)
    import eventsourcing
    import sqlalchemy

    result["params"] = {
        "events": args.events,
        "events_per_transaction": 1,
        "new_stream_per_transaction": True,
        "payload_bytes": PAYLOAD_BYTES,
        "warmup_appends": WARMUP,
        "append_rounds_interleaved": args.rounds,
        "read_page": PAGE,
        "read_repeats_best_of": args.read_repeats,
        "read_note": "ours decodes data JSON into dicts; eventsourcing returns raw state bytes",
        "relay_events": args.relay_events,
        "nameko_events": args.nameko_events,
        "relay_store": args.relay_store,
        "durability": "database defaults on both sides (PG fsync/synchronous_commit on; SQLite WAL, synchronous=FULL); persistent AMQP messages with publisher confirms",
        "eventlet": eventlet_patched(),
        "python": platform.python_version(),
        "eventsourcing": eventsourcing.__version__ if hasattr(eventsourcing, "__version__") else "9.5.6",
        "sqlalchemy": sqlalchemy.__version__,
        "quick": args.quick,
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    if args.json:
        print(json.dumps(result, indent=None))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
