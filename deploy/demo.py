"""The demo: a small district's check-in campaign (报到), start to deadline.

Starts registration and notify as separate `nameko run` processes on the local RabbitMQ and
PostgreSQL (or the embedded SQLite files with `--database sqlite`). Registers four communities
with grids and branches and four units; each unit uploads its roster as .xlsx (the first upload
has two bad rows and is sent back whole); letters go out; most members check in (one double
check-in is refused); one member moves house and registers again; the deadline passes and the
rest become overdue, with reasons; a community publishes posts and a team. It waits for every
receipt (回执) to reach its unit's inbox, prints the statistics table, writes it as .xlsx and a
receipt as PDF under var/demo/, and stops the services.

    python -m deploy.demo [--database auto|postgres|sqlite] [--members 24]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
import unicodedata
from pathlib import Path

from deploy.pg import drop_schemas, ensure_database
from deploy.processes import ROOT, SERVICE_CLASSES, BrokerUnreachable, ServiceProcess, check_broker, service_env, wait_ready
from shared.logging import quiet_amqp_client

DISTRICT = ("xq", "西区")
STREET = ("hp", "和平街道")
COMMUNITIES = [("xf", "幸福社区", "XF"), ("yg", "阳光社区", "YG"), ("hx", "和谐社区", "HX"), ("jm", "锦绣社区", "JX")]
UNITS = [("czj", "市财政局", "机关", "xf"), ("rmyy", "市第一人民医院", "事业单位", "yg"),
         ("cjjt", "城建集团有限公司", "企业", None), ("lsxh", "市律师协会", "社会组织", "hx")]
SKILLS = ["法律咨询", "健康义诊", "政策宣传", "电脑维修", "文艺", "心理疏导", "矛盾调解", "书法"]
WILLINGNESS = ["周末参加社区志愿服务", "结对帮扶困难家庭", "参加综治巡逻", "为老人提供义诊"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
DEMO_DB = "baodao_demo"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"))
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--pg-url", default=os.environ.get("BAODAO_PG_URL", "postgresql://postgres@localhost:5432/"))
    parser.add_argument("--members", type=int, default=60, help="members per unit")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg-database", default=DEMO_DB, help="the demo's own PostgreSQL database (emptied first)")
    parser.add_argument("--out-dir", default=str(ROOT / "var" / "demo"), help="files, logs and SQLite databases")
    return parser.parse_args(argv)


def prepare_postgres(base_url: str, database: str = DEMO_DB) -> str | None:
    """The demo's own database, emptied; None if PostgreSQL is not reachable."""
    try:
        url = ensure_database(base_url, database)
        drop_schemas(url, SERVICE_CLASSES)
        return url
    except Exception as exc:  # noqa: BLE001
        print(f"  PostgreSQL not reachable ({exc.__class__.__name__}); using the embedded SQLite files")
        return None


def reset_broker_state(amqp_uri: str) -> None:
    """A fresh demo: declare the topology and empty its queues of any earlier run's events."""
    import kombu

    from deploy.topology import EVENT_SOURCES, all_subscriptions
    from shared import topology

    subs = all_subscriptions()
    topology.declare(amqp_uri, subs, sources=EVENT_SOURCES)
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.default_channel
        for sub in subs:
            for name in (sub.queue_name, topology.retry_queue_name(sub.queue_name),
                         topology.dead_letter_queue_name(sub.queue_name)):
                channel.queue_purge(name)


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def row_text(cells, widths) -> str:
    """A table row aligned by display width (a Chinese character takes two columns)."""
    first, *rest = [str(c) for c in cells]
    out = first + " " * (widths[0] - display_width(first))
    for cell, width in zip(rest, widths[1:]):
        out += " " * (width - display_width(cell)) + cell
    return out


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")


