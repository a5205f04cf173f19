"""Registration (报到): communities, units, campaigns, members, letters, check-in, and what
follows it — moves, overdue members, posts, commitments and teams.

Pure domain model: no nameko, SQLAlchemy or kombu. Aggregates check the rules of seeds 000/002
and record what happened as events; the Chinese messages of the refusals are what a person at
the desk reads.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from functools import singledispatchmethod

from shared.domain import Aggregate, DomainError, DomainEvent, NotFound

MAX_POSTS_PER_MEMBER = 2
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五")
WEEKEND = ("周六", "周日")
OFF_HOURS = {**{d: ("晚上",) for d in WEEKDAYS}, **{d: ("上午", "下午", "晚上") for d in WEEKEND}}


#: Seed 000 二.2: "新发展、新调入或居住地、工作地发生变化的党员应在1个月内到社区报到" — the changes
#: that open a one-month obligation to (re-)register, and what the obligation is called.
OBLIGATION_TITLES = {"newly_admitted": "新入党后报到", "transferred_in": "转入后报到", "moved": "居住地变动后重新报到",
                     "workplace_changed": "工作单位变动后重新报到"}


def one_month_after(day: date) -> date:
    """The same day next month (the last day of it when that month is shorter)."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- events -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommunityRegistered(DomainEvent):
    community_id: str
    name: str
    district_id: str
    district_name: str
    street_id: str
    street_name: str
    card_prefix: str


@dataclass(frozen=True)
class GridAdded(DomainEvent):
    community_id: str
    grid_id: str
    name: str
    leader_name: str


@dataclass(frozen=True)
class BranchAdded(DomainEvent):
    community_id: str
    branch_id: str
    name: str


@dataclass(frozen=True)
class RegistrationCardIssued(DomainEvent):
    """登记卡编号: issued by the community when a member checks in."""

    community_id: str
    card_no: str
    member_id: str


@dataclass(frozen=True)
class PostPublished(DomainEvent):
    community_id: str
    post_id: str
    title: str
    category: str
    description: str


@dataclass(frozen=True)
class UnitRegistered(DomainEvent):
    unit_id: str
    name: str
    kind: str
    district_id: str
    linked_community_id: str | None


@dataclass(frozen=True)
class CampaignOpened(DomainEvent):
    unit_id: str
    campaign_id: str
    title: str
    deadline: str


@dataclass(frozen=True)
class MemberEnrolled(DomainEvent):
    """On the unit's roster of in-service members (在职党员名册), with what seed 002 asks a unit to
    know of each ("四个清": 基本情况、工作单位、职务专长、兴趣爱好)."""

    schema_version = 3

    member_id: str
    unit_id: str
    name: str
    gender: str
    phone: str
    position: str
    residence_community_id: str
    probationary: bool
    leading_cadre: bool
    skills: list = field(default_factory=list)
    age: int | None = None
    willingness: str = ""
    joined_reason: str = "roster"
    joined_on: str | None = None
    interests: list = field(default_factory=list)


@dataclass(frozen=True)
class RegistrationObligationOpened(DomainEvent):
    member_id: str
    unit_id: str
    obligation_id: str
    kind: str
    due_date: str
    community_id: str


@dataclass(frozen=True)
class IntroductionLetterIssued(DomainEvent):
    """报到介绍信, issued by the unit's party organisation to a community."""

    letter_id: str
    member_id: str
    unit_id: str
    campaign_id: str
    community_id: str
    issued_at: str


@dataclass(frozen=True)
class MemberCheckedIn(DomainEvent):
    """报到: the member presented the letter and the community filled the registration card."""

    schema_version = 2

    member_id: str
    member_name: str
    unit_id: str
    unit_name: str
    campaign_id: str
    letter_id: str
    community_id: str
    community_name: str
    district_id: str
    street_id: str
    grid_id: str | None
    branch_id: str | None
    card_no: str
    skills: list
    willingness: str
    availability: list
    checked_in_at: str


