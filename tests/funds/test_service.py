"""Funds over the real broker and PostgreSQL: dispatch's demands arrive through the relay and
the inbox, commands and refusals over RPC, FundsReportDue published on funds.events once."""
import uuid
from datetime import datetime, timedelta, timezone

import kombu
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.dispatch.service import DispatchService
from services.funds.service import FundsService
from shared.db import Database
from shared.nameko_edge import CommandRejected
from tests.conftest import PG_URL, fresh_schema
from tests.messaging.helpers import drain_queue, running, unique, wait_for

SATURDAY = datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc)
SIGNED = [{"role": "community_secretary", "name": "李书记", "signed_on": "2026-06-01"},
          {"role": "construction_committee_director", "name": "王主任", "signed_on": "2026-06-01"},
          {"role": "street_secretary", "name": "赵书记", "signed_on": "2026-06-02"}]


@pytest.fixture
def services(amqp_uri, tmp_path):
    schema = fresh_schema()
    base = {"AMQP_URI": amqp_uri, "INBOX_RETRY_DELAYS": [0.2, 0.5]}
    funds_cfg = {**base, "DATABASE_URL": PG_URL, "DATABASE_SCHEMA": schema, "REPORTS_DIR": str(tmp_path / "reports"),
                 "DEADLINE_SCAN_SECONDS": 3600, "DEFAULT_ANNUAL_BUDGET_FEN": 5_000_000}
    dsp_cfg = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/dispatch.db"}
    probe = unique("funds-probe-")
    with kombu.Connection(amqp_uri) as conn:
        exchange = kombu.Exchange("funds.events", type="topic", durable=True)
        exchange(conn.default_channel).declare()
        kombu.Queue(probe, exchange=exchange, routing_key="FundsReportDue", durable=False)(conn.default_channel).declare()
    with running(FundsService, config=funds_cfg), running(DispatchService, config=dsp_cfg), \
            ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        yield rpc, probe, tmp_path / "reports"
    Database(PG_URL, schema=schema).drop_schema()


def record_demand(rpc, cid):
    demand_id = "d" + uuid.uuid4().hex[:8]
    rpc.dispatch.record_demand({
        "demand_id": demand_id, "community_id": cid, "grid_id": f"{cid}-g1", "resident_id": "r1",
        "resident_name": "赵大爷", "category": "维修", "description": "楼道灯坏了，晚上看不见",
        "address": "幸福小区3栋", "window_start": SATURDAY.isoformat(),
        "window_end": (SATURDAY + timedelta(hours=3)).isoformat(), "recorded_by": "staff-1"})
    return demand_id


def proposal(cid, pid, amount, small=False, demands=()):
    return {"project_id": pid, "community_id": cid, "year": 2026, "title": "楼道照明改造", "category": "物业管理服务",
            "description": "物业弃管小区楼道照明", "amount_fen": amount,
            "lines": [{"item": "灯具及安装", "kind": "设施维修", "amount_fen": amount}],
            "small_beneficiary_group": small, "beneficiaries": 300, "demand_ids": list(demands), "by": "社区党委",
            "estate": "物业弃管小区", "on": "2026-03-02"}


