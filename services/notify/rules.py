"""The rules table (通知规则): which event becomes which message, to whom.

One entry per event type: the template (a file under `templates/`), who receives it, and the
values the template may use beyond the event's own data (`provides`, checked against the
template's placeholders at start-up). Recipients and values are computed from the event's data
and a `Directory` — what notify knows of names, units, demands and who was offered an order,
kept from the other services' events. Pure: no database, no broker.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


class Directory(Protocol):
    def member(self, member_id: str) -> dict | None: ...
    def unit(self, unit_id: str) -> dict | None: ...
    def community(self, community_id: str) -> dict | None: ...
    def demand(self, demand_id: str) -> dict | None: ...
    def team_members(self, team_id: str) -> list[str]: ...
    def registered_in(self, community_id: str) -> list[str]: ...
    def offered(self, demand_id: str) -> list[str]: ...


# -- value helpers -----------------------------------------------------------------------------
def chinese_date(value: str) -> str:
    """A date or a timestamp as 2026年11月22日 (timestamps in Beijing time)."""
    if "T" in value:
        d = datetime.fromisoformat(value).astimezone(LOCAL_TZ).date()
    else:
        d = date.fromisoformat(value)
    return f"{d.year}年{d.month}月{d.day}日"


def chinese_time(value: str) -> str:
    t = datetime.fromisoformat(value).astimezone(LOCAL_TZ)
    return f"{t.year}年{t.month}月{t.day}日{t.hour:02d}:{t.minute:02d}"


def member_name(directory: Directory, member_id: str) -> str:
    m = directory.member(member_id)
    return m["name"] if m else member_id


def unit_name(directory: Directory, unit_id: str | None) -> str:
    u = directory.unit(unit_id) if unit_id else None
    return u["name"] if u else (unit_id or "所在单位")


def demand_values(directory: Directory, demand_id: str) -> dict:
    d = directory.demand(demand_id) or {}
    window = ""
    if d.get("window_start"):
        window = chinese_time(d["window_start"])
    return {"category": d.get("category", "服务"), "description": d.get("description", demand_id),
            "address": d.get("address", "见订单详情"), "resident_name": d.get("resident_name", "居民"),
            "window_cn": window or "见订单详情"}


def assignee_members(directory: Directory, assignee: dict) -> list[str]:
    """A member, or every member of a team."""
    if assignee["kind"] == "team":
        return directory.team_members(assignee["id"])
    return [assignee["id"]]


# -- the table ---------------------------------------------------------------------------------
Recipients = Callable[[dict, Directory], list]   # -> [(kind, id, {per-recipient values})]
Values = Callable[[dict, Directory], dict]


@dataclass(frozen=True)
class Rule:
    source: str
    event_type: str
    template: str
    recipients: Recipients
    values: Values = lambda data, directory: {}
    provides: tuple = ()
    important: bool = False        # fed back at once (情况反馈) — a veto, a rejected record
    agreed_fields: tuple = ()      # the contract's fields as agreed, checked while it is not merged yet

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.event_type


def _to_unit(data, directory):
    return [("unit", data["unit_id"], {"unit_name": unit_name(directory, data["unit_id"])})]


def _to_member(data, directory):
    return [("member", data["member_id"], {"member_name": member_name(directory, data["member_id"])})]


def _members(ids, directory):
    return [("member", m, {"member_name": member_name(directory, m)}) for m in dict.fromkeys(ids)]


def _units_of(member_ids, directory):
    """The units of these members, each once, with the first member's name."""
    out = {}
    for m in member_ids:
        rec = directory.member(m)
        if rec and rec.get("unit_id") and rec["unit_id"] not in out:
            out[rec["unit_id"]] = ("unit", rec["unit_id"], {"unit_name": unit_name(directory, rec["unit_id"]),
                                                             "member_name": rec["name"]})
    return list(out.values())


def _units_with_names(member_ids, directory):
    """The units of these members, each once, with the names of all its members among them
    (情况反馈: the unit learns about each of its own members)."""
    out: dict[str, list] = {}
    for m in dict.fromkeys(member_ids):
        rec = directory.member(m)
        if rec and rec.get("unit_id"):
            out.setdefault(rec["unit_id"], []).append(rec["name"])
    return [("unit", uid, {"unit_name": unit_name(directory, uid), "member_name": "、".join(names)})
            for uid, names in out.items()]


