"""情况反馈 to the unit as each record is made: a verified service, a resident's rating and a
群众测评 reach the unit's inbox once each, not only in the yearly report."""
from tests.notify import events as ev


def setup_two_units(notify):
    notify.receive(ev.unit(), ev.unit("jyj", "市教育局"), ev.community())
    notify.receive(ev.enrolled("m1", "张三"), ev.checked_in("m1", "张三"),
                   ev.enrolled("m2", "李四"), ev.checked_in("m2", "李四"),
                   ev.enrolled("m3", "王五", uid="jyj"), ev.checked_in("m3", "王五", uid="jyj", unit_name="市教育局"),
                   ev.demand("d1"))


def unit_messages(notify, unit_id, template):
    return [m for m in notify.inbox("unit", unit_id, page_size=200)["items"] if m["template"] == template]


def test_a_verified_service_is_filed_with_each_members_unit_once(notify):
    """Seed 002 管理办法 二: "社区党组织负责在《在职党员社区表现反馈卡》上据实查验记载在职党员参加社区活动情况，
    报所在单位党组织备案"."""
    setup_two_units(notify)
    verified = ev.verified("d1", ["m1", "m2", "m3"], hours=2.5)
    assert notify.receive(verified, verified) == [True, False]
    [czj] = unit_messages(notify, "czj", "service_verified_unit")
    [jyj] = unit_messages(notify, "jyj", "service_verified_unit")
    assert "张三、李四" in czj["body"] and "2.5小时" in czj["body"] and "2026年11月28日14:00" in czj["body"]
    assert "王五" in jyj["body"] and "张三" not in jyj["body"]
    assert "备案" in czj["title"] + czj["body"]


def test_a_residents_rating_is_fed_back_to_the_unit_once(notify):
    """Seed 001: "评议结果及时向在职党员所在单位党组织反馈"."""
    setup_two_units(notify)
    rated = ev.received("dispatch", "ServiceRated", {"demand_id": "d1", "member_ids": ["m1"], "resident_id": "r1",
                                                     "rating": 5, "comment": "很耐心"})
    assert notify.receive(rated, rated) == [True, False]
    [msg] = unit_messages(notify, "czj", "service_rated_unit")
    assert "张三" in msg["body"] and "5星" in msg["body"] and "很耐心" in msg["body"]
    assert unit_messages(notify, "jyj", "service_rated_unit") == []


def test_a_resident_evaluation_is_fed_back_to_the_unit_once_per_recording(notify):
    """Seed 001: "评议结果及时向在职党员所在单位党组织反馈" — 群众测评 is one of the 五评议."""
    setup_two_units(notify)

    def rating(score, revision):
        return ev.received("evaluation", "ResidentRatingRecorded", {
            "member_id": "m3", "period": "2026H2", "party": "residents", "score": score,
            "comment": "服务热情", "by_role": "resident_panel", "by_id": "panel-1", "revision": revision})

    first = rating(88, 1)
    assert notify.receive(first, first) == [True, False]
    [msg] = unit_messages(notify, "jyj", "resident_rating_unit")
    assert "王五" in msg["body"] and "88分" in msg["body"] and "2026H2" in msg["body"] and "服务热情" in msg["body"]
    notify.receive(rating(92, 2))
    amended = unit_messages(notify, "jyj", "resident_rating_unit")
    assert len(amended) == 2 and any("（修订）" in m["body"] and "92分" in m["body"] for m in amended)
    assert unit_messages(notify, "czj", "resident_rating_unit") == []
