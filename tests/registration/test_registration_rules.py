"""Every registration rule, through the service layer, on SQLite and PostgreSQL."""
from datetime import date

import pytest

from shared.projections import Projector
from services.registration import domain, handlers, readmodels
from services.registration.domain import (
    AlreadyCheckedIn, InvalidAvailability, InvalidLetter, NotOverdue, NotRegisteredHere, TooManyPosts, UnknownPlace,
    WrongCommunity, WrongDistrict,
)
from tests.registration.conftest import TODAY


def unchanged(reg):
    """A context manager asserting that a refused command wrote nothing."""
    class _Unchanged:
        def __enter__(self):
            self.before = reg.app.store.max_position()

        def __exit__(self, *exc):
            assert reg.app.store.max_position() == self.before
            return False
    return _Unchanged()


# -- hierarchy, letters, check-in -----------------------------------------------------------
def test_check_in_fills_the_registration_card_and_returns_a_receipt(reg):
    reg.do(handlers.add_grid, {"community_id": "xf", "grid_id": "g1", "name": "第一网格", "leader_name": "周网格"})
    reg.do(handlers.add_branch, {"community_id": "xf", "branch_id": "b1", "name": "第一支部"})
    member = reg.enroll("czj", "13800000001", name="李梅", age=36, willingness="周末义诊", skills=["护理"])
    letter = reg.letter(member["member_id"])
    assert letter["community_id"] == "xf"                      # residence community by default (就近就便)
    card = reg.check_in(member["member_id"], letter, grid_id="g1", branch_id="b1", skills=["护理", "急救"],
                        willingness="每月两次义诊", availability=["周六上午", "周三晚上"])
    assert card["card_no"] == "XF-00001"
    view = reg.query(readmodels.member_view, member["member_id"])
    assert (view["registered_community_id"], view["grid_id"], view["branch_id"]) == ("xf", "g1", "b1")
    assert view["skills"] == ["护理", "急救"] and view["availability"] == ["周六上午", "周三晚上"]
    assert [o["card_no"] for o in view["obligations"]] == ["XF-00001"]
    types = [e.event_type for e in reg.app.store.read_stream(f"member-{member['member_id']}")]
    assert types[-2:] == ["MemberCheckedIn", "ReceiptReturned"]


def test_card_numbers_are_unique_and_sequential_per_community(reg):
    cards = [reg.registered_member("czj", f"1380000{i:04d}", community="xf" if i % 2 else "yg")[1]
             for i in range(6)]
    assert sorted(c for c in cards if c.startswith("XF")) == ["XF-00001", "XF-00002", "XF-00003"]
    assert sorted(c for c in cards if c.startswith("YG")) == ["YG-00001", "YG-00002", "YG-00003"]


def test_letter_to_the_units_linked_community(reg):
    member = reg.enroll("czj", "13800000001")
    letter = reg.letter(member["member_id"], to="linked")
    assert letter["community_id"] == "yg"
    assert reg.check_in(member["member_id"], letter)["card_no"] == "YG-00001"


def test_refusals_at_check_in_change_nothing(reg):
    member = reg.enroll("czj", "13800000001")["member_id"]
    letter = reg.letter(member)
    with unchanged(reg), pytest.raises(InvalidLetter):
        reg.check_in(member, {"letter_id": "forged", "community_id": "xf"})
    with unchanged(reg), pytest.raises(WrongDistrict) as wrong_district:
        reg.check_in(member, letter, community="dq")
    assert "西区" in wrong_district.value.message and "东区" in wrong_district.value.message
    with unchanged(reg), pytest.raises(WrongCommunity):
        reg.check_in(member, letter, community="yg")
    with unchanged(reg), pytest.raises(UnknownPlace):
        reg.check_in(member, letter, grid_id="no-such-grid")
    with unchanged(reg), pytest.raises(InvalidAvailability) as working_hours:
        reg.check_in(member, letter, availability=["周二上午"])
    assert "工作时间" in working_hours.value.message
    reg.check_in(member, letter)
    with unchanged(reg), pytest.raises(AlreadyCheckedIn):
        reg.check_in(member, letter)