REGISTRATION_RULES = [
    Rule("registration", "MemberCheckedIn", "check_in_receipt",
         recipients=lambda d, _: [("unit", d["unit_id"], {})],
         values=lambda d, _: {"checked_in_date": chinese_date(d["checked_in_at"])},
         provides=("checked_in_date",)),
    Rule("registration", "RegistrationOverdue", "registration_overdue_member",
         recipients=_to_member,
         values=lambda d, di: {"due_date_cn": chinese_date(d["due_date"]), "unit_name": unit_name(di, d["unit_id"])},
         provides=("member_name", "due_date_cn", "unit_name")),
    Rule("registration", "RegistrationOverdue", "registration_overdue_unit",
         recipients=_to_unit,
         values=lambda d, di: {"due_date_cn": chinese_date(d["due_date"]),
                               "detected_date_cn": chinese_date(d["detected_on"]),
                               "member_name": member_name(di, d["member_id"])},
         provides=("unit_name", "member_name", "due_date_cn", "detected_date_cn")),
    Rule("registration", "RegistrationObligationOpened", "registration_obligation_member",
         recipients=_to_member,
         values=lambda d, di: {"due_date_cn": chinese_date(d["due_date"]),
                               "community_name": (di.community(d["community_id"]) or {}).get("name", "居住地社区")},
         provides=("member_name", "due_date_cn", "community_name")),
]


def _assignee_values(d, di):
    return {**demand_values(di, d["demand_id"]), "accept_by_cn": chinese_time(d["accept_by"]),
            "assignee_name": d["assignee"]["name"]}


