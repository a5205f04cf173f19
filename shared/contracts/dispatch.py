"""Public contract of `dispatch.events` (三单制: 点单 → 下单 → 接单, wishes, activities)."""
from marshmallow import Schema, fields, validate

from shared.contracts import IsoDateTime, event_contract

SOURCE = "dispatch"

CATEGORIES = ("爱心认领", "义务劳动", "信息咨询", "矛盾调处", "助老", "助学", "助孤", "助残", "助贫", "法律援助",
              "健康义诊", "维修", "其他")
URGENCIES = ("一般", "较急", "紧急")
ASSIGNEE_KINDS = ("member", "team")
ACTIVITY_KINDS = ("三会一课", "节日活动", "主题党日", "政策宣讲", "志愿服务", "其他")


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
    resident_id = fields.String(required=True)
    resident_name = fields.String(required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    description = fields.String(required=True)
    address = fields.String(required=True)
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
    resident_id = fields.String(required=True)


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
    resident_id = fields.String(required=True)
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
    resident_id = fields.String(required=True)
    resident_name = fields.String(required=True)
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
