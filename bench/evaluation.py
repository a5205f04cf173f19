"""Evaluation benchmark: rebuild every member's ledger from zero, and close a district's year.

    python -m bench.evaluation --json                       # 1,000,000 events, 100,000 members
    python -m bench.evaluation --members 10000 --json       # a tenth (10 events per member)
    python -m bench.evaluation --quick --json               # a smoke run (20,000 events)

The workload: one district (西区, its own rules file `xq.yaml`) of `--members / 500`
communities and `--members / 50` units; per member on average 10 upstream events of
registration and dispatch — enrolment, check-in, commitments, verified services (some by two
members), ratings, rejected records, fulfilled wishes and activity attendance (two or three
members each), dated over the year. Built in blocks of 10,000 members, so memory stays bounded.

Phases, each timed (wall and this process's CPU):
1. `ledger_rebuild`: every upstream event through evaluation's own handlers and domain
   (facts → ledger lines by the district's rules, caps, periods), on in-memory aggregates —
   the ledgers rebuilt from zero. Target ≥ 20,000 events/s.
2. `store_load`: the resulting evaluation events appended to the event store on PostgreSQL
   (database `baodao_bench_evaluation`, schema dropped first), many streams per append.
3. `projection_rebuild`: the read models (ledger, totals, members…) rebuilt from that store
   with the kernel's Projector; `grading_projection_rebuild`: the grading read model (each
   member's record folded to what grading reads, a row per member) rebuilt likewise.
4. `year_close`: `close_year` as the service runs it (batches of 2,000 members: read their
   rows of the grading read model, grade, append GradeAssigned/MemberDisqualified in one
   statement; then titles). Target < 30 s. `year_close_again`: the same close re-run (every
   member already graded: nothing is appended).
`peak_rss_mb` is this process's peak resident memory (ru_maxrss) at the end. `runqueue_wait_s`
of a phase is the time this process was ready to run but waited for a CPU (from
/proc/self/schedstat): on a shared machine, most of the gap between wall and CPU.
`--gc-threshold N` sets the cyclic garbage collector's first threshold for the run (the
ledger rebuild allocates millions of long-lived objects; at Python's default of 700 the
collector takes about 40% of its CPU).

A measurement, not a test; on a shared 2-core machine the figures are noisy.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import sys
import time
import uuid
from functools import partial
from pathlib import Path

from sqlalchemy import create_engine

from bench.support import prepare_postgres, rnd
from services.evaluation import handlers, readmodels
from services.evaluation.rules import RuleBook
from services.evaluation.service import build_application, close_year
from shared.application import Context
from shared.contracts import ReceivedEvent
from shared.db import Database
from shared.eventstore import StreamAppend
from shared.logging import configure_logging
from shared.projections import Projector
from shared import throughput

PG_URL = os.environ.get("BAODAO_BENCH_PG_URL", "postgresql://postgres@localhost:5432/")
BENCH_DB = "baodao_bench_evaluation"
SCHEMA = "bench_evaluation"
RULES_DIR = Path(__file__).resolve().parent.parent / "deploy" / "config" / "evaluation-rules"
BLOCK = 10_000
DISTRICT = "xq"

HANDLERS = {
    "MemberEnrolled": handlers.member_enrolled, "MemberCheckedIn": handlers.member_checked_in,
    "CommitmentMade": handlers.commitment_made, "ServiceVerified": handlers.service_verified,
    "ServiceRated": handlers.service_rated, "ServiceRejected": handlers.service_rejected,
    "WishFulfilled": handlers.wish_fulfilled, "AttendanceRecorded": handlers.attendance_recorded,
}


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def runqueue_wait() -> float:
    """Seconds this process's threads spent runnable but not running (0 where not available)."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class MemoryUnitOfWork:
    """The handlers' view of a unit of work, on in-memory aggregates (phase 1 only)."""

    def __init__(self, conn, aggregates: dict):
        self.conn = conn
        self._aggregates = aggregates

    def load(self, cls, aggregate_id):
        key = cls.stream_id_for(aggregate_id)
        agg = self._aggregates.get(key)
        if agg is None:
            agg = self._aggregates[key] = cls(aggregate_id)
        return agg


def _ev(n: int, event_type: str, data: dict, at: str) -> ReceivedEvent:
    return ReceivedEvent(source="bench", event_id=str(uuid.UUID(int=n)), event_type=event_type, schema_version=1,
                         stream_id="bench", stream_version=1, global_position=n, occurred_at=at,
                         correlation_id=None, causation_id=None, actor=None, data=data)