DISPATCH_RULES = [
    Rule("dispatch", "OrderDispatched", "order_dispatched_member",
         recipients=lambda d, di: _members(assignee_members(di, d["assignee"]), di),
         values=_assignee_values,
         provides=("member_name", "category", "description", "address", "window_cn", "accept_by_cn")),
    Rule("dispatch", "OrderPublished", "order_published_member",
         recipients=lambda d, di: _members(di.registered_in(d["community_id"]), di),
         values=lambda d, di: {**demand_values(di, d["demand_id"]), "accept_by_cn": chinese_time(d["accept_by"])},
         provides=("member_name", "category", "description", "address", "accept_by_cn")),
    Rule("dispatch", "OrderAcceptanceTimedOut", "order_acceptance_timed_out_member",
         recipients=lambda d, di: _members(assignee_members(di, d["assignee"]), di),
         values=_assignee_values,
         provides=("member_name", "category", "description", "accept_by_cn")),
    Rule("dispatch", "OrderAccepted", "order_accepted_resident",
         recipients=lambda d, _: [("resident", d["resident_id"], {})],
         values=lambda d, di: {**demand_values(di, d["demand_id"]), "assignee_name": d["assignee"]["name"],
                               "accepted_cn": chinese_time(d["accepted_at"])},
         provides=("resident_name", "category", "assignee_name", "accepted_cn")),
    Rule("dispatch", "OrderAccepted", "order_taken_member",
         recipients=lambda d, di: _members([m for m in di.offered(d["demand_id"])
                                            if m not in assignee_members(di, d["assignee"])], di),
         values=lambda d, di: {**demand_values(di, d["demand_id"]), "assignee_name": d["assignee"]["name"]},
         provides=("member_name", "category", "description", "assignee_name")),
    Rule("dispatch", "ServiceCompleted", "service_completed_resident",
         recipients=lambda d, di: [("resident", (di.demand(d["demand_id"]) or {}).get("resident_id"), {})]
         if (di.demand(d["demand_id"]) or {}).get("resident_id") else [],
         values=lambda d, di: {**demand_values(di, d["demand_id"]), "assignee_name": d["assignee"]["name"],
                               "completed_cn": chinese_time(d["completed_at"]), "hours": f"{d['hours']:g}"},
         provides=("resident_name", "assignee_name", "completed_cn", "hours")),
    # the resident is asked to rate once the community has verified the record, not before
    # (a record sent back to the member may still change)
    Rule("dispatch", "ServiceVerified", "service_verified_resident",
         recipients=lambda d, di: [("resident", (di.demand(d["demand_id"]) or {}).get("resident_id"), {})]
         if (di.demand(d["demand_id"]) or {}).get("resident_id") else [],
         values=lambda d, di: {**demand_values(di, d["demand_id"]), "verified_cn": chinese_time(d["verified_at"])},
         provides=("resident_name", "category", "verified_cn")),
    Rule("dispatch", "ServiceRejected", "service_rejected_member",
         recipients=lambda d, di: _members(d["member_ids"], di),
         values=lambda d, di: demand_values(di, d["demand_id"]),
         provides=("member_name", "category")),
    Rule("dispatch", "ServiceRejected", "service_rejected_unit", important=True,
         recipients=lambda d, di: _units_of(d["member_ids"], di),
         values=lambda d, di: demand_values(di, d["demand_id"]),
         provides=("unit_name", "member_name", "category")),
    # seed 002 管理办法 二: 社区党组织……在《在职党员社区表现反馈卡》上据实查验记载……报所在单位党组织备案
    Rule("dispatch", "PerformanceFeedbackCardIssued", "feedback_card_unit",
         recipients=lambda d, di: [("unit", d["unit_id"], {})],
         values=lambda d, di: {"community_name": (di.community(d["community_id"]) or {}).get("name", "社区"),
                               "minimum_text": "达到基本服务要求" if d["meets_minimum"] else "未达到基本服务要求",
                               "service_hours": f"{d['service_hours']:g}"},
         provides=("community_name", "minimum_text", "service_hours")),
    # 情况反馈 to the unit as each record is made, not only in the yearly report: seed 002 管理办法 二
    # "社区党组织负责……据实查验记载在职党员参加社区活动情况，报所在单位党组织备案"; seed 001 "评议结果及时向在职
    # 党员所在单位党组织反馈"
    Rule("dispatch", "ServiceVerified", "service_verified_unit",
         recipients=lambda d, di: _units_with_names(d["member_ids"], di),
         values=lambda d, di: {**demand_values(di, d["demand_id"]), "verified_cn": chinese_time(d["verified_at"]),
                               "hours": f"{d['hours']:g}"},
         provides=("unit_name", "member_name", "category", "verified_cn", "hours")),
    Rule("dispatch", "ServiceRated", "service_rated_unit",
         recipients=lambda d, di: _units_with_names(d["member_ids"], di),
         values=lambda d, di: {**demand_values(di, d["demand_id"]),
                               "comment_text": f"，评价意见：{d['comment']}" if d.get("comment") else ""},
         provides=("unit_name", "member_name", "category", "comment_text")),
    # seed 001: 每季度到责任区普遍开展一次组团走访
    Rule("dispatch", "TeamVisitMissed", "team_visit_missed_community",
         recipients=lambda d, di: [("community", d["community_id"], {})],
         values=lambda d, di: {"community_name": (di.community(d["community_id"]) or {}).get("name", "社区")},
         provides=("community_name",)),
]

REPORT_NAMES = {"street_report": "年度报告（报街道党工委）", "yearly_summary": "年度公示"}

# Active only when the evaluation and funds contracts exist (their services are built on other
# branches); the service checks each one's contract at start-up.
EVALUATION_RULES = [
    Rule("evaluation", "GradeAssigned", "grade_assigned_unit", recipients=_to_unit, provides=("unit_name",),
         agreed_fields=("member_id", "member_name", "unit_id", "community_id", "year", "grade", "stars", "points")),
    Rule("evaluation", "MemberVetoed", "member_vetoed_unit", recipients=_to_unit, provides=("unit_name",),
         important=True,
         agreed_fields=("member_id", "member_name", "unit_id", "community_id", "year", "statement")),
    # 群众测评 recorded: seed 001 "评议结果及时向在职党员所在单位党组织反馈"
    Rule("evaluation", "ResidentRatingRecorded", "resident_rating_unit",
         recipients=lambda d, di: _units_with_names([d["member_id"]], di),
         values=lambda d, di: {"score_text": f"{d['score']:g}",
                               "revision_text": "（修订）" if d.get("revision", 1) > 1 else ""},
         provides=("unit_name", "member_name", "score_text", "revision_text"),
         agreed_fields=("member_id", "period", "party", "score", "comment", "revision")),
    Rule("evaluation", "DoubleEvaluationPublished", "double_evaluation_result_unit", recipients=_to_unit,
         provides=("unit_name",), agreed_fields=("unit_id", "year", "members")),
]