@dataclass(frozen=True)
class ReceiptReturned(DomainEvent):
    member_id: str
    unit_id: str
    community_id: str
    card_no: str
    campaign_id: str


@dataclass(frozen=True)
class RegistrationOverdue(DomainEvent):
    member_id: str
    unit_id: str
    obligation_id: str
    due_date: str
    detected_on: str


@dataclass(frozen=True)
class OverdueReasonRecorded(DomainEvent):
    member_id: str
    unit_id: str
    obligation_id: str
    reason: str
    note: str


@dataclass(frozen=True)
class MemberMoved(DomainEvent):
    member_id: str
    unit_id: str
    from_community_id: str
    to_community_id: str
    closed_card_no: str | None
    moved_on: str


@dataclass(frozen=True)
class MemberChangedWorkplace(DomainEvent):
    """工作地变动: the member now works for another unit, which takes them on its roster; the
    registration made with the old unit's letter closes (history kept)."""

    member_id: str
    from_unit_id: str
    to_unit_id: str
    to_unit_name: str
    position: str
    closed_card_no: str | None
    changed_on: str


@dataclass(frozen=True)
class CardOpinionRecorded(DomainEvent):
    """社区党组织意见 / 单位党组织意见 on the registration card (seed 000 附件1): `side` is
    "community" or "unit"; a later opinion on the same card replaces the earlier one."""

    member_id: str
    card_no: str
    side: str
    opinion: str
    recorded_by: str
    recorded_on: str


@dataclass(frozen=True)
class PostClaimed(DomainEvent):
    member_id: str
    community_id: str
    post_id: str
    post_title: str


@dataclass(frozen=True)
class CommitmentMade(DomainEvent):
    member_id: str
    member_name: str
    community_id: str
    commitment_id: str
    items: list
    deadline: str


@dataclass(frozen=True)
class TeamFormed(DomainEvent):
    team_id: str
    community_id: str
    name: str
    basis: str
    service: str


@dataclass(frozen=True)
class MemberJoinedTeam(DomainEvent):
    team_id: str
    member_id: str
    member_name: str


@dataclass(frozen=True)
class TeamLeaderElected(DomainEvent):
    team_id: str
    member_id: str
    votes: int


EVENTS = (CommunityRegistered, GridAdded, BranchAdded, RegistrationCardIssued, PostPublished, UnitRegistered,
          CampaignOpened, MemberEnrolled, RegistrationObligationOpened, IntroductionLetterIssued, MemberCheckedIn,
          ReceiptReturned, RegistrationOverdue, OverdueReasonRecorded, MemberMoved, PostClaimed, CommitmentMade,
          TeamFormed, MemberJoinedTeam, TeamLeaderElected, MemberChangedWorkplace, CardOpinionRecorded)


# -- refusals ------------------------------------------------------------------------------
class AlreadyRegistered(DomainError):
    code = "already_registered"


class UnknownCommunity(NotFound):
    code = "unknown_community"


class UnknownUnit(NotFound):
    code = "unknown_unit"


class UnknownMember(NotFound):
    code = "unknown_member"


class UnknownCampaign(NotFound):
    code = "unknown_campaign"


class UnknownPlace(NotFound):
    code = "unknown_place"


class UnknownPost(NotFound):
    code = "unknown_post"


class UnknownTeam(NotFound):
    code = "unknown_team"


class CampaignClosed(DomainError):
    code = "campaign_closed"


class InvalidLetter(DomainError):
    code = "invalid_letter"


class WrongCommunity(DomainError):
    code = "wrong_community"


class WrongDistrict(DomainError):
    code = "wrong_district"


class AlreadyCheckedIn(DomainError):
    code = "already_checked_in"


class NotRegisteredHere(DomainError):
    code = "not_registered_here"


class TooManyPosts(DomainError):
    code = "too_many_posts"


class InvalidAvailability(DomainError):
    code = "invalid_availability"


class NotOverdue(DomainError):
    code = "not_overdue"


