"""Subscriptions for other departments: webhooks signed the Standard Webhooks way to a real
local HTTP receiver (allow-listed: loopback is refused otherwise); history paged from the
start, then live with no gap and no duplicate; targets checked against request forgery."""
import ipaddress
import json
import time
from functools import partial

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notify import webhooks
from services.notify.webhooks import TargetPolicy, WebhookRejected
from tests.notify import events as ev

SECRET = "whsec_" + "bWluemhlbmdqdS1zZWNyZXQtMDAwMS1mb3ItdGVzdHM="   # 32 bytes
COMPLETED = "dispatch.ServiceCompleted"
#: The local receivers listen on loopback, which an operator must allow-list.
LOCAL = TargetPolicy(allowed=["127.0.0.1"])
WebhookDeliverer = partial(webhooks.WebhookDeliverer, policy=LOCAL)


def verify(secret, request):
    """What the department's receiver does: the Standard Webhooks library's own check."""
    try:
        Webhook(secret).verify(request["body"], request["headers"])
    except WebhookVerificationError:
        return False
    return True


def register(notify, url, start_after=0, types=(COMPLETED,), policy=LOCAL, secret=SECRET, department="民政局"):
    with notify.db.transaction() as conn:
        return webhooks.register(conn, department, url, secret, list(types), start_after,
                                 {COMPLETED, "dispatch.OrderAccepted", "registration.MemberCheckedIn"}, policy)


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
    assert not verify("whsec_" + "YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZyE=", reqs[0])
    bodies = [json.loads(r["body"]) for r in reqs if r["status"] == 200]
    assert [b["event"]["data"]["demand_id"] for b in bodies] == ["d1", "d2"]
    assert all(b["event"]["event_type"] == "ServiceCompleted" for b in bodies)
    assert reqs[0]["headers"]["webhook-id"] == reqs[2]["headers"]["webhook-id"]   # the same event retried
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
    with pytest.raises(WebhookRejected) as exc:
        register(notify, receivers.url("/ok/x"), start_after=-1)
    assert exc.value.code == "invalid_input"
    for weak in ("minzhengju-secret-0001", "whsec_c2hvcnQ=", "whsec_not base64!"):
        with pytest.raises(WebhookRejected) as exc:
            register(notify, receivers.url("/ok/x"), secret=weak)
        assert exc.value.code == "weak_secret", weak
    made = register(notify, receivers.url("/ok/x"), secret=None)
    assert made["secret"].startswith("whsec_") and Webhook(made["secret"])   # a Standard Webhooks secret


def resolver(table):
    """A fake DNS: host name → addresses."""
    return lambda host, port: [ipaddress.ip_address(a) for a in table.get(host, [])]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/hook", "http://169.254.169.254/latest/",
    "http://10.1.2.3/hook", "http://172.16.5.5/hook", "http://192.168.1.10/hook", "http://100.64.0.1/hook",
    "http://0.0.0.0/hook", "http://[::ffff:127.0.0.1]/hook", "http://[fd00::1]/hook", "http://intranet.example/hook",
    "http://rebind.example/hook", "https://mq.internal/hook", "http://203.0.113.9/hook"])
def test_a_target_on_loopback_link_local_private_or_the_platform_is_refused(url):
    """SSRF: the host name is resolved and every address must be public, and not the platform's."""
    policy = TargetPolicy(platform_hosts=["mq.internal"], resolve=resolver({
        "localhost": ["127.0.0.1"], "intranet.example": ["10.9.9.9"], "rebind.example": ["93.184.216.34", "127.0.0.1"],
        "mq.internal": ["93.184.216.40"], "127.0.0.1": ["127.0.0.1"], "::1": ["::1"],
        "169.254.169.254": ["169.254.169.254"], "10.1.2.3": ["10.1.2.3"], "172.16.5.5": ["172.16.5.5"],
        "192.168.1.10": ["192.168.1.10"], "100.64.0.1": ["100.64.0.1"], "0.0.0.0": ["0.0.0.0"],
        "::ffff:127.0.0.1": ["::ffff:127.0.0.1"], "fd00::1": ["fd00::1"], "203.0.113.9": ["203.0.113.9"]}))
    with pytest.raises(WebhookRejected) as exc:
        policy.check(url)
    assert exc.value.code == "forbidden_target"


def test_a_public_target_or_an_allow_listed_one_is_accepted_and_an_unknown_name_refused():
    table = {"hook.mz.gov.cn": ["93.184.216.34"], "intranet.mz": ["10.20.1.5"], "plain.mz": ["10.30.0.1"]}
    TargetPolicy(resolve=resolver(table)).check("https://hook.mz.gov.cn/baodao")
    allowing = TargetPolicy(allowed="10.20.0.0/16, plain.mz", resolve=resolver(table))
    allowing.check("http://intranet.mz:8443/hook")
    allowing.check("http://plain.mz/hook")
    with pytest.raises(WebhookRejected) as exc:
        TargetPolicy(resolve=resolver(table)).check("http://nowhere.mz/hook")
    assert exc.value.code == "unresolvable_target"


def test_the_platform_hosts_come_from_the_services_own_config():
    policy = TargetPolicy.from_config({"AMQP_URI": "amqp://guest:guest@rabbit.baodao:5672/",
                                       "DATABASE_URL": "postgresql://u:p@pg.baodao/db",
                                       "WEBHOOK_PLATFORM_HOSTS": "gw.baodao"})
    assert policy.platform_names == {"rabbit.baodao", "pg.baodao", "gw.baodao"}


