"""Delivery on external channels against real local receivers: SMTP (aiosmtpd) and HTTP gateways."""
import time


from services.notify import handlers, readmodels
from services.notify.channels import EmailSender, HttpGatewaySender
from services.notify.delivery import Deliverer
from services.notify.domain import DeliveryPolicy
from tests.notify import events as ev

FAST = DeliveryPolicy(retry_delays=(0.05, 0.1, 0.2), attempt_timeout=0.3)


def deliverer(notify, receivers, sms="/ok/sms", wechat="/ok/wechat", policy=FAST, **kw):
    senders = {"email": EmailSender("127.0.0.1", receivers.smtp_port, "notify@baodao.local"),
               "sms": HttpGatewaySender("sms", receivers.url(sms), "sms-key"),
               "wechat": HttpGatewaySender("wechat", receivers.url(wechat), "wx-key")}
    return Deliverer(notify.do, notify.query, senders, policy, **kw)


def deliver_until(d, notify, message_id, statuses=("sent", "failed", "uncertain"), timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d.run_once()
        record = notify.query(readmodels.delivery, message_id)
        if record["status"] in statuses:
            return record
        time.sleep(0.05)
    raise AssertionError(f"still {record['status']}: {record}")


def check_in_unit(notify, unit_contact: dict):
    with notify.db.transaction() as conn:
        readmodels.set_contact(conn, "unit", "czj", **unit_contact)
    notify.receive(ev.unit(), ev.community(), ev.enrolled("m1", "张三"), ev.checked_in("m1", "张三"))
    [msg] = notify.inbox("unit", "czj")["items"]
    return msg["message_id"]


def test_email_over_smtp(notify, receivers):
    mid = check_in_unit(notify, {"channels": ["email"], "email": "dangwei@czj.gov.cn"})
    record = deliver_until(deliverer(notify, receivers), notify, mid)
    assert record["status"] == "sent" and record["channel"] == "email" and record["attempts"] == 1
    [mail] = receivers.mails()
    assert mail["to"] == ["dangwei@czj.gov.cn"] and mail["subject"] == "在职党员报到介绍信（回执）"
    assert "张三同志已于2026年11月22日到幸福社区报到" in mail["body"] and mid in mail["message_id"]
    assert [e["outcome"] for e in record["log"]] == ["started", "sent"]


def test_sms_retried_with_back_off_then_sent_once(notify, receivers):
    mid = check_in_unit(notify, {"channels": ["sms"], "phone": "13900000000"})
    record = deliver_until(deliverer(notify, receivers, sms="/flaky2/sms"), notify, mid)
    assert record["status"] == "sent" and record["retries"] == 2 and record["attempts"] == 3
    assert [e["outcome"] for e in record["log"]] == ["started", "failed", "started", "failed", "started", "sent"]
    assert "503" in record["log"][1]["reason"]
    reqs = receivers.requests()
    assert [r["outcome"] for r in reqs] == ["unavailable", "unavailable", "accepted"]
    assert reqs[-1]["headers"]["Authorization"] == "Bearer sms-key"
    assert reqs[-1]["headers"]["Idempotency-Key"] == mid
    # the back-off was waited: each retry at least its delay after the failure
    assert reqs[1]["at"] - reqs[0]["at"] >= 0.05 and reqs[2]["at"] - reqs[1]["at"] >= 0.1


def test_fallback_to_the_next_preferred_channel(notify, receivers):
    mid = check_in_unit(notify, {"channels": ["wechat", "sms", "email"], "wechat": "openid-1",
                                 "phone": "13900000000", "email": "a@b.cn"})
    record = deliver_until(deliverer(notify, receivers, wechat="/reject/wechat"), notify, mid)
    assert record["status"] == "sent" and record["channel"] == "sms"
    assert [(e["channel"], e["outcome"]) for e in record["log"]] == [
        ("wechat", "started"), ("wechat", "failed"), ("sms", "started"), ("sms", "sent")]
    assert "400" in record["last_error"]
    assert receivers.mails() == []           # once sent on one channel, not on the next


def test_every_channel_failing_is_recorded_with_its_reason(notify, receivers):
    mid = check_in_unit(notify, {"channels": ["email", "sms"], "email": "refuse@czj.gov.cn",
                                 "phone": "13900000000"})
    record = deliver_until(deliverer(notify, receivers, sms="/flaky9/sms"), notify, mid)
    assert record["status"] == "failed"
    assert record["log"][1]["outcome"] == "failed" and "收件地址被拒绝" in record["log"][1]["reason"]
    sms = [e for e in record["log"] if e["channel"] == "sms" and e["outcome"] == "failed"]
    assert len(sms) == 4 and "503" in record["last_error"]   # first try + 3 retries
    assert notify.inbox("unit", "czj")["total"] == 1          # the inbox has it all the same


def test_a_crashed_attempt_is_resolved_by_the_channels_guarantee(notify, receivers):
    """As after a crash between sending and recording (the real crash test is in
    test_crash.py): SMS is sent again with the same key and the gateway drops the repeat;
    email is not sent again."""
    with notify.db.transaction() as conn:
        readmodels.set_contact(conn, "member", "m1", ["sms"], phone="13900000000")
    mid_email = check_in_unit(notify, {"channels": ["email"], "email": "dangwei@czj.gov.cn"})
    notify.receive(ev.overdue("m1"))
    [member_msg] = notify.inbox("member", "m1")["items"]
    crashed = deliverer(notify, receivers)
    # send without recording, as a dead process would have
    for mid in (mid_email, member_msg["message_id"]):
        attempt = notify.do(handlers.start_attempt, mid, crashed.clock())
        crashed.senders[attempt["channel"]].send(message_id=mid, address=attempt["address"],
                                                 title=attempt["title"], body=attempt["body"],
                                                 template=attempt["template"])
    time.sleep(0.35)
    d = deliverer(notify, receivers)
    email = deliver_until(d, notify, mid_email)
    sms = deliver_until(d, notify, member_msg["message_id"])
    assert email["status"] == "uncertain"
    assert [m["subject"] for m in receivers.mails()].count("在职党员报到介绍信（回执）") == 1
    assert sms["status"] == "sent"
    outcomes = [r["outcome"] for r in receivers.requests()]
    assert outcomes == ["accepted", "duplicate"]   # sent twice, accepted once
