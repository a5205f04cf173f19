"""Evaluation (五评议 and 记实积分): the member's points record, the five parties' inputs, the
year's grade (5★…1★), the veto (一票否决), disqualification and titles.

Pure domain model. One `MemberRecord` stream per member holds every fact about the member that
other services reported (FactRecorded), the ledger lines those facts earned under the
district's rules (PointsAwarded / PointsDeducted), the five parties' inputs and the year's results. A fact is
keyed by the id of the event that reported it, so a redelivered event never adds points twice.
A `DistrictCalendar` stream holds which half-year periods (2026H1, 2026H2) are closed; a fact
dated in a closed period lands in the next open one, never silently in a closed one.
Grading is one pure calculation, `evaluate(YearInputs, rules)`, on what a year's grade reads of
the record: `MemberRecord.year_inputs` on a replayed record, or `GradingInputs.year_inputs` on
the record folded down to those inputs (the grading read model's row, read by a year close).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import ClassVar

from services.evaluation.rules import GRADES, PARTIES, Rules
from shared import yearly_minimum
from shared.contracts.evaluation import PARTY_NAMES
from shared.domain import Aggregate, DomainError, DomainEvent

# Who may record each party's input, and what their scope must match on the member.
PARTY_ROLES = {"self": ("member", "member_id"), "leader": ("unit_leader", "unit_id"),
               "residents": ("resident_panel", "community_id"), "community": ("community_staff", "community_id"),
               "organisation": ("organisation_department", "district_id")}
ROLE_NAMES = {"member": "党员本人", "unit_leader": "单位党组织负责人", "resident_panel": "社区居民代表评议组",
              "community_staff": "社区党组织", "organisation_department": "组织部门",
              "street_committee": "街道党工委"}
STARS = dict(zip(GRADES, (5, 4, 3, 2, 1)))
_BANDS_ID = re.compile(r"（([^（）：]+:grading\.bands@v\d+)：")
# Seed 001 组织考评 "街道社区如出具……书面评价，将对其一票否决": who may issue the statement, and the
# place their scope must be (the member's community, or the street that community belongs to).
VETO_SCOPES = {"community_staff": "community", "street_committee": "street"}
TITLE_STAR, TITLE_CANDIDATE = "社区服务之星", "身边最美在职党员候选"

# which rule item a fact earns
FACT_ITEMS = {"checked_in": "check_in", "overdue": "registration_overdue", "overdue_reason": "overdue_excused",
              "commitment": "commitment_made", "service_verified": "service_verified",
              "service_rejected": "service_rejected", "service_rated": "service_rated",
              "wish_fulfilled": "wish_fulfilled", "activity_attended": "activity_attended",
              "activity_absent": "activity_absent"}


class PeriodClosedError(DomainError):
    code = "period_closed"


class WrongRole(DomainError):
    code = "wrong_role"


class AlreadyGraded(DomainError):
    code = "already_graded"


# -- periods --------------------------------------------------------------------------------
def period_of(day: date) -> str:
    return f"{day.year:04d}H{1 if day.month <= 6 else 2}"   # "0058H2" still parses as year 58


def next_period(period: str) -> str:
    year, half = int(period[:4]), period[5]
    return f"{year:04d}H2" if half == "1" else f"{year + 1:04d}H1"


def periods_of_year(year: int) -> tuple[str, str]:
    return f"{year:04d}H1", f"{year:04d}H2"


def land(period: str, closed) -> str:
    """The first period from `period` on that is not closed (late facts move forward)."""
    while period in closed:
        period = next_period(period)
    return period


# -- events ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FactRecorded(DomainEvent):
    """v2: `obligation_id` (the registration obligation or campaign a check-in, an overdue or its
    reason is about) and `due_on` (its due date); v1 facts read as "" (shared.contracts.evaluation)."""

    schema_version: ClassVar[int] = 2

    member_id: str
    kind: str
    source_event_id: str
    source_event_type: str
    occurred_on: str
    period: str
    district_id: str
    community_id: str
    unit_id: str
    member_name: str
    hours: float = 0.0
    rating: int | None = None
    reason: str = ""
    accepted: bool = False
    obligation_id: str = ""
    due_on: str = ""


@dataclass(frozen=True)
class PointsLine(DomainEvent):
    """A ledger line (记实积分); written as PointsAwarded or PointsDeducted by its sign."""

    member_id: str
    community_id: str
    unit_id: str
    district_id: str
    period: str
    points: int
    item: str
    rule_id: str
    source_event_id: str
    source_event_type: str
    reason: str


class PointsAwarded(PointsLine):
    """Points added by a rule (zero included: the line says why nothing was added)."""


class PointsDeducted(PointsLine):
    """Points taken away by a rule."""


class PointsRecorded(PointsLine):
    """The line's type before it was split by sign: read from older stores, never written."""


@dataclass(frozen=True)
class PartyInput(DomainEvent):
    member_id: str
    period: str
    party: str
    score: float
    comment: str
    by_role: str
    by_id: str
    revision: int


class SelfEvaluationSubmitted(PartyInput):
    pass


class LeaderReviewRecorded(PartyInput):
    pass


class ResidentRatingRecorded(PartyInput):
    pass


class CommunityScoreRecorded(PartyInput):
    pass


class OrganisationAssessmentRecorded(PartyInput):
    pass


PARTY_EVENTS = {"self": SelfEvaluationSubmitted, "leader": LeaderReviewRecorded, "residents": ResidentRatingRecorded,
                "community": CommunityScoreRecorded, "organisation": OrganisationAssessmentRecorded}
PARTY_TYPES = frozenset(cls.event_type for cls in PARTY_EVENTS.values())


@dataclass(frozen=True)
class PeriodClosed(DomainEvent):
    district_id: str
    period: str
    closed_by: str


@dataclass(frozen=True)
class GradeAssigned(DomainEvent):
    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    district_id: str
    year: int
    grade: str
    stars: int
    points: int
    score: float
    explanation: list

    def to_data(self) -> dict:
        """`asdict` without its deep copy: the fields are flat, the list of lines is copied."""
        return {**self.__dict__, "explanation": list(self.explanation)}