# -- changes --------------------------------------------------------------------------------
def test_a_newly_admitted_member_must_register_within_one_month(reg):
    member = reg.enroll("czj", "13800000009", joined_reason="newly_admitted", joined_on=date(2027, 1, 31))
    view = reg.query(readmodels.member_view, member["member_id"])
    due = {o["obligation_id"]: o["due_date"] for o in view["obligations"]}
    assert due == {"newly_admitted-2027-01-31": "2027-02-28"}   # the campaign closed before they joined
    letter = reg.letter(member["member_id"], campaign="newly_admitted-2027-01-31")
    assert reg.check_in(member["member_id"], letter)["card_no"] == "XF-00001"


def test_a_move_closes_the_old_registration_and_opens_the_obligation_at_the_new_one(reg):
    member_id, card = reg.registered_member("czj", "13800000001", community="xf")
    reg.do(handlers.publish_post, {"community_id": "xf", "post_id": "p1", "title": "政策宣传员", "category": "政策宣传"})
    reg.do(handlers.claim_post, {"member_id": member_id, "community_id": "xf", "post_id": "p1"})
    moved = reg.do(handlers.move_member, {"member_id": member_id, "to_community_id": "yg",
                                          "moved_on": date(2026, 12, 10)})
    view = reg.query(readmodels.member_view, member_id)
    assert view["residence_community_id"] == "yg" and view["registered_community_id"] is None
    assert [(h["community_id"], h["card_no"], h["event"]) for h in view["history"]] == [
        ("xf", card, "checked_in"), ("xf", card, "closed_by_move")]
    assert {o["obligation_id"]: o["due_date"] for o in view["obligations"]}[moved["obligation_id"]] == "2027-01-10"
    assert reg.query(readmodels.noticeboard, "xf")["posts"][0]["claimed_by"] == []   # the claim went with the move
    new_card = reg.check_in(member_id, reg.letter(member_id, campaign=moved["obligation_id"]))["card_no"]
    assert new_card == "YG-00001"
    assert reg.query(readmodels.member_view, member_id)["registered_community_id"] == "yg"


def test_a_change_of_workplace_opens_the_one_month_obligation_with_the_new_unit(reg):
    """Seed 000 二.2: "新发展、新调入或居住地、工作地发生变化的党员应在1个月内到社区报到。" A member
    whose workplace changes (old and new unit recorded) goes on the new unit's roster, the
    registration made with the old unit's letter closes, and the new unit issues the letter."""
    reg.unit("yy", "市第一人民医院")
    member_id, card = reg.registered_member("czj", "13800000001", community="xf", name="李梅")
    changed = reg.do(handlers.change_workplace, {"member_id": member_id, "to_unit_id": "yy",
                                                 "changed_on": date(2026, 12, 10), "position": "护士长"})
    assert changed["unit_id"] == "yy"
    [event] = [e for e in reg.app.store.read_stream(f"member-{member_id}") if e.event_type == "MemberChangedWorkplace"]
    data = reg.app.codec.decode(event).to_data()
    assert (data["from_unit_id"], data["to_unit_id"], data["closed_card_no"]) == ("czj", "yy", card)
    view = reg.query(readmodels.member_view, member_id)
    assert (view["unit_id"], view["position"], view["registered_community_id"]) == ("yy", "护士长", None)
    obligations = {o["obligation_id"]: o for o in view["obligations"]}
    assert obligations[changed["obligation_id"]]["due_date"] == "2027-01-10"
    assert obligations[changed["obligation_id"]]["title"] == "工作单位变动后重新报到"
    assert view["history"][-1]["event"] == "closed_by_workplace_change"
    # the old unit's statistics no longer count the member; the new unit's count them unregistered
    by_unit = {r["id"]: r for r in reg.query(readmodels.statistics, "unit")["rows"]}
    assert "czj" not in by_unit and (by_unit["yy"]["members"], by_unit["yy"]["registered"]) == (1, 0)
    with unchanged(reg), pytest.raises(domain.InvalidMove):
        reg.do(handlers.change_workplace, {"member_id": member_id, "to_unit_id": "yy",
                                           "changed_on": date(2026, 12, 11)})
    letter = reg.letter(member_id, campaign=changed["obligation_id"])
    assert reg.check_in(member_id, letter)["card_no"] == "XF-00002"
    view = reg.query(readmodels.member_view, member_id)
    assert (view["unit_id"], view["registered_community_id"]) == ("yy", "xf")