def test_registration_refuses_loopback_unless_allow_listed(notify, receivers):
    with pytest.raises(WebhookRejected) as exc:
        register(notify, receivers.url("/ok/x"), policy=TargetPolicy())
    assert exc.value.code == "forbidden_target"
    assert register(notify, receivers.url("/ok/x"))["webhook_id"]


def test_delivery_checks_the_target_again_and_follows_no_redirect(notify, receivers):
    """A target that became forbidden after registration (its name now resolves inside) gets
    nothing: the attempt is logged as refused; a receiver's redirect is not followed."""
    notify.receive(ev.unit(), ev.community(), ev.demand("d1"), ev.completed("d1", "m1", "张三"))
    hook = register(notify, receivers.url("/ok/hooks"))
    assert webhooks.WebhookDeliverer(notify.db, policy=TargetPolicy()).run_once() == 0
    assert receivers.requests() == []
    with notify.db.transaction() as conn:
        log = webhooks.webhook_view(conn, hook["webhook_id"])["log"]
    assert [e["outcome"] for e in log] == ["failed"] and log[0]["error"].startswith("forbidden_target")


def test_pause_resume_delete_only_the_departments_own(notify, receivers):
    notify.receive(ev.unit(), ev.community(), ev.demand("d1"), ev.completed("d1", "m1", "张三"))
    hook = register(notify, receivers.url("/ok/hooks"))
    other = register(notify, receivers.url("/ok/other"), department="卫健委")
    with notify.db.transaction() as conn:
        assert webhooks.set_paused(conn, hook["webhook_id"], "卫健委", True) is None     # not theirs
        assert webhooks.set_paused(conn, hook["webhook_id"], "民政局", True)["paused"] is True
        assert [w["webhook_id"] for w in webhooks.webhooks_of(conn, "民政局")] == [hook["webhook_id"]]
        assert "secret" not in webhooks.webhooks_of(conn, "民政局")[0]
        assert webhooks.webhook_view(conn, other["webhook_id"], "民政局") is None
        assert webhooks.deliveries(conn, other["webhook_id"], "民政局") is None
    WebhookDeliverer(notify.db).run_once()
    assert [r["path"] for r in receivers.requests()] == ["/ok/other"]     # the paused one waits
    with notify.db.transaction() as conn:
        webhooks.set_paused(conn, hook["webhook_id"], "民政局", False)
    WebhookDeliverer(notify.db).run_once()
    assert sorted(r["path"] for r in receivers.requests()) == ["/ok/hooks", "/ok/other"]
    with notify.db.transaction() as conn:
        page = webhooks.deliveries(conn, hook["webhook_id"], "民政局")
        assert page["total"] == 1 and page["items"][0]["outcome"] == "delivered"
        assert webhooks.delete(conn, hook["webhook_id"], "卫健委") is False
        assert webhooks.delete(conn, hook["webhook_id"], "民政局") is True
        assert webhooks.webhooks_of(conn, "民政局") == []


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


def test_personal_data_leaves_masked_and_stays_whole_in_notify(notify, receivers):
    """A member's phone (MemberEnrolled) and a resident's id — an Open311 phone —, name and home
    address (DemandRecorded) reach departments masked as the noticeboard masks them (shared/privacy.py),
    in the history and in the webhook's body; notify's own log keeps them whole."""
    notify.receive(ev.unit(), ev.community(), ev.enrolled("m1", "张三", phone="13912345678"),
                   ev.demand("d1", resident="13700001234"))
    types = ["registration.MemberEnrolled", "dispatch.DemandRecorded"]
    with notify.db.transaction() as conn:
        page = webhooks.history(conn, types)
        whole = [json.loads(e) for e in conn.execute(webhooks.event_log.select().with_only_columns(webhooks.event_log.c.envelope)).scalars()]
    enrolled, demand = (e["event"]["data"] for e in page["events"])
    assert enrolled["phone"] == "139****5678" and enrolled["name"] == "张三"      # a member's name is not masked
    assert demand["resident_id"] == "137****1234" and demand["resident_name"] == "赵*爷"
    assert demand["address"] == "幸福小***" and "幸福小区3栋" not in json.dumps(page)     # the building is not shown
    assert "13912345678" in json.dumps(whole) and "13700001234" in json.dumps(whole)
    with notify.db.transaction() as conn:
        webhooks.register(conn, "民政局", receivers.url("/ok/hooks"), SECRET, types, 0, set(types), LOCAL)
    WebhookDeliverer(notify.db).run_once()
    bodies = " ".join(r["body"] for r in receivers.requests())
    assert "139****5678" in bodies and "13912345678" not in bodies and "13700001234" not in bodies


def test_the_asyncapi_document_marks_the_personal_fields():
    from services.notify.asyncapi import document

    messages = document()["components"]["messages"]
    data = messages["registration.MemberEnrolled"]["payload"]["properties"]["data"]["properties"]
    assert data["phone"]["x-personal"] == "phone" and "x-personal" not in data["member_id"]
    demand = messages["dispatch.DemandRecorded"]["payload"]["properties"]["data"]["properties"]
    assert demand["resident_id"]["x-personal"] == "contact" and demand["resident_name"]["x-personal"] == "name"
    assert demand["address"]["x-personal"] == "address"
