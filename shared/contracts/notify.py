"""Public contract of `notify.events`: messages recorded, delivered, tried and read."""
from marshmallow import Schema, fields, validate

from shared.contracts import IsoDateTime, event_contract

SOURCE = "notify"

RECIPIENT_KINDS = ("member", "unit", "resident", "community", "department")
CHANNELS = ("inbox", "email", "sms", "wechat")
EXTERNAL_CHANNELS = ("email", "sms", "wechat")


@event_contract(SOURCE)
class MessageRecordedSchema(Schema):
    """A message recorded for a recipient and put in their inbox, with the external channels it
    will be tried on (in order of preference)."""

    message_id = fields.String(required=True)
    recipient_kind = fields.String(required=True, validate=validate.OneOf(RECIPIENT_KINDS))
    recipient_id = fields.String(required=True)
    template = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    caused_by_event_id = fields.String(required=True)
    channels = fields.List(fields.String(validate=validate.OneOf(EXTERNAL_CHANNELS)), required=True)
    addresses = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    important = fields.Boolean(required=True)
    queued_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class MessageDeliveredSchema(Schema):
    message_id = fields.String(required=True)
    recipient_kind = fields.String(required=True, validate=validate.OneOf(RECIPIENT_KINDS))
    recipient_id = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    template = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    caused_by_event_id = fields.String(required=True)
    delivered_at = IsoDateTime(required=True)
    attempt = fields.Integer(load_default=0)


@event_contract(SOURCE)
class DeliveryAttemptStartedSchema(Schema):
    message_id = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(EXTERNAL_CHANNELS))
    attempt = fields.Integer(required=True)
    started_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class DeliveryFailedSchema(Schema):
    message_id = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(EXTERNAL_CHANNELS))
    attempt = fields.Integer(required=True)
    reason = fields.String(required=True)
    retry_at = IsoDateTime(allow_none=True, required=True)
    failed_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class DeliveryUncertainSchema(Schema):
    message_id = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(EXTERNAL_CHANNELS))
    attempt = fields.Integer(required=True)
    found_at = IsoDateTime(required=True)


@event_contract(SOURCE)
class MessageReadSchema(Schema):
    message_id = fields.String(required=True)
    read_at = IsoDateTime(required=True)
