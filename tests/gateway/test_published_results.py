"""Published results (公布) through the gateway's route and console page, without the broker: the
gateway's RPC answered by evaluation's real read models (the service layer on SQLite), the
places by registration's answer for them. Who may see a community's results: its members, the
units with members there, the staff above it; another community's member is refused."""
import pytest
from werkzeug.test import Client

from services.evaluation import readmodels
from services.gateway.accounts import AccountStore, Tokens
from services.gateway.app import Gateway
from shared.db import Database
from tests.evaluation.conftest import Evaluation
from tests.evaluation.test_year import active_member
from tests.gateway.conftest import PASSWORD, Api

YEAR = 2026
PLACES = {("community", "xf"): {"community_id": "xf", "name": "幸福社区", "district_id": "xq", "street_id": "hp"},
          ("community", "yh"): {"community_id": "yh", "name": "友好社区", "district_id": "xq", "street_id": "hp"},
          ("unit", "czj"): {"unit_id": "czj", "name": "市财政局", "district_id": "xq"},
          ("unit", "dcj"): {"unit_id": "dcj", "name": "东区城建局", "district_id": "dc"}}


class EvaluationRpc:
    """What the gateway asks of registration and evaluation for these pages, answered in process."""

    def __init__(self, ev):
        self.ev = ev

    def call(self, service, method, *args, actor=None, correlation_id=None, **kwargs):
        if (service, method) == ("registration", "place"):
            return PLACES.get(tuple(args))
        if (service, method) == ("evaluation", "published_results"):
            return self.ev.query(readmodels.published_results, *args)
        if (service, method) == ("evaluation", "communities_of"):
            return self.ev.query(readmodels.communities_of, **kwargs)
        raise AssertionError(f"unexpected call {service}.{method}")


@pytest.fixture
def gateway(tmp_path):
    ev_db = Database(f"sqlite:///{tmp_path / 'evaluation.db'}")
    ev = Evaluation(ev_db)
    ev.community()
    ev.community("yh", district_id="xq", name="友好社区")
    ev.unit()
    ev.unit("dcj", "东区城建局", district_id="dc")
    active_member(ev, "m1", "张三丰")
    active_member(ev, "m2", "李小四")
    ev.member("m3", "王五", unit_id="dcj", community_id="yh")
    accounts_db = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    accounts = AccountStore(accounts_db)
    for username, role, place in (("mem-zhang", "member", {"member_id": "m1", "unit_id": "czj"}),
                                  ("mem-wang", "member", {"member_id": "m3", "unit_id": "dcj"}),
                                  ("sec-czj", "unit_secretary", {"unit_id": "czj"}),
                                  ("sec-dcj", "unit_secretary", {"unit_id": "dcj"}),
                                  ("staff-xf", "community_staff", {"community_id": "xf"}),
                                  ("staff-yh", "community_staff", {"community_id": "yh"}),
                                  ("res-zhao", "resident", {"community_id": "xf", "resident_id": "r1"})):
        accounts.create(username, PASSWORD, role, username, **place)
    app = Gateway(EvaluationRpc(ev), accounts, Tokens("test-secret", 3600))
    yield ev, app
    accounts_db.dispose()
    ev_db.drop_schema()


def as_(app, username) -> Api:
    response = Api(app).post("/api/v1/session", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return Api(app, response.json["token"])


def test_results_are_published_to_the_communitys_members_and_units_after_the_years_close(gateway):
    """Seed 001: "定期在一定范围内公布"."""
    ev, app = gateway
    path = f"/api/v1/communities/xf/evaluation-results?year={YEAR}"
    early = as_(app, "mem-zhang").get(path)
    assert early.status_code == 404 and early.json["error"]["code"] == "not_published"
    ev.close_year("xq", YEAR)
    mine = as_(app, "mem-zhang").ok("GET", path)
    assert mine["community_name"] == "幸福社区" and mine["total"] == 2 and mine["year"] == YEAR
    assert all("*" in r["name"] and r["grade"] for r in mine["items"])
    assert "张三丰" not in str(mine) and "李小四" not in str(mine)
    assert as_(app, "sec-czj").ok("GET", path)["total"] == 2
    assert as_(app, "staff-xf").ok("GET", path)["total"] == 2


def test_another_communitys_member_and_an_unrelated_unit_are_refused(gateway):
    ev, app = gateway
    ev.close_year("xq", YEAR)
    path = f"/api/v1/communities/xf/evaluation-results?year={YEAR}"
    for outsider in ("mem-wang", "sec-dcj", "staff-yh", "res-zhao"):
        refused = as_(app, outsider).get(path)
        assert refused.status_code == 403 and refused.json["error"]["message"], outsider
    assert as_(app, "mem-wang").ok("GET", f"/api/v1/communities/yh/evaluation-results?year={YEAR}")["total"] == 1
    assert as_(app, "mem-zhang").get("/api/v1/communities/nowhere/evaluation-results").status_code == 404


def test_the_console_page_shows_the_members_community_and_says_when_not_yet_published(gateway):
    ev, app = gateway
    client = Client(app)
    login = client.post("/login", data={"username": "mem-zhang", "password": PASSWORD},
                        headers={"Origin": "http://localhost"})
    assert login.status_code == 303
    pending = client.get(f"/console/evaluation-results?year={YEAR}").get_data(as_text=True)
    assert "尚未公布" in pending
    ev.close_year("xq", YEAR)
    page = client.get(f"/console/evaluation-results?year={YEAR}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "幸福社区" in html and "姓名已脱敏" in html
    assert "张三丰" not in html and html.count("<tr>") == 3          # header and the two members of xf
    for bad in ("abc", "99999999999999999999"):
        assert client.get(f"/console/evaluation-results?year={bad}").status_code == 400
