"""Other departments (委办局) over HTTPS: accounts the city or a district creates with granted
event types; the catalogue, the history and webhooks of those types only; each department sees
and changes only its own webhooks; targets checked against request forgery; deliveries signed
the Standard Webhooks way (checked with the `standardwebhooks` library)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from tests.gateway.conftest import PASSWORD, create
from tests.messaging.helpers import wait_for

ENROLLED, CHECKED_IN, DEMAND = "registration.MemberEnrolled", "registration.MemberCheckedIn", "dispatch.DemandRecorded"


@pytest.fixture(scope="module")
def depts(city):
    admin = city.as_("admin")
    create(admin, "dept-mz", "department", "市民政局", event_types=[ENROLLED, CHECKED_IN])
    create(city.as_("org-xq"), "dept-wjw", "department", "西区卫健委", event_types=[DEMAND])
    city.login("dept-mz")
    city.login("dept-wjw")
    return city


class Receiver:
    """A department's web server: records each POST (headers and body), answers 204."""

    def __init__(self):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                seen.append((dict(self.headers.items()), body.decode("utf-8")))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/baodao"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_only_the_city_or_a_district_creates_a_department_with_known_event_types(depts):
    admin, street = depts.as_("admin"), depts.as_("street-hp")
    base = {"username": "dept-x", "password": PASSWORD, "role": "department", "display_name": "某局"}
    assert admin.post("/api/v1/accounts", base).status_code == 400                       # no grant
    r = admin.post("/api/v1/accounts", {**base, "event_types": ["dispatch.NoSuchEvent"]})
    assert r.status_code == 400 and "dispatch.NoSuchEvent" in json.dumps(r.json, ensure_ascii=False)
    assert street.post("/api/v1/accounts", {**base, "event_types": [DEMAND]}).status_code == 403
    mz = depts.as_("dept-mz")
    assert mz.ok("GET", "/api/v1/me")["role"] == "department"
    # a department reads nothing of the hierarchy
    for path in ("/api/v1/communities/xf", "/api/v1/units/czj", "/api/v1/statistics", "/api/v1/accounts"):
        assert mz.get(path).status_code == 403, path


def test_catalogue_and_history_of_the_granted_types_only(depts):
    mz, wjw = depts.as_("dept-mz"), depts.as_("dept-wjw")
    assert sorted(mz.ok("GET", "/api/v1/department/event-types")["event_types"]) == sorted([ENROLLED, CHECKED_IN])
    assert wjw.ok("GET", "/api/v1/department/event-types")["event_types"] == [DEMAND]
    wait_for(lambda: len(mz.ok("GET", "/api/v1/department/events")["events"]) >= 4, timeout=30)
    page = mz.ok("GET", "/api/v1/department/events?limit=2")
    assert len(page["events"]) == 2
    assert {f"{e['event']['source']}.{e['event']['event_type']}" for e in page["events"]} <= {ENROLLED, CHECKED_IN}
    after = mz.ok("GET", f"/api/v1/department/events?start_after={page['last_position']}&limit=2")
    assert after["events"][0]["position"] > page["events"][-1]["position"]          # paged from any position
    only = mz.ok("GET", f"/api/v1/department/events?event_types={CHECKED_IN}")
    assert {e["event"]["event_type"] for e in only["events"]} == {"MemberCheckedIn"}
    r = mz.get("/api/v1/department/events?start_after=-1")
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_input"
    assert mz.get(f"/api/v1/department/events?event_types={DEMAND}").status_code == 403   # not granted
    assert depts.as_("admin").get("/api/v1/department/events").status_code == 403       # not a department
    assert depts.api.get("/api/v1/department/events").status_code == 401


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.8/hook",
                                 "http://192.168.1.20/hook", "http://[::1]:8080/hook", "ftp://example.org/x"])
def test_a_webhook_to_an_internal_address_is_refused(depts, url):
    r = depts.as_("dept-mz").post("/api/v1/department/webhooks", {"url": url, "event_types": [ENROLLED]})
    assert r.status_code == 400 and r.json["error"]["code"] in ("forbidden_target", "invalid_url"), r.json