def run_flow(rpc, members_per_unit: int, rng: random.Random) -> dict:
    """A small district's campaign: roster import, letters, check-ins, a move, the deadline."""
    from services.registration.roster_import import make_roster_xlsx
    from shared.nameko_edge import CommandRejected

    reg = rpc.registration
    for cid, name, prefix in COMMUNITIES:
        reg.register_community({"community_id": cid, "name": name, "district_id": DISTRICT[0],
                                "district_name": DISTRICT[1], "street_id": STREET[0], "street_name": STREET[1],
                                "card_prefix": prefix})
        for g in (1, 2):
            reg.add_grid({"community_id": cid, "grid_id": f"{cid}-g{g}", "name": f"第{g}网格",
                          "leader_name": person(rng)})
        reg.add_branch({"community_id": cid, "branch_id": f"{cid}-b1", "name": f"{name}第一支部"})
    out = {"checked_in": {}, "refusal": None, "import": None, "move": None, "late": {}}
    phone = 13800000000
    for n, (unit_id, unit_name, kind, linked) in enumerate(UNITS):
        reg.register_unit({"unit_id": unit_id, "name": unit_name, "kind": kind, "district_id": DISTRICT[0],
                           "linked_community_id": linked})
        reg.open_campaign({"unit_id": unit_id, "campaign_id": "2026", "title": "2026年在职党员到社区报到",
                           "deadline": "2026-12-31"})
        rows = []
        for i in range(members_per_unit):
            phone += 1
            rows.append({"name": person(rng), "gender": rng.choice("男女"), "age": rng.randint(24, 58),
                         "position": "科员" if i else "党组书记", "phone": str(phone),
                         "skills": "、".join(rng.sample(SKILLS, 2)), "willingness": rng.choice(WILLINGNESS),
                         "residence_community": rng.choice(COMMUNITIES)[1],
                         "status": "预备" if rng.random() < 0.1 else "正式", "leading_cadre": "是" if i == 0 else "否"})
        if n == 0:
            # The unit secretary's first upload has two mistakes: nothing of it is applied.
            bad = rows[:3] + [{**rows[3], "phone": "1380000"}, {**rows[4], "residence_community": "不存在社区"}]
            first = reg.import_roster(upload("名册.xlsx", make_roster_xlsx(bad), unit_id))
            out["import"] = {"first": first}
        result = reg.import_roster(upload("名册.xlsx", make_roster_xlsx(rows), unit_id))
        if n == 0:
            out["import"]["second"] = result
        letters = reg.issue_letters({"unit_id": unit_id, "campaign_id": "2026",
                                     "to": "linked" if linked and n % 2 else "residence"})["letters"]
        out["checked_in"][unit_id] = 0
        for i, letter in enumerate(letters):
            if i % 7 == 3:
                continue  # not registered by the deadline: the unit will have to find out why
            cid = letter["community_id"]
            reg.check_in({"member_id": letter["member_id"], "letter_id": letter["letter_id"], "community_id": cid,
                          "grid_id": f"{cid}-g{1 + i % 2}", "branch_id": f"{cid}-b1",
                          "availability": rng.sample(["周六上午", "周六下午", "周日上午", "周三晚上", "周五晚上"], 2)})
            out["checked_in"][unit_id] += 1
            if out["refusal"] is None:
                try:
                    reg.check_in({"member_id": letter["member_id"], "letter_id": letter["letter_id"],
                                  "community_id": cid})
                except CommandRejected as exc:
                    out["refusal"] = exc.message
    # One member moves house: the old registration closes, and they register again at the new community.
    mover = next(m for m in reg.roster(UNITS[0][0], 1, 50)["items"] if m["card_no"])
    to = next(c for c, _, _ in COMMUNITIES if c != mover["residence_community_id"])
    moved = reg.move_member({"member_id": mover["member_id"], "to_community_id": to, "moved_on": "2026-12-05"})
    letter = reg.issue_letter({"member_id": mover["member_id"], "campaign_id": moved["obligation_id"]})
    new_card = reg.check_in({"member_id": mover["member_id"], "letter_id": letter["letter_id"], "community_id": to})
    out["checked_in"][UNITS[0][0]] += 1
    out["move"] = {"name": mover["name"], "old_card": mover["card_no"], "new_card": new_card["card_no"]}
    # The deadline passes: every member not registered becomes overdue; units record why.
    out["overdue_scan"] = reg.mark_overdue("2027-01-01")
    for unit_id, *_ in UNITS:
        late = reg.overdue_members(unit_id)
        out["late"][unit_id] = len(late)
        for member, reason in zip(late, ("病假", "外派", "出差")):
            reg.record_overdue_reason({"member_id": member["member_id"], "obligation_id": "2026", "reason": reason})
    # The community's noticeboard: posts, a claim, a commitment, a team.
    xf = [m for unit_id, *_ in UNITS for m in reg.roster(unit_id, 1, 500)["items"]
          if m["registered_community_id"] == "xf"][:3]
    reg.publish_post({"community_id": "xf", "post_id": "xf-p1", "title": "政策宣传员", "category": "政策宣传"})
    reg.publish_post({"community_id": "xf", "post_id": "xf-p2", "title": "矛盾调解员", "category": "矛盾调解"})
    reg.form_team({"team_id": "xf-t1", "community_id": "xf", "name": "健康义诊服务队", "basis": "业缘",
                   "service": "健康义诊"})
    for m in xf:
        reg.claim_post({"member_id": m["member_id"], "community_id": "xf", "post_id": "xf-p1"})
        reg.join_team({"team_id": "xf-t1", "member_id": m["member_id"]})
    if xf:
        reg.make_commitment({"member_id": xf[0]["member_id"], "community_id": "xf",
                             "items": ["每月宣讲一次政策", "结对帮扶一户困难家庭"], "deadline": "2027-06-30"})
        reg.elect_team_leader({"team_id": "xf-t1", "ballots": {m["member_id"]: xf[0]["member_id"] for m in xf}})
    return out


