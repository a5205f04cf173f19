"""Funds' read models.

- **Dispatch's demands** (the directory of collected demands a proposal may link): fed by
  dispatch's `DemandRecorded` through the inbox.
- **Accounts, projects, the ledger and the noticeboard**: a projection of funds' own events,
  rebuilt from zero like any other. The ledger (专项经费科目) is one account per community; its
  running balance is computed when read, so it always sums exactly.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import Boolean, Column, Connection, Integer, MetaData, String, Table, Text, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.funds.domain import (
    DECISION_WORKING_DAYS, FINISHED, NOTICE_PERIODS, NOTICE_WORKING_DAYS, PAID, REJECTED, STATE_NAMES, WITHDRAWN,
)
from services.funds.workdays import PROVISIONAL_NOTE
from shared.projections import Projection

# -- dispatch's demands --------------------------------------------------------------------------
demand_metadata = MetaData()
demands = Table(
    "rm_funds_demands", demand_metadata,
    Column("demand_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("category", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("resident_name", String(50), nullable=False),
)


# -- project ids, one account each (written with the proposal, in its transaction) ---------------
project_ids = Table(
    "funds_project_ids", demand_metadata,
    Column("project_id", String(100), primary_key=True),
    Column("community_id", String(100), nullable=False),
    Column("year", Integer, nullable=False),
)


def _upsert(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def claim_project_id(conn: Connection, project_id: str, community_id: str, year: int) -> bool:
    """Reserve `project_id` for the account (community, year), in the proposal's transaction;
    False if another account has it. A concurrent claim of the same id waits for the first
    to commit (the primary key), so two accounts can never both have one id."""
    conn.execute(_upsert(conn)(project_ids).values(project_id=project_id, community_id=community_id, year=year)
                 .on_conflict_do_nothing(index_elements=["project_id"]))
    owner = conn.execute(select(project_ids.c.community_id, project_ids.c.year)
                         .where(project_ids.c.project_id == project_id)).first()
    return owner is not None and (owner.community_id, owner.year) == (community_id, year)


def demand_recorded(conn: Connection, event) -> None:
    d = event.data
    stmt = _upsert(conn)(demands).values(demand_id=d["demand_id"], community_id=d["community_id"],
                                         category=d["category"], description=d["description"],
                                         resident_name=d["resident_name"])
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["demand_id"]))


def known_demands(conn: Connection, demand_ids: list[str]) -> dict[str, dict]:
    if not demand_ids:
        return {}
    rows = conn.execute(select(demands).where(demands.c.demand_id.in_(demand_ids))).mappings()
    return {r["demand_id"]: dict(r) for r in rows}


# -- funds' own events -------------------------------------------------------------------------
metadata = MetaData()
accounts = Table(
    "rm_fund_accounts", metadata,
    Column("community_id", String(100), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("community_name", String(200), nullable=False),
    Column("allocated_fen", Integer, nullable=False),
    Column("carried_over_fen", Integer, nullable=False),
    Column("source", String(200), nullable=False),
    Column("closed", Boolean, nullable=False),
    Column("surplus_fen", Integer),
    Column("street_report_on", String(10)),
    Column("yearly_summary_on", String(10)),
    Column("reminders", Text, nullable=False),
)
projects = Table(
    "rm_fund_projects", metadata,
    Column("community_id", String(100), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("project_id", String(100), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("category", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("amount_fen", Integer, nullable=False),
    Column("lines", Text, nullable=False),
    Column("small_beneficiary_group", Boolean, nullable=False),
    Column("beneficiaries", Integer, nullable=False),
    Column("demand_ids", Text, nullable=False),
    Column("payee_kind", String(20), nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("proposed_on", String(10), nullable=False),
    Column("meeting", Text),
    Column("notice_ends_on", String(10)),
    Column("open_objections", Integer, nullable=False),
    Column("submitted_on", String(10)),
    Column("decide_by", String(10)),
    Column("decision_overdue", Boolean, nullable=False),
    Column("approved_on", String(10)),
    Column("decided_late", Boolean),
    Column("changes", Integer, nullable=False),
    Column("quality", String(10)),
    Column("residents_surveyed", Integer),
    Column("residents_satisfied", Integer),
    Column("accepted_on", String(10)),
    Column("paid_fen", Integer, nullable=False),
    Column("paid_on", String(10)),
    Column("outcome", Text),
)
ledger = Table(
    "rm_fund_ledger", metadata,
    Column("position", Integer, primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("year", Integer, nullable=False),
    Column("entry_on", String(10), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("project_id", String(100)),
    Column("summary", Text, nullable=False),
    Column("voucher", String(200)),
    Column("income_fen", Integer, nullable=False),
    Column("expense_fen", Integer, nullable=False),
)
notices = Table(
    "rm_fund_notices", metadata,
    Column("position", Integer, primary_key=True),
    Column("community_id", String(100), nullable=False, index=True),
    Column("year", Integer, nullable=False),
    Column("notice", String(20), nullable=False),
    Column("project_id", String(100)),
    Column("title", String(300), nullable=False),
    Column("posted_on", String(10), nullable=False),
    Column("ends_on", String(10), nullable=False),
)


def _project(conn: Connection, d: dict, **values) -> None:
    conn.execute(update(projects).where(and_(projects.c.community_id == d["community_id"],
                                             projects.c.year == d["year"],
                                             projects.c.project_id == d["project_id"])).values(**values))


def _title(conn: Connection, d: dict) -> str:
    return conn.execute(select(projects.c.title).where(and_(
        projects.c.community_id == d["community_id"], projects.c.year == d["year"],
        projects.c.project_id == d["project_id"]))).scalar_one()


class FundsProjection(Projection):
    name = "funds"
    metadata = metadata

    def when_BudgetAllocated(self, conn, event, d):
        conn.execute(accounts.insert().values(community_id=d["community_id"], year=d["year"],
                                              community_name=d["community_name"], allocated_fen=d["allocated_fen"],
                                              carried_over_fen=d["carried_over_fen"], source=d["source"],
                                              closed=False, reminders="[]"))
        if d["carried_over_fen"]:
            conn.execute(ledger.insert().values(position=event.global_position * 10, community_id=d["community_id"],
                                                year=d["year"], entry_on=d["allocated_on"], kind="carry_over",
                                                summary=f"上年（{d['year'] - 1} 年）结余结转", voucher=None,
                                                income_fen=d["carried_over_fen"], expense_fen=0))
        conn.execute(ledger.insert().values(position=event.global_position * 10 + 1, community_id=d["community_id"],
                                            year=d["year"], entry_on=d["allocated_on"], kind="allocation",
                                            summary=f"{d['year']} 年度专项经费下达（{d['source']}）", voucher=None,
                                            income_fen=d["allocated_fen"], expense_fen=0))

    def when_SurplusCarriedOver(self, conn, event, d):
        conn.execute(update(accounts).where(and_(accounts.c.community_id == d["community_id"],
                                                 accounts.c.year == d["year"]))
                     .values(carried_over_fen=accounts.c.carried_over_fen + d["amount_fen"]))
        conn.execute(ledger.insert().values(position=event.global_position * 10 + 1, community_id=d["community_id"],
                                            year=d["year"], entry_on=d["carried_on"], kind="carry_over",
                                            summary=f"上年（{d['from_year']} 年）结余结转", voucher=None,
                                            income_fen=d["amount_fen"], expense_fen=0))

    def when_ProjectProposed(self, conn, event, d):
        conn.execute(projects.insert().values(
            community_id=d["community_id"], year=d["year"], project_id=d["project_id"], title=d["title"],
            category=d["category"], description=d["description"], amount_fen=d["amount_fen"],
            lines=json.dumps(d["lines"], ensure_ascii=False), small_beneficiary_group=d["small_beneficiary_group"],
            beneficiaries=d["beneficiaries"], demand_ids=json.dumps(d["demand_ids"]), payee_kind=d["payee_kind"],
            state="proposed", proposed_on=d["proposed_on"], open_objections=0, decision_overdue=False, changes=0,
            paid_fen=0))

    def when_ProjectApplied(self, conn, event, d):
        _project(conn, d, state="applied")

    def when_JointMeetingDecided(self, conn, event, d):
        meeting = (f"{d['meeting_on']} 联席会议：参会 {d['attendees']} 人（居民代表 {d['resident_representatives']} 人），"
                   f"赞成 {d['votes_for']}，反对 {d['votes_against']}，{'通过' if d['passed'] else '未通过'}")
        _project(conn, d, meeting=meeting, **({"state": "meeting_passed"} if d["passed"] else {}))

    def when_NoticePublished(self, conn, event, d):
        conn.execute(notices.insert().values(position=event.global_position, community_id=d["community_id"],
                                             year=d["year"], notice=d["notice"], project_id=d["project_id"],
                                             title=d["title"], posted_on=d["posted_on"], ends_on=d["ends_on"]))
        if d["notice"] == "project_plan":
            _project(conn, d, state="on_notice", notice_ends_on=d["ends_on"])

    def when_ObjectionRaised(self, conn, event, d):
        _project(conn, d, state="parked", open_objections=projects.c.open_objections + 1)

    def when_ObjectionResolved(self, conn, event, d):
        if d["republish"]:
            _project(conn, d, state="meeting_passed", open_objections=0, notice_ends_on=None)
        else:
            _project(conn, d, open_objections=projects.c.open_objections - 1)
            conn.execute(update(projects).where(and_(
                projects.c.community_id == d["community_id"], projects.c.year == d["year"],
                projects.c.project_id == d["project_id"], projects.c.open_objections == 0)).values(state="on_notice"))

    def when_ProjectSubmitted(self, conn, event, d):
        _project(conn, d, state="submitted", submitted_on=d["submitted_on"], decide_by=d["decide_by"])

    def when_DecisionOverdue(self, conn, event, d):
        _project(conn, d, decision_overdue=True)

    def when_ProjectApproved(self, conn, event, d):
        _project(conn, d, state="approved", approved_on=d["approved_on"], decided_late=d["decided_late"],
                 amount_fen=d["amount_fen"])

    def when_ProjectRejected(self, conn, event, d):
        _project(conn, d, state="rejected", outcome=f"{d['stage']}：{d['reason']}")

    def when_ProjectWithdrawn(self, conn, event, d):
        _project(conn, d, state="withdrawn", outcome=f"撤回：{d['reason']}")

    def when_ProjectChanged(self, conn, event, d):
        _project(conn, d, amount_fen=d["amount_fen"], lines=json.dumps(d["lines"], ensure_ascii=False),
                 small_beneficiary_group=d["small_beneficiary_group"], changes=projects.c.changes + 1)

    def when_ProjectAccepted(self, conn, event, d):
        _project(conn, d, state="accepted", quality=d["quality"], residents_surveyed=d["residents_surveyed"],
                 residents_satisfied=d["residents_satisfied"], accepted_on=d["accepted_on"])

    def when_PaymentMade(self, conn, event, d):
        _project(conn, d, paid_fen=projects.c.paid_fen + d["amount_fen"], paid_on=d["paid_on"],
                 **({"state": "paid"} if d["final"] else {}))
        voucher = f"发票 {d['invoice_no']}" if d["voucher"] == "invoice" else "收款人签字"
        conn.execute(ledger.insert().values(position=event.global_position * 10, community_id=d["community_id"],
                                            year=d["year"], entry_on=d["paid_on"], kind="payment",
                                            project_id=d["project_id"],
                                            summary=f"支付“{_title(conn, d)}”款项（收款人：{d['payee']}）",
                                            voucher=voucher, income_fen=0, expense_fen=d["amount_fen"]))

    def when_ReportIssued(self, conn, event, d):
        column = "street_report_on" if d["report"] == "street_report" else "yearly_summary_on"
        conn.execute(update(accounts).where(and_(accounts.c.community_id == d["community_id"],
                                                 accounts.c.year == d["year"])).values(**{column: d["issued_on"]}))

    def when_FundsReportDue(self, conn, event, d):
        row = conn.execute(select(accounts.c.reminders).where(and_(
            accounts.c.community_id == d["community_id"], accounts.c.year == d["year"]))).scalar_one()
        sent = json.loads(row) + [{"report": d["report"], "due_date": d["due_date"], "days_left": d["days_left"],
                                   "sent_at": event.occurred_at}]
        conn.execute(update(accounts).where(and_(accounts.c.community_id == d["community_id"],
                                                 accounts.c.year == d["year"]))
                     .values(reminders=json.dumps(sent, ensure_ascii=False)))

    def when_YearClosed(self, conn, event, d):
        conn.execute(update(accounts).where(and_(accounts.c.community_id == d["community_id"],
                                                 accounts.c.year == d["year"]))
                     .values(closed=True, surplus_fen=d["surplus_fen"]))
        if d["surplus_fen"]:
            conn.execute(ledger.insert().values(position=event.global_position * 10, community_id=d["community_id"],
                                                year=d["year"], entry_on=d["closed_on"], kind="carry_forward",
                                                summary=f"{d['year']} 年度结账，结余结转下年", voucher=None,
                                                income_fen=0, expense_fen=d["surplus_fen"]))


# -- queries -------------------------------------------------------------------------------------
def _project_dict(row) -> dict:
    p = dict(row)
    p["lines"] = json.loads(p["lines"])
    p["demand_ids"] = json.loads(p["demand_ids"])
    p["state_name"] = STATE_NAMES[p["state"]]
    if p["state"] in (REJECTED, WITHDRAWN):
        p["reserved_fen"] = 0
    elif p["state"] == PAID:
        p["reserved_fen"] = p["paid_fen"]
    else:
        p["reserved_fen"] = p["amount_fen"]
    return p


def locate_project(conn: Connection, project_id: str) -> list[tuple[str, int]]:
    rows = conn.execute(select(projects.c.community_id, projects.c.year).where(projects.c.project_id == project_id))
    return [(r.community_id, r.year) for r in rows]


# -- deadlines counted again with today's calendar ------------------------------------------------
def _plan_notices(conn: Connection, community_id: str, year: int) -> dict[str, str]:
    """Each project's latest plan notice: project id → the day it was posted."""
    rows = conn.execute(select(notices.c.project_id, notices.c.posted_on).where(and_(
        notices.c.community_id == community_id, notices.c.year == year, notices.c.notice == "project_plan"))
        .order_by(notices.c.position))
    return {r.project_id: r.posted_on for r in rows}


