"""Notify's CPU per inbox message in-process, without the broker:

    python -m bench.notify_cpu --json              # 3,000 check-ins, PostgreSQL
    python -m bench.notify_cpu --events 5000 --profile /tmp/notify.prof

What the running service does for each incoming event, minus RabbitMQ and the webhook loop:
decode the message through its contract (`decode_message`, as the consumer does), handle it in
batches of 100 with the service's own batch handler (`Application.handle_batch`: inbox claim,
directory, messages, departments' log, one commit), bring the projections up to date (inbox and
delivery records), and build the relay's AMQP message of every stored event. The first 200
events warm up (imports, prepared statements); the rest are measured with `time.process_time`.

It isolates the part of `bench.notify`'s `inbox_cpu_ms_per_message` that the kernel and the
handler spend (that figure also holds consuming and acking, publishing, and the webhook
deliveries made meanwhile), and needs no broker. A fresh PostgreSQL schema, dropped after.
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
import time  # noqa: E402
import uuid  # noqa: E402

from bench.notify import checked_in  # noqa: E402

PG_URL = os.environ.get("BAODAO_BENCH_PG_URL", "postgresql://postgres@localhost:5432/test")
WARM_UP = 200


def run(events: int, profile: str | None = None) -> dict:
    from shared.contracts import decode_message
    from shared.db import Database
    from shared.logging import configure_logging
    from shared.projections import Projector
    from shared import throughput
    from shared.relay import message_for
    from services.notify.service import RULES_HANDLER, NotifyService, build_application

    configure_logging("bench", level="WARNING")
    db = Database(PG_URL, schema="bench_notify_cpu_" + uuid.uuid4().hex[:8])
    try:
        app, projections = build_application(db)
        throughput.enable(app)   # what the service process switches on (ApplicationProvider)
        projector = Projector(db, app.store, app.codec, projections)
        service = NotifyService.__new__(NotifyService)   # its handlers only: no container
        run_id = uuid.uuid4().hex[:6]
        bodies = [json.dumps(checked_in(i, run_id)[1], ensure_ascii=False).encode() for i in range(events)]
        relayed = [0]

        def work(chunk):
            for start in range(0, len(chunk), 100):
                batch = [decode_message("registration", json.loads(b)) for b in chunk[start:start + 100]]
                app.handle_batch(batch, service._handle, RULES_HANDLER, batch_handler=service._handle_batch)
                projector.catch_up()
                stored = app.store.read_all(relayed[0], limit=1000)
                for event in stored:
                    message_for(event)
                if stored:
                    relayed[0] = stored[-1].global_position

        work(bodies[:WARM_UP])
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu0, wall0 = time.process_time(), time.monotonic()
        work(bodies[WARM_UP:])
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        n = events - WARM_UP
        return {"events": n, "cpu_ms_per_message": round(cpu * 1000 / n, 3),
                "wall_ms_per_message": round(wall * 1000 / n, 3), "profiled": bool(profile)}
    finally:
        db.drop_schema()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="300 events (a smoke test)")
    parser.add_argument("--profile", help="write cProfile stats here (the figures then include its overhead)")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 300
    result = run(max(args.events, WARM_UP + 100), args.profile)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['events']} messages: {result['cpu_ms_per_message']} ms CPU each "
              f"({result['wall_ms_per_message']} ms wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
