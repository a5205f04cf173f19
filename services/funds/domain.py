"""The community special fund for serving residents (社区党组织服务群众专项经费), seed 003
article one: a pure domain model, no framework imports.

One aggregate, `CommunityFundYear`, is the fund's ledger account (独立核算) of one community
for one year: its budget (下达经费 plus last year's surplus carried over, 上年结余), and every
project paid from it. Projects live inside the account because the rules that bind them are
about the account as a whole — no spending beyond the budget, and spending for small
beneficiary groups (受益群体较小) at most 20% of it — and one stream makes those checks
consistent under concurrent commands (a conflicting command is re-run on fresh state).

A project (服务项目) goes 一事一议 proposal → application form (申请审批表) → joint meeting of
the two committees and resident representatives (联席会议) → public notice of at least 3
working days (公示; an objection parks it, 暂时搁置) → submitted to the street committee
(社区党工委), who decides within 5 working days → carried out (changes need the committee's
recorded consent) → acceptance (综合验收: quality and residents' satisfaction) → payment against
the three signatures, or the payee's signature where no invoice can exist → published for 3
working days when finished.

Every amount is an integer number of fen (分).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import singledispatchmethod
from typing import Protocol

from shared.domain import Aggregate, DomainError, DomainEvent, NotFound

SMALL_GROUP_SHARE_PERCENT = 20          # 第七条(2): 受益群体较小的支出项目 ≤ 总额的 20%
NOTICE_WORKING_DAYS = 3                 # 第十条: 公示 3 个工作日以上
DECISION_WORKING_DAYS = 5               # 第十一条: 接到申请审批表 5 个工作日内
COMPLETION_NOTICE_WORKING_DAYS = 3      # 第十五条: 项目建成后公示 3 个工作日
SUMMARY_NOTICE_WORKING_DAYS = 5         # 第十五条: 年度汇总公示 5 个工作日
STREET_REPORT_DUE = (12, 1)             # 第十六条: 每年 12 月 1 日前向社区党工委报告
YEARLY_SUMMARY_DUE = (12, 20)           # 第十五条: 每年 12 月 20 日前公示年度汇总
REMINDER_THRESHOLDS = (("month", 30), ("week", 7))
#: Each notice's period in working days.
NOTICE_PERIODS = {"project_plan": NOTICE_WORKING_DAYS, "project_completion": COMPLETION_NOTICE_WORKING_DAYS,
                  "yearly_summary": SUMMARY_NOTICE_WORKING_DAYS}
REPORTS = ("street_report", "yearly_summary")
REPORT_NAMES = {"street_report": "专项经费使用情况报告（报社区党工委）", "yearly_summary": "专项经费使用情况汇总公示"}

# 第八条: what the fund is for (使用范围).
USE_CATEGORIES = ("特困群体服务", "便民利民服务", "就业创业服务", "物业管理服务", "文体活动服务", "其他服务")
# Expense kinds of a project's budget lines; the forbidden ones are 第四条's.
EXPENSE_KINDS = ("服务用品", "购买服务", "设施维修", "救助资助", "场地租用", "培训讲座", "宣传表彰", "文体器材", "其他")
FORBIDDEN_EXPENSES = {
    "社区办公开支": "专项经费不得用于社区办公开支",
    "社区工作者工资补贴": "专项经费不得用于社区工作者工资、补贴",
    "物业单位承担费用": "专项经费不得用于应由物业单位承担的费用",
    "政府公共服务支出": "专项经费不得用于政府公共服务支出",
    "已有资金安排项目": "市委、市政府已有资金安排的服务项目不得使用专项经费",
}
VOUCHERS = ("invoice", "payee_signature")
# 第八条(4): 物业管理服务 — 老旧小区和物业弃管小区环境整治、绿化亮化 ...; elsewhere it is the
# property company's to pay (第四条: 应由物业单位承担的费用).
ESTATE_SERVICE = "物业管理服务"
ESTATES_WITHOUT_MANAGEMENT = ("老旧小区", "物业弃管小区")
ESTATES = ESTATES_WITHOUT_MANAGEMENT + ("其他小区",)
# 第十三条: 分别由社区党委书记、社区建设管理委员会主任、社区党工委书记依次在发票上签字确认.
INVOICE_SIGNERS = ("community_secretary", "construction_committee_director", "street_secretary")
# 第十二条: 在项目完成时，(社区党工委)对项目质量、群众满意度等方面进行综合验收 — the street
# committee accepts, not the community that ran the project.
ACCEPTING_BODY = "street_committee"
BODIES = {"street_committee": "社区党工委", "community": "社区党委"}
# Consent and approval are a person's act (第十、十一、十三条: 同意、审批、签字): a name that is
# an office rather than a person is refused.
OFFICE_SUFFIXES = ("办公室", "委员会", "党工委", "党委", "党组", "党支部", "居委会", "办事处", "街道", "社区",
                   "组织部", "工作站", "服务中心", "领导小组", "财务室")
QUALITY = ("优良", "合格", "不合格")

# States of a project.
PROPOSED, APPLIED, MEETING_PASSED, ON_NOTICE, PARKED, SUBMITTED, APPROVED, ACCEPTED, PAID = (
    "proposed", "applied", "meeting_passed", "on_notice", "parked", "submitted", "approved", "accepted", "paid")
REJECTED, WITHDRAWN = "rejected", "withdrawn"
FINISHED = (PAID, REJECTED, WITHDRAWN)
STATE_NAMES = {PROPOSED: "已提议", APPLIED: "已申报", MEETING_PASSED: "联席会议通过", ON_NOTICE: "公示中",
               PARKED: "因异议搁置", SUBMITTED: "待党工委审批", APPROVED: "已批准实施", ACCEPTED: "已验收",
               PAID: "已付款", REJECTED: "未通过", WITHDRAWN: "已撤回"}


class RuleBroken(DomainError):
    code = "rule_broken"


class OverBudget(DomainError):
    code = "over_budget"


class SmallGroupLimit(DomainError):
    code = "small_group_limit"


class ForbiddenExpense(DomainError):
    code = "forbidden_expense"


class WrongStage(DomainError):
    code = "wrong_stage"


class NoBudget(DomainError):
    code = "no_budget"


class NotAPerson(DomainError):
    """A consent, approval or signature not given in a person's real name."""

    code = "real_name_required"