def _owing_parties(data, directory):
    """A reminder of missing inputs: each party that owes some, with what it owes."""
    from shared.contracts.evaluation import PARTY_NAMES, PARTY_OWED_BY

    place = {"member": data["member_id"], "unit": data["unit_id"], "community": data["community_id"],
             "department": data["district_id"]}
    owed: dict[tuple[str, str], list[str]] = {}
    for m in data["missing"]:
        kind = PARTY_OWED_BY[m["party"]]
        owed.setdefault((kind, place[kind]), []).append(f"{m['period']} {PARTY_NAMES[m['party']]}")
    return [(kind, rid, {"inputs": "、".join(items)}) for (kind, rid), items in owed.items()]


REMINDER_OCCASION_TEXT = {"year_closed": "年度评定已完成，以下评议未提交，按未提交记载",
                          "period_closed": "半年评议期已关闭，以下评议未提交，按未提交记载",
                          "requested": "以下评议尚未提交，请在评议期关闭前提交"}
# Seed 001 五评议 (党员自评、领导点评、群众测评、社区参评、组织考评, each half year): a missing input is
# reminded to whoever owes it; a regrade and a withdrawn title are told to the unit.
EVALUATION_RULES += [
    Rule("evaluation", "PartyInputReminded", "party_input_reminded", recipients=_owing_parties,
         values=lambda d, di: {"occasion_text": REMINDER_OCCASION_TEXT.get(d["occasion"], "")},
         provides=("inputs", "occasion_text")),
    Rule("evaluation", "GradeRevised", "grade_revised_unit", recipients=_to_unit, provides=("unit_name",),
         important=True),
    Rule("evaluation", "TitleWithdrawn", "title_withdrawn_unit", recipients=_to_unit, provides=("unit_name",),
         important=True),
    Rule("evaluation", "DisqualificationRevised", "disqualification_revised_unit", recipients=_to_unit,
         provides=("unit_name", "decision"), important=True,
         values=lambda d, di: {"decision": ("取消当年评先评优资格：" + "；".join(d["new_reasons"])) if d["new_reasons"]
                               else "恢复当年评先评优资格"}),
]
FUNDS_RULES = [
    Rule("funds", "FundsReportDue", "funds_report_due",
         recipients=lambda d, _: [("community", d["community_id"], {})],
         values=lambda d, _: {"report_name": REPORT_NAMES.get(d["report"], d["report"]),
                              "due_date_cn": chinese_date(d["due_date"])},
         provides=("report_name", "due_date_cn"),
         agreed_fields=("community_id", "community_name", "year", "report", "due_date", "days_left")),
]

ALL_RULES = REGISTRATION_RULES + DISPATCH_RULES + EVALUATION_RULES + FUNDS_RULES


# Messages from timers, not from one event: their template and the values they provide.
SCHEDULED_TEMPLATES = {
    "registration_deadline_member": ("member_name", "campaign_title", "deadline_cn", "unit_name", "days_left"),
    "midyear_behind_member": ("member_name", "year", "services", "activities", "min_services", "min_activities"),
    "feedback_report_unit": ("unit_name", "year", "members", "registered", "services", "hours", "activities",
                             "files"),
}


@dataclass(frozen=True)
class PlannedMessage:
    template: str
    recipient_kind: str
    recipient_id: str
    values: dict
    important: bool


def plan_messages(rules: list[Rule], data: dict, directory: Directory) -> list[PlannedMessage]:
    """Every message the event yields under `rules` (those of its type)."""
    planned = []
    for rule in rules:
        base = {**data, **rule.values(data, directory)}
        for kind, rid, extra in rule.recipients(data, directory):
            if rid:
                planned.append(PlannedMessage(rule.template, kind, rid, {**base, **extra}, rule.important))
    return planned
