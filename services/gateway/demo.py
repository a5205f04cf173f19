"""The gateway's standalone demo: registration, dispatch, evaluation, funds and notify run in this process on
their own SQLite files (under --data-dir, default var/gateway-demo), a small district is set
up through the gateway's own API, and the console is served with demo accounts.

    python -m services.gateway.serve --demo [--port 8080] [--amqp-uri amqp://.../vhost]

Run it on its own RabbitMQ vhost: the services declare their queues there.
"""
from __future__ import annotations

import os
from pathlib import Path

from nameko.runners import ServiceRunner
from werkzeug.test import Client

from services.gateway.config import GatewayConfig

DEMO_PASSWORD = "baodao-demo-2026"
ACCOUNTS = [
    ("admin", "市委组织部管理员", "city_org", {}),
    ("org-xq", "西区组织部", "district_org", {"district_id": "xq"}),
    ("street-hp", "和平街道党工委", "street_committee", {"street_id": "hp", "district_id": "xq"}),
    ("staff-xf", "幸福社区周书记", "community_staff", {"community_id": "xf"}),
    ("staff-yg", "阳光社区吴书记", "community_staff", {"community_id": "yg"}),
    ("sec-czj", "市财政局李书记", "unit_secretary", {"unit_id": "czj"}),
    ("res-zhao", "赵大爷", "resident", {"community_id": "xf"}),
    ("sup-xf", "幸福社区议事监督委员会", "supervisory_committee", {"community_id": "xf"}),
]
MEMBERS = [("张伟", "13800000001", ["法律咨询", "矛盾调解"], "xf"), ("李娜", "13800000002", ["健康义诊"], "xf"),
           ("王强", "13800000003", ["维修"], "xf"), ("刘洋", "13800000004", ["助老"], "yg"),
           ("陈静", "13800000005", [], "xf")]


class DemoApi:
    def __init__(self, gateway):
        self.client = Client(gateway)

    def login(self, username):
        r = self.client.post("/api/v1/session", json={"username": username, "password": DEMO_PASSWORD})
        return r.json["token"]

    def call(self, token, method, path, body=None, expect_ok=True):
        r = self.client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
        if expect_ok and r.status_code != 200:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.get_data(as_text=True)}")
        return r.json