class WrongBody(DomainError):
    """A step taken by a body the measures do not give it to."""

    code = "wrong_body"


class Calendar(Protocol):
    """Working days (workdays.WorkingCalendar). A deadline counted over a year whose official
    schedule is not known yet is provisional; the aggregate keeps each step's date and counts
    its deadlines again with the calendar it is given, so they follow a schedule added later."""

    def is_working_day(self, day: date) -> bool: ...
    def add_working_days(self, start: date, n: int) -> date: ...
    def deadline(self, start: date, n: int): ...


def first_reminder_day(year: int) -> date:
    """The first day a FundsReportDue can fall due in `year`."""
    from datetime import timedelta
    earliest = min(date(year, *STREET_REPORT_DUE), date(year, *YEARLY_SUMMARY_DUE))
    return earliest - timedelta(days=max(days for _, days in REMINDER_THRESHOLDS))


def yuan(fen: int) -> str:
    """An amount in fen shown in yuan, exactly (no float on the way)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def check_fen(amount, what: str = "金额", allow_zero: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise RuleBroken(f"{what}必须是以分为单位的整数", field=what)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise RuleBroken(f"{what}必须大于零", field=what)
    return amount


def bare_name(name: str) -> str:
    """The name without a trailing role in brackets: "张明（党工委）" → "张明"."""
    return re.sub(r"[（(][^（）()]*[）)]$", "", (name or "").strip()).strip()


def check_person_name(name: str | None, what: str) -> str:
    """`name` must be a person's real name: not blank, and not an office (a name ending in
    办公室, 委员会, 党工委 ...). A role in brackets after the name is allowed: "张明（党工委）"."""
    text = (name or "").strip()
    bare = bare_name(text)
    if not bare:
        raise NotAPerson(f"{what}须填写本人真实姓名，不能为空", field=what)
    if bare.endswith(OFFICE_SUFFIXES):
        raise NotAPerson(f"{what}须填写本人真实姓名，“{bare}”是机构名称而不是个人", field=what, name=bare)
    return text


def require_lines(lines: list[dict] | None) -> None:
    """A project states what the money buys (第十条: 项目及经费使用方案; 第十八条: 事前预算)."""
    if not lines:
        raise RuleBroken("项目须列明经费明细（支出事项、类别和金额），不能只填总额")


def check_lines(amount: int, lines: list[dict]) -> None:
    """Budget lines (经费明细): none of a forbidden kind, and they sum exactly to the amount."""
    for line in lines:
        if line["kind"] in FORBIDDEN_EXPENSES:
            raise ForbiddenExpense(f"{FORBIDDEN_EXPENSES[line['kind']]}（明细“{line['item']}”）",
                                   kind=line["kind"], item=line["item"])
        if line["kind"] not in EXPENSE_KINDS:
            raise RuleBroken(f"未知的支出类别：{line['kind']}", kind=line["kind"])
        check_fen(line["amount_fen"], f"明细“{line['item']}”的金额")
    if lines and sum(line["amount_fen"] for line in lines) != amount:
        raise RuleBroken(f"经费明细合计 {yuan(sum(l['amount_fen'] for l in lines))} 元与项目金额 {yuan(amount)} 元不符")


# -- events ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BudgetAllocated(DomainEvent):
    community_id: str
    community_name: str
    year: int
    allocated_fen: int
    carried_over_fen: int
    source: str
    allocated_on: str


@dataclass(frozen=True)
class SurplusCarriedOver(DomainEvent):
    """Last year closed after this year's budget was allocated: its surplus arrives now."""

    community_id: str
    year: int
    from_year: int
    amount_fen: int
    carried_on: str


@dataclass(frozen=True)
class ProjectProposed(DomainEvent):
    schema_version = 2

    community_id: str
    year: int
    project_id: str
    title: str
    category: str
    description: str
    amount_fen: int
    lines: list
    small_beneficiary_group: bool
    beneficiaries: int
    demand_ids: list
    payee_kind: str
    estate: str | None
    proposed_by: str
    proposed_on: str


@dataclass(frozen=True)
class ProjectApplied(DomainEvent):
    community_id: str
    year: int
    project_id: str
    preliminary_consent_by: str
    plan: str
    applied_by: str
    applied_on: str


@dataclass(frozen=True)
class JointMeetingDecided(DomainEvent):
    community_id: str
    year: int
    project_id: str
    meeting_on: str
    attendees: int
    resident_representatives: int
    votes_for: int
    votes_against: int
    passed: bool
    minutes: str


@dataclass(frozen=True)
class NoticePublished(DomainEvent):
    community_id: str
    year: int
    notice: str          # project_plan | project_completion | yearly_summary
    project_id: str | None
    title: str
    posted_on: str
    ends_on: str
    working_days: int


@dataclass(frozen=True)
class ObjectionRaised(DomainEvent):
    community_id: str
    year: int
    project_id: str
    objection_id: str
    raised_by: str
    content: str
    raised_on: str


