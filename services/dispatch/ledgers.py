"""The community's ledgers and a member's yearly feedback (pure domain: no nameko, SQLAlchemy
or kombu).

- **Proposals** (建议) and **practical deeds** (实事): a member proposes, or reports a deed done
  for the community; the community adopts the proposal or verifies the deed (seed 004 "六个一":
  提出一条好的建议, 办好一件社区实事).
- **Team visits** (组团走访, seed 001 四模式 四: "每季度到责任区普遍开展一次组团走访,近距离了解掌握困难
  居民群众诉求"): each visit with who went and what residents asked — the 民情走访台账 — and a
  reminder, once, for a quarter in which a team did not visit.
- **The performance feedback card** (在职党员社区表现反馈卡, seed 002 附件5 and 管理办法 二: "社区党组织
  负责在《在职党员社区表现反馈卡》上据实查验记载在职党员参加社区活动情况,报所在单位党组织备案"): filled
  once a year per member from the verified records, and filed with the member's unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import singledispatchmethod

from services.dispatch.six_ones import CARD_ACTIVITY_MODES, CARD_ACTIVITY_TYPES, CARD_OVERALL, quarter_of
from shared.domain import Aggregate, DomainError, DomainEvent, NotFound

TEXT_MAX = 1000
REQUESTS_MAX = 50


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# -- events -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProposalSubmitted(DomainEvent):
    proposal_id: str
    community_id: str
    member_id: str
    member_name: str
    title: str
    content: str
    submitted_at: str


@dataclass(frozen=True)
class ProposalAdopted(DomainEvent):
    proposal_id: str
    community_id: str
    member_id: str
    adopted_by: str
    adopted_at: str
    note: str


@dataclass(frozen=True)
class PracticalDeedReported(DomainEvent):
    deed_id: str
    community_id: str
    member_id: str
    member_name: str
    title: str
    content: str
    reported_at: str


@dataclass(frozen=True)
class PracticalDeedVerified(DomainEvent):
    deed_id: str
    community_id: str
    member_id: str
    verified_by: str
    verified_at: str


@dataclass(frozen=True)
class TeamVisitRecorded(DomainEvent):
    """组团走访: who went, where, how many households, and what residents asked (民情)."""

    team_id: str
    community_id: str
    visit_id: str
    visited_on: str
    area: str
    member_ids: list
    households: int
    requests: list
    recorded_by: str


@dataclass(frozen=True)
class TeamVisitMissed(DomainEvent):
    """A quarter ended without the team's visit: the community is reminded (once)."""

    team_id: str
    community_id: str
    team_name: str
    year: int
    quarter: int


@dataclass(frozen=True)
class PerformanceFeedbackCardIssued(DomainEvent):
    """在职党员社区表现反馈卡: the community's ticks and judgement for a member's year, filed with
    the member's unit."""

    card_id: str
    member_id: str
    member_name: str
    unit_id: str
    unit_name: str
    community_id: str
    year: int
    activity_types: list
    activity_modes: list
    services: int
    service_hours: float
    activities: int
    meets_minimum: bool
    overall: str
    opinion: str
    records: list
    issued_by: str
    issued_at: str


EVENTS = (ProposalSubmitted, ProposalAdopted, PracticalDeedReported, PracticalDeedVerified, TeamVisitRecorded,
          TeamVisitMissed, PerformanceFeedbackCardIssued)


# -- refusals ------------------------------------------------------------------------------
class InvalidEntry(DomainError):
    code = "invalid_entry"


class AlreadyRecorded(DomainError):
    code = "already_recorded"


class UnknownEntry(NotFound):
    code = "unknown_entry"


def _text(value: str, what: str, limit: int = TEXT_MAX) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidEntry(f"{what}不能为空")
    if len(text) > limit:
        raise InvalidEntry(f"{what}不能超过 {limit} 字")
    return text


