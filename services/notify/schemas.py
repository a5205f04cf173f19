"""The notify service's request schemas (RPC payloads from the gateway and operators)."""
from marshmallow import Schema, fields, validate

from shared.contracts import YEAR

ID = validate.Length(min=1, max=100, error="编号长度应为 1-100")


class FeedbackReportSchema(Schema):
    """情况反馈 on demand: a unit and a year (and the occasion, when an operator repeats one)."""
    unit_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, strict=False, validate=YEAR)
    occasion = fields.String(load_default=None, validate=validate.Length(min=1, max=100))


class FeedbackDocumentSchema(Schema):
    unit_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, strict=False, validate=YEAR)
    fmt = fields.String(required=True, validate=validate.OneOf(("pdf", "xlsx"), error="格式应为 pdf 或 xlsx"))