@dataclass(frozen=True)
class ObjectionResolved(DomainEvent):
    community_id: str
    year: int
    project_id: str
    objection_id: str
    resolution: str
    republish: bool
    resolved_by: str
    resolved_on: str


@dataclass(frozen=True)
class ProjectSubmitted(DomainEvent):
    community_id: str
    year: int
    project_id: str
    submitted_by: str
    submitted_on: str
    decide_by: str


@dataclass(frozen=True)
class DecisionOverdue(DomainEvent):
    community_id: str
    year: int
    project_id: str
    submitted_on: str
    decide_by: str
    flagged_on: str


@dataclass(frozen=True)
class ProjectApproved(DomainEvent):
    community_id: str
    year: int
    project_id: str
    amount_fen: int
    approved_by: str
    construction_committee_by: str
    approved_on: str
    decided_late: bool


@dataclass(frozen=True)
class ProjectRejected(DomainEvent):
    community_id: str
    year: int
    project_id: str
    stage: str
    reason: str
    rejected_by: str
    rejected_on: str


@dataclass(frozen=True)
class ProjectWithdrawn(DomainEvent):
    community_id: str
    year: int
    project_id: str
    reason: str
    withdrawn_by: str
    withdrawn_on: str


@dataclass(frozen=True)
class ProjectChanged(DomainEvent):
    community_id: str
    year: int
    project_id: str
    change: str
    reason: str
    amount_fen: int
    lines: list
    small_beneficiary_group: bool
    consent_by: str
    consent_on: str
    filed_on: str


@dataclass(frozen=True)
class ProjectAccepted(DomainEvent):
    community_id: str
    year: int
    project_id: str
    quality: str
    residents_surveyed: int
    residents_satisfied: int
    accepted_by: str
    accepted_on: str
    remarks: str


@dataclass(frozen=True)
class PaymentMade(DomainEvent):
    community_id: str
    year: int
    project_id: str
    payment_id: str
    amount_fen: int
    payee: str
    voucher: str
    invoice_no: str | None
    signatures: list
    paid_on: str
    final: bool


@dataclass(frozen=True)
class ReportIssued(DomainEvent):
    community_id: str
    year: int
    report: str
    due_date: str
    issued_on: str
    late: bool


@dataclass(frozen=True)
class FundsReportDue(DomainEvent):
    community_id: str
    community_name: str
    year: int
    report: str
    due_date: str
    days_left: int


@dataclass(frozen=True)
class YearClosed(DomainEvent):
    community_id: str
    year: int
    allocated_fen: int
    carried_over_fen: int
    paid_fen: int
    surplus_fen: int
    closed_by: str
    closed_on: str


EVENTS = [BudgetAllocated, SurplusCarriedOver, ProjectProposed, ProjectApplied, JointMeetingDecided, NoticePublished, ObjectionRaised,
          ObjectionResolved, ProjectSubmitted, DecisionOverdue, ProjectApproved, ProjectRejected, ProjectWithdrawn,
          ProjectChanged, ProjectAccepted, PaymentMade, ReportIssued, FundsReportDue, YearClosed]


# -- the aggregate -------------------------------------------------------------------------------
@dataclass
class Project:
    project_id: str
    title: str
    category: str
    amount_fen: int
    lines: list
    small_beneficiary_group: bool
    payee_kind: str
    state: str = PROPOSED
    last_step_on: date | None = None
    notice_posted_on: date | None = None
    notice_ends_on: date | None = None
    submitted_on: date | None = None
    open_objections: set = field(default_factory=set)
    decide_by: date | None = None
    overdue_flagged: bool = False
    paid_fen: int = 0
    payment_ids: set = field(default_factory=set)

    @property
    def reserved_fen(self) -> int:
        """What the project holds of the budget: its amount until paid, then what was paid."""
        if self.state in (REJECTED, WITHDRAWN):
            return 0
        if self.state == PAID:
            return self.paid_fen
        return self.amount_fen


