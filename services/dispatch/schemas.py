"""Dispatch's API contract: the payloads of its RPC commands."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.dispatch.domain import WINDOW_YEARS, window_in_programme_years
from shared.contracts.dispatch import (
    ACTIVITY_KINDS, CARD_ACTIVITY_MODES, CARD_ACTIVITY_TYPES, CARD_OVERALL, CATEGORIES, URGENCIES,
)

ID = validate.Length(min=1, max=100, error="编号长度应为 1-100")
TEXT = validate.Length(min=1, max=2000, error="内容不能为空，且不超过 2000 字")
REASON = validate.Length(min=1, max=500, error="请说明原因（不超过 500 字）")


class RecordDemandSchema(Schema):
    demand_id = fields.String(required=True, validate=ID)
    community_id = fields.String(required=True, validate=ID)
    grid_id = fields.String(load_default=None)
    resident_id = fields.String(required=True, validate=ID)
    resident_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES, error="服务类别不在清单中"))
    description = fields.String(required=True, validate=TEXT)
    address = fields.String(required=True, validate=validate.Length(min=1, max=200))
    window_start = fields.AwareDateTime(required=True)
    window_end = fields.AwareDateTime(required=True)
    urgency = fields.String(load_default="一般", validate=validate.OneOf(URGENCIES))
    public = fields.Boolean(load_default=True)
    channel = fields.String(load_default="上门", validate=validate.OneOf(("上门", "网格员", "微信群", "QQ群", "短信", "电话", "网上")))
    recorded_by = fields.String(required=True, validate=ID)

    @validates_schema
    def _window(self, data, **kwargs):
        if not window_in_programme_years(data["window_start"], data["window_end"]):
            raise ValidationError(f"服务时段应在 {WINDOW_YEARS[0]}—{WINDOW_YEARS[1]} 年之间", "window_start")
        if data["window_end"] <= data["window_start"]:
            raise ValidationError("服务时段的结束时间应晚于开始时间", "window_end")


class AssigneeSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("member", "team")))
    id = fields.String(required=True, validate=ID)
    name = fields.String(load_default="")


class DispatchOrderSchema(Schema):
    demand_id = fields.String(required=True)
    by = fields.String(required=True, validate=ID)
    candidates = fields.List(fields.Nested(AssigneeSchema), load_default=list)
    suggested = fields.Integer(load_default=0, validate=validate.Range(min=0, max=20))

    @validates_schema
    def _who(self, data, **kwargs):
        if not data["candidates"] and not data["suggested"]:
            raise ValidationError("请指定党员或服务队，或选择按推荐名单派单", "candidates")


class DemandRefSchema(Schema):
    demand_id = fields.String(required=True)


class ActorSchema(Schema):
    """The member acting (`kind="member"`, `id`), or a team (`id`) through one of its members
    (`member_id`)."""
    kind = fields.String(load_default="member", validate=validate.OneOf(("member", "team")))
    id = fields.String(required=True, validate=ID)
    member_id = fields.String(load_default=None, validate=ID)


class AcceptOrderSchema(Schema):
    demand_id = fields.String(required=True)
    who = fields.Nested(ActorSchema, required=True)


class DeclineOrderSchema(AcceptOrderSchema):
    reason = fields.String(required=True, validate=REASON)


class CompleteServiceSchema(Schema):
    demand_id = fields.String(required=True)
    who = fields.Nested(ActorSchema, required=True)
    hours = fields.Float(required=True, validate=validate.Range(min=0.1, max=24))
    participants = fields.Integer(load_default=1, validate=validate.Range(min=1, max=500))
    member_ids = fields.List(fields.String(), load_default=list)
    content = fields.String(required=True, validate=TEXT)
    photo_links = fields.List(fields.Url(schemes={"http", "https"}), load_default=list)


class StaffActionSchema(Schema):
    demand_id = fields.String(required=True)
    by = fields.String(required=True, validate=ID)
    reason = fields.String(load_default="")


class RejectServiceSchema(StaffActionSchema):
    reason = fields.String(required=True, validate=REASON)


class CancelOrderSchema(RejectServiceSchema):
    pass


class MergeDemandsSchema(Schema):
    demand_id = fields.String(required=True)
    into_demand_id = fields.String(required=True)
    by = fields.String(required=True, validate=ID)


class RateServiceSchema(Schema):
    demand_id = fields.String(required=True)
    resident_id = fields.String(required=True)
    rating = fields.Integer(required=True, validate=validate.Range(min=1, max=5, error="评分应为 1-5 分"))
    comment = fields.String(load_default="", validate=validate.Length(max=500))


class PostWishSchema(Schema):
    wish_id = fields.String(required=True, validate=ID)
    community_id = fields.String(required=True, validate=ID)
    resident_id = fields.String(required=True, validate=ID)
    resident_name = fields.String(required=True)
    group = fields.String(required=True, validate=validate.OneOf(("空巢老人", "残障人士", "留守儿童", "困难群众", "其他")))
    content = fields.String(required=True, validate=TEXT)


class ClaimWishSchema(Schema):
    wish_id = fields.String(required=True)
    claimant_kind = fields.String(required=True, validate=validate.OneOf(("member", "unit")))
    claimant_id = fields.String(required=True, validate=ID)
    member_ids = fields.List(fields.String(), load_default=list)


class FulfillerSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("staff", "member", "unit")))
    id = fields.String(required=True, validate=ID)


class FulfilWishSchema(Schema):
    wish_id = fields.String(required=True)
    record = fields.String(required=True, validate=TEXT)
    by = fields.Nested(FulfillerSchema, required=True)


class ScheduleActivitySchema(Schema):
    activity_id = fields.String(required=True, validate=ID)
    community_id = fields.String(required=True, validate=ID)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(ACTIVITY_KINDS))
    starts_at = fields.AwareDateTime(required=True)
    capacity = fields.Integer(load_default=50, validate=validate.Range(min=1, max=10000))


class SignUpSchema(Schema):
    activity_id = fields.String(required=True)
    member_id = fields.String(required=True)


class AttendanceSchema(Schema):
    activity_id = fields.String(required=True)
    attended = fields.List(fields.String(), required=True)


# -- the community's ledgers and the yearly feedback card -----------------------------------------
YEAR = validate.Range(min=2000, max=2100, error="年度应在 2000-2100 之间")


class SubmitProposalSchema(Schema):
    proposal_id = fields.String(required=True, validate=ID)
    community_id = fields.String(required=True, validate=ID)
    member_id = fields.String(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    content = fields.String(required=True, validate=TEXT)


class AdoptProposalSchema(Schema):
    proposal_id = fields.String(required=True)
    community_id = fields.String(required=True, validate=ID)
    by = fields.String(required=True, validate=ID)
    note = fields.String(load_default="", validate=validate.Length(max=500))


class ReportDeedSchema(Schema):
    deed_id = fields.String(required=True, validate=ID)
    community_id = fields.String(required=True, validate=ID)
    member_id = fields.String(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    content = fields.String(required=True, validate=TEXT)


class VerifyDeedSchema(Schema):
    deed_id = fields.String(required=True)
    community_id = fields.String(required=True, validate=ID)
    by = fields.String(required=True, validate=ID)


class ResidentRequestSchema(Schema):
    resident = fields.String(required=True, validate=validate.Length(min=1, max=50))
    address = fields.String(load_default="", validate=validate.Length(max=200))
    request = fields.String(required=True, validate=validate.Length(min=1, max=500))


class RecordTeamVisitSchema(Schema):
    visit_id = fields.String(required=True, validate=ID)
    team_id = fields.String(required=True, validate=ID)
    community_id = fields.String(required=True, validate=ID)
    visited_on = fields.Date(required=True)
    area = fields.String(required=True, validate=validate.Length(min=1, max=200))
    member_ids = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=100))
    households = fields.Integer(required=True, validate=validate.Range(min=1, max=10000))
    requests = fields.List(fields.Nested(ResidentRequestSchema), load_default=list,
                           validate=validate.Length(max=50))
    by = fields.String(required=True, validate=ID)


class IssueFeedbackCardSchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    member_id = fields.String(required=True)
    year = fields.Integer(required=True, validate=YEAR)
    overall = fields.String(required=True, validate=validate.OneOf(CARD_OVERALL, error="综合表现应为优秀、良好、一般或较差"))
    opinion = fields.String(load_default="", validate=validate.Length(max=1000))
    extra_types = fields.List(fields.String(validate=validate.OneOf(CARD_ACTIVITY_TYPES)), load_default=list)
    extra_modes = fields.List(fields.String(validate=validate.OneOf(CARD_ACTIVITY_MODES)), load_default=list)
    by = fields.String(required=True, validate=ID)
