"""Dispatch's order, wish and activity handlers on the in-memory store (the service layer: no
database, no broker): what each command appends and answers; a refusal appends nothing."""
from datetime import timedelta

import pytest

from services.dispatch import handlers
from services.dispatch.domain import AlreadyTaken, NotYourOrder
from shared.eventstore.memory import MemoryDatabase
from tests.dispatch.conftest import ACCEPT, T0, Dispatch

ZHANG = {"kind": "member", "id": "m1", "name": "张律师"}
LI = {"kind": "member", "id": "m2", "name": "李医生"}


@pytest.fixture
def dsp():
    d = Dispatch(MemoryDatabase())
    d.know("m1", "张律师"), d.know("m2", "李医生")
    d.demand()
    d.new_events()
    return d


def test_an_order_goes_from_dispatch_through_acceptance_to_a_verified_service(dsp):
    """Seed 002: 推行“居民点单、支部下单、党员接单”的“三单制”服务模式。"""
    assert dsp.dispatch("d1", ZHANG)["assignee"]["id"] == "m1"
    dsp.do(handlers.accept_order, "d1", dsp.acting(ZHANG), T0 + timedelta(minutes=30))
    dsp.complete({"demand_id": "d1", "hours": 1.5, "participants": 1, "content": "上门调解"},
           ZHANG, ["m1"], T0 + timedelta(days=5))
    dsp.do(handlers.verify_service, {"demand_id": "d1", "by": "staff-1"}, T0 + timedelta(days=5, hours=2))
    assert dsp.types(dsp.new_events()) == ["OrderDispatched", "OrderAccepted", "ServiceCompleted", "ServiceVerified"]


def test_only_the_member_whose_turn_it_is_accepts_and_a_decline_passes_it_on(dsp):
    dsp.dispatch("d1", ZHANG, LI)
    dsp.new_events()
    with pytest.raises(NotYourOrder):
        dsp.do(handlers.accept_order, "d1", dsp.acting(LI), T0)
    assert dsp.new_events() == []
    result = dsp.do(handlers.decline_order, "d1", dsp.acting(ZHANG), "周六出差", T0, ACCEPT)
    assert result["next"]["id"] == "m2"
    dsp.do(handlers.accept_order, "d1", dsp.acting(LI), T0 + timedelta(minutes=5))
    with pytest.raises(AlreadyTaken):
        dsp.do(handlers.accept_order, "d1", dsp.acting(ZHANG), T0 + timedelta(minutes=6))
    assert "OrderAccepted" in dsp.types(dsp.new_events())


def test_an_order_not_accepted_in_time_moves_to_the_next_candidate(dsp):
    dsp.dispatch("d1", ZHANG, LI)
    assert dsp.do(handlers.time_out_orders, ["d1"], T0 + ACCEPT, ACCEPT) == 0
    assert dsp.do(handlers.time_out_orders, ["d1"], T0 + ACCEPT + timedelta(seconds=1), ACCEPT) == 1
    dsp.do(handlers.accept_order, "d1", dsp.acting(LI), T0 + ACCEPT + timedelta(minutes=1))


def test_a_wish_is_claimed_once(dsp):
    dsp.do(handlers.post_wish, {"wish_id": "w1", "community_id": "xf", "resident_id": "r9", "resident_name": "小明",
                                "group": "留守儿童", "content": "想要一套课外书"})
    dsp.claim({"wish_id": "w1", "claimant_kind": "member", "claimant_id": "m1",
                                 "claimant_name": "张律师", "member_ids": ["m1"]})
    dsp.new_events()
    with pytest.raises(Exception) as refused:
        dsp.claim({"wish_id": "w1", "claimant_kind": "member", "claimant_id": "m2",
                                     "claimant_name": "李医生", "member_ids": ["m2"]})
    assert getattr(refused.value, "code", None)   # a DomainError with its stable code
    assert dsp.new_events() == []