def _d(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


class CommunityFundYear(Aggregate):
    """专项经费账户: one community's fund for one year. Id: "<community_id>:<year>"."""

    stream_prefix = "fund"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.community_id, _, year = aggregate_id.rpartition(":")
        self.year = int(year)
        self.community_name = ""
        self.allocated_fen = 0
        self.carried_over_fen = 0
        self.budget_source = ""
        self.projects: dict[str, Project] = {}
        self.reminders: set[tuple[str, str]] = set()
        self.reports_issued: set[str] = set()
        self.closed = False
        self.surplus_fen = 0

    @staticmethod
    def id_for(community_id: str, year: int) -> str:
        return f"{community_id}:{int(year)}"

    # -- figures ---------------------------------------------------------------------------------
    @property
    def budget_fen(self) -> int:
        """The year's total: allocated plus last year's surplus."""
        return self.allocated_fen + self.carried_over_fen

    @property
    def reserved_fen(self) -> int:
        return sum(p.reserved_fen for p in self.projects.values())

    @property
    def small_group_reserved_fen(self) -> int:
        return sum(p.reserved_fen for p in self.projects.values() if p.small_beneficiary_group)

    @property
    def paid_fen(self) -> int:
        return sum(p.paid_fen for p in self.projects.values())

    @property
    def small_group_limit_fen(self) -> int:
        return self.budget_fen * SMALL_GROUP_SHARE_PERCENT // 100

    # -- checks ----------------------------------------------------------------------------------
    def _require_open(self) -> None:
        if not self.exists or not self.allocated_fen and not self.carried_over_fen:
            raise NoBudget(f"{self.year} 年度尚未下达本社区的专项经费")
        if self.closed:
            raise RuleBroken(f"{self.year} 年度专项经费已结账，不能再办理")

    def project(self, project_id: str) -> Project:
        try:
            return self.projects[project_id]
        except KeyError:
            raise NotFound(f"项目 {project_id} 不存在") from None

    def _stage(self, project: Project, *states: str, doing: str) -> None:
        if project.state not in states:
            raise WrongStage(f"项目“{project.title}”当前状态为“{STATE_NAMES[project.state]}”，不能{doing}",
                             state=project.state)

    def _step_date(self, project: Project, on: date, what: str) -> None:
        if on.year not in (self.year, self.year + 1):
            raise RuleBroken(f"{what}日期 {on.isoformat()} 不在 {self.year} 年度办理期内")
        if project.last_step_on and on < project.last_step_on:
            raise RuleBroken(f"{what}日期 {on.isoformat()} 早于上一环节日期 {project.last_step_on.isoformat()}")

    def _check_limits(self, project_id: str, amount: int, small_group: bool) -> None:
        """No spending beyond the budget; small beneficiary groups ≤ 20% of it."""
        other = [p for pid, p in self.projects.items() if pid != project_id]
        reserved = sum(p.reserved_fen for p in other) + amount
        if reserved > self.budget_fen:
            available = self.budget_fen - sum(p.reserved_fen for p in other)
            raise OverBudget(f"超出年度预算：本年度经费 {yuan(self.budget_fen)} 元，尚可安排 {yuan(available)} 元，"
                             f"本项目需 {yuan(amount)} 元", available_fen=available, amount_fen=amount)
        if small_group:
            small = sum(p.reserved_fen for p in other if p.small_beneficiary_group) + amount
            if small * 100 > self.budget_fen * SMALL_GROUP_SHARE_PERCENT:
                limit = self.small_group_limit_fen
                used = small - amount
                raise SmallGroupLimit(
                    f"受益群体较小的项目支出合计不得超过年度经费总额的 {SMALL_GROUP_SHARE_PERCENT}%"
                    f"（上限 {yuan(limit)} 元，已安排 {yuan(used)} 元，本项目 {yuan(amount)} 元）",
                    limit_fen=limit, used_fen=used, amount_fen=amount)

    # -- budget ----------------------------------------------------------------------------------
    def allocate(self, *, community_name: str, allocated_fen: int, previous: "CommunityFundYear | None",
                 source: str, on: date) -> bool:
        """下达年度经费, with last year's surplus carried over (if last year is still open, its
        surplus follows when it closes). The same allocation again is a no-op (an import run
        twice); a different one is refused."""
        check_fen(allocated_fen, "年度经费")
        if self.exists:
            if self.allocated_fen == allocated_fen:
                return False
            raise RuleBroken(f"{self.year} 年度经费已下达 {yuan(self.allocated_fen)} 元，不能重复下达不同金额",
                             allocated_fen=self.allocated_fen)
        carried = 0
        if previous is not None and previous.closed:
            carried = previous.surplus_fen
        self._trigger(BudgetAllocated(community_id=self.community_id, community_name=community_name, year=self.year,
                                      allocated_fen=allocated_fen, carried_over_fen=carried, source=source,
                                      allocated_on=on.isoformat()))
        return True

    # -- 项目提议 (一事一议) ------------------------------------------------------------------------
    def propose(self, *, project_id: str, title: str, category: str, description: str, amount_fen: int,
                lines: list[dict], small_beneficiary_group: bool, beneficiaries: int, demand_ids: list[str],
                payee_kind: str, by: str, on: date, estate: str | None = None) -> None:
        """项目提议: a use of 第八条 with its budget lines; 物业管理服务 only for an old estate or
        one its property company abandoned (第八条(4), 第四条)."""
        self._require_open()
        if project_id in self.projects:
            raise RuleBroken(f"项目编号 {project_id} 已存在")
        if category not in USE_CATEGORIES:
            raise ForbiddenExpense(f"“{category}”不在专项经费使用范围内", category=category)
        if estate is not None and estate not in ESTATES:
            raise RuleBroken(f"小区类型应为：{'、'.join(ESTATES)}", estate=estate)
        if category == ESTATE_SERVICE and estate not in ESTATES_WITHOUT_MANAGEMENT:
            raise ForbiddenExpense("物业管理服务仅限老旧小区和物业弃管小区（第八条）；有物业管理的小区，"
                                   "相关费用应由物业单位承担（第四条）", category=category, estate=estate)
        check_fen(amount_fen, "项目金额")
        require_lines(lines)
        check_lines(amount_fen, lines)
        if on.year != self.year:
            raise RuleBroken(f"提议日期 {on.isoformat()} 不在 {self.year} 年度内")
        self._check_limits(project_id, amount_fen, small_beneficiary_group)
        self._trigger(ProjectProposed(community_id=self.community_id, year=self.year, project_id=project_id,
                                      title=title, category=category, description=description, amount_fen=amount_fen,
                                      lines=list(lines), small_beneficiary_group=small_beneficiary_group,
                                      beneficiaries=beneficiaries, demand_ids=list(demand_ids), payee_kind=payee_kind,
                                      estate=estate, proposed_by=by, proposed_on=on.isoformat()))

    # -- 项目申报 ----------------------------------------------------------------------------------
    def apply_for(self, project_id: str, *, preliminary_consent_by: str, plan: str, by: str, on: date) -> None:
        self._require_open()
        p = self.project(project_id)
        self._stage(p, PROPOSED, doing="填报申请审批表")
        self._step_date(p, on, "申报")
        check_person_name(preliminary_consent_by, "社区党工委初步同意人")
        self._trigger(ProjectApplied(community_id=self.community_id, year=self.year, project_id=project_id,
                                     preliminary_consent_by=preliminary_consent_by, plan=plan, applied_by=by,
                                     applied_on=on.isoformat()))

    def record_joint_meeting(self, project_id: str, *, on: date, attendees: int, resident_representatives: int,
                             votes_for: int, votes_against: int, minutes: str) -> bool:
        """联席会议: passes with a majority of those attending; resident representatives must attend."""
        self._require_open()
        p = self.project(project_id)
        self._stage(p, APPLIED, doing="召开联席会议")
        self._step_date(p, on, "联席会议")
        if resident_representatives < 1:
            raise RuleBroken("联席会议须有居民代表参加")
        if votes_for + votes_against > attendees or resident_representatives > attendees:
            raise RuleBroken("表决人数不能超过参会人数")
        passed = votes_for * 2 > attendees
        self._trigger(JointMeetingDecided(community_id=self.community_id, year=self.year, project_id=project_id,
                                          meeting_on=on.isoformat(), attendees=attendees,
                                          resident_representatives=resident_representatives, votes_for=votes_for,
                                          votes_against=votes_against, passed=passed, minutes=minutes))
        if not passed:
            self._trigger(ProjectRejected(community_id=self.community_id, year=self.year, project_id=project_id,
                                          stage="联席会议", reason=f"联席会议未通过（赞成 {votes_for} 票，参会 {attendees} 人）",
                                          rejected_by="联席会议", rejected_on=on.isoformat()))
        return passed

    # -- 公示 --------------------------------------------------------------------------------------
    def publish_notice(self, project_id: str, *, on: date, calendar: Calendar):
        """公示 for 3 working days; returns the deadline (its `on` and whether provisional)."""
        self._require_open()
        p = self.project(project_id)
        self._stage(p, MEETING_PASSED, doing="公示")
        self._step_date(p, on, "公示")
        deadline = calendar.deadline(on, NOTICE_WORKING_DAYS)
        ends = deadline.on
        self._trigger(NoticePublished(community_id=self.community_id, year=self.year, notice="project_plan",
                                      project_id=project_id, title=f"{p.title}（项目及经费使用方案）", posted_on=on.isoformat(),
                                      ends_on=ends.isoformat(), working_days=NOTICE_WORKING_DAYS))
        return deadline

    def raise_objection(self, project_id: str, *, objection_id: str, raised_by: str, content: str, on: date) -> None:
        """An objection during the notice parks the project until it is resolved (暂时搁置)."""
        p = self.project(project_id)
        self._stage(p, ON_NOTICE, PARKED, doing="提出异议（仅在公示期间受理）")
        if objection_id in p.open_objections:
            raise RuleBroken(f"异议 {objection_id} 已登记")
        self._step_date(p, on, "异议")
        self._trigger(ObjectionRaised(community_id=self.community_id, year=self.year, project_id=project_id,
                                      objection_id=objection_id, raised_by=raised_by, content=content,
                                      raised_on=on.isoformat()))

    def resolve_objection(self, project_id: str, *, objection_id: str, resolution: str, republish: bool, by: str,
                          on: date) -> None:
        p = self.project(project_id)
        if objection_id not in p.open_objections:
            raise NotFound(f"项目“{p.title}”没有待处理的异议 {objection_id}")
        self._step_date(p, on, "异议处理")
        self._trigger(ObjectionResolved(community_id=self.community_id, year=self.year, project_id=project_id,
                                        objection_id=objection_id, resolution=resolution, republish=republish,
                                        resolved_by=by, resolved_on=on.isoformat()))

    # -- 报党工委审批 --------------------------------------------------------------------------------
    def submit(self, project_id: str, *, by: str, on: date, calendar: Calendar):
        """报社区党工委审批 once the notice has run (counted again from its posting date, so a
        provisional end follows the holidays configured since); returns the decision's deadline."""
        self._require_open()
        p = self.project(project_id)
        if p.state == PARKED:
            raise WrongStage(f"项目“{p.title}”有未处理的异议，已暂时搁置，待统一意见后再行商议")
        self._stage(p, ON_NOTICE, doing="报社区党工委审批（须先经联席会议通过并公示）")
        notice_ends = self._notice_ends(p, calendar)
        if on <= notice_ends:
            raise RuleBroken(f"公示期至 {notice_ends.isoformat()} 止（{NOTICE_WORKING_DAYS} 个工作日），"
                             f"公示期满无异议后方可报批", notice_ends_on=notice_ends.isoformat())
        deadline = calendar.deadline(on, DECISION_WORKING_DAYS)
        self._trigger(ProjectSubmitted(community_id=self.community_id, year=self.year, project_id=project_id,
                                       submitted_by=by, submitted_on=on.isoformat(),
                                       decide_by=deadline.on.isoformat()))
        return deadline

    @staticmethod
    def _notice_ends(p: Project, calendar: Calendar | None) -> date:
        if calendar is None or p.notice_posted_on is None:
            return p.notice_ends_on
        return calendar.add_working_days(p.notice_posted_on, NOTICE_WORKING_DAYS)

    @staticmethod
    def _decide_by(p: Project, calendar: Calendar | None) -> date:
        """第十一条's 5 working days, counted from the submission with `calendar` (the recorded
        date without one)."""
        if calendar is None or p.submitted_on is None:
            return p.decide_by
        return calendar.add_working_days(p.submitted_on, DECISION_WORKING_DAYS)

    def flag_overdue_decisions(self, today: date, calendar: Calendar | None = None) -> list[str]:
        flagged = []
        for p in self.projects.values():
            if p.state != SUBMITTED or p.overdue_flagged:
                continue
            decide_by = self._decide_by(p, calendar)
            if today > decide_by:
                self._trigger(DecisionOverdue(community_id=self.community_id, year=self.year, project_id=p.project_id,
                                              submitted_on=p.last_step_on.isoformat(),
                                              decide_by=decide_by.isoformat(), flagged_on=today.isoformat()))
                flagged.append(p.project_id)
        return flagged

    def approve(self, project_id: str, *, by: str, construction_committee_by: str, on: date,
                calendar: Calendar | None = None) -> bool:
        """审核批复: the street committee and the community construction committee's leaders."""
        self._require_open()
        p = self.project(project_id)
        self._stage(p, SUBMITTED, doing="审批")
        self._step_date(p, on, "审批")
        check_person_name(by, "社区党工委审批人")
        check_person_name(construction_committee_by, "社区建设管理委员会审批人")
        self._check_limits(project_id, p.amount_fen, p.small_beneficiary_group)
        late = on > self._decide_by(p, calendar)
        self._trigger(ProjectApproved(community_id=self.community_id, year=self.year, project_id=project_id,
                                      amount_fen=p.amount_fen, approved_by=by,
                                      construction_committee_by=construction_committee_by, approved_on=on.isoformat(),
                                      decided_late=late))
        return late

    def reject(self, project_id: str, *, reason: str, by: str, on: date) -> None:
        p = self.project(project_id)
        self._stage(p, SUBMITTED, doing="不予批准")
        self._step_date(p, on, "审批")
        self._trigger(ProjectRejected(community_id=self.community_id, year=self.year, project_id=project_id,
                                      stage="社区党工委审批", reason=reason, rejected_by=by, rejected_on=on.isoformat()))

    def withdraw(self, project_id: str, *, reason: str, by: str, on: date) -> None:
        p = self.project(project_id)
        self._stage(p, PROPOSED, APPLIED, MEETING_PASSED, ON_NOTICE, PARKED, SUBMITTED, doing="撤回")
        self._trigger(ProjectWithdrawn(community_id=self.community_id, year=self.year, project_id=project_id,
                                       reason=reason, withdrawn_by=by, withdrawn_on=on.isoformat()))

    # -- 实施中的变更 --------------------------------------------------------------------------------
    def change(self, project_id: str, *, change: str, reason: str, amount_fen: int | None, lines: list[dict] | None,
               small_beneficiary_group: bool | None, consent_by: str, consent_on: date, on: date) -> None:
        """A change while carried out: only with the street committee's consent, recorded (备案)."""
        self._require_open()
        p = self.project(project_id)
        self._stage(p, APPROVED, doing="变更（仅实施中的项目可变更）")
        if not (consent_by or "").strip():
            raise RuleBroken("项目变更须报社区党工委同意，请填写同意人")
        check_person_name(consent_by, "同意变更的社区党工委负责人")
        if consent_on > on:
            raise RuleBroken("备案日期不能早于党工委同意日期")
        self._step_date(p, consent_on, "变更同意")
        amount = p.amount_fen if amount_fen is None else check_fen(amount_fen, "变更后金额")
        new_lines = p.lines if lines is None else lines
        if lines is None and amount != p.amount_fen and p.lines:
            raise RuleBroken("金额变更时须同时提交新的经费明细")
        if lines is not None:
            require_lines(lines)
        check_lines(amount, new_lines)
        small = p.small_beneficiary_group if small_beneficiary_group is None else small_beneficiary_group
        self._check_limits(project_id, amount, small)
        self._trigger(ProjectChanged(community_id=self.community_id, year=self.year, project_id=project_id,
                                     change=change, reason=reason, amount_fen=amount, lines=list(new_lines),
                                     small_beneficiary_group=small, consent_by=consent_by,
                                     consent_on=consent_on.isoformat(), filed_on=on.isoformat()))

    # -- 检查验收 ------------------------------------------------------------------------------------
    def accept(self, project_id: str, *, quality: str, residents_surveyed: int, residents_satisfied: int, by: str,
               on: date, acting_as: str, remarks: str = "") -> None:
        """综合验收 (第十二条) is the street committee's: the community that ran the project does
        not accept its own work."""
        self._require_open()
        p = self.project(project_id)
        self._stage(p, APPROVED, doing="验收（须经党工委批准实施）")
        if acting_as != ACCEPTING_BODY:
            raise WrongBody(f"综合验收由{BODIES[ACCEPTING_BODY]}组织（第十二条），"
                            f"{BODIES.get(acting_as, acting_as)}不能验收", acting_as=acting_as)
        self._step_date(p, on, "验收")
        if quality not in QUALITY:
            raise RuleBroken(f"项目质量评定应为：{'、'.join(QUALITY)}")
        if quality == "不合格":
            raise RuleBroken("项目质量不合格，不能通过验收；请整改后重新验收")
        if residents_surveyed < 1 or not 0 <= residents_satisfied <= residents_surveyed:
            raise RuleBroken("请填写群众满意度：测评人数至少 1 人，满意人数不超过测评人数")
        self._trigger(ProjectAccepted(community_id=self.community_id, year=self.year, project_id=project_id,
                                      quality=quality, residents_surveyed=residents_surveyed,
                                      residents_satisfied=residents_satisfied, accepted_by=by,
                                      accepted_on=on.isoformat(), remarks=remarks))

    # -- 拨付款项 ------------------------------------------------------------------------------------
    def pay(self, project_id: str, *, payment_id: str, amount_fen: int, payee: str, voucher: str,
            invoice_no: str | None, signatures: list[dict], on: date, final: bool, calendar: Calendar) -> bool:
        """Payment after acceptance: an invoice signed in turn by the community secretary, the
        construction committee director and the street committee secretary; or, for an
        individual payee or an aid payment where no invoice can exist, the payee's signature.
        The final payment finishes the project and publishes it for 3 working days."""
        self._require_open()
        p = self.project(project_id)
        if payment_id in p.payment_ids:
            return False
        if p.state in (PROPOSED, APPLIED, MEETING_PASSED, ON_NOTICE, PARKED, SUBMITTED, APPROVED):
            raise WrongStage(f"项目“{p.title}”尚未通过综合验收，不能付款", state=p.state)
        self._stage(p, ACCEPTED, doing="付款")
        self._step_date(p, on, "付款")
        check_fen(amount_fen, "付款金额")
        if p.paid_fen + amount_fen > p.amount_fen:
            raise OverBudget(f"付款合计将超过批准金额：批准 {yuan(p.amount_fen)} 元，已付 {yuan(p.paid_fen)} 元，"
                             f"本次 {yuan(amount_fen)} 元")
        roles = [s.get("role") for s in signatures]
        if any(not (s.get("name") or "").strip() for s in signatures):
            raise RuleBroken("签字人姓名不能为空")
        if voucher == "invoice":
            if not (invoice_no or "").strip():
                raise RuleBroken("凭发票结算须填写发票号码")
            if roles != list(INVOICE_SIGNERS):
                raise RuleBroken("发票须依次由社区党委书记、社区建设管理委员会主任、社区党工委书记签字确认")
            names = [check_person_name(s.get("name"), "发票签字人") for s in signatures]
            people = [bare_name(n) for n in names]
            if len(set(people)) != len(people):
                raise RuleBroken("发票须由社区党委书记、社区建设管理委员会主任、社区党工委书记三人分别签字，"
                                 "同一人不能签两次", names=people)
        elif voucher == "payee_signature":
            if p.payee_kind not in ("individual", "aid"):
                raise RuleBroken("只有个人承办或帮扶资助性质、确实无法开具发票的事项，才能以收款人签字作为结算凭证")
            if roles != ["payee"]:
                raise RuleBroken("无法开具发票的，须以收款人签字作为结算凭证")
        else:
            raise RuleBroken(f"结算凭证应为：{'、'.join(VOUCHERS)}")
        final = final or p.paid_fen + amount_fen == p.amount_fen
        ends = calendar.add_working_days(on, COMPLETION_NOTICE_WORKING_DAYS) if final else None
        self._trigger(PaymentMade(community_id=self.community_id, year=self.year, project_id=project_id,
                                  payment_id=payment_id, amount_fen=amount_fen, payee=payee, voucher=voucher,
                                  invoice_no=invoice_no, signatures=list(signatures), paid_on=on.isoformat(),
                                  final=final))
        if final:
            self._trigger(NoticePublished(community_id=self.community_id, year=self.year, notice="project_completion",
                                          project_id=project_id, title=f"{p.title}（项目建设及经费使用情况）",
                                          posted_on=on.isoformat(), ends_on=ends.isoformat(),
                                          working_days=COMPLETION_NOTICE_WORKING_DAYS))
        return True

    # -- reports and reminders -----------------------------------------------------------------------
    def due_date(self, report: str) -> date:
        month, day = STREET_REPORT_DUE if report == "street_report" else YEARLY_SUMMARY_DUE
        return date(self.year, month, day)

    def issue_report(self, report: str, *, on: date, calendar: Calendar) -> date | None:
        """Records that a report was handed in (street report) or posted (yearly summary, on
        the noticeboard for 5 working days). Issuing again is a no-op."""
        if not self.exists:
            raise NoBudget(f"{self.year} 年度尚未下达本社区的专项经费")
        if report not in REPORTS:
            raise RuleBroken(f"未知的报告：{report}")
        if report in self.reports_issued:
            return None
        due = self.due_date(report)
        deadline = calendar.deadline(on, SUMMARY_NOTICE_WORKING_DAYS) if report == "yearly_summary" else None
        ends = deadline.on if deadline else None
        self._trigger(ReportIssued(community_id=self.community_id, year=self.year, report=report,
                                   due_date=due.isoformat(), issued_on=on.isoformat(), late=on > due))
        if ends:
            self._trigger(NoticePublished(community_id=self.community_id, year=self.year, notice="yearly_summary",
                                          project_id=None, title=f"{self.year} 年度{REPORT_NAMES[report]}",
                                          posted_on=on.isoformat(), ends_on=ends.isoformat(),
                                          working_days=SUMMARY_NOTICE_WORKING_DAYS))
        return deadline

    def remind_reports(self, today: date) -> list[tuple[str, str]]:
        """FundsReportDue once per report per threshold: when it is a month, then a week, before
        the due date. A reminder skipped by a late first scan is not sent afterwards."""
        sent = []
        if not self.exists:
            return sent
        for report in REPORTS:
            if report in self.reports_issued:
                continue
            due = self.due_date(report)
            days_left = (due - today).days
            if days_left < 0:
                continue
            order = [name for name, _ in REMINDER_THRESHOLDS]
            reached = [name for name, days in REMINDER_THRESHOLDS if days_left <= days]
            if not reached:
                continue
            tightest = reached[-1]
            if any((report, name) in self.reminders for name in order[order.index(tightest):]):
                continue
            self._trigger(FundsReportDue(community_id=self.community_id, community_name=self.community_name,
                                         year=self.year, report=report, due_date=due.isoformat(), days_left=days_left))
            sent.append((report, tightest))
        return sent

    # -- 年度结账 ------------------------------------------------------------------------------------
    def receive_surplus(self, *, from_year: int, amount_fen: int, on: date) -> None:
        """上年结余结转 into this (already allocated) year."""
        if self.closed:
            raise RuleBroken(f"{self.year} 年度已结账，{from_year} 年度结余无法结转")
        if amount_fen:
            self._trigger(SurplusCarriedOver(community_id=self.community_id, year=self.year, from_year=from_year,
                                             amount_fen=amount_fen, carried_on=on.isoformat()))

    def close(self, *, by: str, on: date, following: "CommunityFundYear | None" = None) -> int:
        """年度结账: the surplus carries over to next year — now, if next year's budget is
        already allocated, else when it is. Refused while a project is unfinished."""
        self._require_open()
        unfinished = [p.title for p in self.projects.values() if p.state not in FINISHED]
        if unfinished:
            raise RuleBroken(f"尚有 {len(unfinished)} 个项目未办结（{'、'.join(unfinished[:5])}），不能结账",
                             unfinished=unfinished)
        surplus = self.budget_fen - self.paid_fen
        self._trigger(YearClosed(community_id=self.community_id, year=self.year, allocated_fen=self.allocated_fen,
                                 carried_over_fen=self.carried_over_fen, paid_fen=self.paid_fen, surplus_fen=surplus,
                                 closed_by=by, closed_on=on.isoformat()))
        if following is not None and following.exists:
            following.receive_surplus(from_year=self.year, amount_fen=surplus, on=on)
        return surplus

    # -- applying events ---------------------------------------------------------------------------
    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"unknown event {event!r}")

    @apply.register
    def _(self, e: BudgetAllocated):
        self.community_name, self.allocated_fen, self.carried_over_fen = e.community_name, e.allocated_fen, e.carried_over_fen
        self.budget_source = e.source

    @apply.register
    def _(self, e: SurplusCarriedOver):
        self.carried_over_fen += e.amount_fen

    @apply.register
    def _(self, e: ProjectProposed):
        self.projects[e.project_id] = Project(e.project_id, e.title, e.category, e.amount_fen, list(e.lines),
                                              e.small_beneficiary_group, e.payee_kind,
                                              last_step_on=_d(e.proposed_on))

    @apply.register
    def _(self, e: ProjectApplied):
        p = self.projects[e.project_id]
        p.state, p.last_step_on = APPLIED, _d(e.applied_on)

    @apply.register
    def _(self, e: JointMeetingDecided):
        p = self.projects[e.project_id]
        p.last_step_on = _d(e.meeting_on)
        if e.passed:
            p.state = MEETING_PASSED

    @apply.register
    def _(self, e: NoticePublished):
        if e.notice == "project_plan":
            p = self.projects[e.project_id]
            p.state, p.last_step_on, p.notice_ends_on = ON_NOTICE, _d(e.posted_on), _d(e.ends_on)
            p.notice_posted_on = _d(e.posted_on)

    @apply.register
    def _(self, e: ObjectionRaised):
        p = self.projects[e.project_id]
        p.open_objections.add(e.objection_id)
        p.state, p.last_step_on = PARKED, _d(e.raised_on)

    @apply.register
    def _(self, e: ObjectionResolved):
        p = self.projects[e.project_id]
        p.open_objections.discard(e.objection_id)
        p.last_step_on = _d(e.resolved_on)
        if e.republish:
            p.state, p.notice_ends_on = MEETING_PASSED, None
            p.open_objections.clear()
        elif not p.open_objections:
            p.state = ON_NOTICE

    @apply.register
    def _(self, e: ProjectSubmitted):
        p = self.projects[e.project_id]
        p.state, p.last_step_on, p.decide_by = SUBMITTED, _d(e.submitted_on), _d(e.decide_by)
        p.submitted_on = _d(e.submitted_on)

    @apply.register
    def _(self, e: DecisionOverdue):
        self.projects[e.project_id].overdue_flagged = True

    @apply.register
    def _(self, e: ProjectApproved):
        p = self.projects[e.project_id]
        p.state, p.last_step_on, p.amount_fen = APPROVED, _d(e.approved_on), e.amount_fen

    @apply.register
    def _(self, e: ProjectRejected):
        p = self.projects[e.project_id]
        p.state, p.last_step_on = REJECTED, _d(e.rejected_on)

    @apply.register
    def _(self, e: ProjectWithdrawn):
        self.projects[e.project_id].state = WITHDRAWN

    @apply.register
    def _(self, e: ProjectChanged):
        p = self.projects[e.project_id]
        p.amount_fen, p.lines, p.small_beneficiary_group = e.amount_fen, list(e.lines), e.small_beneficiary_group
        p.last_step_on = _d(e.consent_on)

    @apply.register
    def _(self, e: ProjectAccepted):
        p = self.projects[e.project_id]
        p.state, p.last_step_on = ACCEPTED, _d(e.accepted_on)

    @apply.register
    def _(self, e: PaymentMade):
        p = self.projects[e.project_id]
        p.paid_fen += e.amount_fen
        p.payment_ids.add(e.payment_id)
        p.last_step_on = _d(e.paid_on)
        if e.final:
            p.state = PAID

    @apply.register
    def _(self, e: ReportIssued):
        self.reports_issued.add(e.report)

    @apply.register
    def _(self, e: FundsReportDue):
        name = next((n for n, days in reversed(REMINDER_THRESHOLDS) if e.days_left <= days), "month")
        self.reminders.add((e.report, name))

    @apply.register
    def _(self, e: YearClosed):
        self.closed, self.surplus_fen = True, e.surplus_fen
