"""Dispatch (三单制): residents order (点单), the community dispatches (下单), members accept (接单)
and serve; wishes (微心愿) and community activities.

Pure domain model. One `ServiceOrder` carries a demand through its whole life, so "exactly one
member wins an order" is the optimistic concurrency of one stream: of many simultaneous
acceptances one appends, the others are re-run on the new state and refused as already taken.
Times are ISO strings on events and timezone-aware datetimes in the methods; the caller passes
`now`, so every time rule runs on a controllable clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import singledispatchmethod

from shared.domain import Aggregate, DomainError, DomainEvent, NotFound


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- events -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemandRecorded(DomainEvent):
    demand_id: str
    community_id: str
    grid_id: str | None
    resident_id: str
    resident_name: str
    category: str
    description: str
    address: str
    window_start: str
    window_end: str
    urgency: str
    public: bool
    channel: str
    recorded_by: str
    possible_duplicate_of: list = field(default_factory=list)


@dataclass(frozen=True)
class DemandsMerged(DomainEvent):
    demand_id: str
    merged_into: str
    merged_by: str


@dataclass(frozen=True)
class OrderDispatched(DomainEvent):
    demand_id: str
    community_id: str
    assignee: dict
    accept_by: str
    due_at: str
    remaining_candidates: list
    reasons: list
    dispatched_by: str
    round: int


@dataclass(frozen=True)
class OrderPublished(DomainEvent):
    demand_id: str
    community_id: str
    accept_by: str
    due_at: str


@dataclass(frozen=True)
class OrderAccepted(DomainEvent):
    demand_id: str
    community_id: str
    assignee: dict
    accepted_at: str
    resident_id: str


@dataclass(frozen=True)
class OrderDeclined(DomainEvent):
    demand_id: str
    assignee: dict
    reason: str


@dataclass(frozen=True)
class OrderAcceptanceTimedOut(DomainEvent):
    demand_id: str
    assignee: dict
    accept_by: str


@dataclass(frozen=True)
class OrderEscalated(DomainEvent):
    demand_id: str
    community_id: str
    reason: str


@dataclass(frozen=True)
class OrderOverdue(DomainEvent):
    demand_id: str
    assignee: dict
    due_at: str


@dataclass(frozen=True)
class ServiceCompleted(DomainEvent):
    demand_id: str
    community_id: str
    assignee: dict
    member_ids: list
    hours: float
    participants: int
    content: str
    photo_links: list
    completed_at: str
    category: str


@dataclass(frozen=True)
class ServiceVerified(DomainEvent):
    demand_id: str
    community_id: str
    member_ids: list
    hours: float
    verified_by: str
    verified_at: str


@dataclass(frozen=True)
class ServiceRejected(DomainEvent):
    demand_id: str
    community_id: str
    member_ids: list
    reason: str
    rejected_by: str


@dataclass(frozen=True)
class ServiceRated(DomainEvent):
    demand_id: str
    member_ids: list
    resident_id: str
    rating: int
    comment: str


@dataclass(frozen=True)
class OrderCancelled(DomainEvent):
    demand_id: str
    cancelled_by: str
    reason: str


@dataclass(frozen=True)
class OrderReopened(DomainEvent):
    demand_id: str
    reopened_by: str
    reason: str


@dataclass(frozen=True)
class WishPosted(DomainEvent):
    wish_id: str
    community_id: str
    resident_id: str
    resident_name: str
    group: str
    content: str


@dataclass(frozen=True)
class WishClaimed(DomainEvent):
    wish_id: str
    claimant_kind: str
    claimant_id: str
    claimant_name: str
    member_ids: list


@dataclass(frozen=True)
class WishFulfilled(DomainEvent):
    wish_id: str
    member_ids: list
    record: str
    fulfilled_at: str


@dataclass(frozen=True)
class ActivityScheduled(DomainEvent):
    activity_id: str
    community_id: str
    title: str
    kind: str
    starts_at: str
    capacity: int


@dataclass(frozen=True)
class ActivitySignedUp(DomainEvent):
    activity_id: str
    member_id: str


@dataclass(frozen=True)
class AttendanceRecorded(DomainEvent):
    activity_id: str
    community_id: str
    attended: list
    absent: list
    starts_at: str


EVENTS = (DemandRecorded, DemandsMerged, OrderDispatched, OrderPublished, OrderAccepted, OrderDeclined,
          OrderAcceptanceTimedOut, OrderEscalated, OrderOverdue, ServiceCompleted, ServiceVerified, ServiceRejected,
          ServiceRated, OrderCancelled, OrderReopened, WishPosted, WishClaimed, WishFulfilled, ActivityScheduled,
          ActivitySignedUp, AttendanceRecorded)


# -- refusals ------------------------------------------------------------------------------
class UnknownOrder(NotFound):
    code = "unknown_order"


class AlreadyTaken(DomainError):
    code = "already_taken"


class NotYourOrder(DomainError):
    code = "not_your_order"


class WrongState(DomainError):
    code = "wrong_state"


class TooLate(DomainError):
    code = "too_late"


class InvalidRecord(DomainError):
    code = "invalid_record"


#: A service window lies within the years the programme can mean (shared.contracts.YEAR): a
#: window in year 9999 or 1900 was accepted and then broke every list that adds to or sorts by it.
WINDOW_YEARS = (2000, 2100)


def window_in_programme_years(start: datetime, end: datetime) -> bool:
    return WINDOW_YEARS[0] <= start.year and end.year <= WINDOW_YEARS[1]


class AlreadyExists(DomainError):
    code = "already_exists"


class UnknownWish(NotFound):
    code = "unknown_wish"


class UnknownActivity(NotFound):
    code = "unknown_activity"


class ActivityFull(DomainError):
    code = "activity_full"


class UnknownMember(NotFound):
    code = "unknown_member"


class UnknownTeam(NotFound):
    code = "unknown_team"


class NotRegisteredHere(DomainError):
    code = "not_registered_here"


class NotInTeam(DomainError):
    code = "not_in_team"


class NotTheClaimant(DomainError):
    code = "not_the_claimant"


# -- who may act: members and teams as dispatch's directory knows them ----------------------
@dataclass(frozen=True)
class Member:
    """A member as dispatch's directory knows them (from registration's events)."""

    member_id: str
    name: str
    community_id: str | None
    registered: bool
    unit_id: str = ""
    unit_name: str = ""

    @classmethod
    def from_row(cls, row: dict | None) -> "Member | None":
        if row is None:
            return None
        return cls(member_id=row["member_id"], name=row["name"], community_id=row.get("community_id"),
                   registered=bool(row.get("registered")), unit_id=row.get("unit_id") or "",
                   unit_name=row.get("unit_name") or "")


@dataclass(frozen=True)
class ServiceTeam:
    """A service team (组团) as dispatch's directory knows it."""

    team_id: str
    community_id: str
    name: str
    member_ids: tuple = ()

    @classmethod
    def from_row(cls, row: dict | None) -> "ServiceTeam | None":
        if row is None:
            return None
        return cls(team_id=row["team_id"], community_id=row["community_id"], name=row["name"],
                   member_ids=tuple(row.get("member_ids") or ()))


