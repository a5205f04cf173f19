"""Notify: messages to people and units, each delivered once.

Pure domain model. A message's identity is derived from the event that caused it, the
template and the recipient, so however often that event arrives there is one message.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import singledispatchmethod

from shared.domain import Aggregate, DomainEvent

MESSAGE_NAMESPACE = uuid.UUID("0b5e8f7e-2f4a-4f39-8a57-0d9a3c1e6c21")


@dataclass(frozen=True)
class MessageDelivered(DomainEvent):
    message_id: str
    recipient_kind: str
    recipient_id: str
    channel: str
    template: str
    title: str
    body: str
    caused_by_event_id: str
    delivered_at: str


EVENTS = (MessageDelivered,)


def message_id_for(caused_by_event_id: str, template: str, recipient_kind: str, recipient_id: str) -> str:
    return str(uuid.uuid5(MESSAGE_NAMESPACE, f"{caused_by_event_id}|{template}|{recipient_kind}|{recipient_id}"))


@dataclass(frozen=True)
class RenderedMessage:
    title: str
    body: str


class Message(Aggregate):
    """One message to one recipient (消息)."""

    stream_prefix = "message"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.delivered_channels: set[str] = set()

    def deliver_to_inbox(self, *, recipient_kind: str, recipient_id: str, template: str,
                         rendered: RenderedMessage, caused_by_event_id: str, delivered_at: str) -> bool:
        """Put the message in the recipient's in-app inbox; a second delivery changes nothing."""
        if "inbox" in self.delivered_channels:
            return False
        self._trigger(MessageDelivered(self.id, recipient_kind, recipient_id, "inbox", template, rendered.title,
                                       rendered.body, caused_by_event_id, delivered_at))
        return True

    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Message cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: MessageDelivered) -> None:
        self.delivered_channels.add(e.channel)