# -- proposals and practical deeds --------------------------------------------------------------
class Proposal(Aggregate):
    """建议: a member's proposal to the community; counts as 好的建议 once the community adopts it."""

    stream_prefix = "proposal"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.community_id = ""
        self.member_id = ""
        self.adopted = False

    def submit(self, *, community_id: str, member_id: str, member_name: str, title: str, content: str,
               now: datetime) -> None:
        if self.exists:
            raise AlreadyRecorded(f"建议 {self.id} 已提交")
        self._trigger(ProposalSubmitted(proposal_id=self.id, community_id=community_id, member_id=member_id,
                                        member_name=member_name, title=_text(title, "建议标题", 100),
                                        content=_text(content, "建议内容"), submitted_at=_iso(now)))

    def adopt(self, *, community_id: str, by: str, note: str, now: datetime) -> None:
        if not self.exists or self.community_id != community_id:
            raise UnknownEntry(f"本社区没有建议 {self.id}")
        if self.adopted:
            raise AlreadyRecorded("这条建议已被采纳")
        self._trigger(ProposalAdopted(proposal_id=self.id, community_id=self.community_id, member_id=self.member_id,
                                      adopted_by=by, adopted_at=_iso(now), note=(note or "").strip()))

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Proposal cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: ProposalSubmitted) -> None:
        self.community_id, self.member_id = e.community_id, e.member_id

    @apply.register
    def _(self, e: ProposalAdopted) -> None:
        self.adopted = True


class PracticalDeed(Aggregate):
    """实事: something a member did for the community; counts once the community verifies it."""

    stream_prefix = "deed"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.community_id = ""
        self.member_id = ""
        self.verified = False

    def report(self, *, community_id: str, member_id: str, member_name: str, title: str, content: str,
               now: datetime) -> None:
        if self.exists:
            raise AlreadyRecorded(f"实事 {self.id} 已登记")
        self._trigger(PracticalDeedReported(deed_id=self.id, community_id=community_id, member_id=member_id,
                                            member_name=member_name, title=_text(title, "实事名称", 100),
                                            content=_text(content, "实事内容"), reported_at=_iso(now)))

    def verify(self, *, community_id: str, by: str, now: datetime) -> None:
        if not self.exists or self.community_id != community_id:
            raise UnknownEntry(f"本社区没有实事 {self.id}")
        if self.verified:
            raise AlreadyRecorded("这件实事已查验")
        self._trigger(PracticalDeedVerified(deed_id=self.id, community_id=self.community_id, member_id=self.member_id,
                                            verified_by=by, verified_at=_iso(now)))

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"PracticalDeed cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: PracticalDeedReported) -> None:
        self.community_id, self.member_id = e.community_id, e.member_id

    @apply.register
    def _(self, e: PracticalDeedVerified) -> None:
        self.verified = True


# -- team visits --------------------------------------------------------------------------------
@dataclass
class Team:
    """What the directory knows of a service team (组团), as the visit log needs it."""

    team_id: str
    community_id: str
    name: str
    member_ids: list = field(default_factory=list)


