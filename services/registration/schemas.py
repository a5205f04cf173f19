"""Registration's API contract: the payloads of its RPC commands and queries."""
from datetime import date

from marshmallow import Schema, fields, validate, validates_schema, ValidationError

from shared.contracts.registration import JOIN_REASONS, OVERDUE_REASONS, TEAM_BASES, UNIT_KINDS

PHONE = validate.Regexp(r"^(?:1[0-9]{10}|0[0-9]{2,3}-?[0-9]{7,8})\Z", error="电话号码格式不正确")
ID = validate.Length(min=1, max=100, error="编号长度应为 1-100")
NAME = validate.Length(min=1, max=100, error="名称不能为空，且不超过 100 字")
#: Dates the programme can mean: joining the Party from its founding (1921-07-01) on; deadlines,
#: moves and commitments in this century.
JOINED_ON = validate.Range(min=date(1921, 7, 1), max=date(2100, 12, 31), error="日期应在 1921-07-01 至 2100-12-31 之间")
IN_CENTURY = validate.Range(min=date(2000, 1, 1), max=date(2100, 12, 31), error="日期应在 2000-01-01 至 2100-12-31 之间")
POST_CATEGORIES = ("政策宣传", "环境卫生", "扶贫帮困", "矛盾调解", "综治巡逻", "文明创建", "关爱帮扶", "其他")


class RegisterCommunitySchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=NAME)
    district_id = fields.String(required=True, validate=ID)
    district_name = fields.String(required=True, validate=NAME)
    street_id = fields.String(required=True, validate=ID)
    street_name = fields.String(required=True, validate=NAME)
    card_prefix = fields.String(load_default=None, validate=validate.Length(min=1, max=20))


class AddGridSchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    grid_id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=NAME)
    leader_name = fields.String(required=True, validate=NAME)


class AddBranchSchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    branch_id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=NAME)


class RegisterUnitSchema(Schema):
    unit_id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS, error="单位类型应为机关、事业单位、企业或社会组织"))
    district_id = fields.String(required=True, validate=ID)
    linked_community_id = fields.String(load_default=None)


class OpenCampaignSchema(Schema):
    unit_id = fields.String(required=True, validate=ID)
    campaign_id = fields.String(required=True, validate=ID)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    deadline = fields.Date(required=True, validate=IN_CENTURY)


class EnrollMemberSchema(Schema):
    unit_id = fields.String(required=True, validate=ID)
    person_key = fields.String(required=True, validate=validate.Length(min=4, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    gender = fields.String(required=True, validate=validate.OneOf(("男", "女"), error="性别应为“男”或“女”"))
    phone = fields.String(required=True, validate=PHONE)
    position = fields.String(load_default="")
    residence_community_id = fields.String(required=True, validate=ID)
    probationary = fields.Boolean(load_default=False)
    leading_cadre = fields.Boolean(load_default=False)
    skills = fields.List(fields.String(), load_default=list)
    age = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=18, max=80))
    willingness = fields.String(load_default="")
    joined_reason = fields.String(load_default="roster", validate=validate.OneOf(JOIN_REASONS))
    joined_on = fields.Date(load_default=None, allow_none=True, validate=JOINED_ON)
    interests = fields.List(fields.String(validate=validate.Length(min=1, max=50)), load_default=list,
                            validate=validate.Length(max=20, error="兴趣爱好最多 20 项"))

    @validates_schema
    def _joined_on_needed(self, data, **kwargs):
        if data.get("joined_reason") in ("newly_admitted", "transferred_in") and not data.get("joined_on"):
            raise ValidationError("新入党或转入的党员须填写入党或转入日期", "joined_on")


class ImportRosterSchema(Schema):
    unit_id = fields.String(required=True, validate=ID)
    filename = fields.String(required=True)
    content_base64 = fields.String(required=True)
    apply = fields.Boolean(load_default=True)


