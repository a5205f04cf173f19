"""Public contract of `notify.events`: messages delivered to people and units."""
from marshmallow import Schema, fields, validate

from shared.contracts import IsoDateTime, event_contract

SOURCE = "notify"


@event_contract(SOURCE)
class MessageDeliveredSchema(Schema):
    message_id = fields.String(required=True)
    recipient_kind = fields.String(required=True, validate=validate.OneOf(("unit", "member", "resident")))
    recipient_id = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(("inbox",)))
    template = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    caused_by_event_id = fields.String(required=True)
    delivered_at = IsoDateTime(required=True)
