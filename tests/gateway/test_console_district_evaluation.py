"""The district's regrade and reminders in the console, without the broker: the gateway's RPC answered by
evaluation's real service layer (SQLite). The confirm step lists old → new per member and records
nothing; applying it records the revision; a bad year gives a Chinese message and changes nothing."""
import shutil

import pytest

from services.evaluation import readmodels, service as evaluation_service
from services.evaluation.rules import RuleBook
from services.gateway.accounts import AccountStore, Tokens
from services.gateway.app import Gateway
from shared.db import Database
from tests.evaluation.conftest import Evaluation
from tests.evaluation.test_year import active_member
from tests.gateway.conftest import PASSWORD
from tests.gateway.console_client import Browser, csrf_of, field_error, flash_of

YEAR = 2026


class RegradeRpc:
    def __init__(self, ev):
        self.ev = ev

    def call(self, service, method, *args, actor=None, correlation_id=None, **kwargs):
        if (service, method) == ("evaluation", "regrade"):
            [cmd] = args
            return evaluation_service.regrade(self.ev, self.ev.book, cmd["district_id"], cmd["year"], cmd["by"],
                                              cmd.get("dry_run", False))
        if (service, method) == ("registration", "place"):
            return {("community", "xf"): {"community_id": "xf", "name": "幸福社区", "district_id": "xq",
                                          "street_id": "hp"}}.get(tuple(args))
        if (service, method) == ("registration", "member"):
            return {"member_id": args[0], "name": "张三丰", "unit_id": "czj", "registered_community_id": "xf",
                    "residence_community_id": "xf"}
        if (service, method) == ("evaluation", "members_of_street"):
            return self.ev.query(readmodels.members_of_street, *args)
        if (service, method) == ("evaluation", "veto_member"):
            from services.evaluation import handlers
            [cmd] = args
            return self.ev.do(handlers.veto_member, cmd)
        if (service, method) == ("evaluation", "missing_inputs"):
            return self.ev.query(readmodels.missing_inputs, *args)
        if (service, method) == ("evaluation", "remind_party_inputs"):
            [cmd] = args
            return {"district_id": cmd["district_id"], "period": cmd["period"],
                    "reminded": evaluation_service.remind(self.ev, cmd["district_id"], cmd["period"], "requested")}
        raise AssertionError(f"unexpected call {service}.{method}")


@pytest.fixture
def district(tmp_path):
    ev_db = Database(f"sqlite:///{tmp_path / 'evaluation.db'}")
    ev = Evaluation(ev_db)
    ev.community()
    ev.unit()
    active_member(ev, "m1", "张三丰", services=8)
    active_member(ev, "m2", "李小四", services=2)
    ev.close_year("xq", YEAR)
    rules = tmp_path / "rules"
    shutil.copytree(Evaluation.__init__.__defaults__[0], rules)
    text = (rules / "xq.yaml").read_text(encoding="utf-8")
    (rules / "xq.yaml").write_text(text.replace("version: 2", "version: 3").replace(
        "grading:\n", "grading:\n  bands: {优秀: 200, 良好: 150, 一般: 100, 较差: 50}\n"), encoding="utf-8")
    ev.book = RuleBook.load(rules)
    accounts_db = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    accounts = AccountStore(accounts_db)
    accounts.create("org-xq", PASSWORD, "district_org", "西区组织部", district_id="xq")
    accounts.create("staff-xf", PASSWORD, "community_staff", "幸福社区", community_id="xf")
    accounts.create("street-hp", PASSWORD, "street_committee", "和平街道", district_id="xq", street_id="hp")
    app = Gateway(RegradeRpc(ev), accounts, Tokens("test-secret", 3600))
    yield ev, app
    accounts_db.dispose()
    ev_db.drop_schema()


def login(app, username) -> Browser:
    browser = Browser(app)
    response = browser.post("/login", {"username": username, "password": PASSWORD}, token=False)
    assert response.status_code == 303
    return browser


def grades(ev) -> list[str]:
    return [e.event_type for e in ev.events("evaluation-member-m1")]


def test_the_district_previews_the_regrade_then_applies_it(district):
    ev, app = district
    org = login(app, "org-xq")
    before = grades(ev)
    page = org.html(f"/console/district/regrade?year={YEAR}")
    assert "张三丰" in page and "优秀" in page and "一般" in page and "撤销“社区服务之星”" in page
    assert grades(ev) == before                                  # the preview recorded nothing
    org.token = csrf_of(page)
    response = org.post("/console/districts/xq/years/regrade", {"year": str(YEAR)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/console/district")
    assert "GradeRevised" in grades(ev)
    again = org.html(f"/console/district/regrade?year={YEAR}")
    assert "年度已重新评定" in flash_of(again)
    assert 'id="regrade-nothing"' in again                       # applied: nothing left to change


def test_a_bad_year_is_refused_beside_the_field_and_changes_nothing(district):
    ev, app = district
    org = login(app, "org-xq")
    before = grades(ev)
    response = org.get("/console/district/regrade?year=abc")
    assert response.status_code == 400 and "年度不正确" in response.get_data(as_text=True)
    assert grades(ev) == before


def test_only_the_district_org_may_regrade(district):
    ev, app = district
    staff = login(app, "staff-xf")
    assert staff.get(f"/console/district/regrade?year={YEAR}").status_code == 403


def test_the_district_sees_who_owes_which_input_and_reminds_them(district):
    ev, app = district
    org = login(app, "org-xq")
    page = org.html("/console/district/reminders?period=2026H1")
    assert "张三丰" in page and "领导点评（所在单位）" in page and "组织考评（区委组织部）" in page
    org.token = csrf_of(page)
    response = org.post("/console/districts/xq/periods/remind", {"period": "2026H1"})
    assert response.status_code == 303
    reminded = [e for e in ev.events("evaluation-member-m1") if e.event_type == "PartyInputReminded"]
    assert reminded and reminded[-1].occasion == "requested"
    assert "已提醒 2 名党员" in flash_of(org.html("/console/district/reminders?period=2026H1"))


def test_a_bad_period_to_remind_is_refused_in_chinese_and_reminds_nobody(district):
    ev, app = district
    org = login(app, "org-xq")
    org.token = csrf_of(org.html("/console/district/reminders?period=2026H1"))
    before = len(ev.events("evaluation-member-m1"))
    response = org.post("/console/districts/xq/periods/remind", {"period": "2026-1"})
    assert response.status_code == 303
    assert "期间格式" in flash_of(org.html("/console/district/reminders?period=2026H1"))
    assert len(ev.events("evaluation-member-m1")) == before


def test_the_street_sees_its_communities_members_and_vetoes_with_a_written_statement(district):
    """Seed 001 组织考评: "街道社区如出具被考察的党员干部没有服务社区群众的书面评价，将对其一票否决"."""
    ev, app = district
    street = login(app, "street-hp")
    page = street.html("/console/street/veto")
    assert "张三丰" in page and "幸福社区" in page
    street.token = csrf_of(page)
    response = street.post("/console/street/members/m1/veto", {"year": "2027", "statement": "  "})
    assert response.status_code == 400
    assert "请填写书面评价" in field_error(response.get_data(as_text=True), "statement")
    assert not [e for e in ev.events("evaluation-member-m1") if e.event_type == "MemberVetoed"]
    response = street.post("/console/street/members/m1/veto", {"year": "2027", "statement": "经街道核实，全年未服务群众"})
    assert response.status_code == 303
    [vetoed] = [e for e in ev.events("evaluation-member-m1") if e.event_type == "MemberVetoed"]
    assert (vetoed.issued_by, vetoed.by_id) == ("street", "street-hp")
