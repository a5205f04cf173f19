"""Event contracts: domain events match their schemas; old versions are upcast; bad data refused."""
import dataclasses

import pytest
from marshmallow import Schema, fields

from services.dispatch import domain as dispatch_domain
from services.dispatch import ledgers as dispatch_ledgers
from services.notify import domain as notify_domain
from services.registration import domain as registration_domain
from shared.contracts import ContractError, EventContract, contracts_of, decode_message, get_contract


@pytest.mark.parametrize("source, events", [("registration", registration_domain.EVENTS),
                                            ("notify", notify_domain.EVENTS),
                                            ("dispatch", dispatch_domain.EVENTS + dispatch_ledgers.EVENTS)])
def test_every_domain_event_has_a_contract_with_the_same_fields(source, events):
    for cls in events:
        contract = get_contract(source, cls.event_type)
        assert {f.name for f in dataclasses.fields(cls)} == set(contract.schema.fields), cls.__name__
        assert contract.version == cls.schema_version
    assert {c.event_type for c in contracts_of(source)} == {cls.event_type for cls in events}


def envelope(**over):
    body = {"event_id": "e1", "event_type": "CampaignOpened", "schema_version": 1, "stream_id": "unit-u1",
            "stream_version": 2, "global_position": 7, "occurred_at": "2026-11-22T08:00:00+00:00",
            "correlation_id": "c-1", "causation_id": None, "actor": None,
            "data": {"unit_id": "u1", "campaign_id": "c1", "title": "报到", "deadline": "2026-12-31"}}
    body.update(over)
    return body


def test_decode_message_validates_envelope_and_data():
    event = decode_message("registration", envelope())
    assert event.data["deadline"] == "2026-12-31" and event.global_position == 7
    with pytest.raises(ContractError):
        decode_message("registration", envelope(global_position=0))
    with pytest.raises(ContractError):
        decode_message("registration", envelope(data={"unit_id": "u1"}))
    with pytest.raises(ContractError):
        decode_message("registration", envelope(event_type="NoSuchEvent"))
    with pytest.raises(ContractError):
        decode_message("registration", ["not", "an", "object"])


def test_outgoing_data_must_match_exactly():
    contract = get_contract("registration", "CampaignOpened")
    with pytest.raises(ContractError):
        contract.validate_outgoing({"unit_id": "u1", "campaign_id": "c1", "title": "t", "deadline": "2026-12-31",
                                    "extra": 1})


class _V3(Schema):
    member_id = fields.String(required=True)
    full_name = fields.String(required=True)
    phone_masked = fields.String(required=True)


def test_old_versions_are_upcast_step_by_step_and_newer_ones_refused():
    contract = EventContract("test", "Renamed", _V3(), version=3, upcasters={
        1: lambda d: {**d, "full_name": d.pop("name")},
        2: lambda d: {**d, "phone_masked": d["phone"][:3] + "****" + d.pop("phone")[-4:]},
    })
    v1 = {"member_id": "m1", "name": "张三", "phone": "13800001234"}
    assert contract.decode(v1, 1) == {"member_id": "m1", "full_name": "张三", "phone_masked": "138****1234"}
    assert contract.decode({"member_id": "m1", "full_name": "李四", "phone_masked": "x"}, 3)["full_name"] == "李四"
    with pytest.raises(ContractError):
        contract.decode(v1, 4)
    broken = EventContract("test", "Gap", _V3(), version=3, upcasters={1: lambda d: d})
    with pytest.raises(ContractError):
        broken.decode(v1, 1)


def test_stored_v1_registration_events_are_upcast_to_v2():
    from services.registration.domain import MemberCheckedIn, MemberEnrolled

    enrolled_v1 = {"member_id": "m1", "unit_id": "u1", "name": "张三", "gender": "男", "phone": "13800000001",
                   "position": "科员", "residence_community_id": "xf", "probationary": False, "leading_cadre": False,
                   "skills": ["法律咨询"]}
    data = get_contract("registration", "MemberEnrolled").decode(enrolled_v1, 1)
    event = MemberEnrolled.from_data(data)
    assert (event.joined_reason, event.age, event.willingness, event.joined_on) == ("roster", None, "", None)

    checked_in_v1 = {"member_id": "m1", "member_name": "张三", "unit_id": "u1", "unit_name": "市财政局",
                     "campaign_id": "c1", "letter_id": "L1", "community_id": "xf", "community_name": "幸福社区",
                     "card_no": "XF-00001", "checked_in_at": "2026-11-22T08:00:00+00:00"}
    event = MemberCheckedIn.from_data(get_contract("registration", "MemberCheckedIn").decode(checked_in_v1, 1))
    assert event.card_no == "XF-00001" and event.availability == [] and event.grid_id is None