@dataclass(frozen=True)
class PartyInputReminded(DomainEvent):
    """The parties that owe a member's inputs are reminded of the missing ones: `missing` lists
    each as {"period", "party"}; `occasion` is "year_closed", "period_closed" or "requested"."""

    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    district_id: str
    missing: list
    occasion: str

    def to_data(self) -> dict:
        return {**self.__dict__, "missing": [dict(m) for m in self.missing]}


@dataclass(frozen=True)
class MemberVetoed(DomainEvent):
    """一票否决; `issued_by` is "community" or "street" (VETO_SCOPES), "" on a v1 veto."""

    schema_version: ClassVar[int] = 2
    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    year: int
    statement: str
    by_id: str
    issued_by: str


@dataclass(frozen=True)
class MemberDisqualified(DomainEvent):
    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    year: int
    reasons: list

    def to_data(self) -> dict:
        """`asdict` without its deep copy: the fields are flat, the list of reasons is copied."""
        return {**self.__dict__, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class TitleAwarded(DomainEvent):
    """A title awarded; `reason` says why (the year-end selection or a regrade that freed a
    place); "" on a v1 award."""

    schema_version: ClassVar[int] = 2
    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    district_id: str
    year: int
    title: str
    rank: int
    reason: str


@dataclass(frozen=True)
class DisqualificationRevised(DomainEvent):
    """A regrade decided the year's disqualification (取消当年评先评优资格) again under the
    current rules and data: the reasons before and after (an empty `new_reasons` restores the
    member's eligibility), who asked."""

    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    district_id: str
    year: int
    old_reasons: list
    new_reasons: list
    requested_by: str

    def to_data(self) -> dict:
        return {**self.__dict__, "old_reasons": list(self.old_reasons), "new_reasons": list(self.new_reasons)}


@dataclass(frozen=True)
class GradeRevised(DomainEvent):
    """A year's grade recomputed from the member's history under the district's current rules
    (a rules change, a corrected grading rule): the old and the new grade and points total, the
    grading rules of each, who asked, and the new explanation."""

    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    district_id: str
    year: int
    old_grade: str
    new_grade: str
    old_stars: int
    new_stars: int
    old_points: int
    new_points: int
    old_rules: str
    new_rules: str
    requested_by: str
    explanation: list

    def to_data(self) -> dict:
        return {**self.__dict__, "explanation": list(self.explanation)}


@dataclass(frozen=True)
class TitleWithdrawn(DomainEvent):
    """A title whose grade no longer qualifies after a regrade."""

    member_id: str
    member_name: str
    unit_id: str
    community_id: str
    district_id: str
    year: int
    title: str
    reason: str


@dataclass(frozen=True)
class DoubleEvaluationPublished(DomainEvent):
    unit_id: str
    year: int
    members: int


EVENTS = (FactRecorded, PointsAwarded, PointsDeducted, PointsRecorded, *PARTY_EVENTS.values(), PeriodClosed,
          GradeAssigned, PartyInputReminded, MemberVetoed, MemberDisqualified, TitleAwarded, DoubleEvaluationPublished,
          GradeRevised, TitleWithdrawn, DisqualificationRevised)


# -- points --------------------------------------------------------------------------------
def points_for(fact: FactRecorded, rules: Rules) -> list[tuple[str, int, str]]:
    """The rule items a fact earns before caps: (item, points, why), in Chinese."""
    item_name = FACT_ITEMS.get(fact.kind)
    if item_name is None or (fact.kind == "overdue_reason" and not fact.accepted):
        return []
    rule = rules.items[item_name]
    if fact.kind == "service_verified":
        extra = round(rule.per_hour * fact.hours)
        return [(item_name, rule.points + extra,
                 f"{rule.label}：{fact.hours:g} 小时，{rule.points} + {fact.hours:g}×{rule.per_hour:g} 分")]
    if fact.kind == "service_rated":
        return [(item_name, rule.by_rating[fact.rating], f"{rule.label}：{fact.rating} 星")]
    detail = f"（{fact.reason}）" if fact.reason else ""
    return [(item_name, rule.points, f"{rule.label}{detail}")]


def bounded(points: int, so_far: int, cap: int | None, floor: int | None) -> int:
    """`points` limited so the item's yearly total stays within its cap (and floor)."""
    if points > 0 and cap is not None:
        return max(0, min(points, cap - so_far))
    if points < 0 and floor is not None:
        return min(0, max(points, floor - so_far))
    return points


@dataclass
class GradeResult:
    grade: str
    stars: int
    points: int
    score: float
    explanation: list
    disqualified: list
    eligible: bool
    missing: list = None            # [(period, party)] of the year's inputs not submitted


@dataclass
class PartyEntry:
    score: float
    comment: str
    by_role: str
    by_id: str
    revision: int


@dataclass(frozen=True)
class YearInputs:
    """What grading a member for one year reads of the record: the same whether the record was
    replayed (`MemberRecord.year_inputs`) or read from the grading read model
    (`GradingInputs.year_inputs`), and `evaluate` is the one calculation on it."""

    year: int
    points: int                                  # the year's ledger total
    parties: dict                                # party -> [(period, latest score)] of the year's halves
    veto: str | None                             # the statement of the year's veto
    registered: bool                             # checked in by the end of the year
    excused: bool                                # an accepted overdue reason by the end of the year
    refused_reason: str | None                   # the last refused overdue reason (any year)
    services: int                                # services (shared.yearly_minimum) in the year's periods
    activities: int                              # attended activities in the year's periods
    missed_registrations: tuple = ()             # the year's obligations not met in time, without cause


def party_score(scores: list) -> tuple[float | None, list[str]]:
    """A party's year score: the mean of the latest input of each half year."""
    if not scores:
        return None, []
    return sum(s for _, s in scores) / len(scores), [f"{p} {s:g}" for p, s in scores]


# -- the year's registration (seed 002 四 "无故不去社区报到 … 取消当年各类评先评优资格") -----------------
#: Obligations to (re-)register within a month (seed 000 "新发展、新调入或居住地、工作地发生变化的党员应在1个月内
#: 到社区报到"), by registration's kind, as the reason of a disqualification names them.
OBLIGATION_NAMES = {"moved": "居住地变动", "workplace_changed": "工作地变动", "newly_admitted": "新发展入党",
                    "transferred_in": "新调入"}


def fold_obligation(obligations: dict, kind: str, d: dict) -> None:
    """Fold one fact (its data) into the member's obligations: id → {kind, opened, due,
    checked_in_on, overdue, excused, refused}. Plain JSON values: the grading read model stores them as they are."""
    oid = d.get("obligation_id") or ""
    if not oid or kind not in ("obligation_opened", "checked_in", "overdue", "overdue_reason"):
        return
    o = obligations.setdefault(oid, {"kind": "", "opened": "", "due": "", "checked_in_on": "", "overdue": False,
                                     "excused": False, "refused": ""})
    if kind == "obligation_opened":
        o["kind"], o["opened"], o["due"] = d.get("reason", ""), d["occurred_on"], d.get("due_on", "") or o["due"]
    elif kind == "checked_in":
        o["checked_in_on"] = min(filter(None, (o["checked_in_on"], d["occurred_on"])))
    elif kind == "overdue":
        o["overdue"], o["due"] = True, o["due"] or d.get("due_on", "")
    elif d.get("accepted", False):
        o["excused"] = True
    else:
        o["refused"] = d.get("reason", "")


@dataclass(frozen=True)
class RegistrationYear:
    """A member's registration obligations opened in one year (the one-month obligations that
    registration opens: moved, changed workplace, newly admitted, transferred in) by status,
    and why the year is lost for the ones missed without an accepted reason. An obligation
    counts in the year it was opened (the year of the move), whenever it falls due."""

    opened: tuple
    fulfilled: tuple             # checked in by the due date
    overdue: tuple               # not checked in by the due date (checked in late, or not at all)
    excused: tuple               # overdue with an accepted reason
    missed: tuple                # overdue without one: the year's reasons of disqualification


def registration_year(obligations: dict, year: int) -> RegistrationYear:
    opened, fulfilled, overdue, excused, missed = [], [], [], [], []
    for oid in sorted(obligations, key=lambda i: (obligations[i]["due"], i)):
        o = obligations[oid]
        if not o["kind"] or not o["due"] or int(o["opened"][:4]) != year:
            continue                     # a unit campaign, or opened in another year
        opened.append(oid)
        if o["checked_in_on"] and o["checked_in_on"] <= o["due"] and not o["overdue"]:
            fulfilled.append(oid)
            continue
        if not (o["overdue"] or o["checked_in_on"]):
            continue                     # not yet due, or not yet found overdue
        overdue.append(oid)
        if o["excused"]:
            excused.append(oid)
            continue
        late = f"，{o['checked_in_on']} 才报到" if o["checked_in_on"] else ""
        refused = f"，逾期原因：{o['refused']}" if o["refused"] else ""
        missed.append(f"{OBLIGATION_NAMES.get(o['kind'], o['kind'])}后未在1个月内到社区报到"
                      f"（应于 {o['due']} 前{late}{refused}）")
    return RegistrationYear(tuple(opened), tuple(fulfilled), tuple(overdue), tuple(excused), tuple(missed))


def disqualification_reasons(inputs: YearInputs, rules: Rules) -> list[str]:
    reasons = []
    if not inputs.registered:
        if not inputs.excused:
            refused = inputs.refused_reason
            reasons.append("无故未到社区报到" + (f"（逾期原因：{refused}）" if refused is not None else ""))
    else:
        reasons.extend(inputs.missed_registrations)
        # seed 002 四: 虽报到但未达到基本服务要求 — the one yearly minimum (shared.yearly_minimum)
        minimum = rules.minimum or yearly_minimum.configured().default
        reasons.extend(minimum.shortfalls(inputs.services, inputs.activities))
    return reasons


def missing_inputs(inputs: YearInputs) -> list[tuple[str, str]]:
    """(period, party) of every half-year input of the year that was not submitted."""
    return [(period, party) for party in PARTIES for period in periods_of_year(inputs.year)
            if period not in {p for p, _ in inputs.parties[party]}]


def band_of(total: int, rules: Rules) -> str:
    """Seed 001 社区参评: "年底按积分高低分为优秀、良好、一般、较差和差" — the highest band whose
    lowest points total the year's total reaches; below 较差's is 差."""
    return next((g for g in GRADES[:4] if total >= rules.bands[g]), "差")


def minimum_count(kind: str, source_event_type: str) -> str | None:
    """"services", "activities" or None: what a fact adds to the yearly minimum's counts — the
    shared policy's, by the dispatch event that reported it (an absence from an activity is
    reported by the same event as the attendance, and counts for nothing)."""
    if kind == "activity_absent":
        return None
    return yearly_minimum.counted_as(source_event_type)


def evaluate(inputs: YearInputs, rules: Rules) -> GradeResult:
    """The year's grade by the points total and the district's bands, explained line by line.

    Seed 001 社区参评: "社区党组织对在职党员到社区报到为群众服务活动情况进行量化考评……每半年进行
    一次统计汇总，年底按积分高低分为优秀、良好、一般、较差和差……实行“五星级”考核". The other
    four parties (自评, 领导点评, 群众测评, 组织考评) are shown as they stand; they change the
    points only by the district's `party_points`, each as a line naming its rule. A missing
    input is shown as missing, never counted as 0."""
    total = inputs.points
    lines = [f"记实积分 {inputs.points} 分（全年积分记录合计）"]
    missing = missing_inputs(inputs)
    for party in PARTIES:
        name = PARTY_NAMES[party]
        value, _ = party_score(inputs.parties[party])
        if value is None:
            lines.append(f"{name}：未提交")
            continue
        given = dict(inputs.parties[party])
        halves = "，".join(f"{p} {given[p]:g}" if p in given else f"{p} 未提交" for p in periods_of_year(inputs.year))
        lines.append(f"{name}：{value:.1f} 分（{halves}）")
        step = rules.party_points_for(party, value)
        if step is not None:
            points, lowest = step
            total += points
            lines.append(f"{name} {value:.1f} 分 ≥ {lowest:g} 分：积分 {points:+d} 分"
                         f"（{rules.rule_id(f'grading.party_points.{party}')}）")
    grade = band_of(total, rules)
    bands = "，".join(f"{g} ≥ {rules.bands[g]}" for g in GRADES[:4])
    if grade == "差":
        lines.append(f"积分合计 {total} 分，低于较差档 {rules.bands['较差']} 分 → 差（1★）"
                     f"（{rules.bands_id}：{bands}）")
    else:
        lines.append(f"积分合计 {total} 分 ≥ {grade}档 {rules.bands[grade]} 分 → {grade}（{STARS[grade]}★）"
                     f"（{rules.bands_id}：{bands}）")
    reasons = disqualification_reasons(inputs, rules)
    if inputs.veto is not None:
        lines.append(f"一票否决：{inputs.veto}（取消评先评优、提拔考察和转正资格）")
    for r in reasons:
        lines.append(f"取消当年评先评优资格：{r}")
    eligible = not reasons and inputs.veto is None
    return GradeResult(grade, STARS[grade], total, float(total), lines, reasons, eligible, missing)


def title_refusal(grade: str, disqualified: list, vetoed: bool, rules: Rules) -> str:
    """Why a member may not hold a title of the year ("" when they may): seed 001 组织考评's
    veto "取消评先评优资格", a disqualification, or a grade below `titles.min_grade`."""
    if vetoed:
        return "已被一票否决，取消评先评优资格"
    if disqualified:
        return "取消当年评先评优资格：" + "；".join(disqualified)
    if GRADES.index(grade) > GRADES.index(rules.title_min_grade):
        return f"重新评定为{grade}，低于称号要求的{rules.title_min_grade}"
    return ""


def free_title_places(standings: list[dict], rules: Rules) -> list[tuple[str, str, int]]:
    """After a regrade: (member_id, title, rank) for each place under `titles` left free (a
    title withdrawn, or never filled), given to the eligible members holding no such title, in
    the year-end order (points, then id): `community_stars` per community, `district_candidates`
    in the district. A rank continues after the places still held."""
    eligible = sorted((s for s in standings if s["eligible"]), key=lambda s: (-s["points"], s["member_id"]))
    held = {}
    for s in standings:
        if s["eligible"] and TITLE_STAR in s["titles"]:
            held[s["community_id"]] = held.get(s["community_id"], 0) + 1
    awards = []
    for s in eligible:
        if TITLE_STAR in s["titles"]:
            continue
        n = held.get(s["community_id"], 0)
        if n < rules.community_stars:
            held[s["community_id"]] = n + 1
            awards.append((s["member_id"], TITLE_STAR, n + 1))
    candidates = sum(1 for s in standings if s["eligible"] and TITLE_CANDIDATE in s["titles"])
    for s in eligible:
        if candidates >= rules.district_candidates:
            break
        if TITLE_CANDIDATE not in s["titles"]:
            candidates += 1
            awards.append((s["member_id"], TITLE_CANDIDATE, candidates))
    return awards


def reminder(member_id: str, name: str, unit_id: str, community_id: str, district_id: str,
             missing: list[tuple[str, str]], occasion: str) -> PartyInputReminded | None:
    """The reminder of the missing inputs (None when nothing is missing)."""
    if not missing:
        return None
    return PartyInputReminded(member_id=member_id, member_name=name, unit_id=unit_id, community_id=community_id,
                              district_id=district_id, missing=[{"period": p, "party": q} for p, q in missing],
                              occasion=occasion)


def grade_events(member_id: str, name: str, unit_id: str, community_id: str, district_id: str, year: int,
                 result: GradeResult) -> list[DomainEvent]:
    """What grading a member records: the grade, and the disqualification if any."""
    events: list[DomainEvent] = [GradeAssigned(
        member_id=member_id, member_name=name, unit_id=unit_id, community_id=community_id,
        district_id=district_id, year=year, grade=result.grade, stars=result.stars, points=result.points,
        score=result.score, explanation=result.explanation)]
    if result.disqualified:
        events.append(MemberDisqualified(member_id=member_id, member_name=name, unit_id=unit_id,
                                         community_id=community_id, year=year, reasons=result.disqualified))
    notice = reminder(member_id, name, unit_id, community_id, district_id, result.missing or [], "year_closed")
    if notice is not None:
        events.append(notice)
    return events


class MemberRecord(Aggregate):
    """记实: one member's facts, ledger, five-party inputs and yearly results."""

    stream_prefix = "evaluation-member"

    def __init__(self, member_id: str):
        super().__init__(member_id)
        self.name = ""
        self.unit_id = ""
        self.community_id = ""
        self.district_id = ""
        self.facts: dict[str, FactRecorded] = {}
        self.line_points: dict[tuple[str, str], int] = {}     # (source event, item) -> points so far
        self.line_period: dict[str, str] = {}                 # source event -> period it landed in
        self.item_totals: dict[tuple[int, str], int] = {}     # (year, item) -> points so far
        self.period_points: dict[str, int] = {}
        self.parties: dict[tuple[str, str], list[PartyEntry]] = {}
        self.grades: dict[int, GradeAssigned] = {}
        self.revisions: dict[int, GradeRevised] = {}           # year -> the latest revision of its grade
        self.reminded: set[tuple[str, str]] = set()             # (period, occasion) reminded of
        self.vetoes: dict[int, MemberVetoed] = {}
        self.disqualified: dict[int, list] = {}
        self.titles: set[tuple[int, str]] = set()
        self.obligations: dict[str, dict] = {}                # registration obligations (fold_obligation)

    # -- state ---------------------------------------------------------------------------
    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, FactRecorded):
            self.facts[event.source_event_id] = event
            fold_obligation(self.obligations, event.kind, event.__dict__)
            self.line_period[event.source_event_id] = event.period
            self.name = event.member_name or self.name
            self.unit_id = event.unit_id or self.unit_id
            # where the member serves: set by check-in and moves (and the residence at
            # enrolment until then), never by where one activity took place
            if event.kind in ("checked_in", "moved") or (event.kind == "enrolled" and not self.community_id):
                self.community_id, self.district_id = event.community_id, event.district_id
            elif not self.district_id:
                self.district_id = event.district_id
        elif isinstance(event, PointsLine):
            key = (event.source_event_id, event.item)
            self.line_points[key] = self.line_points.get(key, 0) + event.points
            ykey = (int(event.period[:4]), event.item)
            self.item_totals[ykey] = self.item_totals.get(ykey, 0) + event.points
            self.period_points[event.period] = self.period_points.get(event.period, 0) + event.points
        elif isinstance(event, PartyInput):
            self.parties.setdefault((event.period, event.party), []).append(
                PartyEntry(event.score, event.comment, event.by_role, event.by_id, event.revision))
        elif isinstance(event, GradeAssigned):
            self.grades[event.year] = event
        elif isinstance(event, MemberVetoed):
            self.vetoes[event.year] = event
        elif isinstance(event, MemberDisqualified):
            self.disqualified[event.year] = list(event.reasons)
        elif isinstance(event, TitleAwarded):
            self.titles.add((event.year, event.title))
        elif isinstance(event, GradeRevised):
            self.revisions[event.year] = event
        elif isinstance(event, PartyInputReminded):
            self.reminded.update((m["period"], event.occasion) for m in event.missing)
        elif isinstance(event, TitleWithdrawn):
            self.titles.discard((event.year, event.title))
        elif isinstance(event, DisqualificationRevised):
            self.disqualified[event.year] = list(event.new_reasons)

    def closed_for_me(self, district_closed) -> set[str]:
        """The district's closed periods plus both halves of every year already graded."""
        if not self.grades:
            return district_closed
        closed = set(district_closed)
        for year in self.grades:
            closed.update(periods_of_year(year))
        return closed

    def points_in(self, year: int) -> int:
        return sum(self.period_points.get(p, 0) for p in periods_of_year(year))

    # -- facts and points ----------------------------------------------------------------
    def record_fact(self, *, kind: str, source_event_id: str, source_event_type: str, occurred_on: date,
                    rules: Rules, district_closed, member_name: str = "", unit_id: str = "",
                    community_id: str = "", district_id: str = "", hours: float = 0.0, rating: int | None = None,
                    reason: str = "", obligation_id: str = "", due_on: str = "") -> bool:
        """Record what an event means for this member and the points it earns; False when the
        event was already recorded (a redelivery)."""
        if source_event_id in self.facts:
            return False
        unplaced_before = not self.district_id
        period = land(period_of(occurred_on), self.closed_for_me(district_closed))
        accepted = kind == "overdue_reason" and reason in rules.accepted_overdue_reasons
        fact = self._trigger(FactRecorded(
            member_id=self.id, kind=kind, source_event_id=source_event_id, source_event_type=source_event_type,
            occurred_on=occurred_on.isoformat(), period=period, district_id=district_id or self.district_id,
            community_id=community_id or self.community_id, unit_id=unit_id or self.unit_id,
            member_name=member_name or self.name, hours=float(hours), rating=rating, reason=reason,
            accepted=accepted, obligation_id=obligation_id, due_on=due_on))
        year = int(period[:4])
        for item, raw, why in points_for(fact, rules):
            rule = rules.items[item]
            so_far = self.item_totals.get((year, item), 0)
            points = bounded(raw, so_far, rule.cap, rule.floor)
            if points != raw:
                limit = rule.cap if raw > 0 else rule.floor
                why += f"；年度{'上限' if raw > 0 else '扣分下限'} {limit} 分，本次计 {points} 分"
            if period != period_of(occurred_on):
                why += f"；发生于已关闭的 {period_of(occurred_on)}，计入 {period}"
            self._line(period, points, item, rules.rule_id(item), fact, why)
        if unplaced_before and self.district_id and any(not f.district_id for f in self.facts.values()):
            # Facts that arrived before the member's district was known were scored by the
            # default rules: now it is known, they are scored by the district's, whatever the
            # order the events came in.
            self.recompute(rules, district_closed, only_unplaced=True)
        return True

    def _line(self, period: str, points: int, item: str, rule_id: str, fact: FactRecorded, why: str) -> None:
        self._trigger((PointsDeducted if points < 0 else PointsAwarded)(
            member_id=self.id, community_id=self.community_id, unit_id=self.unit_id, district_id=self.district_id,
            period=period, points=points, item=item, rule_id=rule_id, source_event_id=fact.source_event_id,
            source_event_type=fact.source_event_type, reason=why))

    def recompute(self, rules: Rules, district_closed, only_unplaced: bool = False, reopen: int | None = None) -> int:
        """After a rules change: what every fact in an open period earns under `rules`, with
        caps counted in the order the facts came; each difference becomes a correcting line.
        Lines of closed periods stay as they are, but for the year `reopen` (a regrade).
        Returns the number of correcting lines."""
        closed = self.closed_for_me(district_closed)
        if reopen is not None:
            closed = set(closed) - set(periods_of_year(reopen))
        totals: dict[tuple[int, str], int] = {}
        corrections = []
        for fact in list(self.facts.values()):
            year = int(fact.period[:4])
            earned = {item: (raw, why) for item, raw, why in points_for(fact, rules)}
            items = set(earned) | {item for (src, item) in self.line_points if src == fact.source_event_id}
            for item in sorted(items):
                actual = self.line_points.get((fact.source_event_id, item), 0)
                if fact.period in closed or (only_unplaced and fact.district_id):
                    expected = actual
                else:
                    raw, _ = earned.get(item, (0, ""))
                    rule = rules.items[item]
                    expected = bounded(raw, totals.get((year, item), 0), rule.cap, rule.floor)
                totals[(year, item)] = totals.get((year, item), 0) + expected
                if expected != actual:
                    label = rules.items[item].label
                    why = ("确定所属区后按该区规则重算" if only_unplaced else
                           "重新评定按现行规则重算" if reopen is not None else "规则调整重算")
                    corrections.append((fact, item, expected - actual,
                                        f"{why}（{rules.rule_id(item)}）：{label} 由 {actual} 分改为 {expected} 分"))
        for fact, item, delta, why in corrections:
            self._line(fact.period, delta, item, rules.rule_id(item), fact, why)
        return len(corrections)

    # -- the five parties ------------------------------------------------------------------
    def submit_party_input(self, *, party: str, period: str, score: float, comment: str, by_role: str, by_id: str,
                           by_scope: str, district_closed) -> int:
        """One party's input for a half year; a second submission amends it (revision + 1)."""
        role, scope_attr = PARTY_ROLES[party]
        if by_role != role:
            raise WrongRole(f"{PARTY_NAMES[party]}须由{ROLE_NAMES[role]}提交", party=party, role=role)
        if party == "self":
            if by_id != self.id:
                raise WrongRole("党员自评只能由党员本人提交")
        elif by_scope != getattr(self, scope_attr):
            raise WrongRole(f"{PARTY_NAMES[party]}须由该党员所在的{ROLE_NAMES[role]}提交")
        if period in self.closed_for_me(district_closed):
            raise PeriodClosedError(f"{period} 已关闭，评议结果已冻结，不能再提交或修改")
        if not comment.strip():
            raise DomainError("请填写评议意见" if party != "self" else "请填写书面述职报告")
        revision = len(self.parties.get((period, party), [])) + 1
        self._trigger(PARTY_EVENTS[party](member_id=self.id, period=period, party=party, score=float(score),
                                          comment=comment, by_role=by_role, by_id=by_id, revision=revision))
        return revision

    def party_score(self, year: int, party: str) -> tuple[float | None, list[str]]:
        """The party's year score: the mean of the latest input of each half year."""
        return party_score(self.year_inputs(year).parties[party])

    # -- veto, grade, titles ---------------------------------------------------------------
    def veto(self, *, year: int, statement: str, by_role: str, by_id: str, by_scope: str,
             street_id: str = "") -> None:
        """一票否决. Seed 001 组织考评: "街道社区如出具被考察的党员干部没有服务社区群众的书面评价，
        将对其一票否决" — the written statement is the community's (社区党组织 of the member's
        community) or the street's (街道党工委 of the street that community belongs to,
        `street_id`)."""
        if not self.vetoes_allowed(by_role, by_scope, street_id):
            raise WrongRole("一票否决须由党员报到社区的社区党组织或所在街道党工委出具书面评价")
        if not statement.strip():
            raise DomainError("请填写书面评价（未服务社区群众的情况说明）")
        if year in self.grades:
            raise AlreadyGraded(f"{year} 年度评定已完成，不能再否决")
        if year in self.vetoes:
            return
        self._trigger(MemberVetoed(member_id=self.id, member_name=self.name, unit_id=self.unit_id,
                                   community_id=self.community_id, year=year, statement=statement, by_id=by_id,
                                   issued_by=VETO_SCOPES[by_role]))

    def vetoes_allowed(self, by_role: str, by_scope: str, street_id: str) -> bool:
        scope = VETO_SCOPES.get(by_role)
        if scope is None or not by_scope:
            return False
        return by_scope == (self.community_id if scope == "community" else street_id)

    def year_inputs(self, year: int) -> YearInputs:
        """What grading reads of this record for `year`."""
        facts = self.facts.values()
        refused = [f.reason for f in facts if f.kind == "overdue_reason" and not f.accepted]
        in_year = [f for f in facts if int(f.period[:4]) == year]
        return YearInputs(
            year=year, points=self.points_in(year),
            parties={party: [(p, self.parties[(p, party)][-1].score) for p in periods_of_year(year)
                             if (p, party) in self.parties] for party in PARTIES},
            veto=self.vetoes[year].statement if year in self.vetoes else None,
            registered=any(f.kind == "checked_in" and int(f.occurred_on[:4]) <= year for f in facts),
            excused=any(f.kind == "overdue_reason" and f.accepted and int(f.occurred_on[:4]) <= year for f in facts),
            refused_reason=refused[-1] if refused else None,
            services=len({f.source_event_id for f in in_year
                          if minimum_count(f.kind, f.source_event_type) == yearly_minimum.SERVICES}),
            activities=sum(1 for f in in_year
                           if minimum_count(f.kind, f.source_event_type) == yearly_minimum.ACTIVITIES),
            missed_registrations=registration_year(self.obligations, year).missed)

    def disqualification_reasons(self, year: int, rules: Rules) -> list[str]:
        return disqualification_reasons(self.year_inputs(year), rules)

    def evaluate(self, year: int, rules: Rules) -> GradeResult:
        """The year's grade from points and the five parties, explained line by line."""
        return evaluate(self.year_inputs(year), rules)

    def assign_grade(self, year: int, rules: Rules) -> GradeResult:
        """At year end: grade the member once (a second call returns the recorded grade)."""
        if year in self.grades:
            grade, stars, points, explanation = self.current_grade(year)
            reasons = self.disqualified.get(year, [])
            return GradeResult(grade, stars, points, float(points) if year in self.revisions else self.grades[year].score,
                               list(explanation), reasons, not reasons and year not in self.vetoes)
        result = self.evaluate(year, rules)
        for event in grade_events(self.id, self.name, self.unit_id, self.community_id, self.district_id, year,
                                  result):
            self._trigger(event)
        return result

    def current_grade(self, year: int) -> tuple[str, int, int, list]:
        """(grade, stars, points, explanation) of the year as it stands (after any revision)."""
        if year in self.revisions:
            r = self.revisions[year]
            return r.new_grade, r.new_stars, r.new_points, r.explanation
        g = self.grades[year]
        return g.grade, g.stars, g.points, g.explanation

    def regrade(self, year: int, rules: Rules, district_closed, by: str) -> GradeRevised | None:
        """Re-decide a graded year from the member's history under `rules`, the whole decision:
        the year's facts are scored again (each difference a correcting ledger line, its reason
        saying so), the year is graded by the bands and a changed grade or points total is
        recorded as `GradeRevised` with both grades and both rules; the disqualification (the
        yearly minimum, overdue registration) is decided again and a change recorded as
        `DisqualificationRevised`; a title the member no longer qualifies for (grade below
        `titles.min_grade`, disqualified or vetoed) is withdrawn with its reason. Titles newly
        qualified for are awarded by the district (`free_title_places`). The veto stands as
        issued. Returns the GradeRevised, None when the year was not graded or its grade did
        not change."""
        if year not in self.grades:
            return None
        self.recompute(rules, district_closed, reopen=year)
        result = evaluate(self.year_inputs(year), rules)
        revised = None
        old_grade, old_stars, old_points, old_explanation = self.current_grade(year)
        if (result.grade, result.points) != (old_grade, old_points):
            old_rules = self.revisions[year].new_rules if year in self.revisions else next(
                (m.group(1) for m in map(_BANDS_ID.search, old_explanation) if m), "")
            revised = self._trigger(GradeRevised(
                member_id=self.id, member_name=self.name, unit_id=self.unit_id, community_id=self.community_id,
                district_id=self.district_id, year=year, old_grade=old_grade, new_grade=result.grade,
                old_stars=old_stars, new_stars=result.stars, old_points=old_points, new_points=result.points,
                old_rules=old_rules, new_rules=rules.bands_id, requested_by=by, explanation=result.explanation))
        old_reasons = self.disqualified.get(year, [])
        if list(result.disqualified) != list(old_reasons):
            self._trigger(DisqualificationRevised(
                member_id=self.id, member_name=self.name, unit_id=self.unit_id, community_id=self.community_id,
                district_id=self.district_id, year=year, old_reasons=list(old_reasons),
                new_reasons=list(result.disqualified), requested_by=by))
        why_not = title_refusal(result.grade, result.disqualified, year in self.vetoes, rules)
        if why_not:
            for title_year, title in sorted(self.titles):
                if title_year == year:
                    self._trigger(TitleWithdrawn(
                        member_id=self.id, member_name=self.name, unit_id=self.unit_id,
                        community_id=self.community_id, district_id=self.district_id, year=year, title=title,
                        reason=why_not))
        return revised

    def standing(self, year: int, rules: Rules) -> dict:
        """The year's decision as it stands: what `free_title_places` reads of the member."""
        grade, _, points, _ = self.current_grade(year)
        return {"member_id": self.id, "name": self.name, "community_id": self.community_id, "grade": grade,
                "points": points, "disqualified": list(self.disqualified.get(year, [])),
                "eligible": not title_refusal(grade, self.disqualified.get(year, []), year in self.vetoes, rules),
                "titles": sorted(t for y, t in self.titles if y == year)}

    def remind_missing(self, period: str, occasion: str) -> PartyInputReminded | None:
        """Remind the parties that owe this member's inputs for `period` of the missing ones
        (once per period closing; as often as requested)."""
        if occasion != "requested" and (period, occasion) in self.reminded:
            return None
        missing = [(period, party) for party in PARTIES if (period, party) not in self.parties]
        notice = reminder(self.id, self.name, self.unit_id, self.community_id, self.district_id, missing, occasion)
        if notice is not None:
            self._trigger(notice)
        return notice

    def award_title(self, year: int, title: str, rank: int, reason: str = "年度评选") -> bool:
        if year not in self.grades:
            raise DomainError("年度评定完成后才能评选")
        if (year, title) in self.titles:
            return False
        if self.disqualified.get(year) or year in self.vetoes:
            raise DomainError("该党员已被取消当年评先评优资格")
        self._trigger(TitleAwarded(member_id=self.id, member_name=self.name, unit_id=self.unit_id,
                                   community_id=self.community_id, district_id=self.district_id, year=year,
                                   title=title, rank=rank, reason=reason))
        return True


