"""Notify: messages to people and units, each delivered once.

Pure domain model. A message's identity is derived from what caused it (an event id, or a
scheduled occasion such as "the mid-year note of 2026"), the template and the recipient, so
however often that cause arrives there is one message.

A message (消息) always lands in the recipient's in-app inbox (站内信) in the same transaction
that records it; it is then delivered on the recipient's preferred external channels (email,
SMS, WeChat template message) in order: each channel is tried with retries and back-off, and
when it is given up the next channel is tried (fallback). Every attempt is recorded *before*
the message is sent, so an attempt that was started but has no outcome is visible after a
crash and is resolved by the channel's guarantee (see docs/notify.md).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import singledispatchmethod

from shared.domain import Aggregate, DomainError, DomainEvent

MESSAGE_NAMESPACE = uuid.UUID("0b5e8f7e-2f4a-4f39-8a57-0d9a3c1e6c21")
RECIPIENT_KINDS = ("member", "unit", "resident", "community", "department")
EXTERNAL_CHANNELS = ("email", "sms", "wechat")
CHANNELS = ("inbox",) + EXTERNAL_CHANNELS
# What a crash between sending and recording means on each channel (docs/notify.md):
# the HTTP gateways take an idempotency key (the message id), so the send is repeated and the
# gateway drops the repeat; SMTP has no such key, so an unrecorded email is not sent again.
IDEMPOTENT_CHANNELS = ("sms", "wechat")


@dataclass(frozen=True)
class MessageRecorded(DomainEvent):
    """A message recorded and, in the same transaction, put in the recipient's inbox; the
    external channels it will be tried on, in order."""

    message_id: str
    recipient_kind: str
    recipient_id: str
    template: str
    title: str
    body: str
    caused_by_event_id: str
    channels: list
    addresses: dict
    important: bool
    queued_at: str


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
    attempt: int = 0


@dataclass(frozen=True)
class DeliveryAttemptStarted(DomainEvent):
    message_id: str
    channel: str
    attempt: int
    started_at: str


@dataclass(frozen=True)
class DeliveryFailed(DomainEvent):
    """An attempt failed; `retry_at` is when the same channel is tried again, or None when the
    channel is given up (the next preferred channel, if any, is tried at once)."""

    message_id: str
    channel: str
    attempt: int
    reason: str
    retry_at: str | None
    failed_at: str


@dataclass(frozen=True)
class DeliveryUncertain(DomainEvent):
    """An attempt was started and never recorded (the sender crashed): on a channel without an
    idempotency key it is not repeated."""

    message_id: str
    channel: str
    attempt: int
    found_at: str


@dataclass(frozen=True)
class MessageRead(DomainEvent):
    message_id: str
    read_at: str


EVENTS = (MessageRecorded, MessageDelivered, DeliveryAttemptStarted, DeliveryFailed, DeliveryUncertain, MessageRead)


def message_id_for(caused_by_event_id: str, template: str, recipient_kind: str, recipient_id: str) -> str:
    return str(uuid.uuid5(MESSAGE_NAMESPACE, f"{caused_by_event_id}|{template}|{recipient_kind}|{recipient_id}"))


@dataclass(frozen=True)
class RenderedMessage:
    title: str
    body: str


@dataclass(frozen=True)
class Recipient:
    """Who gets a message, and how they can be reached outside the inbox."""

    kind: str
    id: str
    channels: tuple = ()            # preferred external channels, in order
    addresses: dict = field(default_factory=dict)   # channel -> email address / phone / WeChat openid

    def reachable_channels(self) -> list[str]:
        return [c for c in self.channels if c in EXTERNAL_CHANNELS and self.addresses.get(c)]


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_delays: tuple = (2.0, 10.0, 60.0)   # seconds before each retry on the same channel
    attempt_timeout: float = 30.0             # an attempt unrecorded this long is a crashed one


class UnknownMessage(DomainError):
    code = "unknown_message"


def iso(t: datetime) -> str:
    return t.isoformat()


class Message(Aggregate):
    """One message to one recipient (消息), with its delivery record (投递记录)."""

    stream_prefix = "message"

    def __init__(self, aggregate_id: str):
        super().__init__(aggregate_id)
        self.delivered_channels: set[str] = set()
        self.recipient: tuple[str, str] | None = None
        self.channels: list[str] = []
        self.channel_index = 0
        self.attempts = 0                # attempts on the current channel
        self.in_flight: tuple[str, int, str] | None = None   # channel, attempt, started_at
        self.retry_at: str | None = None
        self.read = False
        self.uncertain = False
        self.queued: MessageRecorded | None = None

    # -- recording ------------------------------------------------------------------------
    def queue(self, *, recipient: Recipient, template: str, rendered: RenderedMessage, caused_by_event_id: str,
              now: datetime, important: bool = False) -> bool:
        """Record the message and put it in the recipient's inbox; a second call changes nothing."""
        if self.exists:
            return False
        channels = recipient.reachable_channels()
        addresses = {c: recipient.addresses[c] for c in channels}
        self._trigger(MessageRecorded(message_id=self.id, recipient_kind=recipient.kind, recipient_id=recipient.id,
                                      template=template, title=rendered.title, body=rendered.body,
                                      caused_by_event_id=caused_by_event_id, channels=channels, addresses=addresses,
                                      important=important, queued_at=iso(now)))
        return True

    def deliver_to_inbox(self, *, recipient_kind: str, recipient_id: str, template: str,
                         rendered: RenderedMessage, caused_by_event_id: str, delivered_at: str) -> bool:
        """The inbox only (no external channels)."""
        return self.queue(recipient=Recipient(recipient_kind, recipient_id), template=template, rendered=rendered,
                          caused_by_event_id=caused_by_event_id, now=datetime.fromisoformat(delivered_at))

    def mark_read(self, now: datetime) -> bool:
        if not self.exists:
            raise UnknownMessage("消息不存在")
        if self.read:
            return False
        self._trigger(MessageRead(message_id=self.id, read_at=iso(now)))
        return True

    # -- external delivery ----------------------------------------------------------------
    @property
    def current_channel(self) -> str | None:
        if self.external_done or self.channel_index >= len(self.channels):
            return None
        return self.channels[self.channel_index]

    @property
    def external_done(self) -> bool:
        return any(c in self.delivered_channels for c in EXTERNAL_CHANNELS) or self.channel_index >= len(self.channels)

    def due(self, now: datetime) -> bool:
        if self.current_channel is None or self.in_flight is not None:
            return False
        return self.retry_at is None or datetime.fromisoformat(self.retry_at) <= now

    def start_attempt(self, now: datetime) -> tuple[str, int] | None:
        """Record that the current channel is about to be tried; None if nothing is due."""
        if not self.due(now):
            return None
        channel = self.current_channel
        self._trigger(DeliveryAttemptStarted(message_id=self.id, channel=channel, attempt=self.attempts + 1,
                                             started_at=iso(now)))
        return channel, self.attempts

    def record_sent(self, channel: str, attempt: int, now: datetime) -> None:
        if self.in_flight is None or self.in_flight[:2] != (channel, attempt):
            return  # an outcome for an attempt already resolved: nothing to record twice
        q = self.queued
        self._trigger(MessageDelivered(message_id=self.id, recipient_kind=q.recipient_kind,
                                       recipient_id=q.recipient_id, channel=channel, template=q.template,
                                       title=q.title, body=q.body, caused_by_event_id=q.caused_by_event_id,
                                       delivered_at=iso(now), attempt=attempt))

    def record_failure(self, channel: str, attempt: int, reason: str, now: datetime, policy: DeliveryPolicy,
                       permanent: bool = False) -> None:
        if self.in_flight is None or self.in_flight[:2] != (channel, attempt):
            return
        retry_at = None
        if not permanent and attempt <= len(policy.retry_delays):
            retry_at = iso(now + timedelta(seconds=policy.retry_delays[attempt - 1]))
        self._trigger(DeliveryFailed(message_id=self.id, channel=channel, attempt=attempt, reason=reason[:500],
                                     retry_at=retry_at, failed_at=iso(now)))

    def recover_crashed_attempt(self, now: datetime, policy: DeliveryPolicy) -> str | None:
        """An attempt started longer ago than the timeout and never recorded: the sender died
        between sending and recording, or before sending. On an idempotent channel it is tried
        again with the same key; otherwise it is recorded as uncertain and not repeated."""
        if self.in_flight is None:
            return None
        channel, attempt, started_at = self.in_flight
        if now - datetime.fromisoformat(started_at) < timedelta(seconds=policy.attempt_timeout):
            return None
        if channel in IDEMPOTENT_CHANNELS:
            self._trigger(DeliveryFailed(message_id=self.id, channel=channel, attempt=attempt,
                                         reason="发送方在记录结果前中断，将以同一幂等键重发", retry_at=iso(now), failed_at=iso(now)))
            return "retry"
        self._trigger(DeliveryUncertain(message_id=self.id, channel=channel, attempt=attempt, found_at=iso(now)))
        return "uncertain"

    @property
    def status(self) -> str:
        if any(c in self.delivered_channels for c in EXTERNAL_CHANNELS):
            return "sent"
        if self.in_flight is not None:
            return "sending"
        if self.uncertain:
            return "uncertain"
        if not self.channels:
            return "sent" if "inbox" in self.delivered_channels else "queued"
        if self.channel_index >= len(self.channels):
            return "failed"
        return "retrying" if self.attempts else "queued"

    # -- state ----------------------------------------------------------------------------
    @singledispatchmethod
    def apply(self, event) -> None:
        raise TypeError(f"Message cannot apply {type(event).__name__}")

    @apply.register
    def _(self, e: MessageRecorded) -> None:
        self.queued = e
        self.delivered_channels.add("inbox")
        self.recipient = (e.recipient_kind, e.recipient_id)
        self.channels = list(e.channels)

    @apply.register
    def _(self, e: MessageDelivered) -> None:
        self.delivered_channels.add(e.channel)
        if e.channel != "inbox":
            self.in_flight = None
            self.retry_at = None

    @apply.register
    def _(self, e: DeliveryAttemptStarted) -> None:
        self.in_flight = (e.channel, e.attempt, e.started_at)
        self.attempts = e.attempt

    @apply.register
    def _(self, e: DeliveryFailed) -> None:
        self.in_flight = None
        if e.retry_at is None:
            self.channel_index += 1
            self.attempts = 0
            self.retry_at = None
        else:
            self.retry_at = e.retry_at

    @apply.register
    def _(self, e: DeliveryUncertain) -> None:
        # Not repeated on this channel, nor on another: the recipient may already have it.
        self.in_flight = None
        self.uncertain = True
        self.channel_index = len(self.channels)

    @apply.register
    def _(self, e: MessageRead) -> None:
        self.read = True
