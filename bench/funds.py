"""Funds benchmark, in process on the service layer (no broker): how the per-account stream
design behaves as an account grows, and what the yearly reports cost.

    python -m bench.funds [--json] [--database postgres|sqlite] [--projects 200] [--communities 20]

- `lifecycle`: `--communities` accounts, each with `--projects` projects taken through all ten
  steps (proposal → payment) by the handlers, as the service runs them (one transaction each);
  commands/s and per-command latency, wall and CPU time of this process.
- `cold_load`: rebuilding the largest account (every project's ~10 events) from the event store
  with an empty stream cache — what a command pays after a restart — wall and CPU.
- `reports`: the PDF and .xlsx of that account, wall and CPU.

PostgreSQL uses its own database `baodao_bench_funds` (schema dropped first). Figures on a
shared, loaded machine are noisy; CPU time is the steadier one. Nothing here asserts a timing.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import date

from bench.support import prepare_postgres, summary
from services.funds import handlers, readmodels, reports
from services.funds.domain import CommunityFundYear
from services.funds.service import build_application
from services.funds.workdays import WorkingCalendar
from shared.application import Context
from shared import throughput
from shared.throughput import StreamCache
from shared.db import Database
from shared.projections import Projector

D = date.fromisoformat
SIGNED = [{"role": "community_secretary", "name": "李书记", "signed_on": D("2026-06-01")},
          {"role": "construction_committee_director", "name": "王主任", "signed_on": D("2026-06-01")},
          {"role": "street_secretary", "name": "赵书记", "signed_on": D("2026-06-02")}]


def lifecycle(app, cal, cid: str, pid: str, timings: list[float]) -> None:
    where = (cid, 2026)
    ctx = Context(correlation_id="bench")
    steps = [
        (handlers.propose_project, ({"project_id": pid, "community_id": cid, "year": 2026, "title": "楼道照明",
                                     "category": "物业管理服务", "description": "装灯", "amount_fen": 10_001,
                                     "lines": [{"item": "灯具", "kind": "设施维修", "amount_fen": 10_001}],
                                     "small_beneficiary_group": False, "beneficiaries": 10, "estate": "老旧小区",
                                     "demand_ids": [], "payee_kind": "organisation", "by": "社区党委"}, {},
                                    D("2026-03-02"))),
        (handlers.apply_for_project, (where, {"project_id": pid, "preliminary_consent_by": "张", "plan": "方案",
                                              "by": "社区党委"}, D("2026-03-03"))),
        (handlers.record_joint_meeting, (where, {"project_id": pid, "attendees": 9, "resident_representatives": 4,
                                                 "votes_for": 9, "votes_against": 0, "minutes": "通过"},
                                         D("2026-03-05"))),
        (handlers.publish_notice, (where, {"project_id": pid}, D("2026-03-09"), cal)),
        (handlers.submit_project, (where, {"project_id": pid, "by": "社区党委"}, D("2026-03-13"), cal)),
        (handlers.approve_project, (where, {"project_id": pid, "by": "张", "construction_committee_by": "刘"},
                                    D("2026-03-16"))),
        (handlers.accept_project, (where, {"project_id": pid, "quality": "合格", "residents_surveyed": 9,
                                           "residents_satisfied": 9, "by": "专人", "remarks": "",
                                           "acting_as": "street_committee"}, D("2026-05-28"))),
        (handlers.pay_project, (where, {"project_id": pid, "payment_id": f"pay-{pid}", "amount_fen": 10_001,
                                        "payee": "某公司", "voucher": "invoice", "invoice_no": "No.1",
                                        "signatures": SIGNED, "final": True}, D("2026-06-02"), cal)),
    ]
    for handler, args in steps:
        t0 = time.perf_counter()
        app.execute(handler, *args, context=ctx)
        timings.append((time.perf_counter() - t0) * 1000)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--pg-url", default=os.environ.get("BAODAO_PG_URL", "postgresql://postgres@localhost:5432/"))
    parser.add_argument("--projects", type=int, default=200, help="projects per account")
    parser.add_argument("--communities", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one account of 10 projects (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.communities = 10, 1
    tmp = tempfile.TemporaryDirectory()
    if args.database == "postgres":
        url = prepare_postgres(args.pg_url, "baodao_bench_funds", ["funds"])
        database = Database(url, schema="funds")
    else:
        database = Database(f"sqlite:///{tmp.name}/funds.db")
    app, projections = build_application(database)
    throughput.enable(app)   # what the service process switches on (ApplicationProvider)
    cal = WorkingCalendar()
    ctx = Context(correlation_id="bench")
    timings: list[float] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for c in range(args.communities):
        cid = f"c{c:04d}"
        app.execute(handlers.allocate_budget, cid, f"社区{c}", 2026, 10_001 * args.projects, "市财政", D("2026-01-05"),
                    context=ctx)
        for p in range(args.projects):
            lifecycle(app, cal, cid, f"{cid}-p{p}", timings)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    result = {"database": args.database, "accounts": args.communities, "projects_per_account": args.projects,
              "lifecycle": {"commands": len(timings), "commands_per_s": round(len(timings) / wall, 1),
                            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "command_ms": summary(timings)}}
    stream = CommunityFundYear.stream_id_for(CommunityFundYear.id_for("c0000", 2026))
    cold = []
    for _ in range(5):
        app.streams = StreamCache()
        w, c = time.perf_counter(), time.process_time()
        with database.transaction() as conn:
            events = app.store.read_stream(stream, conn=conn)
            fund = CommunityFundYear.replay("c0000:2026", [app.codec.decode(e) for e in events])
        cold.append(((time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000))
    result["cold_load"] = {"events": len(events), "wall_ms": summary([w for w, _ in cold]),
                           "cpu_ms": summary([c for _, c in cold]), "paid_fen": fund.paid_fen}
    projector = Projector(database, app.store, app.codec, projections)
    w, c = time.perf_counter(), time.process_time()
    projector.catch_up()
    result["projection_catch_up"] = {"events": app.store.max_position(), "wall_s": round(time.perf_counter() - w, 2),
                                     "cpu_s": round(time.process_time() - c, 2)}
    with database.transaction() as conn:
        account = readmodels.account_view(conn, "c0000", 2026)
        ledger = readmodels.ledger_entries(conn, "c0000", 2026)
    for kind, render in (("pdf", reports.report_pdf), ("xlsx", reports.report_xlsx)):
        w, c = time.perf_counter(), time.process_time()
        size = len(render("yearly_summary", account, ledger, D("2026-12-18")))
        result.setdefault("reports", {})[kind] = {"bytes": size, "wall_ms": round((time.perf_counter() - w) * 1000, 1),
                                                  "cpu_ms": round((time.process_time() - c) * 1000, 1)}
    database.dispose()
    tmp.cleanup()
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