@dataclass(frozen=True)
class Acting:
    """Who presses the button: a member (`member` is the directory's entry for `member_id`, None
    if it has none), for themselves or, with `team_id`, for a team they belong to."""

    member_id: str
    member: Member | None
    team_id: str | None = None
    team: ServiceTeam | None = None


def registered_here(member: Member | None, community_id: str, member_id: str = "") -> Member:
    """Seed 000: "在职党员到居住地社区报到" — a member serves, is dispatched, credited and claims in the
    community where they registered (报到), and only there."""
    if member is None:
        raise UnknownMember(f"党员 {member_id} 不存在", member_id=member_id)
    if not member.registered or member.community_id != community_id:
        raise NotRegisteredHere(f"{member.name} 未在该社区报到，不能在该社区办理",
                                member_id=member.member_id)
    return member


def team_here(team: ServiceTeam | None, community_id: str, team_id: str = "") -> ServiceTeam:
    """A service team (组团) acts in its own community only."""
    if team is None:
        raise UnknownTeam(f"服务队 {team_id} 不存在", team_id=team_id)
    if team.community_id != community_id:
        raise NotRegisteredHere(f"服务队“{team.name}”不属于该社区", team_id=team.team_id)
    return team


def candidate_here(community_id: str, *, kind: str, id: str, member: Member | None = None,
                   team: ServiceTeam | None = None) -> "Candidate":
    """Whom staff may dispatch to (下单): a member registered in the order's community, or a team
    of that community."""
    if kind == "team":
        found = team_here(team, community_id, id)
        return Candidate("team", found.team_id, found.name)
    found = registered_here(member, community_id, id)
    return Candidate("member", found.member_id, found.name)


