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
        return [self.app.handle_once(e, lambda uow, ev: handlers.consume(self.notifier, uow, ev, NOW), RULES_HANDLER)
                for e in events]

    def receive_batch(self, *events):
        """As the running service consumes a batch: set-based, one by one if that fails."""
        return self.app.handle_batch(list(events), lambda uow, ev: handlers.consume(self.notifier, uow, ev, NOW),
                                     RULES_HANDLER,
                                     batch_handler=lambda uow, evs: handlers.consume_batch(self.notifier, uow, evs,
                                                                                           NOW))

    def inbox(self, kind, rid, page=1, page_size=20, unread_only=False):
        return self.query(readmodels.inbox, kind, rid, page, page_size, unread_only)

    def titles(self, kind, rid):
        return sorted(m["title"] for m in self.inbox(kind, rid, page_size=200)["items"])


@pytest.fixture
def notify(database):
    return Notify(database)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receivers:
    """The receivers process and what it recorded."""

    def __init__(self, out):
        self.out, self.smtp_port, self.http_port = out, free_port(), free_port()

    def _lines(self, name):
        import json

        path = self.out / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def mails(self):
        return self._lines("smtp.jsonl")

    def requests(self):
        return self._lines("http.jsonl")

    def url(self, path):
        return f"http://127.0.0.1:{self.http_port}{path}"


@pytest.fixture
def receivers(tmp_path):
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    r = Receivers(tmp_path / "received")
    proc = subprocess.Popen([sys.executable, "-m", "tests.notify.receivers", "--out", str(r.out),
                             "--smtp-port", str(r.smtp_port), "--http-port", str(r.http_port)], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not (r.out / "ready").exists():
        assert proc.poll() is None, "receivers process died"
        assert time.monotonic() < deadline, "receivers not ready"
        time.sleep(0.05)
    yield r
    proc.terminate()
    proc.wait(10)
