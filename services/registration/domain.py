"""Registration (报到): communities, units, campaigns, members, introduction letters, check-in.

Pure domain model: no nameko, SQLAlchemy or kombu. Aggregates check the rules of seeds 000/002
and record what happened as events; the Chinese messages of the refusals are what a person at
the desk reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import singledispatchmethod

from shared.domain import Aggregate, DomainError, DomainEvent, NotFound


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
class RegistrationCardIssued(DomainEvent):
    """登记卡编号: issued by the community when a member checks in."""

    community_id: str
    card_no: str
    member_id: str


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
    """On the unit's roster of in-service members (在职党员名册)."""

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

    member_id: str
    member_name: str
    unit_id: str
    unit_name: str
    campaign_id: str
    letter_id: str
    community_id: str
    community_name: str
    card_no: str
    checked_in_at: str


EVENTS = (CommunityRegistered, RegistrationCardIssued, UnitRegistered, CampaignOpened, MemberEnrolled,
          IntroductionLetterIssued, MemberCheckedIn)


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


class CampaignClosed(DomainError):
    code = "campaign_closed"


class InvalidLetter(DomainError):
    code = "invalid_letter"


class WrongCommunity(DomainError):
    code = "wrong_community"


class AlreadyCheckedIn(DomainError):
    code = "already_checked_in"


# -- aggregates ----------------------------------------------------------------------------
class Community(Aggregate):
    """社区: receives members and numbers their registration cards."""

    stream_prefix = "community"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.name = ""
        self.district_id = ""
        self.card_prefix = ""
        self.cards_issued = 0

    def register(self, *, name, district_id, district_name, street_id, street_name, card_prefix) -> None:
        if self.exists:
            raise AlreadyRegistered(f"社区 {self.id} 已登记，不能重复登记")
        self._trigger(CommunityRegistered(self.id, name, district_id, district_name, street_id, street_name,
                                          card_prefix))

    def require_exists(self) -> "Community":
        if not self.exists:
            raise UnknownCommunity(f"社区 {self.id} 不存在", community_id=self.id)
        return self

    def issue_card(self, member_id: str) -> str:
        """The next registration card number: unique per community, human-readable."""
        card_no = f"{self.card_prefix}-{self.cards_issued + 1:05d}"
        self._trigger(RegistrationCardIssued(self.id, card_no, member_id))
        return card_no

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Community cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: CommunityRegistered) -> None:
        self.name, self.district_id, self.card_prefix = e.name, e.district_id, e.card_prefix

    @apply.register
    def _(self, e: RegistrationCardIssued) -> None:
        self.cards_issued += 1


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
        self._trigger(UnitRegistered(self.id, name, kind, district_id,
                                     linked_community.id if linked_community else None))

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
        self._trigger(CampaignOpened(self.id, campaign_id, title, deadline.isoformat()))

    def campaign(self, campaign_id: str) -> Campaign:
        try:
            return self.campaigns[campaign_id]
        except KeyError:
            raise UnknownCampaign(f"本单位没有报到活动 {campaign_id}", campaign_id=campaign_id) from None

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


class Member(Aggregate):
    """在职党员: on a unit's roster; checks in with a community for a campaign."""

    stream_prefix = "member"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.unit_id = ""
        self.name = ""
        self.residence_community_id = ""
        self.letters: dict[str, Letter] = {}
        self.checked_in: dict[str, str] = {}  # campaign id -> card number

    def enroll(self, *, unit: Unit, residence: Community, name, gender, phone, position="",
               probationary=False, leading_cadre=False, skills=()) -> bool:
        """Put the member on the unit's roster; enrolling the same person again changes nothing."""
        unit.require_exists()
        residence.require_exists()
        if self.exists:
            return False
        self._trigger(MemberEnrolled(self.id, unit.id, name, gender, phone, position, residence.id,
                                     bool(probationary), bool(leading_cadre), list(skills)))
        return True

    def require_exists(self) -> "Member":
        if not self.exists:
            raise UnknownMember(f"党员 {self.id} 不在任何单位的名册中", member_id=self.id)
        return self

    def issue_letter(self, *, letter_id: str, unit: Unit, campaign_id: str, community: Community,
                     issued_at: str) -> Letter:
        """Issue a letter to `community` (a newer letter for the campaign supersedes the old)."""
        self.require_exists()
        campaign = unit.campaign(campaign_id)
        community.require_exists()
        if campaign_id in self.checked_in:
            raise AlreadyCheckedIn(f"{self.name} 同志已在“{campaign.title}”中报到，无需再开介绍信")
        self._trigger(IntroductionLetterIssued(letter_id, self.id, unit.id, campaign_id, community.id, issued_at))
        return self.letters[letter_id]

    def check_in(self, *, letter_id: str, unit: Unit, community: Community, checked_in_at: str) -> str:
        """报到 with a letter at `community`; returns the registration card number."""
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
            raise WrongCommunity(f"介绍信开往社区 {letter.community_id}，不能在 {community.name} 报到",
                                 letter_community_id=letter.community_id)
        card_no = community.issue_card(self.id)
        self._trigger(MemberCheckedIn(self.id, self.name, self.unit_id, unit.name, letter.campaign_id, letter_id,
                                      community.id, community.name, card_no, checked_in_at))
        return card_no

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Member cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: MemberEnrolled) -> None:
        self.unit_id, self.name, self.residence_community_id = e.unit_id, e.name, e.residence_community_id

    @apply.register
    def _(self, e: IntroductionLetterIssued) -> None:
        for letter in self.letters.values():
            if letter.campaign_id == e.campaign_id:
                letter.superseded = True
        self.letters[e.letter_id] = Letter(e.letter_id, e.campaign_id, e.community_id)

    @apply.register
    def _(self, e: MemberCheckedIn) -> None:
        self.checked_in[e.campaign_id] = e.card_no
