"""Subscriptions for other departments: signed webhooks to a real local HTTP receiver; history
paged from the start, then live with no gap and no duplicate."""
import hashlib
import hmac
import json
import time

import pytest

from services.notify import webhooks
from services.notify.webhooks import WebhookDeliverer, WebhookRejected
from tests.notify import events as ev

SECRET = "minzhengju-secret-0001"
COMPLETED = "dispatch.ServiceCompleted"


def verify(secret, request):
    """What the department's receiver does."""
    headers = request["headers"]
    expected = "sha256=" + hmac.new(secret.encode(), headers["X-Baodao-Timestamp"].encode() + b"."
                                    + request["body"].encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Baodao-Signature"]) and \
        abs(time.time() - int(headers["X-Baodao-Timestamp"])) < 300


def register(notify, url, start_after=0, types=(COMPLETED,)):
    with notify.db.transaction() as conn:
        return webhooks.register(conn, "民政局", url, SECRET, list(types), start_after,
                                 {COMPLETED, "dispatch.OrderAccepted", "registration.MemberCheckedIn"})


def test_a_signed_webhook_delivered_in_order_with_retries(notify, receivers):
    notify.receive(ev.unit(), ev.community(), ev.demand("d1"), ev.completed("d1", "m1", "张三"),
                   ev.demand("d2"), ev.completed("d2", "m2", "李四"))
    hook = register(notify, receivers.url("/flaky2/hooks"))
    d = WebhookDeliverer(notify.db, retry_delays=(0.05, 0.1))
    deadline = time.monotonic() + 15
    while len([r for r in receivers.requests() if r["status"] == 200]) < 2 and time.monotonic() < deadline:
        d.run_once()
        time.sleep(0.05)
    reqs = receivers.requests()
    assert [r["status"] for r in reqs] == [503, 503, 200, 200]
    assert all(verify(SECRET, r) for r in reqs)
    assert not verify("another-secret-000000", reqs[0])
    bodies = [json.loads(r["body"]) for r in reqs if r["status"] == 200]
    assert [b["event"]["data"]["demand_id"] for b in bodies] == ["d1", "d2"]
    assert all(b["event"]["event_type"] == "ServiceCompleted" for b in bodies)
    assert reqs[0]["headers"]["X-Baodao-Event-Id"] == reqs[2]["headers"]["X-Baodao-Event-Id"]   # the same event retried
    with notify.db.transaction() as conn:
        view = webhooks.webhook_view(conn, hook["webhook_id"])
    assert [(e["outcome"], e["attempt"]) for e in view["log"]] == [("failed", 1), ("failed", 2), ("delivered", 3),
                                                                   ("delivered", 1)]
    assert view["cursor"] == bodies[-1]["position"] and view["failures"] == 0
    d.run_once()
    assert len(receivers.requests()) == 4     # nothing delivered twice


def test_history_then_live_with_no_gap_and_no_duplicate(notify, receivers):
    notify.receive(ev.unit(), ev.community())
    for i in range(7):
        notify.receive(ev.demand(f"d{i}"), ev.completed(f"d{i}", "m1", "张三"))
    # a department joining late pages through the history from the start ...
    seen, after = [], 0
    while True:
        with notify.db.transaction() as conn:
            page = webhooks.history(conn, [COMPLETED], after, limit=3)
        if not page["events"]:
            break
        seen += [e["event"]["data"]["demand_id"] for e in page["events"]]
        after = page["last_position"]
        if len(seen) == 3:   # meanwhile, more services are completed
            notify.receive(ev.demand("d7"), ev.completed("d7", "m1", "张三"))
    # ... then switches to live delivery where the history ended
    register(notify, receivers.url("/ok/hooks"), start_after=after)
    notify.receive(ev.demand("d8"), ev.completed("d8", "m1", "张三"), ev.demand("d9"),
                   ev.completed("d9", "m1", "张三"))
    d = WebhookDeliverer(notify.db)
    for _ in range(3):
        d.run_once()
    live = [json.loads(r["body"])["event"]["data"]["demand_id"] for r in receivers.requests()]
    assert seen + live == [f"d{i}" for i in range(10)]


def test_registration_is_checked(notify, receivers):
    with pytest.raises(WebhookRejected) as exc:
        register(notify, "ftp://x", types=(COMPLETED,))
    assert exc.value.code == "invalid_url"
    with pytest.raises(WebhookRejected) as exc:
        register(notify, receivers.url("/ok/x"), types=("dispatch.NoSuchEvent",))
    assert exc.value.code == "unknown_event_type" and "dispatch.NoSuchEvent" in exc.value.message


def test_one_instance_at_a_time_delivers_a_webhook(notify, receivers):
    notify.receive(ev.unit(), ev.community(), ev.demand("d1"), ev.completed("d1", "m1", "张三"))
    register(notify, receivers.url("/ok/hooks"))
    a, b = WebhookDeliverer(notify.db), WebhookDeliverer(notify.db)
    hook_id = None
    with notify.db.transaction() as conn:
        hook_id = conn.execute(webhooks.webhooks.select()).first().webhook_id
    assert a._lease(hook_id) is not None
    assert b.deliver(hook_id) == 0          # leased by a
    assert a.deliver(hook_id) == 1
    assert b.deliver(hook_id) == 0          # nothing left
    assert len(receivers.requests()) == 1


def test_a_run_delivers_the_whole_backlog_page_after_page_over_one_kept_alive_connection(notify):
    """A receiver speaking HTTP/1.1 (as a department's web server does): one connection for
    every delivery of a run, and a backlog larger than a page delivered in one run, in order."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []   # (client port, position)

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.client_address[1], body["position"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        notify.receive(ev.unit(), ev.community(), *[e for i in range(7) for e in (
            ev.demand(f"d{i}"), ev.completed(f"d{i}", "m1", "张三"))])
        hook = register(notify, f"http://127.0.0.1:{server.server_address[1]}/hooks")
        assert WebhookDeliverer(notify.db, batch=3).run_once() == 7      # pages of 3, 3 and 1
        assert len({port for port, _ in seen}) == 1                       # one connection
        positions = [p for _, p in seen]
        assert positions == sorted(positions) and len(set(positions)) == 7
        with notify.db.transaction() as conn:
            view = webhooks.webhook_view(conn, hook["webhook_id"])
        assert view["cursor"] == positions[-1] and [e["outcome"] for e in view["log"]] == ["delivered"] * 7
        assert WebhookDeliverer(notify.db, batch=3).run_once() == 0       # nothing twice
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_slower_than_the_lease_is_still_delivered_by_one_instance_once_in_order(notify):
    """A page of slow deliveries outlasts the lease: the running instance renews it before each
    delivery once half has gone, so an instance that tries meanwhile finds it taken, and each
    event is posted once, in order (before, the second instance took the expired lease and both
    posted the same events)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import eventlet

    seen = []

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["position"])
            time.sleep(0.02)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        notify.receive(ev.unit(), ev.community(), *[e for i in range(30) for e in (
            ev.demand(f"d{i}"), ev.completed(f"d{i}", "m1", "张三"))])
        hook = register(notify, f"http://127.0.0.1:{server.server_address[1]}/hooks")
        a = WebhookDeliverer(notify.db, lease_seconds=0.2, run_seconds=60)   # one page of 30: ≥ 0.6 s
        b = WebhookDeliverer(notify.db, lease_seconds=0.2, run_seconds=60)
        first = eventlet.spawn(a.deliver, hook["webhook_id"])
        others = 0
        while not first.dead:
            eventlet.sleep(0.25)        # past a lease that was not renewed
            others += b.deliver(hook["webhook_id"])
        delivered = first.wait() + others + b.deliver(hook["webhook_id"])
        assert delivered == 30
        assert seen == sorted(seen) and len(seen) == len(set(seen)) == 30
    finally:
        a.close()
        b.close()
        server.shutdown()
        server.server_close()
