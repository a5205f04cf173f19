"""Public contract of `registration.events` (报到): what other services and departments read."""
from marshmallow import Schema, fields, validate

from shared.contracts import IsoDate, IsoDateTime, event_contract
from shared.privacy import PHONE

SOURCE = "registration"

UNIT_KINDS = ("机关", "事业单位", "企业", "社会组织")
JOIN_REASONS = ("roster", "newly_admitted", "transferred_in")
OVERDUE_REASONS = ("病假", "外派", "出差", "拒不报到", "其他")
#: What opens a one-month obligation to (re-)register (seed 000 二.2: 新发展、新调入或居住地、工作地发生变化).
OBLIGATION_KINDS = ("newly_admitted", "transferred_in", "moved", "workplace_changed")
TEAM_BASES = ("地缘", "业缘", "趣缘")


@event_contract(SOURCE)
class CommunityRegisteredSchema(Schema):
    community_id = fields.String(required=True)
    name = fields.String(required=True)
    district_id = fields.String(required=True)
    district_name = fields.String(required=True)
    street_id = fields.String(required=True)
    street_name = fields.String(required=True)
    card_prefix = fields.String(required=True)


@event_contract(SOURCE)
class GridAddedSchema(Schema):
    """网格: a community's grid with its grid leader."""

    community_id = fields.String(required=True)
    grid_id = fields.String(required=True)
    name = fields.String(required=True)
    leader_name = fields.String(required=True)


@event_contract(SOURCE)
class BranchAddedSchema(Schema):
    """支部: a party branch of the community."""

    community_id = fields.String(required=True)
    branch_id = fields.String(required=True)
    name = fields.String(required=True)


@event_contract(SOURCE)
class UnitRegisteredSchema(Schema):
    unit_id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    district_id = fields.String(required=True)
    linked_community_id = fields.String(allow_none=True, load_default=None)


@event_contract(SOURCE)
class CampaignOpenedSchema(Schema):
    unit_id = fields.String(required=True)
    campaign_id = fields.String(required=True)
    title = fields.String(required=True)
    deadline = IsoDate(required=True)


def _enrolled_v1_to_v2(data: dict) -> dict:
    data.setdefault("age", None)
    data.setdefault("willingness", "")
    data.setdefault("joined_reason", "roster")
    data.setdefault("joined_on", None)
    return data


def _enrolled_v2_to_v3(data: dict) -> dict:
    data.setdefault("interests", [])
    return data


@event_contract(SOURCE, version=3, upcasters={1: _enrolled_v1_to_v2, 2: _enrolled_v2_to_v3})
class MemberEnrolledSchema(Schema):
    """v2 added age, willingness (服务意愿) and why and when the member joined the roster; v3 the
    interests (兴趣爱好, seed 002's "四个清")."""

    member_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    name = fields.String(required=True)
    gender = fields.String(required=True, validate=validate.OneOf(("男", "女")))
    phone = fields.String(required=True, metadata=PHONE)
    position = fields.String(load_default="")
    residence_community_id = fields.String(required=True)
    probationary = fields.Boolean(load_default=False)
    leading_cadre = fields.Boolean(load_default=False)
    skills = fields.List(fields.String(), load_default=list)
    age = fields.Integer(allow_none=True, load_default=None)
    willingness = fields.String(load_default="")
    joined_reason = fields.String(required=True, validate=validate.OneOf(JOIN_REASONS))
    joined_on = IsoDate(allow_none=True, load_default=None)
    interests = fields.List(fields.String(), load_default=list)


@event_contract(SOURCE)
class RegistrationObligationOpenedSchema(Schema):
    """The member must (re-)register within a month: newly admitted, transferred in, moved house
    or changed workplace (`unit_id` is then the new unit)."""

    member_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    obligation_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(OBLIGATION_KINDS))
    due_date = IsoDate(required=True)
    community_id = fields.String(required=True)


@event_contract(SOURCE)
class IntroductionLetterIssuedSchema(Schema):
    letter_id = fields.String(required=True)
    member_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    campaign_id = fields.String(required=True)
    community_id = fields.String(required=True)
    issued_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class RegistrationCardIssuedSchema(Schema):
    community_id = fields.String(required=True)
    card_no = fields.String(required=True)
    member_id = fields.String(required=True)


def _checked_in_v1_to_v2(data: dict) -> dict:
    for key, default in (("district_id", ""), ("street_id", ""), ("grid_id", None), ("branch_id", None),
                         ("skills", []), ("willingness", ""), ("availability", [])):
        data.setdefault(key, default)
    return data


