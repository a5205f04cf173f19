"""The notify nameko service: thin entrypoints over the handlers."""
from __future__ import annotations

from nameko.rpc import rpc

from services.notify import domain, handlers, readmodels
from services.notify.templates import Templates
from shared.application import Application, EventCodec
from shared.nameko_support import EventSourcedApp, EventSourcedService, WorkLogging, subscribe

TEMPLATES = Templates(handlers.TEMPLATE_NAMES)  # a missing or broken template fails start-up
RETURN_RECEIPT = handlers.return_check_in_receipt(TEMPLATES)


def build_application(database):
    return Application(database, EventCodec("notify", domain.EVENTS)), [readmodels.InboxProjection()]


class NotifyService(EventSourcedService):
    """通知: receipts, reminders and feedback."""

    name = "notify"

    app = EventSourcedApp(build_application)
    work_logging = WorkLogging()

    @subscribe("registration", "MemberCheckedIn")
    def on_member_checked_in(self, event):
        self.app.handle_once(event, RETURN_RECEIPT, name="notify.return_check_in_receipt")

    @rpc
    def inbox(self, recipient_kind, recipient_id, page=1, page_size=20):
        return self.app.query(readmodels.inbox, recipient_kind, recipient_id, page, page_size)