class TeamVisitLog(Aggregate):
    """A team's visits to its area (组团走访), quarter by quarter, and the reminders sent."""

    stream_prefix = "team-visits"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.visit_ids: set[str] = set()
        self.quarters_visited: set[tuple[int, int]] = set()
        self.reminded: set[tuple[int, int]] = set()

    def record_visit(self, *, team: Team, visit_id: str, visited_on: date, today: date, area: str,
                     member_ids: list[str], households: int, requests: list[dict], by: str) -> None:
        """Seed 001: "每季度到责任区普遍开展一次组团走访,近距离了解掌握困难居民群众诉求"."""
        if visit_id in self.visit_ids:
            raise AlreadyRecorded(f"走访记录 {visit_id} 已登记")
        if visited_on > today:
            raise InvalidEntry("走访日期不能晚于今天")
        went = list(dict.fromkeys(member_ids))
        if not went:
            raise InvalidEntry("请登记参加走访的队员")
        strangers = [m for m in went if m not in team.member_ids]
        if strangers:
            raise InvalidEntry(f"参加走访的人员须是“{team.name}”的队员", member_ids=strangers)
        if households < 1:
            raise InvalidEntry("走访户数至少为 1")
        if len(requests) > REQUESTS_MAX:
            raise InvalidEntry(f"一次走访最多登记 {REQUESTS_MAX} 条群众诉求")
        asked = []
        for r in requests:
            asked.append({"resident": _text(r.get("resident", ""), "居民姓名", 50),
                          "address": (r.get("address") or "").strip()[:200],
                          "request": _text(r.get("request", ""), "群众诉求", 500)})
        self._trigger(TeamVisitRecorded(team_id=team.team_id, community_id=team.community_id, visit_id=visit_id,
                                        visited_on=visited_on.isoformat(), area=_text(area, "走访区域", 200),
                                        member_ids=went, households=int(households), requests=asked, recorded_by=by))

    def remind_missed(self, *, team: Team, year: int, quarter: int, today: date) -> bool:
        """After a quarter without a visit, remind the community once. False if visited,
        reminded already, or the quarter is not over."""
        if not 1 <= quarter <= 4:
            raise InvalidEntry("季度应为 1-4")
        over = (today.year, quarter_of(today)) > (year, quarter)
        if not over or (year, quarter) in self.quarters_visited or (year, quarter) in self.reminded:
            return False
        self._trigger(TeamVisitMissed(team_id=team.team_id, community_id=team.community_id, team_name=team.name,
                                      year=year, quarter=quarter))
        return True

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"TeamVisitLog cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: TeamVisitRecorded) -> None:
        self.visit_ids.add(e.visit_id)
        day = date.fromisoformat(e.visited_on)
        self.quarters_visited.add((day.year, quarter_of(day)))

    @apply.register
    def _(self, e: TeamVisitMissed) -> None:
        self.reminded.add((e.year, e.quarter))


# -- the performance feedback card -----------------------------------------------------------
class PerformanceFeedbackCard(Aggregate):
    """在职党员社区表现反馈卡 of one member and one year (id "<member>:<year>"): issued once."""

    stream_prefix = "feedback-card"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)

    def issue(self, *, member: dict, community_id: str, year: int, activity_types: list[str],
              activity_modes: list[str], services: int, service_hours: float, activities: int,
              meets_minimum: bool, overall: str, opinion: str, records: list[dict], by: str, now: datetime) -> None:
        """The community fills the card from the member's verified records and activities of the
        year (据实查验记载) and files it with the unit (报所在单位党组织备案): once a year."""
        if self.exists:
            raise AlreadyRecorded(f"{member['name']} 同志 {year} 年的表现反馈卡已填写并报送单位")
        if not member.get("registered") or member.get("community_id") != community_id:
            raise InvalidEntry(f"{member['name']} 同志未在本社区报到，不能由本社区填写表现反馈卡")
        if overall not in CARD_OVERALL:
            raise InvalidEntry(f"综合表现应为：{'、'.join(CARD_OVERALL)}")
        if now.year < year:
            raise InvalidEntry(f"{year} 年尚未开始，不能填写该年度的表现反馈卡")
        unknown = [t for t in activity_types if t not in CARD_ACTIVITY_TYPES] + \
                  [m for m in activity_modes if m not in CARD_ACTIVITY_MODES]
        if unknown:
            raise InvalidEntry(f"反馈卡上没有这些选项：{'、'.join(unknown)}")
        self._trigger(PerformanceFeedbackCardIssued(card_id=self.id, member_id=member["member_id"],
                                                    member_name=member["name"], unit_id=member["unit_id"],
                                                    unit_name=member["unit_name"], community_id=community_id,
                                                    year=int(year), activity_types=list(activity_types),
                                                    activity_modes=list(activity_modes), services=int(services),
                                                    service_hours=round(float(service_hours), 1),
                                                    activities=int(activities), meets_minimum=bool(meets_minimum),
                                                    overall=overall, opinion=(opinion or "").strip()[:TEXT_MAX],
                                                    records=list(records), issued_by=by, issued_at=_iso(now)))

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"PerformanceFeedbackCard cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: PerformanceFeedbackCardIssued) -> None:
        pass