def test_a_member_who_changed_workplace_and_never_registered_is_overdue_at_the_new_unit(reg):
    """Seed 000 二.2: "……工作地发生变化的党员应在1个月内到社区报到"; "规定时间内未报到的,单位要查明原因,
    督促其尽快报到" — past the month the member is on the new unit's overdue list, and the old
    unit's campaign, which no longer binds them, is not."""
    reg.unit("yy", "市第一人民医院")
    member_id = reg.enroll("czj", "13800000001", name="王强")["member_id"]   # never registered in czj's campaign
    old_letter = reg.letter(member_id)
    changed = reg.do(handlers.change_workplace, {"member_id": member_id, "to_unit_id": "yy",
                                                 "changed_on": date(2026, 12, 20)})
    with unchanged(reg), pytest.raises(InvalidLetter):            # the old unit's letter introduces no one now
        reg.check_in(member_id, old_letter)
    assert scan(reg, date(2027, 1, 20)) == 0                  # the month runs to 2027-01-20 inclusive
    assert reg.query(readmodels.overdue_members, "czj") == []
    assert scan(reg, date(2027, 1, 21)) == 1
    assert reg.query(readmodels.overdue_candidates, "2027-02-01") == []
    [overdue] = reg.query(readmodels.overdue_members, "yy")
    assert (overdue["name"], overdue["obligation_id"]) == ("王强", changed["obligation_id"])
    assert reg.query(readmodels.overdue_members, "czj") == []
    [row] = reg.query(readmodels.statistics, "unit", unit_id="yy")["rows"]
    assert (row["members"], row["registered"], row["overdue"]) == (1, 0, 1)
    with unchanged(reg), pytest.raises(domain.UnknownUnit):
        reg.do(handlers.change_workplace, {"member_id": member_id, "to_unit_id": "nowhere",
                                           "changed_on": date(2027, 1, 2)})


def test_the_roster_keeps_shows_and_exports_the_members_interests(reg):
    """Seed 002 六.1: "做到在职党员基本情况、工作单位、职务专长、兴趣爱好'四个清',建立详细的在职党员
    名册" — 兴趣爱好 is stored with the roster, shown and exported."""
    member_id = reg.enroll("czj", "13800000001", name="张三", interests=["书法", "摄影"])["member_id"]
    reg.enroll("czj", "13800000002", name="李四")
    assert reg.query(readmodels.member_view, member_id)["interests"] == ["书法", "摄影"]
    assert [m["interests"] for m in reg.query(readmodels.roster, "czj")["items"]] == [["书法", "摄影"], []]
    exported = reg.query(readmodels.roster_export, "czj")
    assert [(r["name"], r["interests"], r["residence_community"]) for r in exported] == [
        ("张三", ["书法", "摄影"], "幸福社区"), ("李四", [], "幸福社区")]


def test_the_card_carries_the_community_and_the_unit_opinions(reg):
    """Seed 000 附件1 (在职党员到社区报到为群众服务登记表): "社区党组织意见 (盖章) 年 月 日 | 单位党组织意见
    (盖章) 年 月 日"; "本表一式两份,分别由社区、党员所在单位党组织留存"."""
    member = reg.enroll("czj", "13800000001", name="李梅", willingness="周末义诊")["member_id"]
    with unchanged(reg), pytest.raises(domain.NotRegistered):
        reg.do(handlers.record_card_opinion, {"member_id": member, "side": "unit", "opinion": "同意",
                                              "recorded_by": "李书记"}, today=TODAY)
    letter = reg.letter(member)
    assert reg.query(readmodels.letter_view, letter["letter_id"])["willingness"] == "周末义诊"   # 介绍信: 服务意愿
    card_no = reg.check_in(member, letter)["card_no"]
    reg.do(handlers.record_card_opinion, {"member_id": member, "side": "community", "opinion": "已编入第一支部",
                                          "recorded_by": "周书记"}, today=TODAY)
    reg.do(handlers.record_card_opinion, {"member_id": member, "side": "unit", "opinion": "同意到社区报到",
                                          "recorded_by": "李书记"}, today=TODAY)
    reg.do(handlers.record_card_opinion, {"member_id": member, "side": "unit", "opinion": "同意，请社区多加指导",
                                          "recorded_by": "李书记"}, today=date(2026, 11, 23))
    with unchanged(reg), pytest.raises(domain.DomainError):
        reg.do(handlers.record_card_opinion, {"member_id": member, "side": "unit", "opinion": "  ",
                                              "recorded_by": "李书记"}, today=TODAY)
    view = reg.query(readmodels.card_view, member)
    assert view["card_no"] == card_no
    assert view["community_opinion"] == {"text": "已编入第一支部", "date": "2026-11-22", "by": "周书记"}
    assert view["unit_opinion"] == {"text": "同意，请社区多加指导", "date": "2026-11-23", "by": "李书记"}