def test_a_project_from_a_dispatch_demand_to_payment_over_rpc(services):
    rpc, probe, reports_dir = services
    cid = "c" + uuid.uuid4().hex[:6]
    rpc.funds.allocate_budget({"community_id": cid, "community_name": "幸福社区", "year": 2026, "on": "2026-01-05"})
    demand_id = record_demand(rpc, cid)

    def proposed():  # the demand reaches funds through dispatch's relay and funds' inbox
        try:
            return rpc.funds.propose_project(proposal(cid, f"{cid}-p1", 1_234_567, demands=[demand_id]))
        except CommandRejected as exc:
            assert exc.code == "rule_broken" and "不存在" in exc.message
            return None

    assert wait_for(proposed, timeout=20, interval=0.3)["available_fen"] == 5_000_000 - 1_234_567
    pid = f"{cid}-p1"
    f = rpc.funds
    f.apply_for_project({"project_id": pid, "preliminary_consent_by": "党工委张", "plan": "方案", "by": "社区党委",
                         "on": "2026-03-03"})
    f.record_joint_meeting({"project_id": pid, "attendees": 15, "resident_representatives": 7, "votes_for": 14,
                            "minutes": "通过", "on": "2026-03-05"})
    assert f.publish_notice({"project_id": pid, "on": "2026-09-30"})["ends_on"] == "2026-10-10"
    f.raise_objection({"project_id": pid, "objection_id": "o1", "raised_by": "居民陈", "content": "施工时间扰民",
                       "on": "2026-10-08"})
    with pytest.raises(CommandRejected) as parked:
        f.submit_project({"project_id": pid, "by": "社区党委", "on": "2026-10-12"})
    assert parked.value.code == "wrong_stage" and "搁置" in parked.value.message
    f.resolve_objection({"project_id": pid, "objection_id": "o1", "resolution": "改为白天施工", "by": "议事监督委员会",
                         "on": "2026-10-09"})
    assert f.submit_project({"project_id": pid, "by": "社区党委", "on": "2026-10-12"})["decide_by"] == "2026-10-19"
    f.approve_project({"project_id": pid, "by": "党工委张", "construction_committee_by": "建管委刘", "on": "2026-10-16"})
    with pytest.raises(CommandRejected) as early:
        f.pay_project({"project_id": pid, "payment_id": "pay1", "amount_fen": 1_234_567, "payee": "某公司",
                       "voucher": "invoice", "invoice_no": "No.1", "signatures": SIGNED, "on": "2026-10-20"})
    assert early.value.code == "wrong_stage" and "尚未通过综合验收" in early.value.message
    f.accept_project({"project_id": pid, "quality": "优良", "residents_surveyed": 40, "residents_satisfied": 39,
                      "by": "专人", "on": "2026-11-02", "acting_as": "street_committee"})
    paid = f.pay_project({"project_id": pid, "payment_id": "pay1", "amount_fen": 1_234_567, "payee": "某公司",
                          "voucher": "invoice", "invoice_no": "No.1", "signatures": SIGNED, "on": "2026-11-03"})
    assert paid["state"] == "paid"
    ledger = f.ledger(cid, 2026)
    assert ledger["balance_fen"] == 5_000_000 - 1_234_567
    assert [n["notice"] for n in f.noticeboard(cid, "2026-11-05")] == ["project_completion"]
    trail = f.audit_trail(cid, 2026)
    assert [e["event_type"] for e in trail][-3:] == ["ProjectAccepted", "PaymentMade", "NoticePublished"]
    assert "ObjectionRaised" in [e["event_type"] for e in trail]

    issued = f.issue_report({"community_id": cid, "year": 2026, "report": "street_report", "on": "2026-11-25"})
    assert sorted(p.rsplit("/", 1)[-1] for p in issued["files"]) == ["street_report.pdf", "street_report.xlsx"]
    assert (reports_dir / cid / "2026" / "street_report.pdf").read_bytes()[:5] == b"%PDF-"


def test_health_reports_the_working_calendars_coverage(services):
    rpc, _, _ = services
    health = rpc.funds.health()
    assert health["status"] == "ok" and health["calendar"]["covered_until"] >= "2026-12-31"
    assert set(health["calendar"]) == {"covered_years", "covered_until", "alert"}


def test_bad_input_and_rule_refusals_are_clear_and_change_nothing(services):
    rpc, _, _ = services
    cid = "c" + uuid.uuid4().hex[:6]
    rpc.funds.allocate_budget({"community_id": cid, "community_name": "幸福社区", "year": 2026, "allocated_fen": 1_000_000,
                               "on": "2026-01-05"})
    with pytest.raises(CommandRejected) as bad:
        rpc.funds.propose_project({**proposal(cid, f"{cid}-x", 100), "amount_fen": 100.5})
    assert bad.value.code == "invalid_input" and "amount_fen" in bad.value.details
    rpc.funds.propose_project(proposal(cid, f"{cid}-s1", 200_000, small=True))
    with pytest.raises(CommandRejected) as limit:
        rpc.funds.propose_project(proposal(cid, f"{cid}-s2", 1, small=True))
    assert limit.value.code == "small_group_limit" and "20%" in limit.value.message
    with pytest.raises(CommandRejected) as forbidden:
        rpc.funds.propose_project({**proposal(cid, f"{cid}-o", 500), "lines": [
            {"item": "办公室打印纸", "kind": "社区办公开支", "amount_fen": 500}]})
    assert forbidden.value.code == "forbidden_expense" and "办公开支" in forbidden.value.message
    other = "c" + uuid.uuid4().hex[:6]
    rpc.funds.allocate_budget({"community_id": other, "community_name": "阳光社区", "year": 2026, "on": "2026-01-05"})
    with pytest.raises(CommandRejected) as taken:
        rpc.funds.propose_project({**proposal(other, f"{cid}-s1", 100)})
    assert taken.value.code == "rule_broken" and "已被使用" in taken.value.message
    account = rpc.funds.account(cid, 2026)
    assert [p["project_id"] for p in account["projects"]] == [f"{cid}-s1"]
    # 2027 is not covered yet: Monday to Friday are counted (provisionally); before 2004 is refused
    assert rpc.funds.working_calendar("2026-12-30", 3) == "2027-01-04"
    with pytest.raises(CommandRejected) as uncovered:
        rpc.funds.working_calendar("2003-06-02", 3)
    assert uncovered.value.code == "calendar_not_covered"