WEEK_DEMANDS = [
    ("维修", "厨房水龙头漏水，请帮忙修理", "幸福小区3栋201", "一般"),
    ("维修", "厨房的水龙头漏水了，麻烦来修一下", "幸福小区3栋201", "一般"),
    ("法律援助", "和邻居因漏水赔偿起了纠纷，想咨询法律", "幸福小区5栋102", "较急"),
    ("助老", "独居老人需要每周陪同买菜", "幸福小区1栋301", "一般"),
    ("健康义诊", "老伴血压偏高，想请人上门量血压", "幸福小区2栋502", "较急"),
    ("矛盾调处", "楼上装修噪音大，双方需要调解", "幸福小区6栋101", "一般"),
]


def run_week(rpc, rng: random.Random) -> dict:
    """A week of 幸福社区: demands in, suggestions with reasons, dispatch, a decline, a timeout
    re-dispatch, accepts, completions, verification, ratings, a collective wish, an activity."""
    from datetime import datetime, timedelta, timezone

    from shared.nameko_edge import CommandRejected

    dsp, reg = rpc.dispatch, rpc.registration
    rosters = {unit_id: reg.roster(unit_id, 1, 500)["items"] for unit_id, *_ in UNITS}
    unit_members = {unit_id: {m["member_id"] for m in items} for unit_id, items in rosters.items()}
    in_xf = [m for items in rosters.values() for m in items if m["registered_community_id"] == "xf"]
    deadline = time.monotonic() + 30
    while len(dsp.yearly_minimum(2026, community_id="xf")["members"]) < len(in_xf) and time.monotonic() < deadline:
        time.sleep(0.2)   # the directory fills from registration's events
    saturday = datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc)
    out = {"orders": [], "suggestions": {}, "duplicate": None, "declined": None, "timed_out": None}
    for n, (category, text, address, urgency) in enumerate(WEEK_DEMANDS):
        demand_id = f"xf-{n + 1:03d}"
        recorded = dsp.record_demand({
            "demand_id": demand_id, "community_id": "xf", "grid_id": "xf-g1", "resident_id": f"r{n}",
            "resident_name": person(rng), "category": category, "description": text, "address": address,
            "urgency": urgency, "window_start": (saturday + timedelta(days=n % 2)).isoformat(),
            "window_end": (saturday + timedelta(days=n % 2, hours=4)).isoformat(), "channel": "网格员",
            "recorded_by": "xf-staff"})
        if recorded["possible_duplicate_of"]:
            out["duplicate"] = (demand_id, recorded["possible_duplicate_of"])
            dsp.merge_demands({"demand_id": demand_id, "into_demand_id": recorded["possible_duplicate_of"][0],
                               "by": "xf-staff"})
            continue
        out["orders"].append(demand_id)
    ratings = [5, 5, 4, 5, 3]
    for n, demand_id in enumerate(out["orders"]):
        shortlist = dsp.shortlist(demand_id, 3)
        if n < 2:
            out["suggestions"][demand_id] = shortlist
        dsp.dispatch_order({"demand_id": demand_id, "by": "xf-staff", "suggested": 3})
        order = dsp.order(demand_id)
        if n == 1:    # the member declines; the next candidate gets the order
            nxt = dsp.decline_order({"demand_id": demand_id, "who": {"id": order["assignee_id"]},
                                     "reason": "周末在外地出差"})
            out["declined"] = (order["assignee_name"], nxt["next"]["name"])
        elif n == 2:  # the member does not answer in time; the deadline scan re-dispatches it
            while dsp.order(demand_id)["assignee_id"] == order["assignee_id"]:
                time.sleep(0.5)
            out["timed_out"] = (order["assignee_name"], dsp.order(demand_id)["assignee_name"])
        order = dsp.order(demand_id)
        dsp.accept_order({"demand_id": demand_id, "who": {"id": order["assignee_id"]}})
        dsp.complete_service({"demand_id": demand_id, "who": {"id": order["assignee_id"]},
                              "hours": rng.choice([1, 1.5, 2, 3]), "content": "已上门服务，居民确认问题解决"})
        dsp.verify_service({"demand_id": demand_id, "by": "xf-staff"})
        dsp.rate_service({"demand_id": demand_id, "resident_id": order["resident_id"], "rating": ratings[n],
                          "comment": "感谢党员同志"})
    try:
        dsp.accept_order({"demand_id": out["orders"][0], "who": {"id": in_xf[-1]["member_id"]}})
    except CommandRejected as exc:
        out["taken"] = exc.message
    # a wish claimed collectively by a unit with its members
    dsp.post_wish({"wish_id": "xf-w1", "community_id": "xf", "resident_id": "r-child", "resident_name": "小雨",
                   "group": "留守儿童", "content": "想要一个书包和几本课外书"})
    crews = {}
    for m in in_xf:
        unit = next(u for u, *_ in UNITS if m["member_id"] in unit_members[u])
        crews.setdefault(unit, []).append(m["member_id"])
    unit_id, crew = max(crews.items(), key=lambda kv: len(kv[1]))
    dsp.claim_wish({"wish_id": "xf-w1", "claimant_kind": "unit", "claimant_id": unit_id, "member_ids": crew[:3]})
    dsp.fulfil_wish({"wish_id": "xf-w1", "record": "送去新书包一个、课外书 12 本", "by": {"kind": "unit", "id": unit_id}})
    # an activity: sign-up and attendance
    starts = datetime.now(timezone.utc) + timedelta(seconds=2)
    dsp.schedule_activity({"activity_id": "xf-a1", "community_id": "xf", "title": "主题党日：垃圾分类宣传",
                           "kind": "主题党日", "starts_at": starts.isoformat(), "capacity": 30})
    for m in in_xf[:8]:
        dsp.sign_up({"activity_id": "xf-a1", "member_id": m["member_id"]})
    time.sleep(max(0.0, (starts - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    dsp.record_attendance({"activity_id": "xf-a1", "attended": [m["member_id"] for m in in_xf[:7]]})
    out["final"] = [dsp.order(d) for d in out["orders"]]
    out["wish"] = dsp.wish_wall("xf")[0]
    out["minimum"] = dsp.yearly_minimum(2026, community_id="xf")
    return out


def print_week(week: dict) -> None:
    print("\n幸福社区的一周（点单 → 下单 → 接单）")
    if week["duplicate"]:
        print(f"  疑似重复需求 {week['duplicate'][0]} 与 {week['duplicate'][1][0]}，已由工作人员合并")
    for demand_id, shortlist in week["suggestions"].items():
        print(f"  {demand_id} 推荐人选：")
        for s in shortlist:
            print(f"    {s['name']}（{s['score']:.2f}）：" + "；".join(s["reasons"]))
    print(f"  谢绝：{week['declined'][0]} 谢绝后，订单转给 {week['declined'][1]}")
    print(f"  超时：{week['timed_out'][0]} 未在时限内接单，订单转给 {week['timed_out'][1]}")
    if week.get("taken"):
        print(f"  抢单被拒：{week['taken']}")
    from services.dispatch.domain import STATE_NAMES

    widths = (10, 10, 12, 10, 6, 6)
    print("  " + row_text(("订单", "类别", "服务党员", "状态", "时长", "评分"), widths))
    for o in week["final"]:
        print("  " + row_text((o["demand_id"], o["category"], o["assignee_name"] or "", STATE_NAMES[o["state"]],
                               o["hours"] or "", o["rating"] or ""), widths))
    wish = week["wish"]
    print(f"  微心愿：{wish['resident_name']}“{wish['content']}”由{wish['claimant']}认领，已实现：{wish['record']}")
    m = week["minimum"]
    print(f"  年度底线（服务 ≥{m['minimum']['services']} 次、活动 ≥{m['minimum']['activities']} 次）："
          f"幸福社区 {len(m['members'])} 名已报到党员中 {len(m['behind'])} 名尚未达到")


def upload(filename: str, content: bytes, unit_id: str) -> dict:
    import base64

    return {"unit_id": unit_id, "filename": filename, "content_base64": base64.b64encode(content).decode()}


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    quiet_amqp_client()
    print("报到 Baodao demo — registration, dispatch and notify as separate processes")
    try:
        check_broker(args.amqp_uri)
    except BrokerUnreachable as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 2
    work_dir = Path(args.out_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    (work_dir / "logs").mkdir(parents=True)
    database_url = None
    if args.database in ("auto", "postgres"):
        database_url = prepare_postgres(args.pg_url, args.pg_database)
        if database_url is None and args.database == "postgres":
            print("ERROR: --database postgres, but PostgreSQL is not reachable", file=sys.stderr)
            return 2
    print(f"  database: {database_url or 'SQLite files in ' + str(work_dir)}")
    print(f"  broker:   {args.amqp_uri}")
    reset_broker_state(args.amqp_uri)

    env = service_env(args.amqp_uri, database_url, work_dir)
    env.update(ACCEPTANCE_LIMIT_MINUTES="0.05", DEADLINE_SCAN_SECONDS="0.5")  # a 3-second limit, to show a timeout
    services = [ServiceProcess(name, env, work_dir / "logs" / f"{name}.log").start()
                for name in ("registration", "dispatch", "notify")]
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        wait_ready(args.amqp_uri, services)
        print(f"  services ready: {', '.join(f'{s.name} (pid {s.process.pid})' for s in services)}\n")
        with ClusterRpcProxy({"AMQP_URI": args.amqp_uri}, timeout=30) as rpc:
            outcome = run_flow(rpc, args.members, random.Random(args.seed))
            week = run_week(rpc, random.Random(args.seed))
            expected = outcome["checked_in"]
            deadline = time.monotonic() + 60
            while True:
                receipts = {u: rpc.notify.inbox("unit", u, 1, 1, template="check_in_receipt")["total"] for u in expected}
                if receipts == expected or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            by_unit = rpc.registration.statistics({"group_by": "unit", "district_id": DISTRICT[0]})
            by_community = rpc.registration.statistics({"group_by": "community", "district_id": DISTRICT[0]})
            board = rpc.registration.noticeboard("xf")
            sample = rpc.notify.inbox("unit", UNITS[0][0], 1, 1, template="check_in_receipt")["items"]
            xlsx = rpc.registration.statistics_xlsx({"group_by": "unit", "district_id": DISTRICT[0]})
            some_member = next(m for m in rpc.registration.roster(UNITS[0][0], 1, 50)["items"] if m["card_no"])
            receipt = rpc.registration.receipt_pdf(some_member["member_id"])
    finally:
        codes = [s.stop() for s in services]

    import base64

    files = []
    for doc in (xlsx, receipt):
        path = work_dir / doc["filename"]
        path.write_bytes(base64.b64decode(doc["content_base64"]))
        files.append(path)

    imported = outcome["import"]
    print(f"{UNITS[0][1]}上传名册：{imported['first']['summary']}，整份退回：")
    for e in imported["first"]["errors"]:
        print(f"  第 {e['row']} 行 [{e['column']}] {e['reason']}")
    print(f"改正后重新上传：{imported['second']['summary']}，新增 {imported['second']['created']} 名\n")

    print(f"在职党员报到情况统计表（{DISTRICT[1]}，截至 {outcome['overdue_scan']['as_of']} 逾期检查后）")
    widths = (18, 10, 8, 6, 8, 12)
    print(row_text(("单位", "党员总数", "已报到", "逾期", "报到率", "回执已送达"), widths) + "  逾期原因")
    for row in by_unit["rows"]:
        reasons = "、".join(f"{k}{v}" for k, v in row["overdue_reasons"].items())
        print(row_text((row["name"], row["members"], row["registered"], row["overdue"], f"{row['rate']:.0%}",
                        receipts.get(row["id"], 0)), widths) + "  " + reasons)
    t = by_unit["totals"]
    print(row_text(("合计", t["members"], t["registered"], t["overdue"], f"{t['rate']:.0%}",
                    sum(receipts.values())), widths))
    print("\n按居住社区：")
    for row in by_community["rows"]:
        print(row_text((row["name"], row["members"], row["registered"], row["overdue"], f"{row['rate']:.0%}"),
                       widths[:5]))
    print(f"\n重复报到被拒绝：{outcome['refusal']}")
    move = outcome["move"]
    print(f"搬家重新报到：{move['name']} 原登记卡 {move['old_card']} 已关闭，在新社区报到，新登记卡 {move['new_card']}")
    if board["teams"]:
        team = board["teams"][0]
        print(f"幸福社区公示栏：岗位 {len(board['posts'])} 个，承诺 {len(board['commitments'])} 条，"
              f"服务队“{team['name']}”队长 {team['leader']}，队员 "
              + "、".join(f"{m['name']}({m['phone']})" for m in team["members"]))
    print_week(week)
    if sample:
        print(f"\n{UNITS[0][1]} 收件箱中的一份回执：\n{sample[0]['title']}\n{sample[0]['body']}")
    expected_total = sum(expected.values())
    ok = receipts == expected and t["registered"] == expected_total - 1  # the mover registered twice
    print(f"\n{'OK' if ok else 'INCOMPLETE'}: {sum(receipts.values())} receipts for {expected_total} check-ins "
          f"({t['members']} members, {t['overdue']} overdue) in {time.monotonic() - started:.1f}s; "
          f"services stopped (exit codes {codes})")
    print(f"statistics table: {files[0]}\nreceipt: {files[1]}\nlogs: {work_dir / 'logs'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
