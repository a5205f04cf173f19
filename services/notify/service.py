"""The notify nameko service: thin entrypoints over the handlers.

Its event consumers are generated from the rules table and the directory updates (one per
event type), so a rule for a new event type is consumed without touching this file.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from datetime import date, datetime, timezone

import structlog
from marshmallow import ValidationError
from nameko.rpc import RpcProxy, rpc

from services.notify import channels, domain, feedback, handlers, readmodels, schemas, webhooks
from services.notify.delivery import Deliverer
from shared.application import Application
from shared.codec import EventCodec
from shared.nameko_edge import (
    CommandRejected, ApplicationProvider, EventSourcedService, WorkLogging, config_timer, subscribe_batch,
)

log = structlog.get_logger("baodao.notify")

NOTIFIER = handlers.Notifier()  # a missing or broken template fails start-up (import) here
RULES_HANDLER = "notify.rules"


def now() -> datetime:
    return datetime.now(timezone.utc)


PUBLIC_SOURCES = ("registration", "dispatch", "evaluation", "funds")


def public_event_types() -> list[tuple[str, str]]:
    """Every event type of the other services whose contract exists: what departments may
    subscribe to, and so what notify consumes (and logs) beyond its rules."""
    from shared.contracts import all_contracts

    handlers.active_rules()   # imports the optional contract modules
    return sorted({(c.source, c.event_type) for c in all_contracts() if c.source in PUBLIC_SOURCES}
                  | set(NOTIFIER.event_types()))


def build_application(database):
    readmodels.directory_metadata.create_all(database.engine)
    webhooks.metadata.create_all(database.engine)
    return (Application(database, EventCodec("notify", domain.EVENTS)),
            [readmodels.InboxProjection(), readmodels.DeliveryProjection()])


def _policy(cfg: dict) -> domain.DeliveryPolicy:
    return domain.DeliveryPolicy(
        retry_delays=tuple(float(d) for d in cfg.get("DELIVERY_RETRY_DELAYS", (2, 10, 60))),
        attempt_timeout=float(cfg.get("DELIVERY_ATTEMPT_TIMEOUT", 30)))


class NotifyService(EventSourcedService):
    """通知: receipts, reminders, messages on every channel, feedback to units."""

    name = "notify"

    app = ApplicationProvider(build_application)
    work_logging = WorkLogging()
    dispatch = RpcProxy("dispatch")

    def _handle(self, uow, event):
        handlers.consume(NOTIFIER, uow, event, now())
        # one line per event of a batch, with the event's own correlation and causation (the
        # batch's line cannot carry them); written as the batch's transaction is about to commit
        log.info("event_handled", handler=RULES_HANDLER, event_type=event.event_type, event_id=event.event_id,
                 correlation_id=event.correlation_id, causation_id=event.event_id)

    def _handle_batch(self, uow, events):
        handlers.consume_batch(NOTIFIER, uow, events, now())
        for event in events:
            log.info("event_handled", handler=RULES_HANDLER, event_type=event.event_type, event_id=event.event_id,
                     correlation_id=event.correlation_id, causation_id=event.event_id)

    def consume(self, events):
        """A batch of one event type: every message of every event, set-based, one commit (if
        the batch fails, each event is handled alone and one that fails is retried alone; see
        `subscribe_batch`)."""
        return self.app.handle_batch(events, self._handle, name=RULES_HANDLER, batch_handler=self._handle_batch)

    # -- the inbox -------------------------------------------------------------------------
    @rpc
    def inbox(self, recipient_kind, recipient_id, page=1, page_size=20, unread_only=False, template=None):
        """站内信: {"total", "unread", "items"} — a page, oldest first; `template` narrows it to one
        kind of message (e.g. "check_in_receipt")."""
        return self.app.query(readmodels.inbox, recipient_kind, recipient_id, page, page_size, bool(unread_only),
                              template)

    @rpc(expected_exceptions=CommandRejected)
    def mark_read(self, message_id):
        try:
            changed = self.app.execute(handlers.mark_read, message_id, now())
        except domain.UnknownMessage as exc:
            raise CommandRejected(exc.code, exc.message) from None
        return {"message_id": message_id, "changed": changed}

    @rpc
    def delivery(self, message_id):
        """The delivery record of a message: status, channel, attempts, and every attempt."""
        return self.app.query(readmodels.delivery, message_id)

    @rpc
    def deliveries(self, caused_by_event_id=None, status=None):
        return self.app.query(readmodels.deliveries_of, caused_by_event_id=caused_by_event_id, status=status)

    @rpc(expected_exceptions=CommandRejected)
    def set_contact(self, recipient_kind, recipient_id, channels=(), email=None, phone=None, wechat=None):
        """Preferred external channels in order (email, sms, wechat) and the addresses."""
        bad = [c for c in channels if c not in domain.EXTERNAL_CHANNELS]
        if recipient_kind not in domain.RECIPIENT_KINDS or bad:
            raise CommandRejected("invalid_input", "接收方类型或渠道无效", {"channels": bad})
        with self.app.db.transaction() as conn:
            readmodels.set_contact(conn, recipient_kind, recipient_id, list(channels), email, phone, wechat)
        return {"recipient_kind": recipient_kind, "recipient_id": recipient_id, "channels": list(channels)}

    @rpc
    def rules(self):
        """The rules table as it runs: active rules, and those waiting for their contract."""
        def row(r):
            return {"source": r.source, "event_type": r.event_type, "template": r.template,
                    "important": r.important}
        return {"active": [row(r) for r in NOTIFIER.rules], "inactive": [row(r) for r in NOTIFIER.inactive]}

    # -- delivery on external channels ----------------------------------------------------
    @config_timer("DELIVERY_POLL_SECONDS", 1.0)
    def deliver_due(self):
        self.deliverer().run_once()

    def deliverer(self) -> Deliverer:
        cfg = self.app.config
        crash = bool(cfg.get("CRASH_AFTER_SEND") or os.environ.get("NOTIFY_CRASH_AFTER_SEND"))
        return Deliverer(self.app.execute, lambda fn, *a: self.app.query(fn, *a), channels.senders_from_config(cfg),
                         _policy(cfg), crash_after_send=crash)

    # -- subscriptions for other departments ---------------------------------------------------
    @rpc(expected_exceptions=CommandRejected)
    def register_webhook(self, department, url, secret, event_types, start_after=None):
        """A department's webhook for `event_types` ("dispatch.ServiceCompleted", ...), starting
        after log position `start_after` (0: from the start; None: from now). `secret`: a
        Standard Webhooks `whsec_` secret, or None for one made here; the answer carries it."""
        known = {f"{s}.{t}" for s, t in public_event_types()}
        try:
            with self.app.db.transaction() as conn:
                return webhooks.register(conn, department, url, secret, list(event_types), start_after, known,
                                         webhooks.TargetPolicy.from_config(self.app.config))
        except webhooks.WebhookRejected as exc:
            raise CommandRejected(exc.code, exc.message) from None

    @rpc
    def webhook(self, webhook_id, department=None):
        """The webhook, its cursor and its delivery log (None unless it is `department`'s, when given)."""
        return self.app.query(webhooks.webhook_view, webhook_id, department, fresh=False)

    @rpc
    def department_webhooks(self, department):
        """The department's webhooks: target, event types, cursor, paused; no secret, no log."""
        return self.app.query(webhooks.webhooks_of, department, fresh=False)

    @rpc
    def webhook_deliveries(self, webhook_id, department, page=1, page_size=20):
        """A page of the department's webhook's delivery log, newest first (None: not its webhook)."""
        return self.app.query(webhooks.deliveries, webhook_id, department, page, page_size, fresh=False)

    @rpc
    def pause_webhook(self, webhook_id, department, paused=True):
        """Pause (the cursor stays) or resume the department's webhook; None if it has none such."""
        with self.app.db.transaction() as conn:
            return webhooks.set_paused(conn, webhook_id, department, bool(paused))

    @rpc
    def delete_webhook(self, webhook_id, department):
        with self.app.db.transaction() as conn:
            return webhooks.delete(conn, webhook_id, department)

    @rpc(expected_exceptions=CommandRejected)
    def event_history(self, event_types, after=0, limit=100):
        """A page of the events of these types, in order, after position `after` (not negative)."""
        if int(after) < 0:
            raise CommandRejected("invalid_input", "起始位置不能为负数")
        return self.app.query(webhooks.history, list(event_types), int(after), int(limit), fresh=False)

    @rpc
    def event_catalogue(self):
        return [f"{s}.{t}" for s, t in public_event_types()]

    @config_timer("WEBHOOK_POLL_SECONDS", 0.5)
    def deliver_webhooks(self):
        cfg = self.app.config
        webhooks.WebhookDeliverer(self.app.db, retry_delays=cfg.get("WEBHOOK_RETRY_DELAYS", (1, 5, 30, 120, 600)),
                                  lease_seconds=float(cfg.get("WEBHOOK_LEASE_SECONDS", 30)),
                                  policy=webhooks.TargetPolicy.from_config(cfg)).run_once()

    # -- scheduled reminders -----------------------------------------------------------------
    @config_timer("REMINDER_SCAN_SECONDS", 3600.0)
    def scheduled_reminders(self):
        self.run_reminders()

    @rpc
    def run_reminders(self, today=None):
        """A month before a campaign deadline, and the mid-year note (from 1 July). Safe to run
        on every instance and as often as wanted: each message has a fixed identity."""
        t = now()
        day = date.fromisoformat(today) if today else t.date()
        days = int(self.app.config.get("DEADLINE_REMINDER_DAYS", 30))
        ids = self.app.execute(handlers.deadline_reminders(NOTIFIER, day, t, days))
        if (day.month, day.day) >= (7, 1):
            try:
                summary = self.dispatch.yearly_minimum(day.year)
            except Exception as exc:  # noqa: BLE001 - dispatch down: the next scan tries again
                log.warning("midyear_summary_unavailable", error=repr(exc))
            else:
                ids += self.app.execute(handlers.midyear_notes(NOTIFIER, day.year, summary, t))
        return {"messages": len(ids)}

    # -- feedback to units (情况反馈) -------------------------------------------------------------
    @rpc(expected_exceptions=CommandRejected)
    def feedback_report(self, unit_id, year, occasion=None):
        """Generate the unit's yearly report (PDF and .xlsx) now and send it to the unit's inbox;
        each request is its own occasion unless one is given."""
        req = self._known_unit(schemas.FeedbackReportSchema, unit_id=unit_id, year=year, occasion=occasion)
        return self._feedback(req["unit_id"], req["year"], req["occasion"] or f"on-demand-{uuid.uuid4()}")

    @rpc(expected_exceptions=CommandRejected)
    def feedback_report_document(self, unit_id, year, fmt):
        """The unit's latest feedback report of `year` as PDF or .xlsx (`fmt`), to download:
        {filename, content_type, content_base64}, or None if none has been generated."""
        req = self._known_unit(schemas.FeedbackDocumentSchema, unit_id=unit_id, year=year, fmt=fmt)
        return feedback.latest_report(_report_dir(self.app.config), req["unit_id"], req["year"], req["fmt"])

    def _known_unit(self, schema, **payload) -> dict:
        """The request validated, for a unit notify knows (a report is never made for a made-up one)."""
        try:
            req = schema().load(payload)
        except ValidationError as exc:
            raise CommandRejected("invalid_input", "提交的内容有误", exc.messages) from None
        if not self.app.query(readmodels.unit_known, req["unit_id"]):
            raise CommandRejected("not_found", f"单位 {req['unit_id']} 不存在")
        return req

    def _feedback(self, unit_id: str, year: int, occasion: str) -> dict:
        t = now()
        figures = self.app.query(readmodels.feedback_figures, unit_id, year)
        files = feedback.write_report(figures, _report_dir(self.app.config), t.isoformat(timespec="seconds"))
        message_id = self.app.execute(handlers.send_feedback_report(NOTIFIER, figures, [str(f) for f in files],
                                                                    occasion, t))
        return {"message_id": message_id, "files": [str(f) for f in files], "totals": figures["totals"]}

    @config_timer("REPORT_SCAN_SECONDS", 3600.0)
    def scheduled_reports(self):
        self.run_yearly_reports()

    @rpc
    def run_yearly_reports(self, today=None):
        """From YEARLY_REPORT_FROM (month-day) on, each unit's yearly report, once a year."""
        day = date.fromisoformat(today) if today else now().date()
        month, mday = (int(x) for x in str(self.app.config.get("YEARLY_REPORT_FROM", "12-15")).split("-"))
        if (day.month, day.day) < (month, mday):
            return {"reports": []}
        done, failed = [], []
        for unit_id in self.app.query(readmodels.units_with_members, fresh=False):
            message_id = handlers.feedback_message_id(unit_id, day.year, "yearly")
            if self.app.query(readmodels.delivery, message_id) is not None:
                continue   # already sent this year (by this instance or another)
            try:
                done.append(self._feedback(unit_id, day.year, "yearly"))
            except Exception as exc:  # noqa: BLE001 - one unit's failure must not hold up the others
                log.error("feedback_report_failed", unit_id=unit_id, year=day.year, error=repr(exc))
                failed.append(unit_id)
        return {"reports": done, "failed": failed}


def _report_dir(cfg: dict) -> Path:
    return Path(cfg.get("REPORT_DIR") or Path(os.environ.get("BAODAO_DATA_DIR", "var")) / "reports")


def _method_name(source: str, event_type: str) -> str:
    """`on_member_checked_in`: the consumer queue's name, stable across releases (a renamed
    method would leave the old queue, and its messages, behind). Sources share no event type
    names; should two ever do, the rules table fails here rather than shadow one."""
    name = "on_" + re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()
    if len({s for s, t in public_event_types() if t == event_type}) > 1:
        raise ValueError(f"event type {event_type} comes from two sources: name its consumers apart")
    return name


def _consumer(source: str, event_type: str):
    def consumer(self, events):
        return self.consume(events)

    consumer.__name__ = consumer.__qualname__ = _method_name(source, event_type)
    return subscribe_batch(source, event_type)(consumer)


for _source, _event_type in public_event_types():
    setattr(NotifyService, _method_name(_source, _event_type), _consumer(_source, _event_type))