def block_events(rng: random.Random, first: int, count: int, per_member: int, counter) -> list[ReceivedEvent]:
    """Upstream events of members first..first+count-1, about `per_member` each, in time order."""
    ids = [f"m{i:07d}" for i in range(first, first + count)]
    out = []

    def day(month_lo=1):
        return f"2026-{rng.randint(month_lo, 12):02d}-{rng.randint(1, 28):02d}T02:00:00+00:00"

    for i, m in zip(range(first, first + count), ids):
        community = f"c{i // 500:04d}"
        unit = f"u{i // 50:05d}"
        out.append(_ev(next(counter), "MemberEnrolled", {
            "member_id": m, "unit_id": unit, "name": "党员" + m[-4:], "residence_community_id": community,
            "joined_on": "2026-01-02"}, "2026-01-02T02:00:00+00:00"))
        out.append(_ev(next(counter), "MemberCheckedIn", {
            "member_id": m, "member_name": "党员" + m[-4:], "unit_id": unit, "community_id": community,
            "community_name": "社区", "district_id": DISTRICT, "street_id": "s" + community,
            "campaign_id": "campaign-2026", "checked_in_at": "2026-01-20T02:00:00+00:00"},
            "2026-01-20T02:00:00+00:00"))
    rest = count * (per_member - 2)
    mix = (("AttendanceRecorded", 0.35), ("ServiceVerified", 0.25), ("ServiceRated", 0.2), ("CommitmentMade", 0.08),
           ("WishFulfilled", 0.07), ("ServiceRejected", 0.05))
    later = []
    for _ in range(rest):
        r, kind = rng.random(), mix[-1][0]
        for name, share in mix:
            if r < share:
                kind = name
                break
            r -= share
        j = rng.randrange(count)
        m, community = ids[j], f"c{(first + j) // 500:04d}"
        peers = [m] + ([ids[(j + 1) % count]] if rng.random() < 0.3 else [])
        at = day(2)
        if kind == "AttendanceRecorded":
            data = {"community_id": community, "attended": peers + [ids[(j + 2) % count]], "absent": [],
                    "starts_at": at}
        elif kind == "ServiceVerified":
            data = {"community_id": community, "member_ids": peers, "hours": rng.choice([1, 2, 3, 4]),
                    "verified_at": at}
        elif kind == "ServiceRated":
            data = {"member_ids": peers, "rating": rng.choice([3, 4, 5, 5, 5])}
        elif kind == "CommitmentMade":
            data = {"member_id": m, "member_name": "党员" + m[-4:], "community_id": community,
                    "items": ["每月一次政策宣讲"]}
        elif kind == "WishFulfilled":
            data = {"member_ids": peers, "fulfilled_at": at}
        else:
            data = {"community_id": community, "member_ids": peers, "reason": "记录不完整"}
        later.append((at, kind, data))
    later.sort(key=lambda x: x[0])
    out += [_ev(next(counter), kind, data, at) for at, kind, data in later]
    return out


class BenchApp:
    """The service's `self.app` interface (execute, query) over the application, for close_year."""

    def __init__(self, application, projector):
        self.application, self.projector = application, projector

    def execute(self, handler, *args, **kwargs):
        return self.application.execute(handler, *args, context=Context(correlation_id="bench"), **kwargs)

    def query(self, fn, *args, **kwargs):
        self.projector.catch_up()
        with self.application.db.transaction() as conn:
            return fn(conn, *args, **kwargs)


