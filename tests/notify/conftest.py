"""Notify's service layer on a real database (both back ends)."""
from datetime import datetime, timezone

import pytest

from services.notify import handlers, readmodels
from services.notify.service import RULES_HANDLER, build_application
from tests.service_layer import ServiceLayer

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


class Notify(ServiceLayer):
    def __init__(self, database, notifier=None):
        super().__init__(database, build_application)
        self.notifier = notifier or handlers.Notifier()

    def receive(self, *events):
        return [self.app.handle_once(e, lambda uow, ev: self.notifier.handle(uow, ev, NOW), RULES_HANDLER)
                for e in events]

    def inbox(self, kind, rid, page=1, page_size=20, unread_only=False):
        return self.query(readmodels.inbox, kind, rid, page, page_size, unread_only)

    def titles(self, kind, rid):
        return sorted(m["title"] for m in self.inbox(kind, rid, page_size=200)["items"])


@pytest.fixture
def notify(database):
    return Notify(database)
