"""Notify's rules: one message per event, templates checked at start-up."""
import pytest

from services.notify.domain import Message, MessageDelivered, RenderedMessage, message_id_for
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