class InvalidMove(DomainError):
    code = "invalid_move"


class NotATeamMember(DomainError):
    code = "not_a_team_member"


class NotRegistered(DomainError):
    code = "not_registered"


#: The two opinions the registration card carries (seed 000 附件1: 社区党组织意见, 单位党组织意见).
CARD_OPINION_SIDES = {"community": "社区党组织意见", "unit": "单位党组织意见"}
OPINION_MAX_CHARS = 500


def check_availability(slots) -> list[str]:
    """Weekly availability outside working hours: weekday evenings, weekend any time."""
    checked = []
    for slot in slots:
        day, period = slot[:2], slot[2:]
        if day not in OFF_HOURS or period not in ("上午", "下午", "晚上"):
            raise InvalidAvailability(f"可服务时间“{slot}”格式不对，应如“周六上午”“周三晚上”")
        if period not in OFF_HOURS[day]:
            raise InvalidAvailability(f"“{slot}”是工作时间，在职党员在八小时以外服务社区（工作日请填晚上）")
        checked.append(slot)
    return checked


# -- aggregates ----------------------------------------------------------------------------
class Community(Aggregate):
    """社区: receives members, numbers their cards, places them in grids and branches, and
    publishes its menu of posts."""

    stream_prefix = "community"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.name = ""
        self.district_id = ""
        self.district_name = ""
        self.street_id = ""
        self.card_prefix = ""
        self.cards_issued = 0
        self.grids: dict[str, str] = {}
        self.branches: dict[str, str] = {}
        self.posts: dict[str, str] = {}

    def register(self, *, name, district_id, district_name, street_id, street_name, card_prefix) -> None:
        if self.exists:
            raise AlreadyRegistered(f"社区 {self.id} 已登记，不能重复登记")
        self._trigger(CommunityRegistered(community_id=self.id, name=name, district_id=district_id,
                                          district_name=district_name, street_id=street_id, street_name=street_name,
                                          card_prefix=card_prefix))

    def require_exists(self) -> "Community":
        if not self.exists:
            raise UnknownCommunity(f"社区 {self.id} 不存在", community_id=self.id)
        return self

    def add_grid(self, *, grid_id: str, name: str, leader_name: str) -> None:
        self.require_exists()
        if grid_id in self.grids:
            raise AlreadyRegistered(f"网格 {grid_id} 已存在")
        self._trigger(GridAdded(community_id=self.id, grid_id=grid_id, name=name, leader_name=leader_name))

    def add_branch(self, *, branch_id: str, name: str) -> None:
        self.require_exists()
        if branch_id in self.branches:
            raise AlreadyRegistered(f"支部 {branch_id} 已存在")
        self._trigger(BranchAdded(community_id=self.id, branch_id=branch_id, name=name))

    def require_place(self, grid_id: str | None, branch_id: str | None) -> None:
        if grid_id is not None and grid_id not in self.grids:
            raise UnknownPlace(f"{self.name}没有网格 {grid_id}", grid_id=grid_id)
        if branch_id is not None and branch_id not in self.branches:
            raise UnknownPlace(f"{self.name}没有支部 {branch_id}", branch_id=branch_id)

    def issue_card(self, member_id: str) -> str:
        """The next registration card number: unique per community, human-readable."""
        card_no = f"{self.card_prefix}-{self.cards_issued + 1:05d}"
        self._trigger(RegistrationCardIssued(community_id=self.id, card_no=card_no, member_id=member_id))
        return card_no

    def publish_post(self, *, post_id: str, title: str, category: str, description: str = "") -> None:
        self.require_exists()
        if post_id in self.posts:
            raise AlreadyRegistered(f"岗位 {post_id} 已发布")
        self._trigger(PostPublished(community_id=self.id, post_id=post_id, title=title, category=category,
                                    description=description))

    def post_title(self, post_id: str) -> str:
        try:
            return self.posts[post_id]
        except KeyError:
            raise UnknownPost(f"{self.name}没有岗位 {post_id}", post_id=post_id) from None

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Community cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: CommunityRegistered) -> None:
        self.name, self.district_id, self.district_name = e.name, e.district_id, e.district_name
        self.street_id, self.card_prefix = e.street_id, e.card_prefix

    @apply.register
    def _(self, e: GridAdded) -> None:
        self.grids[e.grid_id] = e.name

    @apply.register
    def _(self, e: BranchAdded) -> None:
        self.branches[e.branch_id] = e.name

    @apply.register
    def _(self, e: RegistrationCardIssued) -> None:
        self.cards_issued += 1

    @apply.register
    def _(self, e: PostPublished) -> None:
        self.posts[e.post_id] = e.title