def _deadline(p: dict, key: str, start: str | None, days: int, calendar) -> None:
    """`p[key]` counted again from `start` with `calendar` (the stored date was counted with the
    calendar of its day), and `<key>_provisional` (+ `_note`) where the count ran through a year
    whose official schedule is not known yet."""
    if calendar is None or not start or not p.get(key):
        return
    p.update(calendar.deadline(date.fromisoformat(start), days).as_dict(key))


def _project_deadlines(p: dict, notice_posted_on: str | None, calendar) -> dict:
    _deadline(p, "notice_ends_on", notice_posted_on, NOTICE_WORKING_DAYS, calendar)
    _deadline(p, "decide_by", p.get("submitted_on"), DECISION_WORKING_DAYS, calendar)
    return p


def _notice_deadline(n: dict, calendar) -> dict:
    _deadline(n, "ends_on", n["posted_on"], n.get("working_days") or NOTICE_PERIODS[n["notice"]], calendar)
    n["provisional"] = n.get("ends_on_provisional", False)
    if n["provisional"]:
        n["provisional_note"] = n["ends_on_note"]
    return n


def project_view(conn: Connection, community_id: str, year: int, project_id: str, calendar=None) -> dict | None:
    row = conn.execute(select(projects).where(and_(projects.c.community_id == community_id, projects.c.year == year,
                                                   projects.c.project_id == project_id))).mappings().first()
    if row is None:
        return None
    return _project_deadlines(_project_dict(row), _plan_notices(conn, community_id, year).get(project_id), calendar)


