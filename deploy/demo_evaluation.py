"""Demo: a small district closes its year (五评议, 记实积分, 星级评定, 双评).

Starts registration, dispatch and evaluation as separate `nameko run` processes on RabbitMQ
(its own vhost `baodao-evaluation` by default) and PostgreSQL (its own database
`baodao_demo_evaluation`; `--database sqlite` for the embedded files). District 西区 (xq, rules
file deploy/config/evaluation-rules/xq.yaml) has two communities and two units of six members;
one member per unit never checks in. Residents' demands are dispatched, served, verified and
rated; each community holds seven activities; one member commits publicly. Evaluation turns
these events into points; the five parties submit their inputs (one leader amends a review);
a community vetoes one member in writing; one unit gives no second-half review for one member.
Then the year is closed: it prints the grade distribution, each community's top members (names
masked), that member's grade explained line by line (the points record by rule, the parties'
inputs with the missing one shown as missing, the 群众测评 points of 西区's `party_points`, the
band reached by the points total), and one unit's double-evaluation table.

    python -m deploy.demo_evaluation [--amqp-uri URI] [--database postgres|sqlite]
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from deploy.pg import drop_schemas, ensure_database
from deploy.processes import ROOT, ServiceProcess, check_broker, service_env, wait_ready

SERVICES = ("registration", "dispatch", "evaluation")
DEMO_DB = "baodao_demo_evaluation"
COMMUNITIES = [("xf", "幸福社区"), ("yg", "阳光社区")]
UNITS = [("czj", "市财政局", "机关", "xf"), ("rmyy", "市第一人民医院", "事业单位", "yg")]
NAMES = ["王建国", "李秀英", "张伟", "刘芳", "陈明", "杨丽娟", "黄志强", "赵敏", "吴磊", "周静", "徐涛", "孙艳"]
YEAR = datetime.now(timezone(timedelta(hours=8))).year


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI",
                                                             "amqp://guest:guest@localhost:5672/baodao-evaluation"))
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--pg-url", default=os.environ.get("BAODAO_PG_URL", "postgresql://postgres@localhost:5432/"))
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


def ensure_vhost(amqp_uri: str) -> None:
    """Create the demo's vhost on a local broker if it is missing (needs rabbitmqctl)."""
    vhost = amqp_uri.rsplit("/", 1)[-1]
    if not vhost or "localhost" not in amqp_uri:
        return
    try:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  could not prepare vhost {vhost} ({exc}); it must exist already")


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise TimeoutError(f"{what} not reached within {timeout}s")


def build_district(rpc, rng) -> dict:
    reg = rpc.registration
    for cid, name in COMMUNITIES:
        reg.register_community({"community_id": cid, "name": name, "district_id": "xq", "district_name": "西区",
                                "street_id": "hp", "street_name": "和平街道", "card_prefix": cid.upper()})
        reg.add_grid({"community_id": cid, "grid_id": f"{cid}-g1", "name": "一网格", "leader_name": "周网格"})
    members = {}
    names = iter(NAMES)
    for unit_id, unit_name, kind, cid in UNITS:
        reg.register_unit({"unit_id": unit_id, "name": unit_name, "kind": kind, "district_id": "xq",
                           "linked_community_id": cid})
        reg.open_campaign({"unit_id": unit_id, "campaign_id": f"{unit_id}-{YEAR}", "title": f"{YEAR}年在职党员报到",
                           "deadline": f"{YEAR}-12-31"})
        for i in range(6):
            name = next(names)
            m = reg.enroll_member({"unit_id": unit_id, "person_key": f"{unit_id}{i:04d}", "name": name,
                                   "gender": rng.choice("男女"), "phone": f"139{rng.randint(10000000, 99999999)}",
                                   "residence_community_id": cid, "skills": ["政策宣传"]})
            members[m["member_id"]] = {"name": name, "unit_id": unit_id, "community_id": cid}
        letters = reg.issue_letters({"unit_id": unit_id, "campaign_id": f"{unit_id}-{YEAR}"})["letters"]
        for letter in letters[:-1]:                         # the last one never checks in
            reg.check_in({"member_id": letter["member_id"], "letter_id": letter["letter_id"],
                          "community_id": cid, "grid_id": f"{cid}-g1", "skills": ["政策宣传", "法律咨询"],
                          "availability": ["周六上午"]})
            members[letter["member_id"]]["checked_in"] = True
    return members