def acting_party(community_id: str, acting: Acting) -> "Candidate":
    """The party a member acts as: themselves, registered in the community, or a team of the
    community that they belong to (a team acts only through one of its members)."""
    if acting.team_id is not None and not acting.member_id:
        raise NotInTeam("服务队须由其队员本人办理")
    member = registered_here(acting.member, community_id, acting.member_id)
    if acting.team_id is None:
        return Candidate("member", member.member_id, member.name)
    team = team_here(acting.team, community_id, acting.team_id)
    if member.member_id not in team.member_ids:
        raise NotInTeam(f"您不是“{team.name}”的队员，不能以服务队名义办理", team_id=team.team_id)
    return Candidate("team", team.team_id, team.name)


STATE_NAMES = {"recorded": "待派单", "dispatched": "已派单待接单", "published": "已发布待认领", "accepted": "已接单",
               "completed": "已完成待查验", "verified": "已查验", "escalated": "无人接单，待社区处理",
               "cancelled": "已取消", "merged": "已合并"}


@dataclass(frozen=True)
class Candidate:
    kind: str
    id: str
    name: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "name": self.name}


def _same(a: dict | None, b: dict) -> bool:
    return a is not None and a["kind"] == b["kind"] and a["id"] == b["id"]


# -- the order -----------------------------------------------------------------------------
class ServiceOrder(Aggregate):
    """A resident's demand and the order it becomes (点单 → 下单 → 接单 → 服务纪实)."""

    stream_prefix = "order"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.state = ""
        self.community_id = ""
        self.resident_id = ""
        self.category = ""
        self.assignee: dict | None = None
        self.remaining: list[dict] = []
        self.round = 0
        self.accept_by: datetime | None = None
        self.due_at: datetime | None = None
        self.overdue = False
        self.member_ids: list[str] = []
        self.hours = 0.0
        self.rated = False
        self.declined: list[dict] = []

    def require_exists(self) -> "ServiceOrder":
        if not self.exists:
            raise UnknownOrder(f"订单 {self.id} 不存在", demand_id=self.id)
        return self

    def _require(self, *states: str, doing: str) -> None:
        self.require_exists()
        if self.state not in states:
            raise WrongState(f"订单当前状态为“{STATE_NAMES.get(self.state, self.state)}”，不能{doing}",
                             state=self.state)

    # 点单 ------------------------------------------------------------------------------------
    def record(self, *, community_id, grid_id, resident_id, resident_name, category, description, address,
               window_start: datetime, window_end: datetime, urgency, public, channel, recorded_by,
               possible_duplicates=()) -> None:
        if self.exists:
            raise AlreadyExists(f"需求 {self.id} 已登记")
        if window_end <= window_start:
            raise InvalidRecord("服务时段的结束时间应晚于开始时间")
        if not window_in_programme_years(window_start, window_end):
            raise InvalidRecord(f"服务时段应在 {WINDOW_YEARS[0]}—{WINDOW_YEARS[1]} 年之间")
        if not description.strip():
            raise InvalidRecord("需求描述不能为空")
        self._trigger(DemandRecorded(demand_id=self.id, community_id=community_id, grid_id=grid_id,
                                     resident_id=resident_id, resident_name=resident_name, category=category,
                                     description=description.strip(), address=address, window_start=iso(window_start),
                                     window_end=iso(window_end), urgency=urgency, public=bool(public),
                                     channel=channel, recorded_by=recorded_by,
                                     possible_duplicate_of=list(possible_duplicates)))

    def merge_into(self, other: "ServiceOrder", *, by: str) -> None:
        self._require("recorded", "escalated", doing="合并")
        other._require("recorded", "dispatched", "published", "accepted", "escalated", doing="作为合并目标")
        if other.id == self.id or other.community_id != self.community_id:
            raise InvalidRecord("只能合并到同一社区的另一条需求")
        self._trigger(DemandsMerged(demand_id=self.id, merged_into=other.id, merged_by=by))

    # 下单 ------------------------------------------------------------------------------------
    def dispatch(self, *, candidates: list[tuple], now: datetime, accept_within: timedelta, due_within: timedelta,
                 by: str, reasons=()) -> dict:
        """Assign to the first candidate; the rest wait their turn if it is declined or times out.
        Each candidate is `(kind, id, entry)`: "member" or "team", its id, and the directory's
        `Member` or `ServiceTeam` (None if it has none); each must be of the order's community
        (`candidate_here`)."""
        self._require("recorded", "escalated", doing="派单")
        if not candidates:
            raise InvalidRecord("派单需要至少一名党员或一个服务队")
        queue = [candidate_here(self.community_id, kind=kind, id=id_,
                                team=entry if kind == "team" else None, member=entry if kind != "team" else None)
                 for kind, id_, entry in candidates]
        first, *rest = [c.as_dict() for c in queue]
        self._trigger(OrderDispatched(demand_id=self.id, community_id=self.community_id, assignee=first,
                                      accept_by=iso(now + accept_within), due_at=iso(now + due_within),
                                      remaining_candidates=rest, reasons=list(reasons), dispatched_by=by,
                                      round=self.round + 1))
        return first

    def publish(self, *, now: datetime, accept_within: timedelta, due_within: timedelta) -> None:
        """To the community's menu: any registered member of the community may claim it."""
        self._require("recorded", "escalated", doing="发布")
        self._trigger(OrderPublished(demand_id=self.id, community_id=self.community_id,
                                     accept_by=iso(now + accept_within), due_at=iso(now + due_within)))

    # 接单 ------------------------------------------------------------------------------------
    def accept(self, *, acting: Acting, now: datetime) -> None:
        """接单 by the member acting (for themselves or their team: `acting_party`)."""
        self.require_exists()
        who = acting_party(self.community_id, acting).as_dict()
        if self.state in ("accepted", "completed", "verified"):
            raise AlreadyTaken(f"该订单已由{self.assignee['name']}接单", taken_by=self.assignee["name"])
        self._require("dispatched", "published", doing="接单")
        if self.state == "dispatched" and not _same(self.assignee, who):
            raise NotYourOrder("该订单已派给其他党员，您不能接单")
        if any(_same(d, who) for d in self.declined):
            raise NotYourOrder("您已谢绝该订单")
        if now > self.accept_by:
            raise TooLate("接单时限已过，订单正在重新派发")
        self._trigger(OrderAccepted(demand_id=self.id, community_id=self.community_id, assignee=who,
                                    accepted_at=iso(now), resident_id=self.resident_id))

    def decline(self, *, acting: Acting, reason: str, now: datetime, accept_within: timedelta,
                by: str = "system") -> dict | None:
        """谢绝: the next candidate gets the order, or staff get it back. Returns the next assignee."""
        self._require("dispatched", doing="谢绝")
        if not _same(self.assignee, acting_party(self.community_id, acting).as_dict()):
            raise NotYourOrder("该订单不是派给您的")
        if not reason.strip():
            raise InvalidRecord("请说明谢绝的原因")
        self._trigger(OrderDeclined(demand_id=self.id, assignee=self.assignee, reason=reason.strip()))
        return self._next(now, accept_within, by)

    def time_out(self, *, now: datetime, accept_within: timedelta, by: str = "system") -> bool:
        """Not accepted in time: the next candidate, or escalation. False if not due yet."""
        if self.state not in ("dispatched", "published") or now <= self.accept_by:
            return False
        if self.state == "published":
            self._trigger(OrderEscalated(demand_id=self.id, community_id=self.community_id, reason="发布后无人在时限内认领"))
            return True
        self._trigger(OrderAcceptanceTimedOut(demand_id=self.id, assignee=self.assignee,
                                              accept_by=iso(self.accept_by)))
        self._next(now, accept_within, by)
        return True

    def _next(self, now: datetime, accept_within: timedelta, by: str) -> dict | None:
        if not self.remaining:
            self._trigger(OrderEscalated(demand_id=self.id, community_id=self.community_id,
                                         reason="候选人均未接单，请社区工作人员处理"))
            return None
        first, *rest = self.remaining
        due_in = self.due_at - self.accept_by if self.due_at and self.accept_by else accept_within
        self._trigger(OrderDispatched(demand_id=self.id, community_id=self.community_id, assignee=first,
                                      accept_by=iso(now + accept_within), due_at=iso(now + accept_within + due_in),
                                      remaining_candidates=rest, reasons=[], dispatched_by=by, round=self.round + 1))
        return first

    def mark_overdue(self, *, now: datetime) -> bool:
        if self.state != "accepted" or self.overdue or now <= self.due_at:
            return False
        self._trigger(OrderOverdue(demand_id=self.id, assignee=self.assignee, due_at=iso(self.due_at)))
        return True

    # 服务纪实 --------------------------------------------------------------------------------
    def complete(self, *, acting: Acting, crew: dict, hours: float, participants: int, content: str,
                 photo_links=(), now: datetime, team_crew: dict | None = None) -> None:
        """服务纪实 by the member who accepted (or a member of the team that did). `crew` maps each
        member id the record names to the directory's entry (None if it has none); `team_crew`
        the same for the team's members, credited when a team's record names nobody."""
        self._require("accepted", doing="登记服务纪实")
        if not _same(self.assignee, acting_party(self.community_id, acting).as_dict()):
            raise NotYourOrder("只有接单的党员或服务队才能登记服务纪实")
        member_ids = self.credited(acting, crew, team_crew or {})
        if hours <= 0 or hours > 24:
            raise InvalidRecord("服务时长应在 0 到 24 小时之间")
        if participants < 1 or not member_ids:
            raise InvalidRecord("至少一名党员参与服务")
        if not content.strip():
            raise InvalidRecord("请填写服务内容")
        self._trigger(ServiceCompleted(demand_id=self.id, community_id=self.community_id, assignee=self.assignee,
                                       member_ids=list(member_ids), hours=float(hours),
                                       participants=int(participants), content=content.strip(),
                                       photo_links=list(photo_links), completed_at=iso(now), category=self.category))

    def credited(self, acting: Acting, crew: dict, team_crew: dict) -> list[str]:
        """Who a service record credits (one service, its hours, points each): the acting member
        and the members named, each registered in the order's community and, for a team's order,
        a member of the team; a team's record naming nobody credits the team's members registered
        here. Seed 002: "社区党组织负责……据实查验记载在职党员参加社区活动情况" — a record credits only
        those who could have served."""
        named = [registered_here(member, self.community_id, member_id) for member_id, member in crew.items()]
        if acting.team_id is not None:
            team = acting.team
            strangers = [m.member_id for m in named if m.member_id not in team.member_ids]
            if strangers:
                raise NotInTeam(f"服务纪实只能记载“{team.name}”的队员", member_ids=strangers)
            if not named:
                here = [m for m, found in team_crew.items() if m in team.member_ids and found is not None
                        and found.registered and found.community_id == self.community_id]
                return list(dict.fromkeys([acting.member_id, *here]))
        return list(dict.fromkeys([acting.member_id, *(m.member_id for m in named)]))

    def verify(self, *, by: str, now: datetime) -> None:
        """据实查验: the community confirms the record."""
        self._require("completed", doing="查验")
        self._trigger(ServiceVerified(demand_id=self.id, community_id=self.community_id, member_ids=self.member_ids,
                                      hours=self.hours, verified_by=by, verified_at=iso(now)))

    def reject(self, *, by: str, reason: str) -> None:
        """The record goes back to the member to be corrected."""
        self._require("completed", doing="退回")
        if not reason.strip():
            raise InvalidRecord("请说明退回的原因")
        self._trigger(ServiceRejected(demand_id=self.id, community_id=self.community_id, member_ids=self.member_ids,
                                      reason=reason.strip(), rejected_by=by))

    def rate(self, *, resident_id: str, rating: int, comment: str = "") -> None:
        """The resident rates once the community has verified the record (据实查验): a record
        still open to being sent back is not yet the service the resident is asked about."""
        if self.state == "completed":
            raise WrongState("服务纪实尚待社区查验，查验后即可评价", state=self.state)
        self._require("verified", doing="评价")
        if resident_id != self.resident_id:
            raise NotYourOrder("只有提出需求的居民才能评价这次服务")
        if self.rated:
            raise AlreadyExists("这次服务已评价过")
        if not 1 <= int(rating) <= 5:
            raise InvalidRecord("评分应为 1-5 分")
        self._trigger(ServiceRated(demand_id=self.id, member_ids=self.member_ids, resident_id=resident_id,
                                   rating=int(rating), comment=comment.strip()))

    # cancel and reopen ------------------------------------------------------------------------
    def cancel(self, *, by: str, reason: str) -> None:
        self._require("recorded", "dispatched", "published", "accepted", "escalated", doing="取消")
        if not reason.strip():
            raise InvalidRecord("请说明取消的原因")
        self._trigger(OrderCancelled(demand_id=self.id, cancelled_by=by, reason=reason.strip()))

    def reopen(self, *, by: str, reason: str) -> None:
        self._require("cancelled", "escalated", doing="重新打开")
        self._trigger(OrderReopened(demand_id=self.id, reopened_by=by, reason=reason.strip() or "重新处理"))

    # state ------------------------------------------------------------------------------------
    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"ServiceOrder cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: DemandRecorded) -> None:
        self.state, self.community_id, self.resident_id, self.category = ("recorded", e.community_id,
                                                                           e.resident_id, e.category)

    @apply.register
    def _(self, e: DemandsMerged) -> None:
        self.state = "merged"

    @apply.register
    def _(self, e: OrderDispatched) -> None:
        self.state, self.assignee, self.remaining, self.round = "dispatched", e.assignee, e.remaining_candidates, e.round
        self.accept_by, self.due_at = parse(e.accept_by), parse(e.due_at)

    @apply.register
    def _(self, e: OrderPublished) -> None:
        self.state, self.assignee, self.remaining = "published", None, []
        self.accept_by, self.due_at = parse(e.accept_by), parse(e.due_at)

    @apply.register
    def _(self, e: OrderAccepted) -> None:
        self.state, self.assignee = "accepted", e.assignee

    @apply.register
    def _(self, e: OrderDeclined) -> None:
        self.declined.append(e.assignee)

    @apply.register
    def _(self, e: OrderAcceptanceTimedOut) -> None:
        self.declined.append(e.assignee)

    @apply.register
    def _(self, e: OrderEscalated) -> None:
        self.state, self.assignee, self.remaining = "escalated", None, []

    @apply.register
    def _(self, e: OrderOverdue) -> None:
        self.overdue = True

    @apply.register
    def _(self, e: ServiceCompleted) -> None:
        self.state, self.member_ids, self.hours = "completed", e.member_ids, e.hours

    @apply.register
    def _(self, e: ServiceVerified) -> None:
        self.state = "verified"

    @apply.register
    def _(self, e: ServiceRejected) -> None:
        self.state = "accepted"

    @apply.register
    def _(self, e: ServiceRated) -> None:
        self.rated = True

    @apply.register
    def _(self, e: OrderCancelled) -> None:
        self.state = "cancelled"

    @apply.register
    def _(self, e: OrderReopened) -> None:
        self.state, self.assignee, self.remaining, self.declined, self.overdue = "recorded", None, [], [], False