def account_view(conn: Connection, community_id: str, year: int, calendar=None) -> dict | None:
    row = conn.execute(select(accounts).where(and_(accounts.c.community_id == community_id,
                                                   accounts.c.year == year))).mappings().first()
    if row is None:
        return None
    account = dict(row)
    account["reminders"] = json.loads(account["reminders"])
    rows = conn.execute(select(projects).where(and_(projects.c.community_id == community_id, projects.c.year == year))
                        .order_by(projects.c.proposed_on, projects.c.project_id)).mappings()
    posted = _plan_notices(conn, community_id, year) if calendar is not None else {}
    account["projects"] = [_project_deadlines(_project_dict(r), posted.get(r["project_id"]), calendar) for r in rows]
    budget = account["allocated_fen"] + account["carried_over_fen"]
    reserved = sum(p["reserved_fen"] for p in account["projects"])
    small = sum(p["reserved_fen"] for p in account["projects"] if p["small_beneficiary_group"])
    paid = sum(p["paid_fen"] for p in account["projects"])
    account.update(budget_fen=budget, reserved_fen=reserved, available_fen=budget - reserved, paid_fen=paid,
                   balance_fen=budget - paid, small_group_fen=small, small_group_limit_fen=budget * 20 // 100,
                   unfinished=[p["project_id"] for p in account["projects"] if p["state"] not in FINISHED])
    return account


