"""Demo of the community special fund (专项经费): one community's year.

Starts funds and dispatch as separate `nameko run` processes on the given broker and the demo's
own PostgreSQL database (`baodao_funds_demo`; or the embedded SQLite files with
`--database sqlite`). 幸福社区's 2025 fund is closed with a surplus that carries over into
2026 (budgets imported from CSV); residents' demands are recorded in dispatch and reach funds
through the relay; a lighting project runs from proposal (一事一议, linking the demands) through
the joint meeting, a notice across the National Day holiday with one objection (parked, then
resolved), the street committee's approval, a change with consent, acceptance and payment with
the three signatures; an aid project is paid against the payee's signature; a third small-group
project is refused by the 20% rule and an office-cost one by the category check. The deadline
scan reminds the reports once; the street report and the yearly summary are written as PDF and
.xlsx under var/demo-funds/, and the ledger is printed. The controls: the approval in an
office's name, acceptance by the community (综合验收 is the street committee's, 第十二条), the same
person signing the invoice twice (第十三条), 物业管理服务 for an estate with a property company
(第八条(4)) and a project without budget lines are refused; the supervisory committee's file
(第十四条) lists every project's documents, notices, objections and payments; a notice posted on
29 December runs into 2027, which the holiday calendar does not cover yet: its end is counted
on weekdays and marked provisional, and the service's health shows the operator's alert.

    python -m deploy.demo_funds --amqp-uri amqp://guest:guest@localhost:5672/baodao-funds
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
import warnings
from datetime import datetime, timedelta, timezone

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

from deploy.pg import drop_schemas, ensure_database  # noqa: E402
from deploy.processes import (  # noqa: E402
    ROOT, BrokerUnreachable, ServiceProcess, check_broker, service_env, wait_ready,
)
from shared.logging import quiet_amqp_client  # noqa: E402

DEMO_DB = "baodao_funds_demo"
CID, CNAME = "xf", "幸福社区"
SIGNED = [{"role": "community_secretary", "name": "李建华（社区党委书记）", "signed_on": "2026-11-16"},
          {"role": "construction_committee_director", "name": "王立新（建管委主任）", "signed_on": "2026-11-16"},
          {"role": "street_secretary", "name": "赵志刚（党工委书记）", "signed_on": "2026-11-17"}]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"))
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--pg-url", default=os.environ.get("BAODAO_PG_URL", "postgresql://postgres@localhost:5432/"))
    return parser.parse_args(argv)


def yuan(fen: int) -> str:
    from services.funds.domain import yuan as fmt
    return fmt(fen)


def refused(call, *args):
    from shared.nameko_edge import CommandRejected
    try:
        call(*args)
    except CommandRejected as exc:
        return exc
    raise AssertionError("expected a refusal")


def record_demands(rpc) -> list[str]:
    start = datetime(2026, 3, 7, 1, 0, tzinfo=timezone.utc)
    ids = []
    for description, category, resident in (("3栋楼道灯坏了半年，晚上老人上下楼看不见", "维修", "赵大爷"),
                                            ("5栋、7栋楼道也没有灯，希望统一装上", "维修", "钱阿姨"),
                                            ("独居老人吃饭难，希望社区帮助解决午餐", "助老", "孙奶奶")):
        demand_id = "d-" + uuid.uuid4().hex[:8]
        rpc.dispatch.record_demand({"demand_id": demand_id, "community_id": CID, "grid_id": "xf-g1",
                                    "resident_id": "r-" + demand_id, "resident_name": resident, "category": category,
                                    "description": description, "address": "幸福小区", "recorded_by": "网格员周",
                                    "window_start": start.isoformat(),
                                    "window_end": (start + timedelta(hours=4)).isoformat()})
        ids.append(demand_id)
    return ids


def propose_when_demands_arrived(rpc, cmd, timeout=30.0):
    """A proposal links dispatch's demands, which reach funds through the relay and the inbox."""
    from shared.nameko_edge import CommandRejected
    deadline = time.monotonic() + timeout
    while True:
        try:
            return rpc.funds.propose_project(cmd)
        except CommandRejected as exc:
            if "不存在" not in exc.message or time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def run_year(rpc) -> dict:
    f = rpc.funds
    out = {}
    # -- budgets: 2025 from CSV, closed with a surplus; 2026 from CSV, surplus carried over
    f.import_budgets(f"community_id,community_name,year,amount_yuan\n{CID},{CNAME},2025,50000\n", "市财政",
                     "2025-01-06")
    f.propose_project({"project_id": "2025-01", "community_id": CID, "year": 2025, "title": "重阳节敬老文艺演出",
                       "category": "文体活动服务", "description": "重阳节为社区老人举办文艺演出", "amount_fen": 1_860_050,
                       "lines": [{"item": "演出服装道具", "kind": "文体器材", "amount_fen": 860_050},
                                 {"item": "场地租用", "kind": "场地租用", "amount_fen": 1_000_000}],
                       "small_beneficiary_group": False, "beneficiaries": 600, "by": "社区党委", "on": "2025-09-01"})
    step_through(f, "2025-01", 2025)
    f.pay_project({"project_id": "2025-01", "payment_id": "2025-01-pay", "amount_fen": 1_860_050, "payee": "市群星艺术团",
                   "voucher": "invoice", "invoice_no": "No.25001",
                   "signatures": [{**s, "signed_on": "2025-11-10"} for s in SIGNED], "on": "2025-11-10"})
    f.issue_report({"community_id": CID, "year": 2025, "report": "street_report", "on": "2025-11-28"})
    f.issue_report({"community_id": CID, "year": 2025, "report": "yearly_summary", "on": "2025-12-15"})
    out["closed_2025"] = f.close_year({"community_id": CID, "year": 2025, "by": "党工委财务", "on": "2025-12-31"})
    out["budget_2026"] = f.import_budgets(f"community_id,community_name,year,amount_yuan\n{CID},{CNAME},2026,50000\n",
                                         "市财政", "2026-01-05")
    # -- residents' demands, from dispatch
    demands = record_demands(rpc)
    # -- project 1: lighting, through every step, with an objection across National Day
    lighting = {"project_id": "2026-01", "community_id": CID, "year": 2026, "title": "弃管小区楼道照明改造",
                "category": "物业管理服务", "description": "3、5、7栋楼道安装声控照明灯 42 盏", "amount_fen": 1_800_000,
                "lines": [{"item": "声控灯具 42 盏", "kind": "设施维修", "amount_fen": 1_050_000},
                          {"item": "安装人工", "kind": "购买服务", "amount_fen": 750_000}],
                "small_beneficiary_group": False, "beneficiaries": 420, "demand_ids": demands[:2],
                "estate": "物业弃管小区", "by": "社区党委", "on": "2026-09-07"}
    propose_when_demands_arrived(rpc, lighting)
    f.apply_for_project({"project_id": "2026-01", "preliminary_consent_by": "张明（党工委）", "plan": "统一采购安装",
                         "by": "社区党委", "on": "2026-09-10"})
    f.record_joint_meeting({"project_id": "2026-01", "attendees": 17, "resident_representatives": 8, "votes_for": 16,
                            "votes_against": 1, "minutes": "两委及居民代表联席会议讨论通过", "on": "2026-09-24"})
    out["notice"] = f.publish_notice({"project_id": "2026-01", "on": "2026-09-30"})
    f.raise_objection({"project_id": "2026-01", "objection_id": "obj-1", "raised_by": "7栋居民陈某",
                       "content": "施工安排在晚上会影响休息", "on": "2026-10-08"})
    out["parked"] = refused(f.submit_project, {"project_id": "2026-01", "by": "社区党委", "on": "2026-10-12"})
    f.resolve_objection({"project_id": "2026-01", "objection_id": "obj-1", "resolution": "议事协商：改为白天施工",
                         "by": "社区议事监督委员会", "on": "2026-10-09"})
    out["submitted"] = f.submit_project({"project_id": "2026-01", "by": "社区党委", "on": "2026-10-12"})
    out["office_approval"] = refused(f.approve_project, {"project_id": "2026-01", "by": "和平街道党工委",
                                                         "construction_committee_by": "刘强（建管委）", "on": "2026-10-16"})
    f.approve_project({"project_id": "2026-01", "by": "赵志刚（党工委书记）", "construction_committee_by": "刘强（建管委）",
                       "on": "2026-10-16"})
    f.change_project({"project_id": "2026-01", "change": "增加 2 栋楼道 8 盏灯", "reason": "居民代表提出 2 栋同样无灯",
                      "amount_fen": 2_050_000,
                      "lines": [{"item": "声控灯具 50 盏", "kind": "设施维修", "amount_fen": 1_250_000},
                                {"item": "安装人工", "kind": "购买服务", "amount_fen": 800_000}],
                      "consent_by": "赵志刚（党工委书记）", "consent_on": "2026-10-26", "on": "2026-10-27"})
    out["early_payment"] = refused(f.pay_project, {
        "project_id": "2026-01", "payment_id": "2026-01-pay", "amount_fen": 2_050_000, "payee": "明亮照明工程公司",
        "voucher": "invoice", "invoice_no": "No.26031",
        "signatures": [{**s, "signed_on": "2026-11-02"} for s in SIGNED], "on": "2026-11-02"})
    acceptance = {"project_id": "2026-01", "quality": "优良", "residents_surveyed": 60, "residents_satisfied": 57,
                  "by": "党工委专人", "remarks": "灯具运行正常", "on": "2026-11-13", "acting_as": "street_committee"}
    out["own_acceptance"] = refused(f.accept_project, {**acceptance, "by": "社区党委", "acting_as": "community"})
    f.accept_project(acceptance)
    out["signed_twice"] = refused(f.pay_project, {
        "project_id": "2026-01", "payment_id": "2026-01-pay", "amount_fen": 2_050_000, "payee": "明亮照明工程公司",
        "voucher": "invoice", "invoice_no": "No.26031", "on": "2026-11-17",
        "signatures": [SIGNED[0], {**SIGNED[1], "name": "李建华"}, SIGNED[2]]})
    out["paid"] = f.pay_project({"project_id": "2026-01", "payment_id": "2026-01-pay", "amount_fen": 2_050_000,
                                 "payee": "明亮照明工程公司", "voucher": "invoice", "invoice_no": "No.26031",
                                 "signatures": SIGNED, "on": "2026-11-17"})
    # -- project 2: lunches for elderly people living alone (a small group), paid against signatures
    f.propose_project({"project_id": "2026-02", "community_id": CID, "year": 2026, "title": "独居老人午餐助餐",
                       "category": "特困群体服务", "description": "为 12 位独居困难老人提供三个月午餐补助",
                       "amount_fen": 1_500_000, "lines": [{"item": "午餐补助", "kind": "救助资助", "amount_fen": 1_500_000}],
                       "small_beneficiary_group": True, "beneficiaries": 12, "demand_ids": demands[2:],
                       "payee_kind": "aid", "by": "社区党委", "on": "2026-09-08"})
    step_through(f, "2026-02", 2026)
    f.pay_project({"project_id": "2026-02", "payment_id": "2026-02-pay", "amount_fen": 1_500_000,
                   "payee": "孙某等 12 位老人（签字领取）", "voucher": "payee_signature",
                   "signatures": [{"role": "payee", "name": "孙某等 12 人", "signed_on": "2026-11-10"}],
                   "on": "2026-11-10"})
    # -- refusals
    out["small_group"] = refused(f.propose_project, {
        "project_id": "2026-03", "community_id": CID, "year": 2026, "title": "残疾人康复器材", "category": "特困群体服务",
        "description": "为 6 位残疾居民购置康复器材", "amount_fen": 700_000,
        "lines": [{"item": "康复器材", "kind": "服务用品", "amount_fen": 700_000}], "small_beneficiary_group": True,
        "beneficiaries": 6, "by": "社区党委", "on": "2026-10-20"})
    out["forbidden"] = refused(f.propose_project, {
        "project_id": "2026-04", "community_id": CID, "year": 2026, "title": "社区办公室空调", "category": "便民利民服务",
        "description": "更换办公室空调", "amount_fen": 600_000,
        "lines": [{"item": "空调", "kind": "社区办公开支", "amount_fen": 600_000}], "small_beneficiary_group": False,
        "beneficiaries": 1, "by": "社区党委", "on": "2026-10-20"})
    out["managed_estate"] = refused(f.propose_project, {
        "project_id": "2026-05", "community_id": CID, "year": 2026, "title": "商品房小区绿化补植", "category": "物业管理服务",
        "description": "有物业公司的小区补植绿化", "amount_fen": 300_000, "estate": "其他小区",
        "lines": [{"item": "苗木", "kind": "服务用品", "amount_fen": 300_000}], "small_beneficiary_group": False,
        "beneficiaries": 200, "by": "社区党委", "on": "2026-10-20"})
    out["no_lines"] = refused(f.propose_project, {
        "project_id": "2026-06", "community_id": CID, "year": 2026, "title": "便民服务点", "category": "便民利民服务",
        "description": "添置便民工具", "amount_fen": 200_000, "small_beneficiary_group": False, "beneficiaries": 300,
        "by": "社区党委", "on": "2026-10-20"})
    # -- a notice into 2027, which the holiday calendar does not cover yet: provisional
    f.propose_project({"project_id": "2026-07", "community_id": CID, "year": 2026, "title": "新春送温暖慰问",
                       "category": "特困群体服务", "description": "春节前慰问困难家庭", "amount_fen": 400_000,
                       "lines": [{"item": "慰问品", "kind": "救助资助", "amount_fen": 400_000}],
                       "small_beneficiary_group": False, "beneficiaries": 80, "payee_kind": "aid", "by": "社区党委",
                       "on": "2026-12-01"})
    f.apply_for_project({"project_id": "2026-07", "preliminary_consent_by": "张明（党工委）", "plan": "统一采购发放",
                         "by": "社区党委", "on": "2026-12-21"})
    f.record_joint_meeting({"project_id": "2026-07", "attendees": 15, "resident_representatives": 7, "votes_for": 15,
                            "minutes": "联席会议一致通过", "on": "2026-12-22"})
    out["provisional"] = f.publish_notice({"project_id": "2026-07", "on": "2026-12-29"})
    out["health"] = f.health()
    # -- the deadline scan: reminders a month and a week before, never twice
    out["scans"] = [f.check_deadlines(day) for day in ("2026-11-01", "2026-11-01", "2026-11-20", "2026-11-24")]
    out["street_report"] = f.issue_report({"community_id": CID, "year": 2026, "report": "street_report",
                                           "on": "2026-11-27"})
    out["summary"] = f.issue_report({"community_id": CID, "year": 2026, "report": "yearly_summary", "on": "2026-12-18"})
    out["account"] = f.account(CID, 2026)
    out["ledger"] = f.ledger(CID)
    out["board"] = f.noticeboard(CID, "2026-12-21")
    out["trail"] = f.audit_trail(CID, 2026)
    out["supervision"] = f.supervision(CID, 2026)
    return out