# -- wishes ---------------------------------------------------------------------------------
class Wish(Aggregate):
    """微心愿: a vulnerable resident's small wish on the wish wall (圆梦行动)."""

    stream_prefix = "wish"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.state = ""
        self.community_id = ""
        self.member_ids: list[str] = []
        self.claimant = ""
        self.claimant_kind = ""
        self.claimant_id = ""

    def post(self, *, community_id, resident_id, resident_name, group, content) -> None:
        if self.exists:
            raise AlreadyExists(f"心愿 {self.id} 已发布")
        if not content.strip():
            raise InvalidRecord("心愿内容不能为空")
        self._trigger(WishPosted(wish_id=self.id, community_id=community_id, resident_id=resident_id,
                                 resident_name=resident_name, group=group, content=content.strip()))

    def claim(self, *, claimant_kind: str, claimant_id: str, members: dict) -> None:
        """By a member (`members` is that member), or collectively by a unit with some of its
        members (集体认领). `members` maps each member id to the directory's entry (None if it has
        none); each must be registered in the wish's community (`registered_here`), and for a
        unit, be on that unit."""
        if not self.exists:
            raise UnknownWish(f"心愿 {self.id} 不存在")
        if self.state != "posted":
            raise AlreadyTaken(f"这个心愿已由{self.claimant}认领")
        if not members:
            raise InvalidRecord("认领心愿至少要有一名党员")
        found = [registered_here(member, self.community_id, member_id) for member_id, member in members.items()]
        if claimant_kind == "member":
            if [m.member_id for m in found] != [claimant_id]:
                raise NotTheClaimant("党员只能以本人名义认领心愿")
            name = found[0].name
        else:
            strangers = [m.member_id for m in found if m.unit_id != claimant_id]
            if strangers:
                raise NotRegisteredHere("集体认领须由本单位已报到的党员参与", member_ids=strangers)
            name = found[0].unit_name or claimant_id
        self._trigger(WishClaimed(wish_id=self.id, claimant_kind=claimant_kind, claimant_id=claimant_id,
                                  claimant_name=name, member_ids=[m.member_id for m in found]))

    def fulfil(self, *, record: str, now: datetime, by_kind: str, by_id: str) -> None:
        """圆梦: recorded by the claimant — the member who claimed it, the unit that claimed it or
        one of the members it named — or by the community's staff (`by_kind="staff"`)."""
        if self.state != "claimed":
            raise WrongState("心愿尚未认领或已经实现")
        if not self.may_fulfil(by_kind, by_id):
            raise NotTheClaimant("只有认领人或社区工作人员才能登记心愿实现")
        if not record.strip():
            raise InvalidRecord("请填写圆梦记录")
        self._trigger(WishFulfilled(wish_id=self.id, member_ids=self.member_ids, record=record.strip(),
                                    fulfilled_at=iso(now)))

    def may_fulfil(self, by_kind: str, by_id: str) -> bool:
        if by_kind == "staff":
            return True
        if by_kind == "member":
            return by_id in self.member_ids
        return by_kind == "unit" and self.claimant_kind == "unit" and by_id == self.claimant_id

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Wish cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: WishPosted) -> None:
        self.state, self.community_id = "posted", e.community_id

    @apply.register
    def _(self, e: WishClaimed) -> None:
        self.state, self.member_ids, self.claimant = "claimed", e.member_ids, e.claimant_name
        self.claimant_kind, self.claimant_id = e.claimant_kind, e.claimant_id

    @apply.register
    def _(self, e: WishFulfilled) -> None:
        self.state = "fulfilled"