def test_a_department_registers_a_signed_webhook_and_manages_only_its_own(depts):
    mz, wjw = depts.as_("dept-mz"), depts.as_("dept-wjw")
    receiver = Receiver()
    try:
        assert mz.post("/api/v1/department/webhooks", {"url": receiver.url, "event_types": [DEMAND]}).status_code == 403
        assert mz.post("/api/v1/department/webhooks", {"url": receiver.url, "event_types": [ENROLLED],
                                                       "start_after": -1}).status_code == 400
        hook = mz.ok("POST", "/api/v1/department/webhooks", {"url": receiver.url, "event_types": [ENROLLED],
                                                             "start_after": 0})
        assert hook["secret"].startswith("whsec_")
        wait_for(lambda: len(receiver.seen) >= 2, timeout=30)
        for headers, body in receiver.seen:
            event = Webhook(hook["secret"]).verify(body, headers)["event"]    # the library's own check
            assert event["event_type"] == "MemberEnrolled"
            assert headers["webhook-id"] == event["event_id"]
        hook_id = hook["webhook_id"]
        listed = mz.ok("GET", "/api/v1/department/webhooks")
        assert [h["webhook_id"] for h in listed["items"]] == [hook_id] and "secret" not in listed["items"][0]
        assert wjw.ok("GET", "/api/v1/department/webhooks")["items"] == []
        for method, path in (("GET", ""), ("GET", "/deliveries"), ("POST", "/pause"), ("POST", "/resume"),
                             ("DELETE", "")):
            r = wjw.request(method, f"/api/v1/department/webhooks/{hook_id}{path}")
            assert r.status_code == 404, (method, path, r.status_code)               # not theirs: not found
        log = mz.ok("GET", f"/api/v1/department/webhooks/{hook_id}/deliveries")
        assert log["total"] >= 2 and {d["outcome"] for d in log["items"]} == {"delivered"}
        assert mz.ok("POST", f"/api/v1/department/webhooks/{hook_id}/pause")["paused"] is True
        assert mz.ok("GET", f"/api/v1/department/webhooks/{hook_id}")["paused"] is True
        assert mz.ok("POST", f"/api/v1/department/webhooks/{hook_id}/resume")["paused"] is False
        assert mz.ok("DELETE", f"/api/v1/department/webhooks/{hook_id}")["deleted"] is True
        assert mz.get(f"/api/v1/department/webhooks/{hook_id}").status_code == 404
    finally:
        receiver.close()


def test_a_narrowed_grant_pauses_the_webhooks_beyond_it(depts):
    mz, admin = depts.as_("dept-mz"), depts.as_("admin")
    hook = mz.ok("POST", "/api/v1/department/webhooks", {"url": "http://127.0.0.1:9/none",
                                                         "event_types": [ENROLLED, CHECKED_IN]})
    assert depts.as_("org-dc").post("/api/v1/accounts/dept-wjw/event-types",
                                    {"event_types": [DEMAND]}).status_code == 404     # another district's
    done = admin.ok("POST", "/api/v1/accounts/dept-mz/event-types", {"event_types": [CHECKED_IN]})
    assert done["event_types"] == [CHECKED_IN] and hook["webhook_id"] in done["paused_webhooks"]
    assert mz.ok("GET", "/api/v1/department/event-types")["event_types"] == [CHECKED_IN]
    assert mz.post(f"/api/v1/department/webhooks/{hook['webhook_id']}/resume").status_code == 403
    assert mz.get(f"/api/v1/department/events?event_types={ENROLLED}").status_code == 403
    admin.ok("POST", "/api/v1/accounts/dept-mz/event-types", {"event_types": [ENROLLED, CHECKED_IN]})


def test_the_department_api_is_in_the_openapi_document(depts):
    paths = depts.api.ok("GET", "/openapi.json")["paths"]
    for path in ("/api/v1/department/event-types", "/api/v1/department/events", "/api/v1/department/webhooks",
                 "/api/v1/department/webhooks/{webhook_id}", "/api/v1/department/webhooks/{webhook_id}/deliveries",
                 "/api/v1/department/webhooks/{webhook_id}/pause", "/api/v1/department/webhooks/{webhook_id}/resume"):
        assert path in paths, path
    assert "delete" in paths["/api/v1/department/webhooks/{webhook_id}"]


def test_the_department_console_page(depts):
    """委办局 console: its granted types, registering a webhook (the secret shown once, on the
    page), an internal address refused beside the field, pause, the delivery log, delete."""
    from werkzeug.datastructures import MultiDict

    from tests.gateway.console_client import Browser, field_error, flash_of

    browser = Browser(depts.gateway, "dept-wjw")
    assert browser.home == "/console/department"
    page = browser.html("/console/department")
    assert DEMAND in page and ENROLLED not in page
    status, page = browser.submit("/console/department/webhooks", MultiDict(
        [("url", "http://10.1.1.1/hook"), ("event_types", DEMAND)]))
    assert status == 400 and "内网" in field_error(page, "url")
    status, page = browser.submit("/console/department/webhooks", MultiDict(
        [("url", "http://127.0.0.1:9/wjw"), ("event_types", DEMAND), ("start", "now")]))
    assert status == 200 and "whsec_" in page
    hook = depts.as_("dept-wjw").ok("GET", "/api/v1/department/webhooks")["items"][0]
    assert "whsec_" not in browser.html("/console/department")            # shown once only
    status, page = browser.submit(f"/console/department/webhooks/{hook['webhook_id']}/pause")
    assert flash_of(page) == "已暂停推送"
    assert "投递记录" in browser.html(f"/console/department/webhooks/{hook['webhook_id']}")
    status, page = browser.submit(f"/console/department/webhooks/{hook['webhook_id']}/delete")
    assert flash_of(page) == "已删除"
    assert Browser(depts.gateway, "dept-mz").get(f"/console/department/webhooks/{hook['webhook_id']}").status_code == 404