def serve(rpc, rng, members: dict) -> int:
    """Residents' demands through 点单 → 下单 → 接单 → 服务纪实 → 查验 → 评价."""
    dsp = rpc.dispatch
    start = datetime.now(timezone.utc) + timedelta(days=2)
    done = 0
    for member_id, m in members.items():
        if not m.get("checked_in"):
            continue
        for _ in range(rng.choice([1, 2, 3, 4, 5, 6])):
            demand_id = "d" + uuid.uuid4().hex[:8]
            resident = f"r{rng.randint(1, 30)}"
            dsp.record_demand({"demand_id": demand_id, "community_id": m["community_id"],
                               "grid_id": f"{m['community_id']}-g1", "resident_id": resident,
                               "resident_name": "居民", "category": rng.choice(["助老", "法律援助", "维修", "信息咨询"]),
                               "description": "需要上门帮助", "address": "小区1栋",
                               "window_start": start.isoformat(), "window_end": (start + timedelta(hours=3)).isoformat(),
                               "recorded_by": "staff"})
            dsp.dispatch_order({"demand_id": demand_id, "by": "staff",
                                "candidates": [{"kind": "member", "id": member_id}]})
            dsp.accept_order({"demand_id": demand_id, "who": {"id": member_id}})
            dsp.complete_service({"demand_id": demand_id, "who": {"id": member_id}, "hours": rng.choice([1, 2, 3]),
                                  "content": "上门服务并登记"})
            dsp.verify_service({"demand_id": demand_id, "by": "staff"})
            dsp.rate_service({"demand_id": demand_id, "resident_id": resident, "rating": rng.choice([3, 4, 5, 5])})
            done += 1
    return done


