"""The community special fund through the gateway: the district allocates, the community's
staff carry a project through proposal, application, joint meeting, notice (a resident objects),
submission; the street committee approves and accepts; staff pay. Each step is open only to its
role and place, `by` is the logged-in account, and refusals change nothing."""
import uuid

SIGNED = [{"role": "community_secretary", "name": "李书记", "signed_on": "2026-06-01"},
          {"role": "construction_committee_director", "name": "王主任", "signed_on": "2026-06-01"},
          {"role": "street_secretary", "name": "赵书记", "signed_on": "2026-06-02"}]


def proposal(pid, amount=1_000_000, **extra):
    return {"project_id": pid, "year": 2026, "title": "楼道照明改造", "category": "物业管理服务",
            "description": "物业弃管小区楼道照明", "amount_fen": amount,
            "lines": [{"item": "灯具及安装", "kind": "设施维修", "amount_fen": amount}],
            "small_beneficiary_group": False, "beneficiaries": 300, "estate": "物业弃管小区", "on": "2026-03-02", **extra}


def test_a_project_from_budget_to_payment_each_step_by_its_role(city):
    org, staff, street = city.as_("org-xq"), city.as_("staff-xf"), city.as_("street-hp")
    assert org.post("/api/v1/communities/dq/funds/2026/budget", {"allocated_fen": 100}).status_code == 403
    assert staff.post("/api/v1/communities/xf/funds/2026/budget", {"allocated_fen": 100}).status_code == 403
    org.ok("POST", "/api/v1/communities/xf/funds/2026/budget", {"allocated_fen": 5_000_000, "on": "2026-01-05"})
    account = staff.ok("GET", "/api/v1/communities/xf/funds/2026")
    assert account["allocated_fen"] == 5_000_000 and account["community_name"] == "幸福社区"
    assert city.as_("staff-dq").get("/api/v1/communities/xf/funds/2026").status_code == 403
    assert staff.get("/api/v1/communities/xf/funds/2019").json["error"]["code"] == "no_budget"
    for path in ("/api/v1/communities/xf/funds/0", "/api/v1/communities/xf/funds/0/ledger",
                 "/api/v1/communities/xf/funds/99999999999999999999/ledger"):   # was 200: every year's ledger
        bad = staff.get(path)
        assert bad.status_code == 400 and bad.json["error"]["message"] == "年度不正确", path

    pid = "gw-" + uuid.uuid4().hex[:6]
    assert city.as_("staff-dq").post("/api/v1/communities/xf/fund-projects", proposal(pid)).status_code == 403
    assert street.post("/api/v1/communities/xf/fund-projects", proposal(pid)).status_code == 403
    bad = staff.post("/api/v1/communities/xf/fund-projects", proposal(pid, amount=100.5))
    assert bad.status_code == 400 and "amount_fen" in bad.json["error"]["details"]
    staff.ok("POST", "/api/v1/communities/xf/fund-projects", proposal(pid))
    steps = [
        ("application", {"preliminary_consent_by": "党工委张", "plan": "方案", "on": "2026-03-03"}),
        ("joint-meeting", {"attendees": 15, "resident_representatives": 7, "votes_for": 14, "minutes": "通过",
                           "on": "2026-03-05"}),
        ("notice", {"on": "2026-09-30"}),
    ]
    for step, body in steps:
        staff.ok("POST", f"/api/v1/fund-projects/{pid}/{step}", body)
    board = city.as_("res-zhao").ok("GET", "/api/v1/communities/xf/funds-noticeboard")
    # residents read today's noticeboard of their community (this notice of 30 September is down
    # by now), not another community's
    assert board["total"] == len(board["items"])
    assert city.as_("res-zhao").get("/api/v1/communities/dq/funds-noticeboard").status_code == 403
    assert city.as_("res-zhao").post(f"/api/v1/fund-projects/{pid}/objections", {
        "objection_id": "o1", "content": "施工时间扰民", "on": "2026-10-08"}).status_code == 200
    parked = staff.post(f"/api/v1/fund-projects/{pid}/submission", {"on": "2026-10-12"})
    assert parked.status_code == 409 and parked.json["error"]["code"] == "wrong_stage"
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/objection-resolution",
             {"objection_id": "o1", "resolution": "改为白天施工", "on": "2026-10-09"})
    assert staff.ok("POST", f"/api/v1/fund-projects/{pid}/submission", {"on": "2026-10-12"})["decide_by"] == "2026-10-19"

    approval = {"by": "赵志刚", "construction_committee_by": "建管委刘", "on": "2026-10-16"}
    assert staff.post(f"/api/v1/fund-projects/{pid}/approval", approval).status_code == 403
    office = street.post(f"/api/v1/fund-projects/{pid}/approval", {**approval, "by": "和平街道党工委"})
    assert office.status_code == 409 and office.json["error"]["code"] == "real_name_required"
    street.ok("POST", f"/api/v1/fund-projects/{pid}/approval", approval)
    # 综合验收 is the street committee's (第十二条): the community that ran the project may not accept it
    acceptance = {"quality": "优良", "residents_surveyed": 40, "residents_satisfied": 39, "on": "2026-11-02"}
    assert staff.post(f"/api/v1/fund-projects/{pid}/acceptance", acceptance).status_code == 403
    assert street.post(f"/api/v1/fund-projects/{pid}/acceptance",
                       {**acceptance, "acting_as": "community"}).status_code == 400
    street.ok("POST", f"/api/v1/fund-projects/{pid}/acceptance", acceptance)
    paid = staff.ok("POST", f"/api/v1/fund-projects/{pid}/payments", {
        "payment_id": "pay1", "amount_fen": 1_000_000, "payee": "某公司", "voucher": "invoice", "invoice_no": "No.1",
        "signatures": SIGNED, "on": "2026-11-03"})
    assert paid["state"] == "paid"
    ledger = staff.ok("GET", "/api/v1/communities/xf/funds/2026/ledger?page_size=1")
    assert ledger["balance_fen"] == 4_000_000 and ledger["total"] == 2 and len(ledger["items"]) == 1
    project = street.ok("GET", f"/api/v1/fund-projects/{pid}")
    assert project["state"] == "paid" and project["community_id"] == "xf"
    assert city.as_("staff-dq").get(f"/api/v1/fund-projects/{pid}").status_code == 403
    assert staff.get("/api/v1/fund-projects/nope").status_code == 404

    # `by` is the caller: the audit trail's events name the accounts that acted
    events = [e for e in city.events("funds") if e["data"].get("project_id") == pid]
    actors = {e["event_type"]: e["actor"]["user_id"] for e in events if e["actor"]}
    assert actors["ProjectProposed"] == "staff-xf" and actors["ProjectApproved"] == "street-hp"
    assert actors["ObjectionRaised"] == "res-zhao"
    proposed = next(e for e in events if e["event_type"] == "ProjectProposed")
    assert proposed["data"]["proposed_by"] == "幸福社区周书记"

    report = staff.ok("POST", "/api/v1/communities/xf/funds/2026/reports", {"report": "street_report", "on": "2026-11-25"})
    assert "files" not in report