# -- overdue --------------------------------------------------------------------------------
def scan(reg, day):
    candidates = reg.query(readmodels.overdue_candidates, day.isoformat())
    return reg.do(handlers.mark_overdue, candidates, today=day) if candidates else 0


def test_after_the_deadline_every_unregistered_member_becomes_overdue_once(reg):
    reg.registered_member("czj", "13800000001", name="已报到")
    late = [reg.enroll("czj", f"1390000000{i}", name=f"未报到{i}")["member_id"] for i in range(3)]
    assert scan(reg, date(2026, 12, 31)) == 0                 # the deadline day itself is not late
    assert scan(reg, date(2027, 1, 1)) == 3
    assert scan(reg, date(2027, 1, 2)) == 0                   # once
    newcomer = reg.enroll("czj", "13700000000")["member_id"]
    with unchanged(reg), pytest.raises(NotOverdue):
        reg.do(handlers.record_overdue_reason, {"member_id": newcomer, "obligation_id": "2026", "reason": "病假"})
    reg.do(handlers.record_overdue_reason, {"member_id": late[0], "obligation_id": "2026", "reason": "病假",
                                            "note": "住院"})
    reg.do(handlers.record_overdue_reason, {"member_id": late[1], "obligation_id": "2026", "reason": "外派"})
    overdue = reg.query(readmodels.overdue_members, "czj")
    assert sorted((o["name"], o["reason"]) for o in overdue) == [("未报到0", "病假"), ("未报到1", "外派"),
                                                               ("未报到2", None)]
    [row] = reg.query(readmodels.statistics, "unit")["rows"]
    assert (row["members"], row["registered"], row["overdue"]) == (5, 1, 3)
    assert row["overdue_reasons"] == {"病假": 1, "外派": 1, "未填写原因": 1}


def test_a_late_check_in_clears_the_overdue_count(reg):
    member = reg.enroll("czj", "13800000001")["member_id"]
    letter = reg.letter(member)
    scan(reg, date(2027, 1, 5))
    assert reg.query(readmodels.statistics, "unit")["rows"][0]["overdue"] == 1
    reg.check_in(member, letter)
    row = reg.query(readmodels.statistics, "unit")["rows"][0]
    assert (row["registered"], row["overdue"]) == (1, 0)


# -- posts, commitments, teams, noticeboard -------------------------------------------------
def test_a_member_claims_at_most_two_posts_where_registered(reg):
    member_id, _ = reg.registered_member("czj", "13800001234", name="王芳")
    stranger = reg.enroll("czj", "13900001111")["member_id"]
    for i, (title, cat) in enumerate([("政策宣传员", "政策宣传"), ("环境卫生监督员", "环境卫生"), ("巡逻员", "综治巡逻")]):
        reg.do(handlers.publish_post, {"community_id": "xf", "post_id": f"p{i}", "title": title, "category": cat})
    reg.do(handlers.claim_post, {"member_id": member_id, "community_id": "xf", "post_id": "p0"})
    reg.do(handlers.claim_post, {"member_id": member_id, "community_id": "xf", "post_id": "p1"})
    with unchanged(reg), pytest.raises(TooManyPosts):
        reg.do(handlers.claim_post, {"member_id": member_id, "community_id": "xf", "post_id": "p2"})
    with unchanged(reg), pytest.raises(NotRegisteredHere):
        reg.do(handlers.claim_post, {"member_id": stranger, "community_id": "xf", "post_id": "p2"})
    reg.do(handlers.make_commitment, {"member_id": member_id, "community_id": "xf",
                                      "items": ["每月宣讲一次政策", "结对帮扶一户困难家庭"], "deadline": date(2027, 6, 30)},
           today=TODAY)
    board = reg.query(readmodels.noticeboard, "xf")
    assert [p["claimed_by"] for p in board["posts"]] == [[{"name": "王芳", "phone": "138****1234"}]] * 2 + [[]]
    [commitment] = board["commitments"]
    assert commitment["items"] == ["每月宣讲一次政策", "结对帮扶一户困难家庭"] and commitment["phone"] == "138****1234"
    assert "13800001234" not in repr(board)


