"""Delivering recorded messages on their external channels (投递).

For each due message: record the attempt (an append with optimistic concurrency, so of several
notify instances exactly one wins it), send, record the outcome. An attempt found started and
unrecorded after `attempt_timeout` is a crashed one; its channel's guarantee decides (domain).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Callable

import structlog

from services.notify import handlers, readmodels
from services.notify.channels import SendFailed
from services.notify.domain import DeliveryPolicy
from shared.eventstore import ConcurrencyConflict

log = structlog.get_logger("baodao.notify.delivery")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Deliverer:
    def __init__(self, execute: Callable, query: Callable, senders: dict, policy: DeliveryPolicy,
                 clock: Callable[[], datetime] = utc_now, crash_after_send: bool = False):
        self.execute, self.query, self.senders, self.policy = execute, query, senders, policy
        self.clock, self.crash_after_send = clock, crash_after_send

    def recover(self) -> int:
        recovered = 0
        for message_id in self.query(readmodels.in_flight):
            try:
                if self.execute(handlers.recover_crashed, message_id, self.clock(), self.policy):
                    recovered += 1
            except ConcurrencyConflict:
                continue
        return recovered

    def run_once(self) -> dict:
        """Recover crashed attempts, then try every message due now."""
        stats = {"recovered": self.recover(), "sent": 0, "failed": 0}
        for message_id in self.query(readmodels.due_deliveries, self.clock().isoformat()):
            try:
                attempt = self.execute(handlers.start_attempt, message_id, self.clock())
            except ConcurrencyConflict:
                continue   # another instance started it
            if attempt is not None:
                stats["sent" if self.send(attempt) else "failed"] += 1
        return stats

    def send(self, attempt: dict) -> bool:
        message_id, channel, n = attempt["message_id"], attempt["channel"], attempt["attempt"]
        sender = self.senders.get(channel)
        try:
            if sender is None:
                raise SendFailed(f"渠道 {channel} 未配置", permanent=True)
            sender.send(message_id=message_id, address=attempt["address"], title=attempt["title"],
                        body=attempt["body"], template=attempt["template"])
        except SendFailed as exc:
            log.warning("delivery_failed", message_id=message_id, channel=channel, attempt=n, reason=exc.reason)
            self.execute(handlers.record_failure, message_id, channel, n, exc.reason, self.clock(), self.policy,
                         exc.permanent)
            return False
        if self.crash_after_send:
            log.error("crash_after_send_for_test", message_id=message_id, channel=channel)
            os._exit(70)   # the crash test: sent, not recorded
        self.execute(handlers.record_sent, message_id, channel, n, self.clock())
        log.info("delivery_sent", message_id=message_id, channel=channel, attempt=n)
        return True
