"""Registration's service layer: one function per command, each `handler(uow, cmd, ...)`."""
from __future__ import annotations

import uuid
from datetime import date

from services.registration.domain import Community, Member, Unit

ID_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4b7b-9c55-3c4bb1a0b0a1")


def member_id_for(unit_id: str, person_key: str) -> str:
    """A member's id is derived from the unit and the person's key (ID number or phone), so
    enrolling the same person again finds the same member."""
    return str(uuid.uuid5(ID_NAMESPACE, f"member:{unit_id}:{person_key}"))


def register_community(uow, cmd: dict) -> dict:
    community = uow.load(Community, cmd["community_id"])
    community.register(name=cmd["name"], district_id=cmd["district_id"], district_name=cmd["district_name"],
                       street_id=cmd["street_id"], street_name=cmd["street_name"],
                       card_prefix=cmd.get("card_prefix") or cmd["community_id"].upper())
    return {"community_id": community.id}


def register_unit(uow, cmd: dict) -> dict:
    unit = uow.load(Unit, cmd["unit_id"])
    linked = uow.load(Community, cmd["linked_community_id"]) if cmd.get("linked_community_id") else None
    unit.register(name=cmd["name"], kind=cmd["kind"], district_id=cmd["district_id"], linked_community=linked)
    return {"unit_id": unit.id}


def open_campaign(uow, cmd: dict, today: date) -> dict:
    unit = uow.load(Unit, cmd["unit_id"])
    unit.open_campaign(campaign_id=cmd["campaign_id"], title=cmd["title"], deadline=cmd["deadline"], today=today)
    return {"campaign_id": cmd["campaign_id"]}


def enroll_member(uow, cmd: dict) -> dict:
    unit = uow.load(Unit, cmd["unit_id"])
    residence = uow.load(Community, cmd["residence_community_id"])
    member = uow.load(Member, member_id_for(cmd["unit_id"], cmd["person_key"]))
    created = member.enroll(unit=unit, residence=residence, name=cmd["name"], gender=cmd["gender"],
                            phone=cmd["phone"], position=cmd.get("position", ""),
                            probationary=cmd.get("probationary", False),
                            leading_cadre=cmd.get("leading_cadre", False), skills=cmd.get("skills", ()))
    return {"member_id": member.id, "created": created}


def issue_letter(uow, cmd: dict, issued_at: str) -> dict:
    """To the residence community by default (就近就便), or the unit's linked community."""
    member = uow.load(Member, cmd["member_id"]).require_exists()
    unit = uow.load(Unit, member.unit_id)
    if cmd.get("to") == "linked":
        community_id = unit.linked_community_id or member.residence_community_id
    else:
        community_id = cmd.get("community_id") or member.residence_community_id
    community = uow.load(Community, community_id)
    letter_id = str(uuid.uuid4())
    member.issue_letter(letter_id=letter_id, unit=unit, campaign_id=cmd["campaign_id"], community=community,
                        issued_at=issued_at)
    return {"letter_id": letter_id, "member_id": member.id, "community_id": community.id,
            "community_name": community.name}


def check_in(uow, cmd: dict, checked_in_at: str) -> dict:
    member = uow.load(Member, cmd["member_id"]).require_exists()
    unit = uow.load(Unit, member.unit_id)
    community = uow.load(Community, cmd["community_id"])
    card_no = member.check_in(letter_id=cmd["letter_id"], unit=unit, community=community,
                              checked_in_at=checked_in_at)
    return {"member_id": member.id, "community_id": community.id, "card_no": card_no}