def activities(rpc, rng, members: dict) -> int:
    dsp = rpc.dispatch
    starts = datetime.now(timezone.utc) + timedelta(seconds=4)
    held = []
    for cid, _ in COMMUNITIES:
        local = [mid for mid, m in members.items() if m["community_id"] == cid and m.get("checked_in")]
        for k in range(7):
            aid = f"{cid}-act-{uuid.uuid4().hex[:6]}"
            dsp.schedule_activity({"activity_id": aid, "community_id": cid, "title": f"主题党日{k + 1}",
                                   "kind": "主题党日", "starts_at": starts.isoformat(), "capacity": 50})
            going = [mid for mid in local if rng.random() < 0.85]
            for mid in going:
                dsp.sign_up({"activity_id": aid, "member_id": mid})
            held.append((aid, [mid for mid in going if rng.random() < 0.95]))
    time.sleep(max(0.0, (starts - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    for aid, attended in held:
        dsp.record_attendance({"activity_id": aid, "attended": attended})
    return len(held)


def five_parties(rpc, rng, members: dict, late_leader: str) -> None:
    """Every party's input for both half years, but `late_leader`'s unit gives no H2 review."""
    ev = rpc.evaluation
    for member_id, m in members.items():
        if not m.get("checked_in"):
            continue
        base = rng.randint(70, 95)
        for period in (f"{YEAR}H1", f"{YEAR}H2"):
            score = lambda: min(100, max(0, base + rng.randint(-8, 8)))  # noqa: E731
            ev.submit_self_evaluation({"member_id": member_id, "period": period, "score": score(),
                                       "comment": "半年述职：参加社区活动，履行承诺，为群众办实事",
                                       "by": {"role": "member", "id": member_id}})
            if not (member_id == late_leader and period.endswith("H2")):
                ev.record_leader_review({"member_id": member_id, "period": period, "score": score(),
                                         "comment": "表现较好", "by": {"role": "unit_leader", "id": "sj",
                                                                      "scope": m["unit_id"]}})
            ev.record_resident_rating({"member_id": member_id, "period": period, "score": score(),
                                       "comment": "居民代表评议", "by": {"role": "resident_panel", "id": "panel",
                                                                    "scope": m["community_id"]}})
            ev.record_community_score({"member_id": member_id, "period": period, "score": score(),
                                       "comment": "量化考评", "by": {"role": "community_staff", "id": "staff",
                                                                 "scope": m["community_id"]}})
            ev.record_organisation_assessment({"member_id": member_id, "period": period, "score": score(),
                                               "comment": "组织考评", "by": {"role": "organisation_department",
                                                                         "id": "zzb", "scope": "xq"}})


def explain(rpc, member_id: str, name: str) -> None:
    """One member's grade explained line by line: the points record by rule (each rule's id),
    the parties' inputs (a missing one shown as missing), the band reached."""
    result = rpc.evaluation.result(member_id, YEAR)
    record = rpc.evaluation.points_record(member_id, YEAR)
    by_rule: dict[str, list] = {}
    for line in record["lines"]:
        by_rule.setdefault(line["rule_id"], []).append(line["points"])
    print(f"\n{name} 的评定过程（社区参评：年底按积分高低定档）")
    print(f"  积分记录（{len(record['lines'])} 笔，按规则汇总）")
    for rule_id, points in by_rule.items():
        print(f"    {rule_id:<28} {len(points):>3} 笔  {sum(points):>+5} 分")
    for line in result["explanation"]:
        print(f"  {line}")


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    ensure_vhost(args.amqp_uri)
    check_broker(args.amqp_uri)
    from nameko.standalone.rpc import ClusterRpcProxy
    from shared.logging import quiet_amqp_client
    from shared.privacy import mask_name
    quiet_amqp_client()

    database_url = None
    if args.database == "postgres":
        database_url = ensure_database(args.pg_url, DEMO_DB)
        drop_schemas(database_url, SERVICES)
    data_dir = Path(tempfile.mkdtemp(prefix="baodao-demo-evaluation-"))
    env = service_env(args.amqp_uri, database_url, data_dir, log_level="WARNING")
    log_dir = ROOT / "var" / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = [ServiceProcess(name, env, log_dir / f"evaluation-demo-{name}.log").start() for name in SERVICES]
    try:
        wait_ready(args.amqp_uri, procs, timeout=120)
        with ClusterRpcProxy({"AMQP_URI": args.amqp_uri}, timeout=60) as rpc:
            print(f"1. 西区: {len(COMMUNITIES)} communities, {len(UNITS)} units, 12 members (2 never check in)")
            members = build_district(rpc, rng)
            for cid, _ in COMMUNITIES:   # dispatch learns who checked in from registration's events
                expected = sum(1 for m in members.values() if m.get("checked_in") and m["community_id"] == cid)
                wait_for(lambda: len(rpc.dispatch.yearly_minimum(int(YEAR), community_id=cid)["members"]) >= expected,
                         60, f"dispatch knowing the members registered at {cid}")
            first = next(iter(members))
            rpc.registration.make_commitment({"member_id": first, "community_id": members[first]["community_id"],
                                              "items": ["每月一次政策宣讲"], "deadline": f"{YEAR}-12-31"})
            print(f"2. {serve(rpc, rng, members)} services dispatched, done, verified and rated")
            print(f"3. {activities(rpc, rng, members)} community activities with attendance")
            checked = [mid for mid, m in members.items() if m.get("checked_in")]
            wait_for(lambda: all(rpc.evaluation.points_record(mid)["total"] > 10 for mid in checked), 120,
                     "points for every member")
            explained = checked[2]
            print("4. five parties' inputs for both half years; one leader amends a review, "
                  "one unit gives no second-half review")
            five_parties(rpc, rng, members, late_leader=explained)
            amended = checked[1]
            rpc.evaluation.record_leader_review({"member_id": amended, "period": f"{YEAR}H2", "score": 98,
                                                 "comment": "补充：带头参加防汛值守", "by": {
                                                     "role": "unit_leader", "id": "sj",
                                                     "scope": members[amended]["unit_id"]}})
            vetoed = checked[-1]
            rpc.evaluation.veto_member({"member_id": vetoed, "year": YEAR, "by": {
                "role": "community_staff", "id": "staff", "scope": members[vetoed]["community_id"]},
                "statement": "经社区核实，该同志本年度未实际参加服务（书面评价）"})
            print(f"5. a written veto for {members[vetoed]['name']}")
            wait_for(lambda: rpc.evaluation.points_record(first)["total"] > 10, 30, "points")
            closed = rpc.evaluation.close_year({"district_id": "xq", "year": YEAR, "by": "zzb"})
            print(f"\n{YEAR} 年度星级评定（西区，{closed['members']} 名党员）")
            for grade, count in closed["distribution"].items():
                print(f"  {grade}  {count}")
            print(f"  取消评先评优资格: {closed['disqualified']} 名；称号: {closed['titles']} 项")
            for cid, cname in COMMUNITIES:
                print(f"\n{cname} 排名（姓名已隐去部分）")
                for row in rpc.evaluation.ranking(YEAR, community_id=cid, limit=3):
                    titles = "、".join(row["titles"]) or "-"
                    print(f"  {row['rank']}. {row['name']:<4} {row['unit']:<10} 记实积分 {row['points']:>4}  "
                          f"评定积分 {row['score']:>4.0f} {row['grade']} {'★' * row['stars']}  {titles}")
            explain(rpc, explained, mask_name(members[explained]["name"]))
            print()
            for mid in (vetoed, [m for m in members if not members[m].get("checked_in")][0]):
                r = rpc.evaluation.result(mid, YEAR)
                print(f"  {mask_name(members[mid]['name'])}: {r['grade']}；" + "；".join(
                    ([f"一票否决：{r['veto']}"] if r["veto"] else []) + r["disqualified"]))
            table = rpc.evaluation.publish_double_evaluation({"unit_id": "czj", "year": YEAR, "by": "sj"})["table"]
            print(f"\n{table['unit_name']} {YEAR} 年双评表（单位评价 | 社区评价）")
            for row in table["members"]:
                u, c = row["unit"], row["community"]
                print(f"  {row['name']:<4} 自评 {u['self'] or '-':>5} 领导 {u['leader'] or '-':>5} 组织 "
                      f"{u['organisation'] or '-':>5} | 积分 {c['points']:>4} 群众 {c['residents'] or '-':>5} "
                      f"社区 {c['community'] or '-':>5} {c['grade'] or '-'} {'可评优' if row['eligible'] else '不可评优'}")
    finally:
        for proc in procs:
            proc.stop()
    print(f"\nlogs: {log_dir}/evaluation-demo-*.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
