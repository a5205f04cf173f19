"""Registration's API contract: the payloads of its RPC commands."""
from marshmallow import Schema, fields, validate

from shared.contracts.registration import UNIT_KINDS

PHONE = validate.Regexp(r"^1\d{10}$|^0\d{2,3}-?\d{7,8}$", error="电话号码格式不正确")
ID = validate.Length(min=1, max=100, error="编号长度应为 1-100")


class RegisterCommunitySchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    district_id = fields.String(required=True, validate=ID)
    district_name = fields.String(required=True)
    street_id = fields.String(required=True, validate=ID)
    street_name = fields.String(required=True)
    card_prefix = fields.String(load_default=None, validate=validate.Length(min=1, max=20))


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
    deadline = fields.Date(required=True)


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


class IssueLetterSchema(Schema):
    member_id = fields.String(required=True)
    campaign_id = fields.String(required=True)
    to = fields.String(load_default="residence", validate=validate.OneOf(("residence", "linked", "community")))
    community_id = fields.String(load_default=None)


class CheckInSchema(Schema):
    member_id = fields.String(required=True)
    letter_id = fields.String(required=True)
    community_id = fields.String(required=True)
