"""Public contract of `dispatch.events` (三单制: 点单 → 下单 → 接单, wishes, activities)."""
from marshmallow import Schema, fields, validate

from shared.contracts import IsoDate, IsoDateTime, event_contract
from shared.privacy import ADDRESS, CONTACT, NAME

SOURCE = "dispatch"

CATEGORIES = ("爱心认领", "义务劳动", "信息咨询", "矛盾调处", "助老", "助学", "助孤", "助残", "助贫", "法律援助",
              "健康义诊", "维修", "其他")
URGENCIES = ("一般", "较急", "紧急")
ASSIGNEE_KINDS = ("member", "team")
#: 座谈交流 (seed 004 六个一: 与群众面对面交流), 卫生环保 and 平安创建 (seed 000/002: 社区文化、卫生、环保、
#: 平安创建等活动) added to the first six; every earlier event's kind is still one of these.
ACTIVITY_KINDS = ("三会一课", "节日活动", "主题党日", "政策宣讲", "志愿服务", "座谈交流", "卫生环保", "平安创建", "其他")
CARD_ACTIVITY_TYPES = ("志愿服务", "社区党组织活动", "政策宣传", "社区文化", "卫生环保", "平安创建", "其他")
CARD_ACTIVITY_MODES = ("设岗定责", "组团服务", "菜单服务", "圆梦行动", "主题活动")
CARD_OVERALL = ("优秀", "良好", "一般", "较差")


class Assignee(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(ASSIGNEE_KINDS))
    id = fields.String(required=True)
    name = fields.String(required=True)


@event_contract(SOURCE)
class DemandRecordedSchema(Schema):
    """点单: a resident's demand, recorded by the resident or by staff on their behalf."""

    demand_id = fields.String(required=True)
    community_id = fields.String(required=True)
    grid_id = fields.String(allow_none=True, load_default=None)
    resident_id = fields.String(required=True, metadata=CONTACT)
    resident_name = fields.String(required=True, metadata=NAME)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    description = fields.String(required=True)
    address = fields.String(required=True, metadata=ADDRESS)
    window_start = IsoDateTime(required=True)
    window_end = IsoDateTime(required=True)
    urgency = fields.String(required=True, validate=validate.OneOf(URGENCIES))
    public = fields.Boolean(required=True)
    channel = fields.String(required=True)
    recorded_by = fields.String(required=True)
    possible_duplicate_of = fields.List(fields.String(), load_default=list)


@event_contract(SOURCE)
class DemandsMergedSchema(Schema):
    demand_id = fields.String(required=True)
    merged_into = fields.String(required=True)
    merged_by = fields.String(required=True)


@event_contract(SOURCE)
class OrderDispatchedSchema(Schema):
    """下单: the community assigns the order to a member or a team, with an acceptance limit."""

    demand_id = fields.String(required=True)
    community_id = fields.String(required=True)
    assignee = fields.Nested(Assignee, required=True)
    accept_by = IsoDateTime(required=True)
    due_at = IsoDateTime(required=True)
    remaining_candidates = fields.List(fields.Nested(Assignee), load_default=list)
    reasons = fields.List(fields.String(), load_default=list)
    dispatched_by = fields.String(required=True)
    round = fields.Integer(required=True)


@event_contract(SOURCE)
class OrderPublishedSchema(Schema):
    """Published on the community's menu for any registered member to claim (主动认领)."""

    demand_id = fields.String(required=True)
    community_id = fields.String(required=True)
    accept_by = IsoDateTime(required=True)
    due_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class OrderAcceptedSchema(Schema):
    """接单: exactly one member or team wins the order."""

    demand_id = fields.String(required=True)
    community_id = fields.String(required=True)
    assignee = fields.Nested(Assignee, required=True)
    accepted_at = IsoDateTime(required=True)
    resident_id = fields.String(required=True, metadata=CONTACT)


@event_contract(SOURCE)
class OrderDeclinedSchema(Schema):
    demand_id = fields.String(required=True)
    assignee = fields.Nested(Assignee, required=True)
    reason = fields.String(required=True)