def ledger_entries(conn: Connection, community_id: str, year: int | None = None) -> dict:
    """The community's fund account (专项经费科目): entries by date (then as recorded) with a
    running balance."""
    q = select(ledger).where(ledger.c.community_id == community_id).order_by(ledger.c.entry_on, ledger.c.position)
    entries, balance = [], 0
    for row in conn.execute(q).mappings():
        balance += row["income_fen"] - row["expense_fen"]
        if year is None or row["year"] == year:
            entries.append({**dict(row), "balance_fen": balance})
    return {"community_id": community_id, "year": year, "entries": entries,
            "income_fen": sum(e["income_fen"] for e in entries),
            "paid_fen": sum(e["expense_fen"] for e in entries if e["kind"] == "payment"),
            "balance_fen": entries[-1]["balance_fen"] if entries else 0}


#: A notice's end recorded with a provisional calendar may move when the year's holidays are
#: configured: the noticeboard reads notices ending up to this many days before `day` and keeps
#: those whose end, counted again, is not before it.
REVIEW_MARGIN_DAYS = 31


def noticeboard(conn: Connection, community_id: str, day: str, calendar=None) -> list[dict]:
    """What is posted on the community's noticeboard on `day`."""
    since = (date.fromisoformat(day) - timedelta(days=REVIEW_MARGIN_DAYS if calendar else 0)).isoformat()
    rows = conn.execute(select(notices).where(and_(notices.c.community_id == community_id,
                                                   notices.c.posted_on <= day, notices.c.ends_on >= since))
                        .order_by(notices.c.position)).mappings()
    board = [_notice_deadline(dict(r), calendar) for r in rows]
    return [n for n in board if n["ends_on"] >= day]