def test_the_supervisory_committee_reads_every_step_of_its_community_and_acts_on_none(city):
    """Seed 003 第十四条: 社区议事监督委员会对项目的申报、经费使用、验收、核销进行全程监督. The
    committee's account is created by the community (or the street) like other accounts, is
    scoped to its community, and reads the projects, their documents, notices, objections and
    payments; every step refuses it."""
    from tests.gateway.conftest import PASSWORD, create
    from tests.gateway.console_client import Browser

    staff, street = city.as_("staff-xf"), city.as_("street-hp")
    created = create(staff, "sup-xf-new", "supervisory_committee", "幸福社区议事监督委员会", community_id="xf")
    assert created["community_id"] == "xf" and created["street_id"] == "hp"
    assert staff.post("/api/v1/accounts", {"username": "sup-dq", "password": PASSWORD, "role": "supervisory_committee",
                                           "display_name": "x", "community_id": "dq"}).status_code == 403
    city.login("sup-xf-new")
    sup = city.as_("sup-xf-new")
    org = city.as_("org-xq")
    if org.get("/api/v1/communities/xf/funds/2026").status_code != 200:
        org.ok("POST", "/api/v1/communities/xf/funds/2026/budget", {"allocated_fen": 5_000_000, "on": "2026-01-05"})
    pid = "sv-" + uuid.uuid4().hex[:6]
    staff.ok("POST", "/api/v1/communities/xf/fund-projects", proposal(pid, amount=300_000))
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/application", {"preliminary_consent_by": "张明", "plan": "统一采购",
                                                                  "on": "2026-03-03"})
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/joint-meeting", {"attendees": 15, "resident_representatives": 7,
                                                                    "votes_for": 14, "minutes": "会议通过",
                                                                    "on": "2026-03-05"})
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/notice", {"on": "2026-09-30"})
    city.as_("res-zhao").ok("POST", f"/api/v1/fund-projects/{pid}/objections",
                            {"objection_id": "o1", "content": "施工噪音", "on": "2026-10-08"})
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/objection-resolution",
             {"objection_id": "o1", "resolution": "白天施工", "on": "2026-10-09"})
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/submission", {"on": "2026-10-12"})
    # the committee supervises but never acts
    for step, body in (("approval", {"by": "赵志刚", "construction_committee_by": "刘强", "on": "2026-10-16"}),
                       ("withdrawal", {"reason": "监督委员会不能撤回", "on": "2026-10-16"})):
        assert sup.post(f"/api/v1/fund-projects/{pid}/{step}", body).status_code == 403
    assert sup.post("/api/v1/communities/xf/fund-projects", proposal("sv-x")).status_code == 403
    assert sup.post(f"/api/v1/fund-projects/{pid}/objections", {"objection_id": "o2", "content": "x"}).status_code == 403
    street.ok("POST", f"/api/v1/fund-projects/{pid}/approval", {"by": "赵志刚", "construction_committee_by": "刘强",
                                                                "on": "2026-10-16"})
    street.ok("POST", f"/api/v1/fund-projects/{pid}/acceptance", {"quality": "合格", "residents_surveyed": 20,
                                                                  "residents_satisfied": 18, "on": "2026-11-02"})
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/payments", {
        "payment_id": "pay1", "amount_fen": 300_000, "payee": "某公司", "voucher": "invoice", "invoice_no": "No.7",
        "signatures": SIGNED, "on": "2026-11-03"})

    assert sup.ok("GET", f"/api/v1/fund-projects/{pid}")["state"] == "paid"
    assert sup.ok("GET", "/api/v1/communities/xf/funds/2026")["community_id"] == "xf"
    assert sup.ok("GET", "/api/v1/communities/xf/funds/2026/ledger")["total"] >= 1
    sup.ok("GET", "/api/v1/communities/xf/funds-noticeboard")
    file = sup.ok("GET", "/api/v1/communities/xf/funds/2026/supervision")
    project = next(p for p in file["projects"] if p["project_id"] == pid)
    documents = [d["document"] for d in project["documents"]]
    assert "专项经费使用申请审批表" in documents and "综合验收" in documents
    assert any(d.get("content") == "会议通过" for d in project["documents"])
    assert [n["notice"] for n in project["notices"]] == ["project_plan", "project_completion"]
    assert project["objections"][0]["content"] == "施工噪音" and project["objections"][0]["resolution"] == "白天施工"
    assert [s["name"] for s in project["payments"][0]["signatures"]] == ["李书记", "王主任", "赵书记"]
    # scoped to its community
    for path in ("/api/v1/communities/dq/funds/2026", "/api/v1/communities/dq/funds/2026/supervision",
                 "/api/v1/communities/dq/funds-noticeboard"):
        assert sup.get(path).status_code == 403, path
    assert city.as_("res-zhao").get("/api/v1/communities/xf/funds/2026/supervision").status_code == 403
    # the street creates one too; the console page shows the file
    create(street, "sup-xf2", "supervisory_committee", "监督委员会王委员", community_id="xf")
    html = Browser(city.gateway, "sup-xf").html("/console/supervision?year=2026")
    assert "全程监督" in html and "施工噪音" in html and "专项经费使用申请审批表" in html and "王主任" in html