@lru_cache(maxsize=16)
def _party_keys(year: int) -> tuple:
    """(party, ((period, "period|party") of each half year)) for every party."""
    return tuple((party, tuple((p, f"{p}|{party}") for p in periods_of_year(year))) for party in PARTIES)


POINTS_TYPES = frozenset({"PointsAwarded", "PointsDeducted", "PointsRecorded"})
MEMBER_EVENT_TYPES = frozenset({"FactRecorded", *POINTS_TYPES, *(c.event_type for c in PARTY_EVENTS.values()),
                                "GradeAssigned", "MemberVetoed", "MemberDisqualified", "TitleAwarded",
                                "PartyInputReminded", "GradeRevised", "TitleWithdrawn", "DisqualificationRevised"})


class GradingInputs:
    """A member's record folded down to what grading reads, from the event data of its stream
    (the grading read model keeps one per member, so a year close reads a row per member
    instead of replaying every stream). `version` is the number of the stream's events folded
    in: a grade decided on it is appended only if the stream is still at that version.

    The fold mirrors `MemberRecord.apply` for the fields grading reads (the place as the record
    keeps it, the year's points, the latest input of each party and half year, vetoes, grades,
    disqualifications) and `MemberRecord.year_inputs` for the facts it counts. A fact is counted
    once: a stream holds one FactRecorded per source event (`record_fact` refuses a second).
    """

    def __init__(self, member_id: str):
        self.member_id = member_id
        self.version = 0
        self.name = self.unit_id = self.community_id = self.district_id = ""
        self.points: dict[int, int] = {}                  # year -> ledger total
        self.parties: dict[str, float] = {}               # "period|party" -> latest score
        self.vetoes: dict[int, str] = {}                  # year -> statement
        self.grades: dict[int, list] = {}                 # year -> [grade, stars, points, score]
        self.disqualified: dict[int, list] = {}           # year -> reasons
        self.services: dict[int, int] = {}                # year of the fact's period -> verified services
        self.activities: dict[int, int] = {}              # year of the fact's period -> attended activities
        self.checked_in_from: int | None = None           # the earliest year of a check-in
        self.excused_from: int | None = None              # the earliest year of an accepted overdue reason
        self.refused_reason: str | None = None            # the last refused overdue reason
        self.obligations: dict[str, dict] = {}            # registration obligations (fold_obligation)

    def apply(self, event_type: str, d: dict, version: int) -> None:
        """Fold one event of the member's stream (its data), the stream's `version`-th."""
        self.version = version
        if event_type == "FactRecorded":
            self.name = d["member_name"] or self.name
            self.unit_id = d["unit_id"] or self.unit_id
            kind = d["kind"]
            if kind in ("checked_in", "moved") or (kind == "enrolled" and not self.community_id):
                self.community_id, self.district_id = d["community_id"], d["district_id"]
            elif not self.district_id:
                self.district_id = d["district_id"]
            if kind == "checked_in":
                year = int(d["occurred_on"][:4])
                self.checked_in_from = year if self.checked_in_from is None else min(self.checked_in_from, year)
            elif kind == "overdue_reason":
                if d.get("accepted", False):
                    year = int(d["occurred_on"][:4])
                    self.excused_from = year if self.excused_from is None else min(self.excused_from, year)
                else:
                    self.refused_reason = d.get("reason", "")
            fold_obligation(self.obligations, kind, d)
            counted = minimum_count(kind, d["source_event_type"])
            if counted == yearly_minimum.SERVICES:
                year = int(d["period"][:4])
                self.services[year] = self.services.get(year, 0) + 1
            elif counted == yearly_minimum.ACTIVITIES:
                year = int(d["period"][:4])
                self.activities[year] = self.activities.get(year, 0) + 1
        elif event_type in POINTS_TYPES:
            year = int(d["period"][:4])
            self.points[year] = self.points.get(year, 0) + d["points"]
        elif event_type in PARTY_TYPES:
            self.parties[f"{d['period']}|{d['party']}"] = d["score"]
        elif event_type == "GradeAssigned":
            self.grades[d["year"]] = [d["grade"], d["stars"], d["points"], d["score"]]
        elif event_type == "GradeRevised":
            self.grades[d["year"]] = [d["new_grade"], d["new_stars"], d["new_points"], float(d["new_points"])]
        elif event_type == "MemberVetoed":
            self.vetoes[d["year"]] = d["statement"]
        elif event_type == "MemberDisqualified":
            self.disqualified[d["year"]] = list(d["reasons"])
        elif event_type == "DisqualificationRevised":
            self.disqualified[d["year"]] = list(d["new_reasons"])

    def year_inputs(self, year: int) -> YearInputs:
        got = self.parties
        parties = {party: [(p, got[key]) for p, key in keys if key in got] for party, keys in _party_keys(year)}
        return YearInputs(year=year, points=self.points.get(year, 0), parties=parties, veto=self.vetoes.get(year),
                          registered=self.checked_in_from is not None and self.checked_in_from <= year,
                          excused=self.excused_from is not None and self.excused_from <= year,
                          refused_reason=self.refused_reason, services=self.services.get(year, 0),
                          activities=self.activities.get(year, 0),
                          missed_registrations=registration_year(self.obligations, year).missed)

    def assign_grade(self, year: int, rules: Rules) -> tuple[GradeResult, list[DomainEvent]]:
        """`MemberRecord.assign_grade` on the folded record: the result and the events to append
        (none when the year is already graded; its result then carries no explanation)."""
        if year in self.grades:
            grade, stars, points, score = self.grades[year]
            reasons = self.disqualified.get(year, [])
            return GradeResult(grade, stars, points, score, [], reasons, not reasons and year not in self.vetoes), []
        result = evaluate(self.year_inputs(year), rules)
        return result, grade_events(self.member_id, self.name, self.unit_id, self.community_id, self.district_id,
                                    year, result)

    # -- stored as one JSON document per member ----------------------------------------------
    _YEARLY = ("points", "vetoes", "grades", "disqualified", "services", "activities")

    def to_state(self) -> dict:
        state = {k: getattr(self, k) for k in ("name", "unit_id", "community_id", "district_id", "parties",
                                                 "checked_in_from", "excused_from", "refused_reason", "obligations")}
        for k in self._YEARLY:
            state[k] = {str(y): v for y, v in getattr(self, k).items()}
        return state

    @classmethod
    def from_state(cls, member_id: str, version: int, state: dict) -> "GradingInputs":
        inputs = cls(member_id)
        inputs.version = version
        for k, v in state.items():
            setattr(inputs, k, {int(y): x for y, x in v.items()} if k in cls._YEARLY else v)
        return inputs


