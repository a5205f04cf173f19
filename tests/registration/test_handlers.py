"""Registration's handlers on the in-memory store (the service layer: no database, no broker):
what each command appends and answers, and what a refusal leaves (nothing)."""
from datetime import date

import pytest

from services.registration import handlers
from services.registration.domain import AlreadyCheckedIn, InvalidLetter, TooManyPosts
from shared.eventstore.memory import MemoryDatabase
from shared.throughput import GroupCommit
from tests.registration.conftest import NOW, Registration


@pytest.fixture
def reg():
    r = Registration(MemoryDatabase())
    r.community("xf", "幸福社区", prefix="XF")
    r.community("yg", "阳光社区", prefix="YG")
    r.unit("czj", "市财政局", linked="yg")
    r.campaign("czj")
    r.new_events()
    return r


def test_a_check_in_issues_the_next_card_and_sends_the_receipt_back_to_the_unit(reg):
    """Seed 002: 在职党员……持所在单位统一出具的介绍信到社区报到，并填写在职党员报到登记卡……
    社区党组织要做好接收工作，提供回执。"""
    member = reg.enroll("czj", "13800000001", name="王五")["member_id"]
    letter = reg.letter(member)
    reg.new_events()
    card = reg.check_in(member, letter, availability=["周六上午"])
    assert card == {"member_id": member, "community_id": "xf", "card_no": "XF-00001"}
    assert reg.types(reg.events(f"member-{member}")[-2:]) == ["MemberCheckedIn", "ReceiptReturned"]
    assert reg.types(reg.events("community-xf")[-1:]) == ["RegistrationCardIssued"]
    assert len(reg.new_events()) == 3
    checked_in, receipt = reg.events(f"member-{member}")[-2:]
    assert (checked_in.member_name, checked_in.unit_name, checked_in.availability) == ("王五", "市财政局", ["周六上午"])
    assert (receipt.unit_id, receipt.card_no) == ("czj", "XF-00001")
    second = reg.enroll("czj", "13800000002")["member_id"]
    assert reg.check_in(second, reg.letter(second))["card_no"] == "XF-00002"


def test_a_second_check_in_is_refused_and_appends_nothing(reg):
    member = reg.enroll("czj", "13800000001")["member_id"]
    letter = reg.letter(member)
    reg.check_in(member, letter)
    reg.new_events()
    with pytest.raises(AlreadyCheckedIn):
        reg.check_in(member, letter)
    assert reg.new_events() == []


def test_a_newer_letter_supersedes_the_old_one(reg):
    member = reg.enroll("czj", "13800000001")["member_id"]
    old = reg.letter(member)
    new = reg.letter(member, to="linked")
    assert (old["community_id"], new["community_id"]) == ("xf", "yg")
    with pytest.raises(InvalidLetter):
        reg.check_in(member, old)
    assert reg.check_in(member, new)["card_no"] == "YG-00001"


def test_letters_for_the_roster_skip_members_already_checked_in(reg):
    members = [reg.enroll("czj", f"1380000000{i}")["member_id"] for i in range(3)]
    reg.check_in(members[0], reg.letter(members[0]))
    reg.new_events()
    letters = reg.do(handlers.issue_letters, "czj", "2026", members, "residence", issued_at=NOW)
    assert [letter["member_id"] for letter in letters] == members[1:]
    assert reg.types(reg.new_events()) == ["IntroductionLetterIssued"] * 2
    assert handlers.issue_letters.rerun_on_redelivery   # a redelivered request chooses its batches again


def test_a_move_closes_the_registration_and_opens_a_one_month_obligation(reg):
    """Seed 000: 新发展、新调入或居住地、工作地发生变化的党员应在1个月内到社区报到。"""
    member = reg.registered_member("czj", "13800000001")[0]
    reg.new_events()
    result = reg.do(handlers.move_member, {"member_id": member, "to_community_id": "yg",
                                           "moved_on": date(2026, 12, 10)})
    moved, obligation = reg.new_events()
    assert (moved.from_community_id, moved.to_community_id, moved.closed_card_no) == ("xf", "yg", "XF-00001")
    assert (obligation.obligation_id, obligation.due_date, obligation.community_id) == (
        result["obligation_id"], "2027-01-10", "yg")


def test_a_member_claims_at_most_two_posts(reg):
    member = reg.registered_member("czj", "13800000001")[0]
    for i in range(3):
        reg.do(handlers.publish_post, {"community_id": "xf", "post_id": f"p{i}", "title": f"岗位{i}", "category": "环境卫生"})
    for i in range(2):
        reg.do(handlers.claim_post, {"member_id": member, "community_id": "xf", "post_id": f"p{i}"})
    reg.new_events()
    with pytest.raises(TooManyPosts):
        reg.do(handlers.claim_post, {"member_id": member, "community_id": "xf", "post_id": "p2"})
    assert reg.new_events() == []


def test_a_repeated_request_is_answered_from_its_stored_reply(reg):
    member = reg.enroll("czj", "13800000001")["member_id"]
    letter = reg.letter(member)
    cmd = {"member_id": member, "letter_id": letter["letter_id"], "community_id": "xf"}
    first = reg.app.execute(handlers.check_in, cmd, checked_in_at=NOW, request_key="req-1#1:check_in")
    again = reg.app.execute(handlers.check_in, cmd, checked_in_at=NOW, request_key="req-1#1:check_in")
    assert again == first                      # not "already checked in": the same answer
    assert reg.types(reg.events(f"member-{member}")).count("MemberCheckedIn") == 1


def test_check_ins_sharing_one_transaction_each_get_their_own_card(reg):
    members = [reg.enroll("czj", f"1380000001{i}")["member_id"] for i in range(4)]
    letters = [reg.letter(m) for m in members]
    group = GroupCommit(reg.app)
    cards = [group.execute(f"r{i}#1", handlers.check_in,
                           {"member_id": m, "letter_id": letter["letter_id"], "community_id": "xf"},
                           checked_in_at=NOW)["card_no"]
             for i, (m, letter) in enumerate(zip(members, letters))]
    assert cards == ["XF-00001", "XF-00002", "XF-00003", "XF-00004"]