def run(members: int, per_member: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    book = RuleBook.load(RULES_DIR)
    url = prepare_postgres(PG_URL, BENCH_DB, [SCHEMA])
    db = Database(url, schema=SCHEMA)
    application, projections = build_application(db)
    throughput.enable(application)   # what the service process switches on (ApplicationProvider)
    codec = application.codec
    # places, as registration's events would have left them
    with db.transaction() as conn:
        for c in range(members // 500 + 1):
            readmodels.community_registered(conn, {"community_id": f"c{c:04d}", "name": f"社区{c}",
                                                   "district_id": DISTRICT})
        for u in range(members // 50 + 1):
            readmodels.unit_registered(conn, {"unit_id": f"u{u:05d}", "name": f"单位{u}", "district_id": DISTRICT})
    places = create_engine("sqlite://")
    readmodels.places_metadata.create_all(places)
    with places.begin() as conn:
        for c in range(members // 500 + 1):
            readmodels.community_registered(conn, {"community_id": f"c{c:04d}", "name": "社区", "district_id": DISTRICT})

    counter = iter(range(1, 10 ** 9))
    upstream = evaluation_events = 0
    rebuild_wall = rebuild_cpu = rebuild_wait = load_wall = load_cpu = 0.0
    bound = {name: partial(fn, rulebook=book) for name, fn in HANDLERS.items()}
    for first in range(0, members, BLOCK):
        count = min(BLOCK, members - first)
        events = block_events(rng, first, count, per_member, counter)
        aggregates: dict = {}
        with places.connect() as pconn:
            uow = MemoryUnitOfWork(pconn, aggregates)
            t0, c0, w0 = time.perf_counter(), cpu(), runqueue_wait()
            for event in events:
                bound[event.event_type](uow, event)
            rebuild_wall += time.perf_counter() - t0
            rebuild_cpu += cpu() - c0
            rebuild_wait += runqueue_wait() - w0
        upstream += len(events)
        # phase 2: into the store
        t0, c0 = time.perf_counter(), cpu()
        appends = []
        for stream_id, agg in aggregates.items():
            pending = agg.collect_pending()
            evaluation_events += len(pending)
            appends.append(StreamAppend(stream_id, [codec.encode(e, correlation_id="bench") for e in pending], 0))
            if len(appends) >= 200:
                application.store.append_many(appends)
                appends = []
        if appends:
            application.store.append_many(appends)
        load_wall += time.perf_counter() - t0
        load_cpu += cpu() - c0
        del aggregates, events

    projector = Projector(db, application.store, codec, projections, batch_size=2000)
    t0, c0 = time.perf_counter(), cpu()
    projected = projector.rebuild("evaluation")
    projection_wall, projection_cpu = time.perf_counter() - t0, cpu() - c0
    t0, c0 = time.perf_counter(), cpu()
    folded = projector.rebuild("evaluation.grading")
    grading_wall, grading_cpu = time.perf_counter() - t0, cpu() - c0

    app = BenchApp(application, projector)
    t0, c0, w0 = time.perf_counter(), cpu(), runqueue_wait()
    closed = close_year(app, book, DISTRICT, 2026, "bench")
    close_wall, close_cpu, close_wait = time.perf_counter() - t0, cpu() - c0, runqueue_wait() - w0
    t0, c0 = time.perf_counter(), cpu()
    again = close_year(app, book, DISTRICT, 2026, "bench")
    again_wall, again_cpu = time.perf_counter() - t0, cpu() - c0
    assert {**again, "newly_awarded": closed["newly_awarded"]} == closed, "a re-run close changed the result"
    db.engine.dispose()

    return {
        "members": members, "upstream_events": upstream, "evaluation_events": evaluation_events,
        "ledger_rebuild": {"wall_s": rnd(rebuild_wall, 2), "cpu_s": rnd(rebuild_cpu, 2),
                           "events_per_s": round(upstream / rebuild_wall),
                           "events_per_cpu_s": round(upstream / rebuild_cpu), "target_events_per_s": 20000,
                           "runqueue_wait_s": rnd(rebuild_wait, 2)},
        "store_load": {"wall_s": rnd(load_wall, 2), "cpu_s": rnd(load_cpu, 2),
                       "evaluation_events_per_s": round(evaluation_events / load_wall)},
        "projection_rebuild": {"wall_s": rnd(projection_wall, 2), "cpu_s": rnd(projection_cpu, 2),
                               "evaluation_events": projected,
                               "evaluation_events_per_s": round(projected / projection_wall),
                               "upstream_events_per_s": round(upstream / projection_wall),
                               "upstream_events_per_cpu_s": round(upstream / projection_cpu)},
        "grading_projection_rebuild": {"wall_s": rnd(grading_wall, 2), "cpu_s": rnd(grading_cpu, 2),
                                       "evaluation_events": folded,
                                       "evaluation_events_per_s": round(folded / grading_wall)},
        "year_close": {"wall_s": rnd(close_wall, 2), "cpu_s": rnd(close_cpu, 2), "target_s": 30,
                       "runqueue_wait_s": rnd(close_wait, 2),
                       "cpu_ms_per_member": rnd(close_cpu * 1000 / max(members, 1), 3),
                       "graded": closed["members"], "distribution": closed["distribution"],
                       "disqualified": closed["disqualified"], "titles": closed["titles"]},
        "year_close_again": {"wall_s": rnd(again_wall, 2), "cpu_s": rnd(again_cpu, 2)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "gc_threshold": gc.get_threshold(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "shared 2-core machine with other test runs: figures are noisy"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--events-per-member", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2,000 members (20,000 events)")
    parser.add_argument("--gc-threshold", type=int, default=None,
                        help="the cyclic GC's first threshold for the run (Python's default: 700)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    configure_logging("bench", level="WARNING")     # stdout is the report
    members = 2_000 if args.quick else args.members
    result = run(members, args.events_per_member)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
