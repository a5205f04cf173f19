"""Notify's rules: one message per event, templates checked at start-up."""
import pytest

from services.notify.domain import Message, RenderedMessage, message_id_for
from services.notify.rules import chinese_date
from services.notify.templates import TemplateError, Templates


def test_message_id_is_stable_per_event_template_and_recipient():
    a = message_id_for("e1", "check_in_receipt", "unit", "u1")
    assert a == message_id_for("e1", "check_in_receipt", "unit", "u1")
    assert a != message_id_for("e2", "check_in_receipt", "unit", "u1")
    assert a != message_id_for("e1", "check_in_receipt", "unit", "u2")


def test_a_message_is_delivered_to_the_inbox_once():
    m = Message("m1")
    kwargs = dict(recipient_kind="unit", recipient_id="u1", template="t", rendered=RenderedMessage("标题", "正文"),
                  caused_by_event_id="e1", delivered_at="2026-11-22T00:00:00+00:00")
    assert m.deliver_to_inbox(**kwargs) is True
    assert m.deliver_to_inbox(**kwargs) is False
    replayed = Message.replay("m1", m.collect_pending())
    assert replayed.deliver_to_inbox(**kwargs) is False and not replayed.pending


def test_receipt_template_renders_in_chinese():
    rendered = Templates(["check_in_receipt"]).render("check_in_receipt", {
        "unit_name": "市财政局", "member_name": "张三", "community_name": "幸福社区", "card_no": "XF-00001",
        "checked_in_date": chinese_date("2026-11-21T17:30:00+00:00")})
    assert rendered.title == "在职党员报到介绍信（回执）"
    assert "张三同志已于2026年11月22日到幸福社区报到" in rendered.body  # 17:30 UTC is the 22nd in Beijing
    assert "XF-00001" in rendered.body and "市财政局党组织" in rendered.body


def test_missing_or_broken_templates_fail_at_start_up(tmp_path):
    (tmp_path / "broken.txt").write_text("标题\n${unclosed", encoding="utf-8")
    with pytest.raises(TemplateError) as exc:
        Templates(["absent", "broken"], directory=tmp_path)
    assert "missing template" in str(exc.value) and "invalid placeholder" in str(exc.value)
    (tmp_path / "ok.txt").write_text("标题\n${who}", encoding="utf-8")
    with pytest.raises(TemplateError):
        Templates(["ok"], directory=tmp_path).render("ok", {})


from datetime import datetime, timedelta, timezone  # noqa: E402

from services.notify.domain import DeliveryPolicy, Recipient  # noqa: E402

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
POLICY = DeliveryPolicy(retry_delays=(2.0, 10.0), attempt_timeout=30.0)


def recorded(channels=("wechat", "sms"), addresses=None):
    m = Message("m1")
    addresses = addresses if addresses is not None else {"wechat": "openid", "sms": "139"}
    m.queue(recipient=Recipient("member", "p1", tuple(channels), addresses), template="t",
            rendered=RenderedMessage("标题", "正文"), caused_by_event_id="e1", now=T0)
    return m


def test_only_reachable_preferred_channels_are_planned():
    m = recorded(("wechat", "email", "sms"), {"sms": "139"})
    assert m.channels == ["sms"] and m.status == "queued"
    assert recorded((), {}).status == "sent"   # the inbox only


def test_retries_back_off_then_fall_back_then_send_once():
    m = recorded()
    assert m.start_attempt(T0) == ("wechat", 1)
    assert m.start_attempt(T0) is None                       # in flight: nobody else starts it
    m.record_failure("wechat", 1, "503", T0, POLICY)
    assert not m.due(T0 + timedelta(seconds=1)) and m.due(T0 + timedelta(seconds=2))
    assert m.start_attempt(T0 + timedelta(seconds=2)) == ("wechat", 2)
    m.record_failure("wechat", 2, "503", T0, POLICY)
    m.start_attempt(T0 + timedelta(seconds=20))
    m.record_failure("wechat", 3, "503", T0, POLICY)          # retries used up: next channel, at once
    assert m.current_channel == "sms" and m.due(T0)
    assert m.start_attempt(T0) == ("sms", 1)
    m.record_sent("sms", 1, T0)
    m.record_sent("sms", 1, T0)                               # a late duplicate outcome changes nothing
    assert m.status == "sent" and m.start_attempt(T0 + timedelta(days=1)) is None
    replayed = Message.replay("m1", m.collect_pending())
    assert replayed.status == "sent" and replayed.delivered_channels == {"inbox", "sms"}


def test_a_permanent_refusal_gives_the_channel_up_at_once_and_all_failing_is_failed():
    m = recorded()
    m.start_attempt(T0)
    m.record_failure("wechat", 1, "400", T0, POLICY, permanent=True)
    m.start_attempt(T0)
    m.record_failure("sms", 1, "400", T0, POLICY, permanent=True)
    assert m.status == "failed" and m.start_attempt(T0) is None


def test_a_crashed_attempt_by_channel():
    sms = recorded(("sms",))
    sms.start_attempt(T0)
    assert sms.recover_crashed_attempt(T0 + timedelta(seconds=5), POLICY) is None     # maybe still sending
    assert sms.recover_crashed_attempt(T0 + timedelta(seconds=31), POLICY) == "retry"
    assert sms.start_attempt(T0 + timedelta(seconds=31)) == ("sms", 2)
    email = recorded(("email",), {"email": "a@b.cn"})
    email.start_attempt(T0)
    assert email.recover_crashed_attempt(T0 + timedelta(seconds=31), POLICY) == "uncertain"
    assert email.status == "uncertain" and email.start_attempt(T0 + timedelta(days=1)) is None


def test_read_once_and_unknown_message():
    m = recorded()
    assert m.mark_read(T0) is True and m.mark_read(T0) is False
    from services.notify.domain import UnknownMessage
    with pytest.raises(UnknownMessage):
        Message("nope").mark_read(T0)
