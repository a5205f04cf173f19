"""Notify benchmark: messages rendered and delivered per second to the inbox and to a local
webhook receiver, and event-to-inbox latency, on the RUNNING notify service.

    python -m bench.notify --json            # 5,000 check-ins for throughput, 500 paced for latency
    python -m bench.notify --quick --json    # a smoke run: 1,000 and 200
    python -m bench.notify --database sqlite

notify runs as its own `nameko run` process (deploy.processes) on a fresh RabbitMQ vhost (deleted
after) and a fresh database (PostgreSQL database `baodao_bench_notify`, its schema dropped first;
or a temporary SQLite file). A local webhook receiver (a plain HTTP/1.1 server in a child process,
answering 200 and counting; it keeps connections alive) stands in for a department.

Throughput: `--events` registration `MemberCheckedIn` events (each renders one receipt for the
unit's inbox, and is logged for departments) are published to `registration.events` as fast as
this process can, with a webhook registered for `registration.MemberCheckedIn` from position 0.
`inbox_messages_per_s` = events / seconds from the first publish until the last receipt is in
the inbox (counted in the database); `webhook_deliveries_per_s` likewise until the receiver has
counted every event. The CPU seconds notify used are reported with each.

Latency: `--paced` events published one every `1 / --rate` seconds; each receipt's `queued_at`
(stamped in the transaction that records it and puts it in the inbox; the inbox RPC reads its
projection fresh, so it is readable from then) minus the event's publish time.

A measurement, not a test: nothing asserts a timing. The machine is shared and noisy; CPU
seconds tell more than wall time.
"""
from __future__ import annotations

import sys
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from deploy.broker import fresh_vhost  # noqa: E402
from bench.support import prepare_postgres, proc_cpu_s, rnd, summary  # noqa: E402

PG_URL = os.environ.get("BAODAO_BENCH_PG_URL", "postgresql://postgres@localhost:5432/")
AMQP_BASE = os.environ.get("BAODAO_BENCH_AMQP_BASE", "amqp://guest:guest@localhost:5672")
BENCH_DB = "baodao_bench_notify"
TARGET = {"inbox_messages_per_s": 1000.0, "event_to_inbox_p99_ms": 200.0}
ROOT = Path(__file__).resolve().parent.parent

