"""Registration's rules, on the pure domain model (no broker, no database)."""
from datetime import date

import pytest

from services.registration.domain import (
    AlreadyCheckedIn, AlreadyRegistered, CampaignClosed, Community, InvalidLetter, Member, MemberCheckedIn,
    RegistrationCardIssued, Unit, UnknownCampaign, UnknownCommunity, WrongCommunity,
)

NOW = "2026-11-22T08:00:00+00:00"


def community(cid="sq1", name="幸福社区", prefix="XF"):
    c = Community(cid)
    c.register(name=name, district_id="d1", district_name="西区", street_id="s1", street_name="和平街道",
               card_prefix=prefix)
    return c


def unit_with_campaign():
    u = Unit("u1")
    u.register(name="市财政局", kind="机关", district_id="d1", linked_community=None)
    u.open_campaign(campaign_id="c1", title="2026年报到", deadline=date(2026, 12, 31), today=date(2026, 11, 1))
    return u


def enrolled(unit, residence):
    m = Member("m1")
    assert m.enroll(unit=unit, residence=residence, name="张三", gender="男", phone="13800000001") is True
    return m


def test_check_in_issues_card_numbers_in_sequence_per_community():
    sq, u = community(), unit_with_campaign()
    cards = []
    for i in range(3):
        m = Member(f"m{i}")
        m.enroll(unit=u, residence=sq, name=f"党员{i}", gender="女", phone="13800000001")
        letter = m.issue_letter(letter_id=f"L{i}", unit=u, campaign_id="c1", community=sq, issued_at=NOW)
        cards.append(m.check_in(letter_id=letter.letter_id, unit=u, community=sq, checked_in_at=NOW))
        checked = [e for e in m.pending if isinstance(e, MemberCheckedIn)]
        assert checked and checked[0].card_no == cards[-1] and checked[0].unit_name == "市财政局"
    assert cards == ["XF-00001", "XF-00002", "XF-00003"]
    assert [type(e) for e in sq.pending].count(RegistrationCardIssued) == 3


def test_second_check_in_for_the_same_campaign_is_refused():
    sq, u = community(), unit_with_campaign()
    m = enrolled(u, sq)
    m.issue_letter(letter_id="L1", unit=u, campaign_id="c1", community=sq, issued_at=NOW)
    m.check_in(letter_id="L1", unit=u, community=sq, checked_in_at=NOW)
    before = (m.version, sq.version)
    with pytest.raises(AlreadyCheckedIn) as exc:
        m.check_in(letter_id="L1", unit=u, community=sq, checked_in_at=NOW)
    assert "不能重复报到" in exc.value.message and exc.value.details["card_no"] == "XF-00001"
    assert (m.version, sq.version) == before  # a refusal changes nothing


def test_check_in_without_a_letter_of_this_member_is_refused():
    sq, u = community(), unit_with_campaign()
    m = enrolled(u, sq)
    with pytest.raises(InvalidLetter):
        m.check_in(letter_id="not-a-letter", unit=u, community=sq, checked_in_at=NOW)
    assert sq.cards_issued == 0


def test_check_in_at_another_community_than_the_letter_is_refused():
    sq, other, u = community(), community("sq2", "阳光社区", "YG"), unit_with_campaign()
    m = enrolled(u, sq)
    m.issue_letter(letter_id="L1", unit=u, campaign_id="c1", community=sq, issued_at=NOW)
    with pytest.raises(WrongCommunity):
        m.check_in(letter_id="L1", unit=u, community=other, checked_in_at=NOW)
    assert other.cards_issued == 0


def test_a_newer_letter_supersedes_the_older_one():
    sq, other, u = community(), community("sq2", "阳光社区", "YG"), unit_with_campaign()
    m = enrolled(u, sq)
    m.issue_letter(letter_id="L1", unit=u, campaign_id="c1", community=sq, issued_at=NOW)
    m.issue_letter(letter_id="L2", unit=u, campaign_id="c1", community=other, issued_at=NOW)
    with pytest.raises(InvalidLetter):
        m.check_in(letter_id="L1", unit=u, community=sq, checked_in_at=NOW)
    assert m.check_in(letter_id="L2", unit=u, community=other, checked_in_at=NOW) == "YG-00001"


def test_letters_need_an_open_campaign_and_a_known_community():
    sq, u = community(), unit_with_campaign()
    m = enrolled(u, sq)
    with pytest.raises(UnknownCampaign):
        m.issue_letter(letter_id="L1", unit=u, campaign_id="nope", community=sq, issued_at=NOW)
    with pytest.raises(UnknownCommunity):
        m.issue_letter(letter_id="L1", unit=u, campaign_id="c1", community=Community("ghost"), issued_at=NOW)


def test_campaign_deadline_in_the_past_is_refused_and_registration_is_unique():
    u = Unit("u1")
    u.register(name="市财政局", kind="机关", district_id="d1", linked_community=None)
    with pytest.raises(CampaignClosed):
        u.open_campaign(campaign_id="c1", title="t", deadline=date(2026, 1, 1), today=date(2026, 11, 1))
    with pytest.raises(AlreadyRegistered):
        u.register(name="x", kind="机关", district_id="d1", linked_community=None)


def test_enrolling_the_same_person_again_changes_nothing():
    sq, u = community(), unit_with_campaign()
    m = enrolled(u, sq)
    assert m.enroll(unit=u, residence=sq, name="张三", gender="男", phone="13800000001") is False
    assert len(m.pending) == 1


def test_replaying_the_events_rebuilds_the_same_state():
    sq, u = community(), unit_with_campaign()
    m = enrolled(u, sq)
    m.issue_letter(letter_id="L1", unit=u, campaign_id="c1", community=sq, issued_at=NOW)
    m.check_in(letter_id="L1", unit=u, community=sq, checked_in_at=NOW)
    events = m.collect_pending()
    assert [type(e).__name__ for e in events] == ["MemberEnrolled", "IntroductionLetterIssued", "MemberCheckedIn",
                                                  "ReceiptReturned"]
    replayed = Member.replay("m1", events)
    assert replayed.checked_in == {"c1": "XF-00001"} and replayed.version == 4 == replayed.loaded_version
    assert replayed.registered_at == "sq1" and replayed.card_no == "XF-00001"