def test_teams_form_take_registered_members_and_elect_a_leader(reg):
    a, _ = reg.registered_member("czj", "13800000001", name="甲")
    b, _ = reg.registered_member("czj", "13800000002", name="乙")
    c, _ = reg.registered_member("czj", "13800000003", name="丙", community="yg")
    reg.do(handlers.form_team, {"team_id": "t1", "community_id": "xf", "name": "法律维权服务队", "basis": "业缘",
                                "service": "法律维权"})
    reg.do(handlers.join_team, {"team_id": "t1", "member_id": a})
    reg.do(handlers.join_team, {"team_id": "t1", "member_id": b})
    assert reg.do(handlers.join_team, {"team_id": "t1", "member_id": b})["joined"] is False
    with unchanged(reg), pytest.raises(NotRegisteredHere):
        reg.do(handlers.join_team, {"team_id": "t1", "member_id": c})
    with unchanged(reg), pytest.raises(domain.NotATeamMember):
        reg.do(handlers.elect_team_leader, {"team_id": "t1", "ballots": {a: c}})
    result = reg.do(handlers.elect_team_leader, {"team_id": "t1", "ballots": {a: b, b: b}})
    assert result["leader_member_id"] == b
    [team] = reg.query(readmodels.noticeboard, "xf")["teams"]
    assert team["leader"] == "乙" and [m["name"] for m in team["members"]] == ["甲", "乙"]


# -- statistics at every level, and rebuild --------------------------------------------------
def test_statistics_by_unit_community_street_and_district(reg):
    reg.unit("yy", "市第一人民医院")
    reg.campaign("yy")
    reg.registered_member("czj", "13800000001", community="xf")
    reg.registered_member("czj", "13800000002", community="yg")
    reg.enroll("czj", "13800000003", community="dq")
    reg.registered_member("yy", "13800000004", community="dq")
    by_unit = reg.query(readmodels.statistics, "unit")
    assert [(r["name"], r["members"], r["registered"]) for r in by_unit["rows"]] == [("市财政局", 3, 2),
                                                                                     ("市第一人民医院", 1, 1)]
    assert by_unit["totals"] == {"members": 4, "registered": 3, "overdue": 0, "rate": 0.75,
                                 "leading_cadres": {"members": 0, "registered": 0, "overdue": 0}}
    by_district = reg.query(readmodels.statistics, "district")
    assert [(r["name"], r["members"], r["registered"]) for r in by_district["rows"]] == [("东区", 2, 1),
                                                                                         ("西区", 2, 2)]
    by_street = reg.query(readmodels.statistics, "street", district_id="xq")
    assert [(r["name"], r["members"]) for r in by_street["rows"]] == [("和平街道", 2)]
    by_community = reg.query(readmodels.statistics, "community", district_id="xq")
    assert [(r["id"], r["registered"]) for r in by_community["rows"]] == [("xf", 1), ("yg", 1)]
    assert reg.query(readmodels.statistics, "unit", unit_id="yy")["totals"]["members"] == 1


def test_the_statistics_and_the_overdue_list_show_leading_cadres_first(reg):
    """Seed 000 四.2 坚持领导带头: "各单位党员领导干部要充分发挥表率作用,带头到社区报到"; seed 002
    七.1: "党员领导干部要率先垂范". The table counts leading cadres apart (registered / total,
    overdue) per unit and per community, street and district, and the overdue list names the
    leading cadres who are overdue, first."""
    reg.unit("yy", "市第一人民医院")
    reg.campaign("yy")
    leader = reg.enroll("czj", "13800000001", name="局长甲", community="xf", leading_cadre=True)["member_id"]
    reg.check_in(leader, reg.letter(leader))
    late_leader = reg.enroll("czj", "13800000002", name="副局长乙", community="yg", leading_cadre=True)["member_id"]
    reg.enroll("czj", "13800000003", name="科员丙", community="xf")
    reg.enroll("yy", "13800000004", name="院长丁", community="dq", leading_cadre=True)
    assert scan(reg, date(2027, 1, 1)) == 3
    by_unit = {r["id"]: r for r in reg.query(readmodels.statistics, "unit")["rows"]}
    assert by_unit["czj"]["leading_cadres"] == {"members": 2, "registered": 1, "overdue": 1}
    assert by_unit["yy"]["leading_cadres"] == {"members": 1, "registered": 0, "overdue": 1}
    by_community = {r["id"]: r["leading_cadres"] for r in reg.query(readmodels.statistics, "community")["rows"]}
    assert by_community == {"xf": {"members": 1, "registered": 1, "overdue": 0},
                            "yg": {"members": 1, "registered": 0, "overdue": 1},
                            "dq": {"members": 1, "registered": 0, "overdue": 1}}
    district = reg.query(readmodels.statistics, "district", district_id="xq")
    assert district["totals"]["leading_cadres"] == {"members": 2, "registered": 1, "overdue": 1}
    assert [m["name"] for m in reg.query(readmodels.overdue_members, "czj")] == ["副局长乙", "科员丙"]
    street = reg.query(readmodels.overdue_list, street_id="hp")
    assert [(m["name"], m["leading_cadre"], m["unit_name"]) for m in street] == [
        ("副局长乙", True, "市财政局"), ("科员丙", False, "市财政局")]
    leaders = reg.query(readmodels.overdue_list, leading_cadres_only=True)
    assert sorted(m["name"] for m in leaders) == ["副局长乙", "院长丁"]
    assert [m["member_id"] for m in reg.query(readmodels.overdue_list, community_id="yg")] == [late_leader]