class IssueLetterSchema(Schema):
    member_id = fields.String(required=True)
    campaign_id = fields.String(required=True)
    to = fields.String(load_default="residence", validate=validate.OneOf(("residence", "linked", "community")))
    community_id = fields.String(load_default=None)


class IssueLettersSchema(Schema):
    unit_id = fields.String(required=True, validate=ID)
    campaign_id = fields.String(required=True)
    to = fields.String(load_default="residence", validate=validate.OneOf(("residence", "linked")))


class CheckInSchema(Schema):
    member_id = fields.String(required=True)
    letter_id = fields.String(required=True)
    community_id = fields.String(required=True)
    grid_id = fields.String(load_default=None)
    branch_id = fields.String(load_default=None)
    skills = fields.List(fields.String(), load_default=list)
    willingness = fields.String(load_default="")
    availability = fields.List(fields.String(), load_default=list)


class RecordOverdueReasonSchema(Schema):
    member_id = fields.String(required=True)
    obligation_id = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(OVERDUE_REASONS, error="原因应为：" + "、".join(OVERDUE_REASONS)))
    note = fields.String(load_default="")


class MoveMemberSchema(Schema):
    member_id = fields.String(required=True)
    to_community_id = fields.String(required=True, validate=ID)
    moved_on = fields.Date(required=True, validate=IN_CENTURY)


class ChangeWorkplaceSchema(Schema):
    member_id = fields.String(required=True)
    to_unit_id = fields.String(required=True, validate=ID)
    changed_on = fields.Date(required=True, validate=IN_CENTURY)
    position = fields.String(load_default="", validate=validate.Length(max=100))


class RecordCardOpinionSchema(Schema):
    member_id = fields.String(required=True)
    side = fields.String(required=True, validate=validate.OneOf(("community", "unit"), error="意见栏应为社区或单位"))
    opinion = fields.String(required=True, validate=validate.Length(min=1, max=500, error="意见应为 1-500 字"))
    recorded_by = fields.String(required=True, validate=validate.Length(min=1, max=100))


class PublishPostSchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    post_id = fields.String(required=True, validate=ID)
    title = fields.String(required=True, validate=NAME)
    category = fields.String(required=True, validate=validate.OneOf(POST_CATEGORIES))
    description = fields.String(load_default="")


class ClaimPostSchema(Schema):
    member_id = fields.String(required=True)
    community_id = fields.String(required=True)
    post_id = fields.String(required=True)


class MakeCommitmentSchema(Schema):
    member_id = fields.String(required=True)
    community_id = fields.String(required=True)
    items = fields.List(fields.String(validate=validate.Length(min=1, max=200)), required=True,
                        validate=validate.Length(min=1, max=10, error="承诺事项应为 1-10 项"))
    deadline = fields.Date(required=True, validate=IN_CENTURY)


class FormTeamSchema(Schema):
    team_id = fields.String(required=True, validate=ID)
    community_id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=NAME)
    basis = fields.String(required=True, validate=validate.OneOf(TEAM_BASES, error="组团方式应为地缘、业缘或趣缘"))
    service = fields.String(required=True, validate=NAME)


class JoinTeamSchema(Schema):
    team_id = fields.String(required=True)
    member_id = fields.String(required=True)


class ElectTeamLeaderSchema(Schema):
    team_id = fields.String(required=True)
    ballots = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class StatisticsQuerySchema(Schema):
    group_by = fields.String(load_default="unit", validate=validate.OneOf(("unit", "community", "street", "district")))
    district_id = fields.String(load_default=None)
    street_id = fields.String(load_default=None)
    community_id = fields.String(load_default=None)
    unit_id = fields.String(load_default=None)


class OverdueQuerySchema(Schema):
    district_id = fields.String(load_default=None)
    street_id = fields.String(load_default=None)
    community_id = fields.String(load_default=None)
    unit_id = fields.String(load_default=None)
    leading_cadres_only = fields.Boolean(load_default=False)
