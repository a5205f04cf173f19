"""The gateway against the real services: registration, dispatch and notify on RabbitMQ (a
fresh vhost) and PostgreSQL (fresh schemas), called through the WSGI app with werkzeug's test
client. One small city is set up per module through the API itself."""
from __future__ import annotations

import uuid
from contextlib import ExitStack

import pytest
from sqlalchemy import text
from werkzeug.test import Client

from services.dispatch.service import DispatchService
from services.evaluation.service import EvaluationService
from services.funds.service import FundsService
from services.gateway.accounts import AccountStore, Tokens
from services.gateway.app import Gateway
from services.gateway.live import LiveFeed
from services.gateway.rpc import RpcPool
from services.notify.service import NotifyService
from services.registration.service import RegistrationService
from shared.db import Database
from tests.conftest import PG_URL
from tests.messaging.helpers import running, wait_for

PASSWORD = "mima-12345678"


class Api:
    """A werkzeug test client that logs in and speaks JSON."""

    def __init__(self, app, token=None):
        self.client = Client(app)
        self.token = token

    def as_(self, token) -> "Api":
        return Api(self.client.application, token)

    def request(self, method, path, json=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return self.client.open(path, method=method, json=json, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json if json is not None else {}, **kw)

    def ok(self, method, path, json=None, **kw):
        response = self.request(method, path, json=json, **kw)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True))
        return response.json


class City:
    def __init__(self, gateway, prefix, schemas):
        self.gateway, self.prefix, self.schemas = gateway, prefix, schemas
        self.api = Api(gateway)
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def login(self, username, password=PASSWORD):
        response = self.api.post("/api/v1/session", {"username": username, "password": password})
        assert response.status_code == 200, response.json
        self.tokens[username] = response.json["token"]
        return response.json["token"]

    def as_(self, username) -> Api:
        return self.api.as_(self.tokens[username])

    def events(self, service: str) -> list[dict]:
        db = Database(PG_URL, schema=self.schemas[service])
        try:
            with db.engine.begin() as conn:
                rows = conn.execute(text("SELECT event_type, actor, data FROM events ORDER BY global_position")).all()
        finally:
            db.dispose()
        import json
        return [{"event_type": r[0], "actor": json.loads(r[1]) if r[1] else None, "data": json.loads(r[2])}
                for r in rows]


def create(admin: Api, username, role, display_name, **place):
    return admin.ok("POST", "/api/v1/accounts", {"username": username, "password": PASSWORD, "role": role,
                                                 "display_name": display_name, **place})


@pytest.fixture(scope="module")
def city_vhost():
    """A vhost of this module's own: the relays declare every service's queues, so events other
    modules published while no evaluation (say) was consuming wait in the session vhost's queues,
    and this module's services would take them in (members of another city's unit "czj")."""
    from deploy.broker import fresh_vhost
    from tests.conftest import AMQP_BASE

    with fresh_vhost(AMQP_BASE, prefix="baodao-gw-") as uri:
        yield uri


@pytest.fixture(scope="module")
def city(city_vhost):
    amqp_uri = city_vhost
    prefix = "gw" + uuid.uuid4().hex[:6] + "_"
    schemas = {name: prefix + name for name in ("registration", "dispatch", "evaluation", "funds", "notify", "gateway")}
    base = {"AMQP_URI": amqp_uri, "DATABASE_URL": PG_URL, "INBOX_RETRY_DELAYS": [0.2, 0.5],
            "WEBHOOK_ALLOWED_TARGETS": ["127.0.0.1"], "WEBHOOK_POLL_SECONDS": 0.2}   # departments' test receivers
    with ExitStack() as stack:
        for cls in (DispatchService, EvaluationService, FundsService, NotifyService, RegistrationService):
            stack.enter_context(running(cls, config={**base, "DATABASE_SCHEMA": schemas[cls.name]}))
        rpc = RpcPool(amqp_uri, size=4, timeout=30)
        accounts_db = Database(PG_URL, schema=schemas["gateway"])
        accounts = AccountStore(accounts_db)
        accounts.ensure("admin", PASSWORD, "city_org", "市委组织部管理员")
        feed = LiveFeed(amqp_uri).start()
        feed.ready.wait(15)
        gateway = Gateway(rpc, accounts, Tokens("test-secret", 3600), live=feed)
        c = City(gateway, prefix, schemas)
        setup_city(c)
        yield c
        feed.stop()
        rpc.close()
        accounts_db.dispose()
    db = Database(PG_URL, schema="public")
    with db.engine.begin() as conn:
        for schema in schemas.values():
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    db.dispose()