@dataclass
class Campaign:
    campaign_id: str
    title: str
    deadline: date


class Unit(Aggregate):
    """单位党组织: keeps the roster, opens check-in campaigns, issues letters."""

    stream_prefix = "unit"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.name = ""
        self.district_id = ""
        self.linked_community_id: str | None = None
        self.campaigns: dict[str, Campaign] = {}

    def register(self, *, name, kind, district_id, linked_community: Community | None) -> None:
        if self.exists:
            raise AlreadyRegistered(f"单位 {self.id} 已登记，不能重复登记")
        if linked_community is not None:
            linked_community.require_exists()
        self._trigger(UnitRegistered(unit_id=self.id, name=name, kind=kind, district_id=district_id,
                                     linked_community_id=linked_community.id if linked_community else None))

    def require_exists(self) -> "Unit":
        if not self.exists:
            raise UnknownUnit(f"单位 {self.id} 不存在", unit_id=self.id)
        return self

    def open_campaign(self, *, campaign_id: str, title: str, deadline: date, today: date) -> None:
        self.require_exists()
        if campaign_id in self.campaigns:
            raise AlreadyRegistered(f"报到活动 {campaign_id} 已存在")
        if deadline < today:
            raise CampaignClosed(f"截止日期 {deadline.isoformat()} 已过，不能开启报到活动")
        self._trigger(CampaignOpened(unit_id=self.id, campaign_id=campaign_id, title=title,
                                     deadline=deadline.isoformat()))

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Unit cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: UnitRegistered) -> None:
        self.name, self.district_id, self.linked_community_id = e.name, e.district_id, e.linked_community_id

    @apply.register
    def _(self, e: CampaignOpened) -> None:
        self.campaigns[e.campaign_id] = Campaign(e.campaign_id, e.title, date.fromisoformat(e.deadline))


@dataclass
class Letter:
    letter_id: str
    campaign_id: str
    community_id: str
    superseded: bool = False


@dataclass
class Obligation:
    """Something the member must register for: a unit campaign or a one-month obligation."""

    obligation_id: str
    title: str
    due_date: date
    card_no: str | None = None
    overdue: bool = False
    reason: str | None = None


