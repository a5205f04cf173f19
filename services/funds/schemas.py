"""Funds' API contract: the payloads of its RPC commands. Amounts are integer fen (分): a
float or a string is refused, never rounded."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.funds.domain import BODIES, EXPENSE_KINDS, FORBIDDEN_EXPENSES, QUALITY
from shared.contracts import YEAR
from shared.contracts.funds import ESTATES, PAYEE_KINDS, REPORTS, SIGNATURE_ROLES, VOUCHERS

ID = validate.Length(min=1, max=100, error="编号长度应为 1-100")
NAME = validate.Length(min=1, max=50, error="姓名不能为空，且不超过 50 字")
TEXT = validate.Length(min=1, max=2000, error="内容不能为空，且不超过 2000 字")
REASON = validate.Length(min=1, max=500, error="请说明原因（不超过 500 字）")


def Fen(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=1, error="金额应为大于零的整数（单位：分）"), **kwargs)


def On(**kwargs):
    """The date the step happened (defaults to today in Beijing)."""
    return fields.Date(load_default=None, **kwargs)


class AllocateBudgetSchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    community_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    year = fields.Integer(required=True, validate=YEAR)
    allocated_fen = Fen(load_default=None)
    source = fields.String(load_default="市财政", validate=validate.Length(min=1, max=200))
    on = On()


class BudgetLineSchema(Schema):
    item = fields.String(required=True, validate=validate.Length(min=1, max=200))
    # forbidden kinds pass validation so that the domain refuses them with the rule's reason
    kind = fields.String(required=True, validate=validate.OneOf(EXPENSE_KINDS + tuple(FORBIDDEN_EXPENSES),
                                                                 error="支出类别不在清单中"))
    amount_fen = Fen(required=True)


class ProposeProjectSchema(Schema):
    project_id = fields.String(required=True, validate=ID)
    community_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=YEAR)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True, validate=validate.Length(min=1, max=20))
    description = fields.String(required=True, validate=TEXT)
    amount_fen = Fen(required=True)
    lines = fields.List(fields.Nested(BudgetLineSchema), load_default=list)
    small_beneficiary_group = fields.Boolean(required=True)
    beneficiaries = fields.Integer(required=True, validate=validate.Range(min=1, error="受益人数至少 1 人"))
    demand_ids = fields.List(fields.String(validate=ID), load_default=list)
    payee_kind = fields.String(load_default="organisation", validate=validate.OneOf(PAYEE_KINDS))
    #: required for 物业管理服务 (第八条(4)): 老旧小区 or 物业弃管小区
    estate = fields.String(load_default=None, validate=validate.OneOf(ESTATES, error="小区类型应为：老旧小区、物业弃管小区、其他小区"))
    by = fields.String(required=True, validate=NAME)
    on = On()


class ProjectStepSchema(Schema):
    project_id = fields.String(required=True, validate=ID)
    by = fields.String(required=True, validate=NAME)
    on = On()


class ApplySchema(ProjectStepSchema):
    preliminary_consent_by = fields.String(required=True, validate=NAME)
    plan = fields.String(required=True, validate=TEXT)


class JointMeetingSchema(Schema):
    project_id = fields.String(required=True, validate=ID)
    attendees = fields.Integer(required=True, validate=validate.Range(min=1))
    resident_representatives = fields.Integer(required=True, validate=validate.Range(min=0))
    votes_for = fields.Integer(required=True, validate=validate.Range(min=0))
    votes_against = fields.Integer(load_default=0, validate=validate.Range(min=0))
    minutes = fields.String(required=True, validate=TEXT)
    on = On()


class NoticeSchema(Schema):
    project_id = fields.String(required=True, validate=ID)
    on = On()


class ObjectionSchema(Schema):
    project_id = fields.String(required=True, validate=ID)
    objection_id = fields.String(required=True, validate=ID)
    raised_by = fields.String(required=True, validate=NAME)
    content = fields.String(required=True, validate=TEXT)
    on = On()


class ResolveObjectionSchema(ProjectStepSchema):
    objection_id = fields.String(required=True, validate=ID)
    resolution = fields.String(required=True, validate=TEXT)
    republish = fields.Boolean(load_default=False)


class ApproveSchema(ProjectStepSchema):
    construction_committee_by = fields.String(required=True, validate=NAME)


class ReasonedStepSchema(ProjectStepSchema):
    reason = fields.String(required=True, validate=REASON)


class ChangeSchema(Schema):
    project_id = fields.String(required=True, validate=ID)
    change = fields.String(required=True, validate=TEXT)
    reason = fields.String(required=True, validate=REASON)
    amount_fen = Fen(load_default=None)
    lines = fields.List(fields.Nested(BudgetLineSchema), load_default=None)
    small_beneficiary_group = fields.Boolean(load_default=None)
    consent_by = fields.String(required=True, validate=NAME)
    consent_on = fields.Date(required=True)
    on = On()


class AcceptSchema(ProjectStepSchema):
    #: the body that accepts (第十二条: the street committee); the gateway fills it from the caller's role
    acting_as = fields.String(required=True, validate=validate.OneOf(tuple(BODIES), error="验收单位不正确"))
    quality = fields.String(required=True, validate=validate.OneOf(QUALITY, error="质量评定应为：优良、合格、不合格"))
    residents_surveyed = fields.Integer(required=True, validate=validate.Range(min=0))
    residents_satisfied = fields.Integer(required=True, validate=validate.Range(min=0))
    remarks = fields.String(load_default="", validate=validate.Length(max=2000))


class SignatureSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(SIGNATURE_ROLES))
    name = fields.String(required=True, validate=NAME)
    signed_on = fields.Date(required=True)


class PaySchema(Schema):
    project_id = fields.String(required=True, validate=ID)
    payment_id = fields.String(required=True, validate=ID)
    amount_fen = Fen(required=True)
    payee = fields.String(required=True, validate=validate.Length(min=1, max=200))
    voucher = fields.String(required=True, validate=validate.OneOf(VOUCHERS, error="结算凭证应为发票或收款人签字"))
    invoice_no = fields.String(load_default=None)
    signatures = fields.List(fields.Nested(SignatureSchema), required=True)
    final = fields.Boolean(load_default=False)
    on = On()

    @validates_schema
    def _signed_in_time(self, data, **kwargs):
        on = data.get("on")
        if on and any(s["signed_on"] > on for s in data["signatures"]):
            raise ValidationError("签字日期不能晚于付款日期", "signatures")


class ReportSchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=YEAR)
    report = fields.String(required=True, validate=validate.OneOf(REPORTS))
    on = On()


class CloseYearSchema(Schema):
    community_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=YEAR)
    by = fields.String(required=True, validate=NAME)
    on = On()