def test_the_dashboard_shows_the_years_fund(city):
    from datetime import datetime, timedelta, timezone

    from tests.gateway.console_client import Browser

    year = datetime.now(timezone(timedelta(hours=8))).year     # the console's year, in Beijing
    staff = Browser(city.gateway, "staff-dq")
    html = staff.html("/console/fund")
    assert f"{year} 年专项经费" in html and "尚未下达" in html
    city.as_("admin").ok("POST", f"/api/v1/communities/dq/funds/{year}/budget", {"allocated_fen": 1_234_500,
                                                                                "on": f"{year}-01-05"})
    html = staff.html("/console/fund")
    assert "12,345.00 元" in html and "本年度尚无项目" in html


def test_a_deadline_counted_into_an_uncovered_year_is_marked_provisional_in_the_api_and_console(city):
    from tests.gateway.console_client import Browser

    staff, org = city.as_("staff-xf"), city.as_("org-xq")
    if org.get("/api/v1/communities/xf/funds/2026").status_code != 200:
        org.ok("POST", "/api/v1/communities/xf/funds/2026/budget", {"allocated_fen": 5_000_000, "on": "2026-01-05"})
    pid = "pv-" + uuid.uuid4().hex[:6]
    staff.ok("POST", "/api/v1/communities/xf/fund-projects", proposal(pid, amount=100_000, on="2026-12-01"))
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/application", {"preliminary_consent_by": "张明", "plan": "方案",
                                                                  "on": "2026-12-21"})
    staff.ok("POST", f"/api/v1/fund-projects/{pid}/joint-meeting", {"attendees": 9, "resident_representatives": 4,
                                                                    "votes_for": 9, "minutes": "通过", "on": "2026-12-22"})
    posted = staff.ok("POST", f"/api/v1/fund-projects/{pid}/notice", {"on": "2026-12-29"})
    assert posted["ends_on"] == "2027-01-01" and posted["ends_on_provisional"] is True
    assert posted["ends_on_note"] == "待法定节假日安排公布后复核"
    project = staff.ok("GET", f"/api/v1/fund-projects/{pid}")
    assert project["notice_ends_on_provisional"] is True and project["notice_ends_on_note"] == "待法定节假日安排公布后复核"
    html = Browser(city.gateway, "staff-xf").html(f"/console/fund-projects/{pid}")
    assert "待法定节假日安排公布后复核" in html
