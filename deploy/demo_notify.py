"""Notify demo: receipts, orders, a resident's messages, email/SMS, a department's webhook and
a unit's feedback report — registration, dispatch and notify as separate `nameko run` processes.

    python -m deploy.demo_notify [--amqp-uri amqp://guest:guest@localhost:5672/baodao-notify]
                                 [--database postgres|sqlite] [--pg-url postgresql://postgres@localhost:5432/]

Local stand-ins for the providers run alongside (tests/notify/receivers.py: an SMTP server and an
HTTP server for the SMS gateway and the department's webhook). Ends by printing the unit's inbox
and the paths of its feedback report.
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DB = "baodao_notify_demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_vhost(amqp_uri: str) -> None:
    vhost = amqp_uri.rsplit("/", 1)[-1]
    if vhost and vhost != "%2F" and shutil.which("rabbitmqctl"):
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       capture_output=True)


def wait_for(predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("the demo waited too long; see the service logs")


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.exists() else []


def run(rpc, received: Path, http_port: int) -> dict:
    reg, dsp, ntf = rpc.registration, rpc.dispatch, rpc.notify
    cid, uid = "xf", "czj"
    ntf.set_contact("unit", uid, ["email"], email="dangwei@czj.example.cn")
    reg.register_community({"community_id": cid, "name": "幸福社区", "district_id": "xq", "district_name": "西区",
                            "street_id": "hp", "street_name": "和平街道", "card_prefix": "XF"})
    reg.add_grid({"community_id": cid, "grid_id": "xf-g1", "name": "一网格", "leader_name": "周敏"})
    reg.register_unit({"unit_id": uid, "name": "市财政局", "kind": "机关", "district_id": "xq"})
    reg.open_campaign({"unit_id": uid, "campaign_id": "2026", "title": "2026年在职党员到社区报到",
                       "deadline": "2099-12-31"})
    members = [reg.enroll_member({"unit_id": uid, "person_key": f"1380000000{i}", "name": name, "gender": g,
                                  "phone": f"1380000000{i}", "residence_community_id": cid})
               for i, (name, g) in enumerate((("张伟", "男"), ("王芳", "女"), ("李强", "男")))]
    for m in members:
        ntf.set_contact("member", m["member_id"], ["wechat", "sms"])   # no WeChat openid: SMS it is
    letters = reg.issue_letters({"unit_id": uid, "campaign_id": "2026"})["letters"]
    for letter in letters[:2]:
        reg.check_in({"member_id": letter["member_id"], "letter_id": letter["letter_id"], "community_id": cid,
                      "grid_id": "xf-g1", "skills": ["法律咨询"], "availability": ["周六上午"]})
    print("  2 of 3 members checked in; waiting for the receipts ...")
    wait_for(lambda: ntf.inbox("unit", uid, 1, 1, False, "check_in_receipt")["total"] == 2)

    wait_for(lambda: len(dsp.yearly_minimum(2026, community_id=cid)["members"]) == 2)
    start = datetime.now(timezone.utc) + timedelta(days=2)
    demand_id = "xf-" + uuid.uuid4().hex[:6]
    dsp.record_demand({"demand_id": demand_id, "community_id": cid, "grid_id": "xf-g1", "resident_id": "r-zhao",
                       "resident_name": "赵大爷", "category": "法律援助", "description": "邻里纠纷，需要法律咨询",
                       "address": "幸福小区3栋", "window_start": start.isoformat(),
                       "window_end": (start + timedelta(hours=3)).isoformat(), "recorded_by": "staff-1"})
    first = members[0]["member_id"]
    dsp.dispatch_order({"demand_id": demand_id, "candidates": [{"kind": "member", "id": first}], "by": "staff-1"})
    dsp.accept_order({"demand_id": demand_id, "who": {"kind": "member", "id": first}})
    dsp.complete_service({"demand_id": demand_id, "who": {"kind": "member", "id": first}, "hours": 2.0,
                          "content": "上门调解邻里纠纷，双方达成一致"})
    dsp.verify_service({"demand_id": demand_id, "by": "staff-1"})
    print(f"  order {demand_id}: dispatched, accepted, completed, verified")

    hook = ntf.register_webhook("市民政局", f"http://127.0.0.1:{http_port}/ok/minzheng", None,
                                ["dispatch.ServiceCompleted", "registration.MemberCheckedIn"], 0)
    wait_for(lambda: len([r for r in lines(received / "http.jsonl") if r["path"] == "/ok/minzheng"]) >= 3)
    wait_for(lambda: ntf.inbox("resident", "r-zhao")["total"] == 3)   # accepted, done, asked to rate once verified
    wait_for(lambda: ntf.inbox("unit", uid, 1, 1, False, "service_verified_unit")["total"] == 1)   # 备案 with the unit
    wait_for(lambda: len(lines(received / "smtp.jsonl")) >= 2)
    report = ntf.feedback_report(uid, datetime.now(timezone.utc).year)
    return {"hook": ntf.webhook(hook["webhook_id"]), "report": report, "member": first, "uid": uid}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amqp-uri", default="amqp://guest:guest@localhost:5672/baodao-notify")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--pg-url", default="postgresql://postgres@localhost:5432/")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from deploy.demo import quiet_amqp_client, reset_broker_state
    from deploy.pg import drop_schemas, ensure_database
    from deploy.processes import ServiceProcess, check_broker, service_env, wait_ready

    quiet_amqp_client()
    print("报到 Baodao — notify demo")
    ensure_vhost(args.amqp_uri)
    check_broker(args.amqp_uri)
    work = ROOT / "var" / "demo_notify"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    url = None
    if args.database == "postgres":
        url = ensure_database(args.pg_url, DEMO_DB)
        drop_schemas(url, ["registration", "dispatch", "notify"])
    reset_broker_state(args.amqp_uri)
    received = work / "received"
    smtp_port, http_port = free_port(), free_port()
    stand_ins = subprocess.Popen([sys.executable, "-m", "tests.notify.receivers", "--out", str(received),
                                  "--smtp-port", str(smtp_port), "--http-port", str(http_port)], cwd=ROOT)
    env = service_env(args.amqp_uri, url, work)
    env["NOTIFY_WEBHOOK_ALLOWED_TARGETS"] = "127.0.0.1"   # the demo's receiver listens on loopback
    env.update({"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(smtp_port),
                "NOTIFY_SMS_URL": f"http://127.0.0.1:{http_port}/ok/sms", "NOTIFY_SMS_KEY": "demo-key",
                "NOTIFY_DELIVERY_POLL_SECONDS": "0.3"})
    services = [ServiceProcess(n, env, work / "logs" / f"{n}.log").start()
                for n in ("registration", "dispatch", "notify")]
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        wait_ready(args.amqp_uri, services, timeout=120)
        print(f"  database: {url or 'SQLite files in ' + str(work)}; broker: {args.amqp_uri}")
        with ClusterRpcProxy({"AMQP_URI": args.amqp_uri}, timeout=60) as rpc:
            out = run(rpc, received, http_port)
            unit_box = rpc.notify.inbox("unit", out["uid"], 1, 50)
            member_box = rpc.notify.inbox("member", out["member"], 1, 50)
            resident_box = rpc.notify.inbox("resident", "r-zhao", 1, 50)
            order_msg = next(m for m in member_box["items"] if m["template"] == "order_dispatched_member")
            record = rpc.notify.delivery(order_msg["message_id"])
    finally:
        codes = [s.stop() for s in services]
        stand_ins.terminate()

    print("\n居民 赵大爷 的站内信：")
    for m in resident_box["items"]:
        print(f"  · {m['title']}")
    print(f"\n党员的派单消息经 {record['channel']} 发送：状态 {record['status']}，尝试 "
          f"{[(e['channel'], e['outcome']) for e in record['log']]}")
    print(f"邮件（单位党组织）：{len(lines(received / 'smtp.jsonl'))} 封；短信网关收到 "
          f"{len([r for r in lines(received / 'http.jsonl') if r['path'] == '/ok/sms'])} 条请求")
    print(f"民政局 webhook：已投递 {len(out['hook']['log'])} 个事件（签名 HMAC-SHA256），游标 {out['hook']['cursor']}")
    print(f"\n市财政局 收件箱（共 {unit_box['total']} 条，未读 {unit_box['unread']} 条）：")
    for m in unit_box["items"]:
        flag = "【重要】" if m["important"] else ""
        print(f"  · {flag}{m['title']}")
    print("\n" + unit_box["items"][-1]["body"])
    print("\n情况反馈报告：")
    for f in out["report"]["files"]:
        print(f"  {f}")
    print(f"\nlogs: {work / 'logs'}; services stopped (exit codes {codes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