def accounts_to_remind(conn: Connection, year: int) -> list[tuple[str, int]]:
    """Accounts of `year` with a report not yet issued."""
    rows = conn.execute(select(accounts.c.community_id, accounts.c.year).where(and_(
        accounts.c.year == year, or_(accounts.c.street_report_on.is_(None), accounts.c.yearly_summary_on.is_(None))))
        .order_by(accounts.c.community_id))
    return [(r.community_id, r.year) for r in rows]


def accounts_with_pending_decisions(conn: Connection, day: str) -> list[tuple[str, int]]:
    """Accounts with a decision perhaps overdue on `day` (a recorded deadline may be provisional,
    so the margin; the account counts it again)."""
    until = (date.fromisoformat(day) + timedelta(days=REVIEW_MARGIN_DAYS)).isoformat()
    rows = conn.execute(select(projects.c.community_id, projects.c.year).distinct().where(and_(
        projects.c.state == "submitted", projects.c.decide_by < until, projects.c.decision_overdue.is_(False))))
    return [(r.community_id, r.year) for r in rows]


# -- supervision (社区议事监督委员会, 第十四条) -------------------------------------------------------
NOTICE_NAMES = {"project_plan": "项目及经费使用方案公示", "project_completion": "项目建设及经费使用情况公示",
                "yearly_summary": "年度经费使用情况汇总公示"}
SIGNER_NAMES = {"community_secretary": "社区党委书记", "construction_committee_director": "社区建设管理委员会主任",
                "street_secretary": "社区党工委书记", "payee": "收款人"}


def _who(event: dict) -> str | None:
    actor = event.get("actor") or {}
    return actor.get("name") or actor.get("user_id")