class Member(Aggregate):
    """在职党员: on a unit's roster; checks in with a community, claims posts, commits."""

    stream_prefix = "member"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.unit_id = ""
        self.name = ""
        self.phone = ""
        self.residence_community_id = ""
        self.skills: list[str] = []
        self.willingness = ""
        self.letters: dict[str, Letter] = {}
        self.personal_obligations: dict[str, Obligation] = {}
        self.checked_in: dict[str, str] = {}  # obligation (campaign) id -> card number
        self.overdue: dict[str, str | None] = {}  # obligation id -> reason recorded, if any
        self.registered_at: str | None = None  # community id of the current registration
        self.card_no: str | None = None
        self.posts: dict[str, str] = {}  # post id -> community id
        self.commitments = 0
        self.moves = 0
        self.workplace_changes = 0
        self.position = ""

    # roster ---------------------------------------------------------------------------------
    def enroll(self, *, unit: Unit, residence: Community, name, gender, phone, position="",
               probationary=False, leading_cadre=False, skills=(), age=None, willingness="",
               joined_reason="roster", joined_on: date | None = None, interests=()) -> bool:
        """Put the member on the unit's roster; enrolling the same person again changes nothing.
        Newly admitted and transferred-in members must register within one month."""
        unit.require_exists()
        residence.require_exists()
        if self.exists:
            return False
        self._trigger(MemberEnrolled(member_id=self.id, unit_id=unit.id, name=name, gender=gender, phone=phone,
                                     position=position, residence_community_id=residence.id,
                                     probationary=bool(probationary), leading_cadre=bool(leading_cadre),
                                     skills=list(skills), age=age, willingness=willingness,
                                     joined_reason=joined_reason,
                                     joined_on=joined_on.isoformat() if joined_on else None,
                                     interests=[i for i in interests if i]))
        if joined_reason in ("newly_admitted", "transferred_in"):
            if joined_on is None:
                raise InvalidMove("新入党或转入的党员须填写日期")
            self._trigger(RegistrationObligationOpened(member_id=self.id, unit_id=unit.id,
                                                       obligation_id=f"{joined_reason}-{joined_on.isoformat()}",
                                                       kind=joined_reason,
                                                       due_date=one_month_after(joined_on).isoformat(),
                                                       community_id=residence.id))
        return True

    def require_exists(self) -> "Member":
        if not self.exists:
            raise UnknownMember(f"党员 {self.id} 不在任何单位的名册中", member_id=self.id)
        return self

    def obligation(self, unit: Unit, obligation_id: str) -> Obligation:
        """A campaign of the member's unit, or one of the member's one-month obligations."""
        if obligation_id in unit.campaigns:
            c = unit.campaigns[obligation_id]
            return Obligation(c.campaign_id, c.title, c.deadline, self.checked_in.get(obligation_id))
        if obligation_id in self.personal_obligations:
            return self.personal_obligations[obligation_id]
        raise UnknownCampaign(f"没有报到活动或报到要求 {obligation_id}", campaign_id=obligation_id)

    # letters and check-in -----------------------------------------------------------------
    def issue_letter(self, *, letter_id: str, unit: Unit, campaign_id: str, community: Community,
                     issued_at: str) -> Letter:
        """Issue a letter to `community` (a newer letter for the campaign supersedes the old)."""
        self.require_exists()
        obligation = self.obligation(unit, campaign_id)
        community.require_exists()
        if campaign_id in self.checked_in:
            raise AlreadyCheckedIn(f"{self.name} 同志已在“{obligation.title}”中报到，无需再开介绍信")
        self._trigger(IntroductionLetterIssued(letter_id=letter_id, member_id=self.id, unit_id=unit.id,
                                               campaign_id=campaign_id, community_id=community.id,
                                               issued_at=issued_at))
        return self.letters[letter_id]

    def check_in(self, *, letter_id: str, unit: Unit, community: Community, checked_in_at: str,
                 letter_community: Community | None = None, grid_id: str | None = None,
                 branch_id: str | None = None, skills=(), willingness: str = "", availability=()) -> str:
        """报到 with a letter at `community`; returns the registration card number.

        `letter_community` is the community the letter was issued to, to tell a letter for
        another district from one for another community of the same district."""
        self.require_exists()
        community.require_exists()
        letter = self.letters.get(letter_id)
        if letter is None:
            raise InvalidLetter(f"介绍信 {letter_id} 不是开给 {self.name} 同志的，不能报到", letter_id=letter_id)
        if letter.campaign_id in self.checked_in:
            raise AlreadyCheckedIn(
                f"{self.name} 同志已在本次报到活动中报到（登记卡编号 {self.checked_in[letter.campaign_id]}），不能重复报到",
                card_no=self.checked_in[letter.campaign_id])
        if letter.superseded:
            raise InvalidLetter(f"介绍信 {letter_id} 已被新的介绍信取代，请持最新的介绍信报到", letter_id=letter_id)
        if letter.community_id != community.id:
            if letter_community is not None and letter_community.district_id != community.district_id:
                raise WrongDistrict(
                    f"介绍信开往{letter_community.district_name}的{letter_community.name}，"
                    f"不能在{community.district_name}的{community.name}报到",
                    letter_community_id=letter.community_id)
            raise WrongCommunity(f"介绍信开往社区 {letter.community_id}，不能在 {community.name} 报到",
                                 letter_community_id=letter.community_id)
        community.require_place(grid_id, branch_id)
        slots = check_availability(availability)
        card_no = community.issue_card(self.id)
        # the card starts from what the roster says; the community may record more at the desk
        self._trigger(MemberCheckedIn(member_id=self.id, member_name=self.name, unit_id=self.unit_id,
                                      unit_name=unit.name, campaign_id=letter.campaign_id, letter_id=letter_id,
                                      community_id=community.id, community_name=community.name,
                                      district_id=community.district_id, street_id=community.street_id,
                                      grid_id=grid_id, branch_id=branch_id, card_no=card_no,
                                      skills=list(skills) or list(self.skills),
                                      willingness=willingness or self.willingness, availability=slots,
                                      checked_in_at=checked_in_at))
        self._trigger(ReceiptReturned(member_id=self.id, unit_id=self.unit_id, community_id=community.id,
                                      card_no=card_no, campaign_id=letter.campaign_id))
        return card_no

    # deadlines ----------------------------------------------------------------------------
    def mark_overdue(self, *, unit: Unit, obligation_id: str, today: date) -> bool:
        """Past the deadline and not registered: overdue (once). Returns whether it was marked.
        A campaign of a unit the member has left no longer binds them (False)."""
        try:
            obligation = self.obligation(unit, obligation_id)
        except UnknownCampaign:
            return False
        if obligation_id in self.checked_in or obligation_id in self.overdue or today <= obligation.due_date:
            return False
        self._trigger(RegistrationOverdue(member_id=self.id, unit_id=self.unit_id, obligation_id=obligation_id,
                                          due_date=obligation.due_date.isoformat(), detected_on=today.isoformat()))
        return True

    def record_overdue_reason(self, *, obligation_id: str, reason: str, note: str = "") -> None:
        self.require_exists()
        if obligation_id not in self.overdue:
            raise NotOverdue(f"{self.name} 同志在 {obligation_id} 中没有逾期，无需填写原因")
        self._trigger(OverdueReasonRecorded(member_id=self.id, unit_id=self.unit_id, obligation_id=obligation_id,
                                            reason=reason, note=note))

    # changes --------------------------------------------------------------------------------
    def move(self, *, to: Community, moved_on: date) -> str:
        """Residence changed: the old registration closes, and the member must register at the
        new community within one month. Returns the new obligation's id."""
        self.require_exists()
        to.require_exists()
        if to.id == self.residence_community_id:
            raise InvalidMove(f"{self.name} 同志已居住在{to.name}")
        obligation_id = f"moved-{moved_on.isoformat()}-{self.moves + 1}"
        self._trigger(MemberMoved(member_id=self.id, unit_id=self.unit_id,
                                  from_community_id=self.residence_community_id, to_community_id=to.id,
                                  closed_card_no=self.card_no, moved_on=moved_on.isoformat()))
        self._trigger(RegistrationObligationOpened(member_id=self.id, unit_id=self.unit_id,
                                                   obligation_id=obligation_id, kind="moved",
                                                   due_date=one_month_after(moved_on).isoformat(), community_id=to.id))
        return obligation_id

    def change_workplace(self, *, from_unit: Unit, to: Unit, changed_on: date, position: str = "") -> str:
        """工作地变动 (seed 000 二.2): the member moves to unit `to`, which keeps them on its roster
        and issues the letter; the registration made with the old unit's letter closes, and the
        member must register within one month. Returns the new obligation's id."""
        self.require_exists()
        to.require_exists()
        if to.id == self.unit_id:
            raise InvalidMove(f"{self.name} 同志已在{to.name}工作")
        obligation_id = f"workplace-{changed_on.isoformat()}-{self.workplace_changes + 1}"
        self._trigger(MemberChangedWorkplace(member_id=self.id, from_unit_id=from_unit.id, to_unit_id=to.id,
                                             to_unit_name=to.name, position=position.strip() or self.position,
                                             closed_card_no=self.card_no, changed_on=changed_on.isoformat()))
        self._trigger(RegistrationObligationOpened(member_id=self.id, unit_id=to.id, obligation_id=obligation_id,
                                                   kind="workplace_changed",
                                                   due_date=one_month_after(changed_on).isoformat(),
                                                   community_id=self.residence_community_id))
        return obligation_id

    def record_card_opinion(self, *, side: str, opinion: str, by: str, on: date) -> None:
        """社区党组织意见 or 单位党组织意见 on the member's current registration card."""
        self.require_exists()
        if side not in CARD_OPINION_SIDES:
            raise DomainError(f"意见栏应为：{'、'.join(CARD_OPINION_SIDES.values())}")
        if self.card_no is None:
            raise NotRegistered(f"{self.name} 同志尚未报到，没有登记卡可以填写意见")
        text = opinion.strip()
        if not text:
            raise DomainError(f"{CARD_OPINION_SIDES[side]}不能为空")
        if len(text) > OPINION_MAX_CHARS:
            raise DomainError(f"{CARD_OPINION_SIDES[side]}不能超过 {OPINION_MAX_CHARS} 字")
        self._trigger(CardOpinionRecorded(member_id=self.id, card_no=self.card_no, side=side, opinion=text,
                                          recorded_by=by, recorded_on=on.isoformat()))

    # posts, commitments -------------------------------------------------------------------
    def require_registered_at(self, community: Community) -> None:
        if self.registered_at != community.id:
            raise NotRegisteredHere(f"{self.name} 同志未在{community.name}报到，不能在此认岗、承诺或加入服务队")

    def claim_post(self, *, community: Community, post_id: str) -> None:
        """认岗: at most two posts, at the community where the member is registered."""
        self.require_registered_at(community)
        title = community.post_title(post_id)
        if post_id in self.posts:
            raise AlreadyRegistered(f"{self.name} 同志已认领岗位“{title}”")
        if len(self.posts) >= MAX_POSTS_PER_MEMBER:
            raise TooManyPosts(f"每名党员最多认领 {MAX_POSTS_PER_MEMBER} 个岗位，{self.name} 同志已认领 {len(self.posts)} 个")
        self._trigger(PostClaimed(member_id=self.id, community_id=community.id, post_id=post_id, post_title=title))

    def make_commitment(self, *, community: Community, items, deadline: date, today: date) -> str:
        self.require_registered_at(community)
        items = [i.strip() for i in items if i and i.strip()]
        if not items:
            raise DomainError("承诺事项不能为空")
        if deadline < today:
            raise DomainError(f"承诺期限 {deadline.isoformat()} 已过")
        commitment_id = f"{self.id}-{self.commitments + 1}"
        self._trigger(CommitmentMade(member_id=self.id, member_name=self.name, community_id=community.id,
                                     commitment_id=commitment_id, items=items, deadline=deadline.isoformat()))
        return commitment_id

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Member cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: MemberEnrolled) -> None:
        self.unit_id, self.name, self.phone = e.unit_id, e.name, e.phone
        self.residence_community_id = e.residence_community_id
        self.skills, self.willingness = list(e.skills), e.willingness
        self.position = e.position

    @apply.register
    def _(self, e: RegistrationObligationOpened) -> None:
        self.personal_obligations[e.obligation_id] = Obligation(e.obligation_id, OBLIGATION_TITLES[e.kind],
                                                                date.fromisoformat(e.due_date))

    @apply.register
    def _(self, e: IntroductionLetterIssued) -> None:
        for letter in self.letters.values():
            if letter.campaign_id == e.campaign_id:
                letter.superseded = True
        self.letters[e.letter_id] = Letter(e.letter_id, e.campaign_id, e.community_id)

    @apply.register
    def _(self, e: MemberCheckedIn) -> None:
        self.checked_in[e.campaign_id] = e.card_no
        self.skills, self.willingness = list(e.skills), e.willingness
        self.registered_at, self.card_no = e.community_id, e.card_no
        if e.campaign_id in self.personal_obligations:
            self.personal_obligations[e.campaign_id].card_no = e.card_no

    @apply.register
    def _(self, e: ReceiptReturned) -> None:
        pass

    @apply.register
    def _(self, e: RegistrationOverdue) -> None:
        self.overdue[e.obligation_id] = None

    @apply.register
    def _(self, e: OverdueReasonRecorded) -> None:
        self.overdue[e.obligation_id] = e.reason

    @apply.register
    def _(self, e: MemberMoved) -> None:
        self.residence_community_id = e.to_community_id
        self.registered_at, self.card_no = None, None
        self.posts = {}
        self.moves += 1

    @apply.register
    def _(self, e: MemberChangedWorkplace) -> None:
        self.unit_id, self.position = e.to_unit_id, e.position
        self.registered_at, self.card_no = None, None
        self.posts = {}
        for letter in self.letters.values():   # the old unit's letters no longer introduce the member
            letter.superseded = True
        self.workplace_changes += 1

    @apply.register
    def _(self, e: CardOpinionRecorded) -> None:
        pass

    @apply.register
    def _(self, e: PostClaimed) -> None:
        self.posts[e.post_id] = e.community_id

    @apply.register
    def _(self, e: CommitmentMade) -> None:
        self.commitments += 1


