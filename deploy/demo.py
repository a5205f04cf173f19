"""The demo: a small district checks in (报到), and every unit gets its receipts (回执).

Starts registration and notify as separate `nameko run` processes on the local RabbitMQ and
PostgreSQL (or the embedded SQLite files with `--database sqlite`), registers communities and
units, puts dozens of members on the rosters, issues introduction letters, checks most members
in, tries one double check-in, waits for the receipts to reach the units' inboxes, prints the
statistics table and stops the services.

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

from deploy.processes import ROOT, BrokerUnreachable, ServiceProcess, check_broker, service_env, wait_ready

DISTRICT = ("xq", "西区")
STREET = ("hp", "和平街道")
COMMUNITIES = [("xf", "幸福社区", "XF"), ("yg", "阳光社区", "YG"), ("hx", "和谐社区", "HX"), ("jm", "锦绣社区", "JX")]
UNITS = [("czj", "市财政局", "机关", "xf"), ("rmyy", "市第一人民医院", "事业单位", "yg"),
         ("cjjt", "城建集团有限公司", "企业", None)]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
DEMO_DB = "baodao_demo"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"))
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--pg-url", default=os.environ.get("BAODAO_PG_URL", "postgresql://postgres@localhost:5432/"))
    parser.add_argument("--members", type=int, default=24, help="members per unit")
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


def prepare_postgres(base_url: str) -> str | None:
    """The demo's own database, emptied; None if PostgreSQL is not reachable."""
    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(base_url.rstrip("/") + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DEMO_DB}).first():
                conn.execute(text(f'CREATE DATABASE "{DEMO_DB}"'))
        admin.dispose()
        url = base_url.rstrip("/") + f"/{DEMO_DB}"
        engine = create_engine(url)
        with engine.begin() as conn:
            for schema in ("registration", "notify"):
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
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
    from shared.nameko_support import CommandRejected

    reg = rpc.registration
    for cid, name, prefix in COMMUNITIES:
        reg.register_community({"community_id": cid, "name": name, "district_id": DISTRICT[0],
                                "district_name": DISTRICT[1], "street_id": STREET[0], "street_name": STREET[1],
                                "card_prefix": prefix})
    checked_in, refusal = {}, None
    phone = 13800000000
    for unit_id, unit_name, kind, linked in UNITS:
        reg.register_unit({"unit_id": unit_id, "name": unit_name, "kind": kind, "district_id": DISTRICT[0],
                           "linked_community_id": linked})
        reg.open_campaign({"unit_id": unit_id, "campaign_id": "2026", "title": "2026年在职党员到社区报到",
                           "deadline": "2026-12-31"})
        checked_in[unit_id] = 0
        for i in range(members_per_unit):
            phone += 1
            community = rng.choice(COMMUNITIES)[0]
            member = reg.enroll_member({
                "unit_id": unit_id, "person_key": str(phone), "name": person(rng), "gender": rng.choice("男女"),
                "phone": str(phone), "residence_community_id": community, "position": "科员",
                "leading_cadre": i == 0, "probationary": rng.random() < 0.1,
                "skills": rng.sample(["法律咨询", "健康义诊", "政策宣传", "电脑维修", "文艺", "心理疏导"], 2)})
            to = "linked" if (linked and i % 5 == 0) else "residence"
            letter = reg.issue_letter({"member_id": member["member_id"], "campaign_id": "2026", "to": to})
            if i % 7 == 3:
                continue  # not registered yet: the unit will have to find out why
            reg.check_in({"member_id": member["member_id"], "letter_id": letter["letter_id"],
                          "community_id": letter["community_id"]})
            checked_in[unit_id] += 1
            if refusal is None:
                try:
                    reg.check_in({"member_id": member["member_id"], "letter_id": letter["letter_id"],
                                  "community_id": letter["community_id"]})
                except CommandRejected as exc:
                    refusal = exc
    return {"checked_in": checked_in, "refusal": refusal}


def quiet_amqp_client() -> None:
    # py-amqp warns when a publisher confirm arrives on a channel the RPC client is closing
    # while it waits for a service to come up; harmless, and noise in the demo's output.
    import logging

    logging.getLogger("amqp").setLevel(logging.ERROR)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    quiet_amqp_client()
    print("报到 Baodao demo — registration and notify as separate processes")
    try:
        check_broker(args.amqp_uri)
    except BrokerUnreachable as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 2
    work_dir = ROOT / "var" / "demo"
    shutil.rmtree(work_dir, ignore_errors=True)
    (work_dir / "logs").mkdir(parents=True)
    database_url = None
    if args.database in ("auto", "postgres"):
        database_url = prepare_postgres(args.pg_url)
        if database_url is None and args.database == "postgres":
            print("ERROR: --database postgres, but PostgreSQL is not reachable", file=sys.stderr)
            return 2
    print(f"  database: {database_url or 'SQLite files in ' + str(work_dir)}")
    print(f"  broker:   {args.amqp_uri}")
    reset_broker_state(args.amqp_uri)

    env = service_env(args.amqp_uri, database_url, work_dir)
    services = [ServiceProcess(name, env, work_dir / "logs" / f"{name}.log").start()
                for name in ("registration", "notify")]
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        wait_ready(args.amqp_uri, services)
        print(f"  services ready: {', '.join(f'{s.name} (pid {s.process.pid})' for s in services)}\n")
        with ClusterRpcProxy({"AMQP_URI": args.amqp_uri}, timeout=30) as rpc:
            outcome = run_flow(rpc, args.members, random.Random(args.seed))
            expected = outcome["checked_in"]
            deadline = time.monotonic() + 60
            while True:
                receipts = {u: rpc.notify.inbox("unit", u, 1, 1)["total"] for u in expected}
                if receipts == expected or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            stats = rpc.registration.unit_statistics()
            sample = rpc.notify.inbox("unit", UNITS[0][0], 1, 1)["items"]
    finally:
        codes = [s.stop() for s in services]

    print("在职党员报到情况统计表（西区·和平街道）")
    widths = (18, 10, 10, 10, 12)
    print(row_text(("单位", "党员总数", "已报到", "报到率", "回执已送达"), widths))
    for row in stats:
        print(row_text((row["unit_name"], row["members"], row["registered"], f"{row['rate']:.0%}",
                        receipts.get(row["unit_id"], 0)), widths))
    total_members = sum(r["members"] for r in stats)
    total_registered = sum(r["registered"] for r in stats)
    print(row_text(("合计", total_members, total_registered, f"{total_registered / max(total_members, 1):.0%}",
                    sum(receipts.values())), widths))
    if outcome["refusal"] is not None:
        print(f"\n重复报到被拒绝：{outcome['refusal'].message}")
    if sample:
        print(f"\n{UNITS[0][1]} 收件箱中的一份回执：\n{sample[0]['title']}\n{sample[0]['body']}")
    ok = receipts == expected and total_registered == sum(expected.values())
    print(f"\n{'OK' if ok else 'INCOMPLETE'}: {sum(receipts.values())} receipts for {total_registered} check-ins "
          f"in {time.monotonic() - started:.1f}s; services stopped (exit codes {codes}); "
          f"logs in {work_dir / 'logs'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