@event_contract(SOURCE)
class OrderAcceptanceTimedOutSchema(Schema):
    demand_id = fields.String(required=True)
    assignee = fields.Nested(Assignee, required=True)
    accept_by = IsoDateTime(required=True)


@event_contract(SOURCE)
class OrderEscalatedSchema(Schema):
    """Nobody accepted in time, after the last candidate: back to the community's staff."""

    demand_id = fields.String(required=True)
    community_id = fields.String(required=True)
    reason = fields.String(required=True)


@event_contract(SOURCE)
class OrderOverdueSchema(Schema):
    demand_id = fields.String(required=True)
    assignee = fields.Nested(Assignee, required=True)
    due_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class ServiceCompletedSchema(Schema):
    """服务纪实: what was done, by whom, for how long."""

    demand_id = fields.String(required=True)
    community_id = fields.String(required=True)
    assignee = fields.Nested(Assignee, required=True)
    member_ids = fields.List(fields.String(), required=True)
    hours = fields.Float(required=True)
    participants = fields.Integer(required=True)
    content = fields.String(required=True)
    photo_links = fields.List(fields.String(), load_default=list)
    completed_at = IsoDateTime(required=True)
    category = fields.String(required=True)


@event_contract(SOURCE)
class ServiceVerifiedSchema(Schema):
    """据实查验: the community confirms the record."""

    demand_id = fields.String(required=True)
    community_id = fields.String(required=True)
    member_ids = fields.List(fields.String(), required=True)
    hours = fields.Float(required=True)
    verified_by = fields.String(required=True)
    verified_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class ServiceRejectedSchema(Schema):
    """The community sends the record back with a reason."""

    demand_id = fields.String(required=True)
    community_id = fields.String(required=True)
    member_ids = fields.List(fields.String(), required=True)
    reason = fields.String(required=True)
    rejected_by = fields.String(required=True)


@event_contract(SOURCE)
class ServiceRatedSchema(Schema):
    demand_id = fields.String(required=True)
    member_ids = fields.List(fields.String(), required=True)
    resident_id = fields.String(required=True, metadata=CONTACT)
    rating = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default="")


@event_contract(SOURCE)
class OrderCancelledSchema(Schema):
    demand_id = fields.String(required=True)
    cancelled_by = fields.String(required=True)
    reason = fields.String(required=True)


@event_contract(SOURCE)
class OrderReopenedSchema(Schema):
    demand_id = fields.String(required=True)
    reopened_by = fields.String(required=True)
    reason = fields.String(required=True)


@event_contract(SOURCE)
class WishPostedSchema(Schema):
    """微心愿: a small wish of a vulnerable resident, on the wish wall."""

    wish_id = fields.String(required=True)
    community_id = fields.String(required=True)
    resident_id = fields.String(required=True, metadata=CONTACT)
    resident_name = fields.String(required=True, metadata=NAME)
    group = fields.String(required=True)
    content = fields.String(required=True)


@event_contract(SOURCE)
class WishClaimedSchema(Schema):
    """Claimed by a member, or collectively by a unit with some of its members (集体认领)."""

    wish_id = fields.String(required=True)
    claimant_kind = fields.String(required=True, validate=validate.OneOf(("member", "unit")))
    claimant_id = fields.String(required=True)
    claimant_name = fields.String(required=True)
    member_ids = fields.List(fields.String(), required=True)


@event_contract(SOURCE)
class WishFulfilledSchema(Schema):
    wish_id = fields.String(required=True)
    member_ids = fields.List(fields.String(), required=True)
    record = fields.String(required=True)
    fulfilled_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class ActivityScheduledSchema(Schema):
    activity_id = fields.String(required=True)
    community_id = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ACTIVITY_KINDS))
    starts_at = IsoDateTime(required=True)
    capacity = fields.Integer(required=True)


@event_contract(SOURCE)
class ActivitySignedUpSchema(Schema):
    activity_id = fields.String(required=True)
    member_id = fields.String(required=True)