# -- activities -----------------------------------------------------------------------------
class Activity(Aggregate):
    """A community activity (三会一课, festival, themed day, policy talk) with sign-up and attendance."""

    stream_prefix = "activity"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.community_id = ""
        self.capacity = 0
        self.starts_at: datetime | None = None
        self.signed_up: list[str] = []
        self.attendance_recorded = False

    def schedule(self, *, community_id, title, kind, starts_at: datetime, capacity: int, now: datetime) -> None:
        if self.exists:
            raise AlreadyExists(f"活动 {self.id} 已安排")
        if starts_at <= now:
            raise InvalidRecord("活动时间应在将来")
        if capacity < 1:
            raise InvalidRecord("活动名额至少为 1")
        self._trigger(ActivityScheduled(activity_id=self.id, community_id=community_id, title=title, kind=kind,
                                        starts_at=iso(starts_at), capacity=int(capacity)))

    def sign_up(self, *, member_id: str, now: datetime) -> bool:
        if not self.exists:
            raise UnknownActivity(f"活动 {self.id} 不存在")
        if member_id in self.signed_up:
            return False
        if now >= self.starts_at:
            raise TooLate("活动已开始，不能再报名")
        if len(self.signed_up) >= self.capacity:
            raise ActivityFull(f"活动名额已满（{self.capacity} 人）")
        self._trigger(ActivitySignedUp(activity_id=self.id, member_id=member_id))
        return True

    def record_attendance(self, *, attended: list[str], now: datetime) -> None:
        if not self.exists:
            raise UnknownActivity(f"活动 {self.id} 不存在")
        if now < self.starts_at:
            raise TooLate("活动尚未开始，不能登记出勤")
        if self.attendance_recorded:
            raise AlreadyExists("出勤已登记")
        attended = list(dict.fromkeys(attended))
        absent = [m for m in self.signed_up if m not in attended]
        self._trigger(AttendanceRecorded(activity_id=self.id, community_id=self.community_id, attended=attended,
                                         absent=absent, starts_at=iso(self.starts_at)))

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Activity cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: ActivityScheduled) -> None:
        self.community_id, self.capacity, self.starts_at = e.community_id, e.capacity, parse(e.starts_at)

    @apply.register
    def _(self, e: ActivitySignedUp) -> None:
        self.signed_up.append(e.member_id)

    @apply.register
    def _(self, e: AttendanceRecorded) -> None:
        self.attendance_recorded = True