def step_through(f, pid, year):
    """Application, joint meeting, notice, submission, approval and acceptance on plain dates."""
    y = str(year)
    f.apply_for_project({"project_id": pid, "preliminary_consent_by": "张明（党工委）", "plan": "按方案实施",
                         "by": "社区党委", "on": f"{y}-09-10"})
    f.record_joint_meeting({"project_id": pid, "attendees": 15, "resident_representatives": 7, "votes_for": 15,
                            "minutes": "联席会议一致通过", "on": f"{y}-09-15"})
    f.publish_notice({"project_id": pid, "on": f"{y}-09-16"})
    f.submit_project({"project_id": pid, "by": "社区党委", "on": f"{y}-09-22"})
    f.approve_project({"project_id": pid, "by": "赵志刚（党工委书记）", "construction_committee_by": "刘强（建管委）",
                       "on": f"{y}-09-24"})
    f.accept_project({"project_id": pid, "quality": "合格", "residents_surveyed": 30, "residents_satisfied": 28,
                      "by": "党工委专人", "on": f"{y}-11-06", "acting_as": "street_committee"})


def print_report(out: dict, work_dir) -> None:
    from deploy.demo import row_text

    print(f"2025 年度结账，结余 {yuan(out['closed_2025']['surplus_fen'])} 元结转 2026 年")
    b = out["budget_2026"]["rows"][0]
    print(f"2026 年度：下达 {yuan(b['allocated_fen'])} 元 + 上年结余 {yuan(b['carried_over_fen'])} 元 = "
          f"{yuan(b['budget_fen'])} 元")
    print(f"楼道照明公示：{out['notice']['posted_on']} 起，至 {out['notice']['ends_on']} 止（3 个工作日，跨国庆假期）")
    print(f"  异议搁置：{out['parked'].message}")
    print(f"  报党工委审批，应于 {out['submitted']['decide_by']} 前决定（5 个工作日）")
    print(f"  验收前付款被拒：{out['early_payment'].message}")
    print(f"  付款：{yuan(out['paid']['paid_fen'])} 元（发票 + 三人依次签字），状态 {out['paid']['state']}")
    print(f"  审批人填机构名称被拒：{out['office_approval'].message}")
    print(f"  社区自行验收被拒：{out['own_acceptance'].message}")
    print(f"  同一人签字两次被拒：{out['signed_twice'].message}")
    print(f"拒绝（20% 规则）：{out['small_group'].message}")
    print(f"拒绝（使用范围）：{out['forbidden'].message}")
    print(f"拒绝（物业管理服务）：{out['managed_estate'].message}")
    print(f"拒绝（无经费明细）：{out['no_lines'].message}")
    p = out["provisional"]
    print(f"跨年公示：{p['posted_on']} 起，至 {p['ends_on']} 止"
          f"{'（' + p['ends_on_note'] + '，按周一至周五计算）' if p['ends_on_provisional'] else ''}")
    alert = out["health"]["calendar"]["alert"]
    print(f"节假日日历：收录至 {out['health']['calendar']['covered_until']}"
          f"{'；运维提醒：' + alert['message'] if alert else ''}")
    print("到期提醒 FundsReportDue：" + "，".join(f"{s['as_of']} 发出 {s['reminders']} 条" for s in out["scans"]))
    print("\n专项经费台账（幸福社区）")
    widths = [12, 52, 14, 14, 14]
    print(row_text(["日期", "摘要", "收入", "支出", "余额"], widths))
    for e in out["ledger"]["entries"]:
        print(row_text([e["entry_on"], e["summary"][:24], yuan(e["income_fen"]) if e["income_fen"] else "",
                        yuan(e["expense_fen"]) if e["expense_fen"] else "", yuan(e["balance_fen"])], widths))
    a = out["account"]
    print(f"\n2026 年：经费 {yuan(a['budget_fen'])} 元，已付 {yuan(a['paid_fen'])} 元，结余 {yuan(a['balance_fen'])} 元；"
          f"受益群体较小项目 {yuan(a['small_group_fen'])} / 上限 {yuan(a['small_group_limit_fen'])} 元")
    print(f"12 月 21 日公示栏：{'；'.join(n['title'] + '（至 ' + n['ends_on'] + '）' for n in out['board'])}")
    print(f"审计轨迹：{len(out['trail'])} 个事件（{', '.join(sorted({e['event_type'] for e in out['trail']}))}）")
    print("议事监督委员会全程监督（只读）：")
    for sp in out["supervision"]["projects"]:
        print(f"  {sp['title']}（{sp['state_name']}）：材料 {len(sp['documents'])} 份，公示 {len(sp['notices'])} 次，"
              f"异议 {len(sp['objections'])} 条，付款 {len(sp['payments'])} 笔")
    for doc in out["street_report"]["files"] + out["summary"]["files"]:
        print(f"  wrote {doc}")


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_amqp_client()
    print("报到 Baodao — 社区服务群众专项经费 demo (funds and dispatch as separate processes)")
    try:
        check_broker(args.amqp_uri)
    except BrokerUnreachable as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 2
    work_dir = ROOT / "var" / "demo-funds"
    shutil.rmtree(work_dir, ignore_errors=True)
    (work_dir / "logs").mkdir(parents=True)
    database_url = None
    if args.database in ("auto", "postgres"):
        try:
            database_url = ensure_database(args.pg_url, DEMO_DB)
            drop_schemas(database_url, ("funds", "dispatch"))
        except Exception as exc:  # noqa: BLE001
            if args.database == "postgres":
                print(f"ERROR: PostgreSQL not reachable ({exc})", file=sys.stderr)
                return 2
            database_url = None
    print(f"  database: {database_url or 'SQLite files in ' + str(work_dir)}\n  broker:   {args.amqp_uri}")
    from deploy.topology import EVENT_SOURCES, all_subscriptions
    from shared import topology

    topology.declare(args.amqp_uri, all_subscriptions(), sources=EVENT_SOURCES)
    env = service_env(args.amqp_uri, database_url, work_dir)
    env["FUNDS_REPORTS_DIR"] = str(work_dir)
    services = [ServiceProcess(name, env, work_dir / "logs" / f"{name}.log").start() for name in ("funds", "dispatch")]
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        wait_ready(args.amqp_uri, services)
        with ClusterRpcProxy({"AMQP_URI": args.amqp_uri}, timeout=60) as rpc:
            out = run_year(rpc)
    finally:
        codes = [s.stop() for s in services]
    print()
    print_report(out, work_dir)
    print(f"\nservices stopped (exit codes {codes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