@event_contract(SOURCE)
class AttendanceRecordedSchema(Schema):
    activity_id = fields.String(required=True)
    community_id = fields.String(required=True)
    attended = fields.List(fields.String(), required=True)
    absent = fields.List(fields.String(), required=True)
    starts_at = IsoDateTime(required=True)


# -- the community's ledgers and the yearly feedback card ------------------------------------------
@event_contract(SOURCE)
class ProposalSubmittedSchema(Schema):
    """建议: a member's proposal to the community (六个一: 提出一条好的建议)."""

    proposal_id = fields.String(required=True)
    community_id = fields.String(required=True)
    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    title = fields.String(required=True)
    content = fields.String(required=True)
    submitted_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class ProposalAdoptedSchema(Schema):
    proposal_id = fields.String(required=True)
    community_id = fields.String(required=True)
    member_id = fields.String(required=True)
    adopted_by = fields.String(required=True)
    adopted_at = IsoDateTime(required=True)
    note = fields.String(load_default="")


@event_contract(SOURCE)
class PracticalDeedReportedSchema(Schema):
    """实事: something a member did for the community (六个一: 办好一件社区实事)."""

    deed_id = fields.String(required=True)
    community_id = fields.String(required=True)
    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    title = fields.String(required=True)
    content = fields.String(required=True)
    reported_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class PracticalDeedVerifiedSchema(Schema):
    deed_id = fields.String(required=True)
    community_id = fields.String(required=True)
    member_id = fields.String(required=True)
    verified_by = fields.String(required=True)
    verified_at = IsoDateTime(required=True)


class ResidentRequest(Schema):
    resident = fields.String(required=True, metadata=NAME)
    address = fields.String(load_default="", metadata=ADDRESS)
    request = fields.String(required=True)


@event_contract(SOURCE)
class TeamVisitRecordedSchema(Schema):
    """组团走访 (民情走访台账): the team's visit, who went and what residents asked."""

    team_id = fields.String(required=True)
    community_id = fields.String(required=True)
    visit_id = fields.String(required=True)
    visited_on = IsoDate(required=True)
    area = fields.String(required=True)
    member_ids = fields.List(fields.String(), required=True)
    households = fields.Integer(required=True)
    requests = fields.List(fields.Nested(ResidentRequest), load_default=list)
    recorded_by = fields.String(required=True)


@event_contract(SOURCE)
class TeamVisitMissedSchema(Schema):
    """A quarter ended without the team's visit to its area (每季度组团走访): a reminder."""

    team_id = fields.String(required=True)
    community_id = fields.String(required=True)
    team_name = fields.String(required=True)
    year = fields.Integer(required=True)
    quarter = fields.Integer(required=True, validate=validate.Range(min=1, max=4))


class CardRecord(Schema):
    date = IsoDate(required=True)
    category = fields.String(required=True)
    content = fields.String(required=True)
    hours = fields.Float(allow_none=True, load_default=None)
    source = fields.String(required=True)


@event_contract(SOURCE)
class PerformanceFeedbackCardIssuedSchema(Schema):
    """在职党员社区表现反馈卡 (seed 002 附件5): the community's ticks and judgement for a member's
    year, from the verified records, filed with the member's unit."""

    card_id = fields.String(required=True)
    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    unit_name = fields.String(required=True)
    community_id = fields.String(required=True)
    year = fields.Integer(required=True)
    activity_types = fields.List(fields.String(validate=validate.OneOf(CARD_ACTIVITY_TYPES)), required=True)
    activity_modes = fields.List(fields.String(validate=validate.OneOf(CARD_ACTIVITY_MODES)), required=True)
    services = fields.Integer(required=True)
    service_hours = fields.Float(required=True)
    activities = fields.Integer(required=True)
    meets_minimum = fields.Boolean(required=True)
    overall = fields.String(required=True, validate=validate.OneOf(CARD_OVERALL))
    opinion = fields.String(load_default="")
    records = fields.List(fields.Nested(CardRecord), load_default=list)
    issued_by = fields.String(required=True)
    issued_at = IsoDateTime(required=True)