def test_the_registration_read_models_rebuild_to_the_same_rows(reg):
    member_id, _ = reg.registered_member("czj", "13800000001")
    reg.enroll("czj", "13800000002")
    reg.do(handlers.move_member, {"member_id": member_id, "to_community_id": "yg", "moved_on": date(2026, 12, 1)})
    reg.do(handlers.form_team, {"team_id": "t1", "community_id": "xf", "name": "队", "basis": "地缘", "service": "巡逻"})
    reg.unit("yy", "市第一人民医院")
    changer, _ = reg.registered_member("czj", "13800000003")
    reg.do(handlers.change_workplace, {"member_id": changer, "to_unit_id": "yy", "changed_on": date(2026, 12, 5)})
    scan(reg, date(2027, 1, 2))
    live = reg.query(readmodels.all_rows)
    reg.projector.rebuild("registration")
    with reg.db.transaction() as conn:
        assert readmodels.all_rows(conn) == live


def test_check_ins_projected_in_one_batch_give_the_rows_of_one_event_at_a_time(reg):
    """The projection buffers a batch's check-ins and writes them together; any other event
    (a move) writes the buffered ones first. A rebuild one event per batch gives the same rows."""
    keeps = reg.enroll("czj", "13800000001", name="李梅", skills=["护理"], willingness="周末义诊")["member_id"]
    mover = reg.enroll("czj", "13800000002", name="王强", skills=["维修"])["member_id"]
    others = [reg.registered_member("czj", f"1380000010{i}")[0] for i in range(3)]
    reg.check_in(keeps, reg.letter(keeps))  # no skills given at the desk: the roster's stay
    reg.check_in(mover, reg.letter(mover), skills=["电工"], availability=["周六上午"])
    moved = reg.do(handlers.move_member, {"member_id": mover, "to_community_id": "yg", "moved_on": date(2026, 12, 1)})
    again = reg.check_in(mover, reg.letter(mover, campaign=moved["obligation_id"]))
    assert again["card_no"] == "YG-00001"

    live = reg.query(readmodels.all_rows)  # the projector's first run: every event in one batch
    members = {r["member_id"]: r for r in live["rm_members"]}
    assert (members[keeps]["skills"], members[keeps]["willingness"]) == ('["护理"]', "周末义诊")
    assert members[keeps]["registered_community_id"] == "xf" and members[keeps]["card_no"] == "XF-00004"
    assert (members[mover]["registered_community_id"], members[mover]["card_no"]) == ("yg", "YG-00001")
    assert members[mover]["skills"] == '["电工"]' and members[mover]["availability"] == "[]"
    assert [(h["event"], h["card_no"]) for h in live["rm_registration_history"] if h["member_id"] == mover] == [
        ("checked_in", "XF-00005"), ("closed_by_move", "XF-00005"), ("checked_in", "YG-00001")]
    assert all(members[m]["card_no"] for m in others)

    one_at_a_time = Projector(reg.db, reg.app.store, reg.app.codec, [readmodels.RegistrationProjection()],
                              batch_size=1)
    one_at_a_time.rebuild("registration")
    with reg.db.transaction() as conn:
        assert readmodels.all_rows(conn) == live