def setup_city(c: City) -> None:
    """Two districts; street hp (西区) with communities xf and yg; community dq in 东区; units
    czj (西区) and dcj (东区); every role's account, created through the API."""
    admin = c.api.as_(c.login("admin"))
    for cid, name, district, street in (("xf", "幸福社区", ("xq", "西区"), ("hp", "和平街道")),
                                        ("yg", "阳光社区", ("xq", "西区"), ("hp", "和平街道")),
                                        ("dq", "东城社区", ("dc", "东区"), ("dm", "东门街道"))):
        admin.ok("POST", "/api/v1/communities", {"community_id": cid, "name": name, "district_id": district[0],
                                                 "district_name": district[1], "street_id": street[0],
                                                 "street_name": street[1], "card_prefix": cid.upper()})
    admin.ok("POST", "/api/v1/units", {"unit_id": "czj", "name": "市财政局", "kind": "机关", "district_id": "xq"})
    admin.ok("POST", "/api/v1/units", {"unit_id": "dcj", "name": "东区城建局", "kind": "机关", "district_id": "dc"})
    create(admin, "org-xq", "district_org", "西区组织部", district_id="xq")
    create(admin, "org-dc", "district_org", "东区组织部", district_id="dc")
    org_xq = c.api.as_(c.login("org-xq"))
    create(org_xq, "street-hp", "street_committee", "和平街道党工委", street_id="hp", district_id="xq")
    create(org_xq, "staff-xf", "community_staff", "幸福社区周书记", community_id="xf")
    create(org_xq, "sec-czj", "unit_secretary", "财政局李书记", unit_id="czj")
    create(admin, "staff-dq", "community_staff", "东城社区吴书记", community_id="dq")
    create(admin, "sec-dcj", "unit_secretary", "城建局王书记", unit_id="dcj")
    staff_xf = c.api.as_(c.login("staff-xf"))
    create(staff_xf, "res-zhao", "resident", "赵大爷", community_id="xf")
    create(staff_xf, "res-qian", "resident", "钱阿姨", community_id="xf")
    staff_xf.ok("POST", "/api/v1/communities/xf/grids", {"grid_id": "xf-g1", "name": "一网格", "leader_name": "周"})
    create(staff_xf, "sup-xf", "supervisory_committee", "幸福社区议事监督委员会", community_id="xf")

    sec = c.as_("sec-czj") if "sec-czj" in c.tokens else c.api.as_(c.login("sec-czj"))
    sec.ok("POST", "/api/v1/units/czj/campaigns", {"campaign_id": "2026", "title": "2026年报到",
                                                   "deadline": "2099-12-31"})
    for key, name, phone in (("m1", "张伟", "13800000001"), ("m2", "李娜", "13800000002")):
        member = sec.ok("POST", "/api/v1/units/czj/members", {
            "person_key": phone, "name": name, "gender": "男", "phone": phone, "residence_community_id": "xf",
            "skills": ["法律咨询"]})
        c.ids[key] = member["member_id"]
    letters = sec.ok("POST", "/api/v1/units/czj/letters", {"campaign_id": "2026"})["letters"]
    for letter in letters:
        staff_xf.ok("POST", f"/api/v1/members/{letter['member_id']}/check-in", {
            "letter_id": letter["letter_id"], "community_id": "xf", "grid_id": "xf-g1", "skills": ["法律咨询"],
            "availability": ["周六上午"]})
    create(sec, "mem-zhang", "member", "张伟", member_id=c.ids["m1"])
    create(sec, "mem-li", "member", "李娜", member_id=c.ids["m2"])
    for name in ("org-dc", "street-hp", "staff-dq", "sec-dcj", "res-zhao", "res-qian", "mem-zhang", "mem-li"):
        c.login(name)
    c.login("sup-xf")
    # dispatch's directory fills from registration's events
    wait_for(lambda: len(staff_xf.ok("GET", "/api/v1/yearly-minimum?community_id=xf")["items"]) == 2, timeout=30)