RECEIVER = r"""
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count, lock, out = [0], threading.Lock(), sys.argv[2]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keeps connections alive, as a department's web server would
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            count[0] += 1
            open(out, "w").write(str(count[0]))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
open(out, "w").write("0")
srv.serve_forever()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checked_in(i: int, run: str) -> tuple[str, dict]:
    event_id = str(uuid.uuid4())
    now = datetime.now(timezone.utc).isoformat()
    unit = f"u{i % 50}"
    body = {"event_id": event_id, "event_type": "MemberCheckedIn", "schema_version": 2,
            "stream_id": f"member-{run}-{i}", "stream_version": 3, "global_position": i + 1, "occurred_at": now,
            "correlation_id": None, "causation_id": None, "actor": None,
            "data": {"member_id": f"{run}-{i}", "member_name": f"党员{i}", "unit_id": unit, "unit_name": f"单位{i % 50}",
                     "campaign_id": "c1", "letter_id": f"l-{run}-{i}", "community_id": f"c{i % 20}",
                     "community_name": f"社区{i % 20}", "district_id": "xq", "street_id": "hp",
                     "card_no": f"XF-{i:06d}", "checked_in_at": now}}
    return event_id, body


class Publisher:
    def __init__(self, amqp_uri: str):
        import kombu

        self.conn = kombu.Connection(amqp_uri)
        self.producer = self.conn.Producer(serializer="json")
        self.exchange = kombu.Exchange("registration.events", type="topic", durable=True)

    def publish(self, body: dict) -> None:
        self.producer.publish(json.dumps(body, ensure_ascii=False), exchange=self.exchange,
                              routing_key="MemberCheckedIn", content_type="application/json",
                              content_encoding="utf-8", delivery_mode=2, headers={"event_type": "MemberCheckedIn"})

    def close(self) -> None:
        self.conn.release()


def inbox_count(db) -> int:
    from sqlalchemy import func, select

    from services.notify.readmodels import inbox_messages

    with db.transaction() as conn:
        return conn.execute(select(func.count()).select_from(inbox_messages)).scalar_one()


def recorded_count(db) -> int:
    with db.transaction() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM events WHERE event_type = 'MessageRecorded'").scalar_one()


def queued_at_of(db) -> dict[str, str]:
    from sqlalchemy import select

    from services.notify.readmodels import deliveries

    with db.transaction() as conn:
        return {r[0]: r[1] for r in conn.execute(select(deliveries.c.caused_by_event_id, deliveries.c.queued_at))}


def run(args) -> dict:
    from deploy.processes import ServiceProcess, service_env, wait_ready
    from nameko.standalone.rpc import ClusterRpcProxy
    from shared.db import Database

    work = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    if args.database == "postgres":
        url = prepare_postgres(PG_URL, BENCH_DB, ["notify"])
    else:
        url = None
    port = free_port()
    counter = work / "webhook-count"
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port), str(counter)])
    result = {"database": args.database, "events": args.events, "paced": args.paced, "rate_per_s": args.rate,
              "target": TARGET}
    with fresh_vhost(AMQP_BASE) as amqp_uri:
        env = service_env(amqp_uri, url, work, log_level="WARNING")
        env["NOTIFY_DELIVERY_POLL_SECONDS"] = "1"
        env["NOTIFY_WEBHOOK_ALLOWED_TARGETS"] = "127.0.0.1"   # the bench's receiver listens on loopback
        svc = ServiceProcess("notify", env, work / "notify.log").start()
        try:
            wait_ready(amqp_uri, [svc], timeout=120)
            db = Database(url, schema="notify") if url else Database(f"sqlite:///{work / 'notify.db'}")
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as rpc:
                rpc.notify.register_webhook("bench", f"http://127.0.0.1:{port}/hook", None,
                                            ["registration.MemberCheckedIn"], 0)
            pub = Publisher(amqp_uri)
            run_id = uuid.uuid4().hex[:6]
            bodies = [checked_in(i, run_id)[1] for i in range(args.events)]
            cpu0 = proc_cpu_s(svc.process.pid)
            t0 = time.monotonic()
            for body in bodies:
                pub.publish(body)
            published_s = time.monotonic() - t0
            inbox_s = webhook_s = None
            deadline = t0 + args.timeout
            while time.monotonic() < deadline and (inbox_s is None or webhook_s is None):
                if inbox_s is None and recorded_count(db) >= args.events:
                    inbox_s = time.monotonic() - t0
                    cpu_inbox = proc_cpu_s(svc.process.pid)
                if webhook_s is None and int(counter.read_text() or 0) >= args.events:
                    webhook_s = time.monotonic() - t0
                time.sleep(0.05)
            cpu1 = proc_cpu_s(svc.process.pid)
            assert inbox_count(db) >= (args.events if inbox_s else 0)
            result["throughput"] = {
                "publish_s": rnd(published_s),
                "inbox_s": rnd(inbox_s), "inbox_messages_per_s": rnd(args.events / inbox_s, 1) if inbox_s else None,
                "notify_cpu_s_to_inbox": rnd(cpu_inbox - cpu0) if inbox_s else None,
                "webhook_s": rnd(webhook_s),
                "webhook_deliveries_per_s": rnd(args.events / webhook_s, 1) if webhook_s else None,
                "notify_cpu_s_total": rnd(cpu1 - cpu0),
                "inbox_cpu_ms_per_message": rnd((cpu_inbox - cpu0) * 1000 / args.events) if inbox_s else None,
            }
            # latency, paced
            sent = {}
            paced = [checked_in(args.events + i, run_id) for i in range(args.paced)]
            for event_id, body in paced:
                sent[event_id] = datetime.now(timezone.utc)
                pub.publish(body)
                time.sleep(1.0 / args.rate)
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                got = queued_at_of(db)
                if all(e in got for e in sent):
                    break
                time.sleep(0.2)
            got = queued_at_of(db)
            lat = [(datetime.fromisoformat(got[e]) - t).total_seconds() * 1000 for e, t in sent.items() if e in got]
            result["latency"] = {"event_to_inbox_ms": summary(lat), "missing": len(sent) - len(lat)}
            pub.close()
            db.dispose()
        finally:
            svc.stop()
            receiver.terminate()
    result["notify_log_tail"] = (work / "notify.log").read_text(errors="replace")[-500:] if args.verbose else None
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--paced", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.paced = min(args.events, 1000), min(args.paced, 200)
    result = run(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        t, lat = result["throughput"], result["latency"]["event_to_inbox_ms"]
        print(f"inbox: {t['inbox_messages_per_s']} messages/s ({t['inbox_cpu_ms_per_message']} ms CPU each); "
              f"webhook: {t['webhook_deliveries_per_s']} deliveries/s; event-to-inbox p50 {lat['p50']} ms, "
              f"p99 {lat['p99']} ms (targets: {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