class Team(Aggregate):
    """服务队: members grouped by proximity, trade or interest, with an elected leader."""

    stream_prefix = "team"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.community_id = ""
        self.name = ""
        self.members: dict[str, str] = {}
        self.leader_id: str | None = None

    def form(self, *, community: Community, name: str, basis: str, service: str) -> None:
        community.require_exists()
        if self.exists:
            raise AlreadyRegistered(f"服务队 {self.id} 已存在")
        self._trigger(TeamFormed(team_id=self.id, community_id=community.id, name=name, basis=basis, service=service))

    def require_exists(self) -> "Team":
        if not self.exists:
            raise UnknownTeam(f"服务队 {self.id} 不存在", team_id=self.id)
        return self

    def join(self, *, member: Member, community: Community) -> bool:
        self.require_exists()
        if community.id != self.community_id:
            raise NotRegisteredHere(f"服务队“{self.name}”不属于{community.name}")
        member.require_registered_at(community)
        if member.id in self.members:
            return False
        self._trigger(MemberJoinedTeam(team_id=self.id, member_id=member.id, member_name=member.name))
        return True

    def elect_leader(self, *, ballots: dict[str, str]) -> str:
        """ballots: voter member id -> candidate member id; only team members vote and stand.
        The candidate with the most votes leads; a tie goes to who joined the team first."""
        self.require_exists()
        for voter, candidate in ballots.items():
            if voter not in self.members or candidate not in self.members:
                raise NotATeamMember("只有服务队成员才能投票和当选队长")
        if not ballots:
            raise DomainError("没有选票，不能选举队长")
        counts: dict[str, int] = {}
        for candidate in ballots.values():
            counts[candidate] = counts.get(candidate, 0) + 1
        order = list(self.members)
        winner = max(counts, key=lambda c: (counts[c], -order.index(c)))
        self._trigger(TeamLeaderElected(team_id=self.id, member_id=winner, votes=counts[winner]))
        return winner

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Team cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: TeamFormed) -> None:
        self.community_id, self.name = e.community_id, e.name

    @apply.register
    def _(self, e: MemberJoinedTeam) -> None:
        self.members[e.member_id] = e.member_name

    @apply.register
    def _(self, e: TeamLeaderElected) -> None:
        self.leader_id = e.member_id
