"""Public contract of `registration.events` (报到): what other services and departments read."""
from marshmallow import Schema, fields, validate

from shared.contracts import IsoDate, IsoDateTime, event_contract

SOURCE = "registration"

UNIT_KINDS = ("机关", "事业单位", "企业", "社会组织")


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


@event_contract(SOURCE)
class MemberEnrolledSchema(Schema):
    member_id = fields.String(required=True)
    unit_id = fields.String(required=True)
    name = fields.String(required=True)
    gender = fields.String(required=True, validate=validate.OneOf(("男", "女")))
    phone = fields.String(required=True)
    position = fields.String(load_default="")
    residence_community_id = fields.String(required=True)
    probationary = fields.Boolean(load_default=False)
    leading_cadre = fields.Boolean(load_default=False)
    skills = fields.List(fields.String(), load_default=list)


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


@event_contract(SOURCE)
class MemberCheckedInSchema(Schema):
    member_id = fields.String(required=True)
    member_name = fields.String(required=True)
    unit_id = fields.String(required=True)
    unit_name = fields.String(required=True)
    campaign_id = fields.String(required=True)
    letter_id = fields.String(required=True)
    community_id = fields.String(required=True)
    community_name = fields.String(required=True)
    card_no = fields.String(required=True)
    checked_in_at = IsoDateTime(required=True)