def supervision_file(account: dict, events: list[dict], calendar=None) -> dict:
    """第十四条: 社区议事监督委员会对项目的申报、经费使用、验收、核销进行全程监督. Every project of
    the community's year with its documents (application form, joint meeting minutes, approval,
    changes, acceptance), its notices, objections and payments (voucher and signatures), from
    the account's events as recorded; and the year's own notices and reports."""
    projects: dict[str, dict] = {}
    for p in account["projects"]:
        projects[p["project_id"]] = {
            **{k: p[k] for k in ("project_id", "title", "category", "description", "amount_fen", "paid_fen", "state",
                                 "state_name", "lines", "small_beneficiary_group", "beneficiaries", "demand_ids",
                                 "decide_by", "decision_overdue", "notice_ends_on")},
            **{k: p[k] for k in ("decide_by_provisional", "notice_ends_on_provisional") if k in p},
            "provisional_note": PROVISIONAL_NOTE,
            "documents": [], "notices": [], "objections": [], "payments": []}
    year_notices, reports = [], []
    for e in events:
        d, kind = e["data"], e["event_type"]
        p = projects.get(d.get("project_id") or "")
        recorded_by = _who(e)
        if kind == "ProjectProposed" and p:
            p["estate"] = d.get("estate")
            p["documents"].append({"document": "项目提议（一事一议）", "on": d["proposed_on"], "by": d["proposed_by"],
                                   "content": d["description"], "recorded_by": recorded_by})
        elif kind == "ProjectApplied" and p:
            p["documents"].append({"document": "专项经费使用申请审批表", "on": d["applied_on"], "by": d["applied_by"],
                                   "content": d["plan"], "consent_by": d["preliminary_consent_by"],
                                   "recorded_by": recorded_by})
        elif kind == "JointMeetingDecided" and p:
            p["documents"].append({"document": "“两委”和居民代表联席会议纪要", "on": d["meeting_on"],
                                   "content": d["minutes"], "recorded_by": recorded_by,
                                   "votes": {k: d[k] for k in ("attendees", "resident_representatives", "votes_for",
                                                               "votes_against", "passed")}})
        elif kind == "NoticePublished":
            notice = _notice_deadline({"notice": d["notice"], "notice_name": NOTICE_NAMES.get(d["notice"], d["notice"]),
                                       "title": d["title"], "posted_on": d["posted_on"], "ends_on": d["ends_on"],
                                       "working_days": d["working_days"]}, calendar)
            (p["notices"] if p else year_notices).append(notice)
        elif kind == "ObjectionRaised" and p:
            p["objections"].append({"objection_id": d["objection_id"], "raised_by": d["raised_by"],
                                    "content": d["content"], "raised_on": d["raised_on"], "resolution": None,
                                    "resolved_by": None, "resolved_on": None, "republished": False})
        elif kind == "ObjectionResolved" and p:
            for o in p["objections"]:
                if o["objection_id"] == d["objection_id"] and o["resolved_on"] is None:
                    o.update(resolution=d["resolution"], resolved_by=d["resolved_by"], resolved_on=d["resolved_on"],
                             republished=d["republish"])
        elif kind == "ProjectSubmitted" and p:
            p["documents"].append({"document": "报社区党工委审批", "on": d["submitted_on"], "by": d["submitted_by"],
                                   "decide_by": d["decide_by"], "recorded_by": recorded_by})
        elif kind == "ProjectApproved" and p:
            p["documents"].append({"document": "社区党工委审批意见（批准）", "on": d["approved_on"], "by": d["approved_by"],
                                   "construction_committee_by": d["construction_committee_by"],
                                   "decided_late": d["decided_late"], "recorded_by": recorded_by})
        elif kind == "ProjectRejected" and p:
            p["documents"].append({"document": f"{d['stage']}：不予通过", "on": d["rejected_on"], "by": d["rejected_by"],
                                   "content": d["reason"], "recorded_by": recorded_by})
        elif kind == "ProjectWithdrawn" and p:
            p["documents"].append({"document": "撤回项目", "on": d["withdrawn_on"], "by": d["withdrawn_by"],
                                   "content": d["reason"], "recorded_by": recorded_by})
        elif kind == "ProjectChanged" and p:
            p["documents"].append({"document": "项目变更备案", "on": d["filed_on"], "consent_by": d["consent_by"],
                                   "consent_on": d["consent_on"], "content": f"{d['change']}（原因：{d['reason']}）",
                                   "amount_fen": d["amount_fen"], "recorded_by": recorded_by})
        elif kind == "ProjectAccepted" and p:
            p["documents"].append({"document": "综合验收", "on": d["accepted_on"], "by": d["accepted_by"],
                                   "content": d["remarks"], "quality": d["quality"],
                                   "residents_surveyed": d["residents_surveyed"],
                                   "residents_satisfied": d["residents_satisfied"], "recorded_by": recorded_by})
        elif kind == "PaymentMade" and p:
            p["payments"].append({"payment_id": d["payment_id"], "paid_on": d["paid_on"], "amount_fen": d["amount_fen"],
                                  "payee": d["payee"], "voucher": d["voucher"], "invoice_no": d["invoice_no"],
                                  "final": d["final"], "recorded_by": recorded_by,
                                  "signatures": [{**s, "role_name": SIGNER_NAMES.get(s["role"], s["role"])}
                                                 for s in d["signatures"]]})
        elif kind == "ReportIssued":
            reports.append({k: d[k] for k in ("report", "due_date", "issued_on", "late")})
    return {"community_id": account["community_id"], "community_name": account["community_name"],
            "year": account["year"], "budget_fen": account["budget_fen"], "paid_fen": account["paid_fen"],
            "balance_fen": account["balance_fen"], "closed": account["closed"], "projects": list(projects.values()),
            "notices": year_notices, "reports": reports}