def test_report_reminders_are_published_once_per_threshold(services, amqp_uri):
    rpc, probe, _ = services
    csv_text = "community_id,community_name,year,amount_yuan\nrm-a,安康社区,2026,50000\nrm-b,和谐社区,2026,45000.50\n"
    result = rpc.funds.import_budgets(csv_text)
    assert [r["budget_fen"] for r in result["rows"]] == [5_000_000, 4_500_050]
    assert [r["created"] for r in rpc.funds.import_budgets(csv_text)["rows"]] == [False, False]
    with pytest.raises(CommandRejected) as bad_file:
        rpc.funds.import_budgets("community_id,community_name,year,amount_yuan\nx,某社区,2026,12.345\n")
    assert "第 2 行" in bad_file.value.message
    assert rpc.funds.check_deadlines("2026-10-15")["reminders"] == 0
    first = rpc.funds.check_deadlines("2026-11-24")
    again = rpc.funds.check_deadlines("2026-11-24")
    assert first["reminders"] >= 4 and again["reminders"] == 0

    def reminders():
        got = [body["data"] for body, _ in drain_queue(amqp_uri, probe, max_idle=1.0)]
        return [d for d in got if d["community_id"] in ("rm-a", "rm-b")]

    seen = wait_for(reminders, timeout=15)
    seen += reminders()
    assert sorted((d["community_id"], d["report"], d["days_left"]) for d in seen) == [
        ("rm-a", "street_report", 7), ("rm-a", "yearly_summary", 26),
        ("rm-b", "street_report", 7), ("rm-b", "yearly_summary", 26)]
    assert {d["community_name"] for d in seen} == {"安康社区", "和谐社区"}


def test_concurrent_proposals_never_overspend_the_account(services):
    rpc, _, _ = services
    cid = "c" + uuid.uuid4().hex[:6]
    rpc.funds.allocate_budget({"community_id": cid, "community_name": "幸福社区", "year": 2026, "allocated_fen": 1_000_000,
                               "on": "2026-01-05"})
    calls = [rpc.funds.propose_project.call_async(proposal(cid, f"{cid}-{i}", 200_000)) for i in range(12)]
    won, refused = [], []
    for call in calls:
        try:
            won.append(call.result())
        except CommandRejected as exc:
            refused.append(exc.code)
    assert len(won) == 5 and refused == ["over_budget"] * 7
    account = rpc.funds.account(cid, 2026)
    assert (account["reserved_fen"], account["available_fen"]) == (1_000_000, 0)


def test_the_relay_publishes_the_accounts_events_in_order_and_consumers_decode_them(services, amqp_uri):
    from shared.contracts import decode_message

    rpc, _, _ = services
    probe = unique("funds-all-")
    with kombu.Connection(amqp_uri) as conn:
        exchange = kombu.Exchange("funds.events", type="topic", durable=True)
        kombu.Queue(probe, exchange=exchange, routing_key="#", durable=False)(conn.default_channel).declare()
    cid = "c" + uuid.uuid4().hex[:6]
    rpc.funds.allocate_budget({"community_id": cid, "community_name": "幸福社区", "year": 2026, "allocated_fen": 900_000,
                               "on": "2026-01-05"})
    rpc.funds.propose_project(proposal(cid, f"{cid}-p", 300_000))
    rpc.funds.withdraw_project({"project_id": f"{cid}-p", "reason": "改由其他渠道解决", "by": "社区党委",
                                "on": "2026-03-03"})
    got = []
    wait_for(lambda: got.extend(b for b, _ in drain_queue(amqp_uri, probe, max_idle=0.5)
                                if b["data"].get("community_id") == cid) or len(got) >= 3, timeout=15)
    decoded = [decode_message("funds", body) for body in got]
    assert [e.event_type for e in decoded] == ["BudgetAllocated", "ProjectProposed", "ProjectWithdrawn"]
    assert [e.stream_version for e in decoded] == [1, 2, 3]
    assert decoded[1].data["amount_fen"] == 300_000 and decoded[0].correlation_id


def test_a_report_is_recorded_issued_only_once_its_files_exist_and_its_text_is_never_markup(services, monkeypatch):
    """A report that fails to render is not ReportIssued (issuing again then makes it); people's
    text in it (a project's title) is printed as written, not parsed as reportlab markup."""
    from pypdf import PdfReader

    from services.funds import reports

    rpc, _, reports_dir = services
    cid = "c" + uuid.uuid4().hex[:6]
    rpc.funds.allocate_budget({"community_id": cid, "community_name": "幸福社区", "year": 2026, "on": "2026-01-05"})
    hostile = "<b>楼道 <font name='x'>照明 & 改造"
    rpc.funds.propose_project({**proposal(cid, f"{cid}-p1", 100_000), "title": hostile})
    real = reports.report_pdf

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(reports, "report_pdf", broken)
    with pytest.raises(Exception):
        rpc.funds.issue_report({"community_id": cid, "year": 2026, "report": "street_report", "on": "2026-11-25"})
    assert "ReportIssued" not in [e["event_type"] for e in rpc.funds.audit_trail(cid, 2026)]
    assert not (reports_dir / cid / "2026" / "street_report.pdf").exists()
    monkeypatch.setattr(reports, "report_pdf", real)
    issued = rpc.funds.issue_report({"community_id": cid, "year": 2026, "report": "street_report", "on": "2026-11-25"})
    assert [e["event_type"] for e in rpc.funds.audit_trail(cid, 2026)].count("ReportIssued") == 1
    pdf = next(p for p in issued["files"] if p.endswith(".pdf"))
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "<b>楼道" in text.replace("\n", "") or "<b>" in text