class DistrictCalendar(Aggregate):
    """A district's evaluation periods: which half years are closed (frozen)."""

    stream_prefix = "evaluation-district"

    def __init__(self, district_id: str):
        super().__init__(district_id)
        self.closed: set[str] = set()

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, PeriodClosed):
            self.closed.add(event.period)

    def close(self, period: str, by: str) -> bool:
        """Close `period` (and any earlier open period of the same year); False if already closed."""
        if period in self.closed:
            return False
        if period.endswith("H2") and f"{period[:4]}H1" not in self.closed:
            self._trigger(PeriodClosed(district_id=self.id, period=f"{period[:4]}H1", closed_by=by))
        self._trigger(PeriodClosed(district_id=self.id, period=period, closed_by=by))
        return True


class UnitBoard(Aggregate):
    """A unit's double-evaluation publications (双评)."""

    stream_prefix = "evaluation-unit"

    def __init__(self, unit_id: str):
        super().__init__(unit_id)
        self.published: dict[int, int] = {}

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, DoubleEvaluationPublished):
            self.published[event.year] = event.members

    def publish(self, year: int, members: int) -> None:
        if members == 0:
            raise DomainError("该单位本年度没有可评议的党员")
        self._trigger(DoubleEvaluationPublished(unit_id=self.id, year=year, members=members))
