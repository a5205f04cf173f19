"""Evaluation's API contract: the payloads of its RPC commands."""
from marshmallow import Schema, fields, validate

from services.evaluation.domain import ROLE_NAMES
from shared.contracts import YEAR
from shared.contracts.evaluation import PERIOD

ID = validate.Length(min=1, max=100, error="编号长度应为 1-100")


class ActorSchema(Schema):
    """Who submits: a role, the person's id and the scope the role is held in (the unit,
    community or district id; for a member, their own id)."""

    role = fields.String(required=True, validate=validate.OneOf(tuple(ROLE_NAMES), error="角色不正确"))
    id = fields.String(required=True, validate=ID)
    scope = fields.String(load_default="")


class PartyInputSchema(Schema):
    member_id = fields.String(required=True, validate=ID)
    period = fields.String(required=True, validate=PERIOD)
    score = fields.Float(required=True, validate=validate.Range(min=0, max=100, error="分数应在 0-100 之间"))
    comment = fields.String(required=True, validate=validate.Length(min=1, max=5000,
                                                                     error="请填写意见或述职报告（不超过 5000 字）"))
    by = fields.Nested(ActorSchema, required=True)


class VetoSchema(Schema):
    member_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=YEAR)
    statement = fields.String(required=True, validate=validate.Length(min=1, max=2000,
                                                                       error="请填写书面评价（不超过 2000 字）"))
    by = fields.Nested(ActorSchema, required=True)


class ClosePeriodSchema(Schema):
    district_id = fields.String(required=True, validate=ID)
    period = fields.String(required=True, validate=PERIOD)
    by = fields.String(required=True, validate=ID)


class CloseYearSchema(Schema):
    district_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=YEAR)
    by = fields.String(required=True, validate=ID)


class PublishDoubleEvaluationSchema(Schema):
    unit_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=YEAR)
    by = fields.String(required=True, validate=ID)


class RegradeSchema(Schema):
    district_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=YEAR)
    by = fields.String(required=True, validate=ID)
    dry_run = fields.Boolean(load_default=False)


class RemindSchema(Schema):
    district_id = fields.String(required=True, validate=ID)
    period = fields.String(required=True, validate=PERIOD)
    by = fields.String(required=True, validate=ID)