@event_contract(SOURCE, version=2, upcasters={1: _checked_in_v1_to_v2})
class MemberCheckedInSchema(Schema):
    """v2 added where the member was placed (district, street, grid, branch) and the
    registration card's skills, willingness and weekly availability."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    unit_name = fields.String(required=True)
    campaign_id = fields.String(required=True)
    letter_id = fields.String(required=True)
    community_id = fields.String(required=True)
    community_name = fields.String(required=True)
    district_id = fields.String(required=True)
    street_id = fields.String(required=True)
    grid_id = fields.String(allow_none=True, load_default=None)
    branch_id = fields.String(allow_none=True, load_default=None)
    card_no = fields.String(required=True)
    skills = fields.List(fields.String(), load_default=list)
    willingness = fields.String(load_default="")
    availability = fields.List(fields.String(), load_default=list)
    checked_in_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class ReceiptReturnedSchema(Schema):
    """回执: the community's receipt goes back to the unit."""

    member_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    community_id = fields.String(required=True)
    card_no = fields.String(required=True)
    campaign_id = fields.String(required=True)


@event_contract(SOURCE)
class RegistrationOverdueSchema(Schema):
    member_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    obligation_id = fields.String(required=True)
    due_date = IsoDate(required=True)
    detected_on = IsoDate(required=True)


@event_contract(SOURCE)
class OverdueReasonRecordedSchema(Schema):
    member_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    obligation_id = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(OVERDUE_REASONS))
    note = fields.String(load_default="")


@event_contract(SOURCE)
class MemberMovedSchema(Schema):
    """The member's residence changed: the registration at the old community closes."""

    member_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    from_community_id = fields.String(required=True)
    to_community_id = fields.String(required=True)
    closed_card_no = fields.String(allow_none=True, load_default=None)
    moved_on = IsoDate(required=True)


@event_contract(SOURCE)
class MemberChangedWorkplaceSchema(Schema):
    """工作地变动: the member now works for `to_unit_id`, which keeps them on its roster; the
    registration made with the old unit's letter closes, and a one-month obligation follows."""

    member_id = fields.String(required=True)
    from_unit_id = fields.String(required=True)
    to_unit_id = fields.String(required=True)
    to_unit_name = fields.String(required=True)
    position = fields.String(load_default="")
    closed_card_no = fields.String(allow_none=True, load_default=None)
    changed_on = IsoDate(required=True)


@event_contract(SOURCE)
class CardOpinionRecordedSchema(Schema):
    """社区党组织意见 / 单位党组织意见 written on a registration card (登记卡)."""

    member_id = fields.String(required=True)
    card_no = fields.String(required=True)
    side = fields.String(required=True, validate=validate.OneOf(("community", "unit")))
    opinion = fields.String(required=True)
    recorded_by = fields.String(required=True)
    recorded_on = IsoDate(required=True)


@event_contract(SOURCE)
class PostPublishedSchema(Schema):
    """设岗: a post on the community's menu."""

    community_id = fields.String(required=True)
    post_id = fields.String(required=True)
    title = fields.String(required=True)
    category = fields.String(required=True)
    description = fields.String(load_default="")


@event_contract(SOURCE)
class PostClaimedSchema(Schema):
    member_id = fields.String(required=True)
    community_id = fields.String(required=True)
    post_id = fields.String(required=True)
    post_title = fields.String(required=True)


@event_contract(SOURCE)
class CommitmentMadeSchema(Schema):
    """承诺: public commitment items with a deadline, shown on the noticeboard."""

    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    community_id = fields.String(required=True)
    commitment_id = fields.String(required=True)
    items = fields.List(fields.String(), required=True)
    deadline = IsoDate(required=True)


@event_contract(SOURCE)
class TeamFormedSchema(Schema):
    """组团: a service team by proximity, trade or interest."""

    team_id = fields.String(required=True)
    community_id = fields.String(required=True)
    name = fields.String(required=True)
    basis = fields.String(required=True, validate=validate.OneOf(TEAM_BASES))
    service = fields.String(required=True)


@event_contract(SOURCE)
class MemberJoinedTeamSchema(Schema):
    team_id = fields.String(required=True)
    member_id = fields.String(required=True)
    member_name = fields.String(required=True)


@event_contract(SOURCE)
class TeamLeaderElectedSchema(Schema):
    team_id = fields.String(required=True)
    member_id = fields.String(required=True)
    votes = fields.Integer(required=True)