def seed(gateway) -> list[tuple[str, str, str]]:
    """Set up the demo district once (re-running finds it there); returns (user, role, home)."""
    gateway.accounts.ensure("admin", DEMO_PASSWORD, "city_org", "市委组织部管理员")
    api = DemoApi(gateway)
    admin = api.login("admin")
    fresh = api.client.get("/api/v1/communities/xf", headers={"Authorization": f"Bearer {admin}"}).status_code == 404
    if fresh:
        for cid, name in (("xf", "幸福社区"), ("yg", "阳光社区")):
            api.call(admin, "POST", "/api/v1/communities", {
                "community_id": cid, "name": name, "district_id": "xq", "district_name": "西区", "street_id": "hp",
                "street_name": "和平街道", "card_prefix": cid.upper()})
        api.call(admin, "POST", "/api/v1/units", {"unit_id": "czj", "name": "市财政局", "kind": "机关",
                                                  "district_id": "xq"})
        api.call(admin, "POST", "/api/v1/units", {"unit_id": "wsj", "name": "市卫健委", "kind": "机关",
                                                  "district_id": "xq"})
    for username, name, role, place in ACCOUNTS[1:]:
        if gateway.accounts.get(username) is None:
            api.call(admin, "POST", "/api/v1/accounts", {"username": username, "password": DEMO_PASSWORD,
                                                         "role": role, "display_name": name, **place})
    if fresh:
        staff, sec = api.login("staff-xf"), api.login("sec-czj")
        api.call(staff, "POST", "/api/v1/communities/xf/grids", {"grid_id": "xf-g1", "name": "一网格",
                                                                 "leader_name": "周"})
        api.call(sec, "POST", "/api/v1/units/czj/campaigns", {"campaign_id": "2026", "title": "2026年报到",
                                                              "deadline": "2026-12-31"})
        ids = []
        for name, phone, skills, community in MEMBERS:
            ids.append(api.call(sec, "POST", "/api/v1/units/czj/members", {
                "person_key": phone, "name": name, "gender": "女" if name in ("李娜", "陈静") else "男",
                "phone": phone, "residence_community_id": community, "skills": skills})["member_id"])
        letters = api.call(sec, "POST", "/api/v1/units/czj/letters", {"campaign_id": "2026"})["letters"]
        for letter in [x for x in letters if x["community_id"] == "xf"][:3]:   # two have not reported yet
            api.call(staff, "POST", f"/api/v1/members/{letter['member_id']}/check-in", {
                "letter_id": letter["letter_id"], "community_id": "xf", "grid_id": "xf-g1",
                "availability": ["周六上午", "周三晚上"]})
        api.call(sec, "POST", "/api/v1/accounts", {"username": "mem-zhang", "password": DEMO_PASSWORD,
                                                   "role": "member", "display_name": "张伟", "member_id": ids[0]})
        api.call(sec, "POST", "/api/v1/accounts", {"username": "mem-liu", "password": DEMO_PASSWORD,   # not reported yet
                                                   "role": "member", "display_name": "刘洋", "member_id": ids[3]})
        api.call(staff, "POST", "/api/v1/communities/xf/posts", {"post_id": "p1", "title": "法律咨询岗",
                                                                 "category": "矛盾调解", "description": "每月一次"})
        api.call(staff, "POST", "/api/v1/communities/xf/wishes", {"group": "空巢老人", "content": "想要一台收音机",
                                                                  "resident_id": "r-sun", "resident_name": "孙奶奶"})
        org = api.login("org-xq")
        from datetime import datetime as _dt, timedelta as _td, timezone as _tz
        year = _dt.now(_tz(_td(hours=8))).year
        api.call(org, "POST", f"/api/v1/communities/xf/funds/{year}/budget", {"allocated_fen": 5_000_000,
                                                                            "on": f"{year}-01-02"})
        api.call(staff, "POST", "/api/v1/communities/xf/teams", {"team_id": "t-law", "name": "法律服务队",
                                                                        "basis": "业缘", "service": "法律维权"})
        for member_id in ids[:2]:
            api.call(staff, "POST", "/api/v1/communities/xf/teams/t-law/members", {"member_id": member_id})
        start = (_dt.now(_tz(_td(hours=8))) + _td(days=5)).replace(hour=19, minute=0, second=0, microsecond=0)
        api.call(staff, "POST", "/api/v1/communities/xf/activities", {"title": "主题党日：垃圾分类宣传", "kind": "主题党日",
                                                                      "starts_at": start.isoformat(), "capacity": 30})
        resident = api.login("res-zhao")
        from datetime import datetime, timedelta, timezone
        start = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
        api.call(resident, "POST", "/api/v1/communities/xf/demands", {
            "category": "法律援助", "description": "邻里漏水纠纷，想咨询法律意见", "address": "幸福小区3栋2单元",
            "window_start": start.isoformat(), "window_end": (start + timedelta(hours=3)).isoformat()})
    homes = {"city_org": "/console/district", "district_org": "/console/district",
             "street_committee": "/console/district", "community_staff": "/console/community",
             "unit_secretary": "/console/unit", "member": "/console/member", "resident": "/console/resident",
             "supervisory_committee": "/console/supervision"}
    return [(u, r, homes[r]) for u, _, r, _ in ACCOUNTS] + [("mem-zhang", "member", "/console/member"),
                                                     ("mem-liu", "member", "/console/member")]


def run_demo(cfg: GatewayConfig, host: str = "0.0.0.0", data_dir: str | None = None) -> int:
    from services.dispatch.service import DispatchService
    from services.evaluation.service import EvaluationService
    from services.funds.service import FundsService
    from services.gateway.serve import build_gateway, serve
    from services.notify.service import NotifyService
    from services.registration.service import RegistrationService

    data = Path(data_dir or os.environ.get("BAODAO_GATEWAY_DEMO_DIR", "var/gateway-demo")).resolve()
    data.mkdir(parents=True, exist_ok=True)
    runners = []
    for cls in (DispatchService, EvaluationService, FundsService, NotifyService, RegistrationService):
        runner = ServiceRunner({"AMQP_URI": cfg.amqp_uri, "DATABASE_URL": f"sqlite:///{data}/{cls.name}.db",
                                "max_workers": 10})
        runner.add_service(cls)
        runner.start()
        runners.append(runner)
    cfg.database_url = f"sqlite:///{data}/gateway.db"
    cfg.secret = cfg.secret or stored_secret(data)
    gateway = build_gateway(cfg)
    accounts = seed(gateway)
    print("演示账号（密码均为 %s）：" % DEMO_PASSWORD)
    for username, role, home in accounts:
        print(f"  {username:<10} {role:<17} http://127.0.0.1:{cfg.port}{home}")
    try:
        serve(gateway, cfg.port, host)
    finally:
        for runner in runners:
            runner.stop()
    return 0


def stored_secret(data) -> str:
    """The demo's token secret: random, made once and kept in the data directory (readable by
    its owner only), so tokens survive a restart and nobody can derive it from the path."""
    import os
    import secrets
    from pathlib import Path

    path = Path(data) / "gateway-secret"
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret)
    return secret
