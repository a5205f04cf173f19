"""Notify on the real broker, fed by the real registration and dispatch services."""
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.dispatch.service import DispatchService
from services.notify.service import NotifyService
from services.registration.service import RegistrationService
from shared.nameko_edge import CommandRejected
from tests.dispatch.test_service import demand
from tests.messaging.helpers import running, wait_for


@pytest.fixture
def city(amqp_uri, tmp_path, receivers):
    base = {"AMQP_URI": amqp_uri, "INBOX_RETRY_DELAYS": [0.2, 0.5]}
    cfgs = {name: {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/{name}.db", "REPORT_DIR": str(tmp_path / "reports")}
            for name in ("registration", "dispatch", "notify")}
    cfgs["notify"].update({"NOTIFY_SMTP": {"host": "127.0.0.1", "port": receivers.smtp_port},
                           "NOTIFY_SMS": {"url": receivers.url("/ok/sms"), "key": "k"},
                           "DELIVERY_POLL_SECONDS": 0.2, "WEBHOOK_POLL_SECONDS": 0.2,
                           "WEBHOOK_ALLOWED_TARGETS": ["127.0.0.1"]})
    with running(NotifyService, config=cfgs["notify"]), running(DispatchService, config=cfgs["dispatch"]), \
            running(RegistrationService, config=cfgs["registration"]), \
            ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        yield rpc


def test_check_in_to_dispatch_on_the_running_services(city, receivers):
    rpc, cid = city, "c" + uuid.uuid4().hex[:8]
    uid = f"u-{cid}"
    rpc.notify.set_contact("unit", uid, ["email"], email="dangwei@czj.gov.cn")
    reg = rpc.registration
    reg.register_community({"community_id": cid, "name": "幸福社区", "district_id": "xq", "district_name": "西区",
                            "street_id": "hp", "street_name": "和平街道", "card_prefix": cid.upper()})
    reg.add_grid({"community_id": cid, "grid_id": f"{cid}-g1", "name": "一网格", "leader_name": "周"})
    reg.register_unit({"unit_id": uid, "name": "市财政局", "kind": "机关", "district_id": "xq"})
    reg.open_campaign({"unit_id": uid, "campaign_id": "c", "title": "报到", "deadline": "2099-12-31"})
    member = reg.enroll_member({"unit_id": uid, "person_key": "13800000001", "name": "张三", "gender": "男",
                                "phone": "13800000001", "residence_community_id": cid})
    rpc.notify.set_contact("member", member["member_id"], ["sms"])   # the phone comes from the roster
    [letter] = reg.issue_letters({"unit_id": uid, "campaign_id": "c"})["letters"]
    reg.check_in({"member_id": letter["member_id"], "letter_id": letter["letter_id"], "community_id": cid,
                  "grid_id": f"{cid}-g1", "skills": ["法律咨询"], "availability": ["周六上午"]})
    # the main demo's wait: the receipt is in the unit's inbox
    wait_for(lambda: rpc.notify.inbox("unit", uid, 1, 1)["total"] == 1, timeout=30)
    box = rpc.notify.inbox("unit", uid)
    assert box["unread"] == 1 and "张三同志" in box["items"][0]["body"]
    wait_for(lambda: receivers.mails(), timeout=30)
    assert receivers.mails()[0]["to"] == ["dangwei@czj.gov.cn"]
    assert rpc.notify.mark_read(box["items"][0]["message_id"])["changed"] is True
    assert rpc.notify.inbox("unit", uid)["unread"] == 0
    with pytest.raises(CommandRejected) as exc:
        rpc.notify.mark_read("no-such-message")
    assert exc.value.code == "unknown_message"

    wait_for(lambda: rpc.dispatch.yearly_minimum(2026, community_id=cid)["members"], timeout=30)
    demand_id, _ = demand(rpc, cid)
    rpc.dispatch.dispatch_order({"demand_id": demand_id, "candidates": [{"kind": "member",
                                                                          "id": member["member_id"]}],
                                 "by": "staff-1"})
    wait_for(lambda: rpc.notify.inbox("member", member["member_id"])["total"] == 1, timeout=30)
    [order] = rpc.notify.inbox("member", member["member_id"])["items"]
    assert order["title"] == "新的服务订单" and "邻里纠纷" in order["body"]
    sms = wait_for(lambda: [r for r in receivers.requests() if r["path"] == "/ok/sms"], timeout=30)
    assert '"to": "13800000001"' in sms[0]["body"] and "新的服务订单" in sms[0]["body"]
    rpc.dispatch.accept_order({"demand_id": demand_id, "who": {"kind": "member", "id": member["member_id"]}})
    wait_for(lambda: rpc.notify.inbox("resident", "r1")["total"] == 1, timeout=30)
    assert rpc.notify.inbox("resident", "r1")["items"][0]["title"] == "您的服务需求已被接单"

    # 情况反馈: on demand, then the yearly run (once, however often it runs)
    on_demand = rpc.notify.feedback_report(uid, 2026)
    assert all(f.endswith((".pdf", ".xlsx")) for f in on_demand["files"]) and on_demand["totals"]["registered"] == 1
    yearly = rpc.notify.run_yearly_reports("2026-12-16")["reports"]
    assert uid in [r["files"][0].split("/")[-3] for r in yearly]
    assert uid not in [r["files"][0].split("/")[-3] for r in rpc.notify.run_yearly_reports("2026-12-17")["reports"]]
    assert rpc.notify.run_yearly_reports("2026-12-01")["reports"] == []
    reports = rpc.notify.inbox("unit", uid, 1, 20, False, "feedback_report_unit")
    assert reports["total"] == 2 and reports["items"][0]["important"]
    # refused, not a stack trace: a year the programme cannot mean, a unit notify does not know, a format
    for args, code in (((uid, "abc"), "invalid_input"), ((uid, 1999), "invalid_input"),
                       ((None, 2026), "invalid_input"), (("no-such-unit", 2026), "not_found")):
        with pytest.raises(CommandRejected) as exc:
            rpc.notify.feedback_report(*args)
        assert exc.value.code == code, args
    with pytest.raises(CommandRejected) as exc:
        rpc.notify.feedback_report_document(uid, 2026, "docx")
    assert exc.value.code == "invalid_input"
    assert rpc.notify.feedback_report_document(uid, 2026, "pdf")["filename"].endswith(".pdf")

    # a department subscribes late, from the start of the history: the acceptance reaches it signed
    hook = rpc.notify.register_webhook("民政局", receivers.url("/ok/minzheng"), None,
                                       ["dispatch.OrderAccepted", "registration.MemberCheckedIn"], 0)
    got = wait_for(lambda: [r for r in receivers.requests() if r["path"] == "/ok/minzheng"]
                   if len([r for r in receivers.requests() if r["path"] == "/ok/minzheng"]) >= 2 else None, timeout=30)
    from tests.notify.test_webhooks import verify
    assert all(verify(hook["secret"], r) for r in got)
    import json
    types = [json.loads(r["body"])["event"]["event_type"] for r in got]
    assert types == ["MemberCheckedIn", "OrderAccepted"]
    assert [e["outcome"] for e in rpc.notify.webhook(hook["webhook_id"])["log"]] == ["delivered", "delivered"]
    with pytest.raises(CommandRejected):
        rpc.notify.register_webhook("民政局", receivers.url("/ok/x"), "short", ["dispatch.OrderAccepted"])
