"""Registration's service layer: one function per command, each `handler(uow, cmd, ...)`."""
from __future__ import annotations

import uuid
from datetime import date

from services.registration.domain import Community, Member, Team, Unit, UnknownMember
from shared.application import rerun_on_redelivery
from shared.throughput import cached

ID_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4b7b-9c55-3c4bb1a0b0a1")


def member_id_for(unit_id: str, person_key: str) -> str:
    """A member's id is derived from the unit and the person's key (their phone number), so
    enrolling the same person again — a re-imported roster — finds the same member."""
    return str(uuid.uuid5(ID_NAMESPACE, f"member:{unit_id}:{person_key}"))


# -- hierarchy ------------------------------------------------------------------------------
def register_community(uow, cmd: dict) -> dict:
    community = uow.load(Community, cmd["community_id"])
    community.register(name=cmd["name"], district_id=cmd["district_id"], district_name=cmd["district_name"],
                       street_id=cmd["street_id"], street_name=cmd["street_name"],
                       card_prefix=cmd.get("card_prefix") or cmd["community_id"].upper())
    return {"community_id": community.id}


def add_grid(uow, cmd: dict) -> dict:
    uow.load(Community, cmd["community_id"]).add_grid(grid_id=cmd["grid_id"], name=cmd["name"],
                                                      leader_name=cmd["leader_name"])
    return {"grid_id": cmd["grid_id"]}


def add_branch(uow, cmd: dict) -> dict:
    uow.load(Community, cmd["community_id"]).add_branch(branch_id=cmd["branch_id"], name=cmd["name"])
    return {"branch_id": cmd["branch_id"]}


def register_unit(uow, cmd: dict) -> dict:
    unit = uow.load(Unit, cmd["unit_id"])
    linked = uow.load(Community, cmd["linked_community_id"]) if cmd.get("linked_community_id") else None
    unit.register(name=cmd["name"], kind=cmd["kind"], district_id=cmd["district_id"], linked_community=linked)
    return {"unit_id": unit.id}


def open_campaign(uow, cmd: dict, today: date) -> dict:
    unit = uow.load(Unit, cmd["unit_id"])
    unit.open_campaign(campaign_id=cmd["campaign_id"], title=cmd["title"], deadline=cmd["deadline"], today=today)
    return {"campaign_id": cmd["campaign_id"]}


# -- roster ---------------------------------------------------------------------------------
def enroll_member(uow, cmd: dict) -> dict:
    unit = uow.load(Unit, cmd["unit_id"])
    residence = uow.load(Community, cmd["residence_community_id"])
    member = uow.load(Member, member_id_for(cmd["unit_id"], cmd["person_key"]))
    created = member.enroll(unit=unit, residence=residence, name=cmd["name"], gender=cmd["gender"],
                            phone=cmd["phone"], position=cmd.get("position", ""),
                            probationary=cmd.get("probationary", False),
                            leading_cadre=cmd.get("leading_cadre", False), skills=cmd.get("skills", ()),
                            age=cmd.get("age"), willingness=cmd.get("willingness", ""),
                            joined_reason=cmd.get("joined_reason", "roster"), joined_on=cmd.get("joined_on"),
                            interests=cmd.get("interests", ()))
    return {"member_id": member.id, "created": created}


def enroll_members(uow, unit_id: str, members: list[dict]) -> dict:
    """A validated roster (or a chunk of one) in one transaction: all of it or none of it."""
    created = 0
    for cmd in members:
        created += enroll_member(uow, {**cmd, "unit_id": unit_id})["created"]
    return {"received": len(members), "created": created, "unchanged": len(members) - created}


# -- letters and check-in -------------------------------------------------------------------
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


@rerun_on_redelivery
def issue_letters(uow, unit_id: str, campaign_id: str, member_ids: list[str], to: str, issued_at: str) -> list[dict]:
    """Letters for many members of a unit at once (the unit prints them for its whole roster)."""
    letters = []
    for member_id in member_ids:
        member = uow.load(Member, member_id)
        if member.unit_id != unit_id:
            raise UnknownMember(f"党员 {member_id} 不在本单位名册中", member_id=member_id)
        if campaign_id in member.checked_in:
            continue
        letters.append(issue_letter(uow, {"member_id": member_id, "campaign_id": campaign_id, "to": to}, issued_at))
    return letters


def _check_in_wants(uow, cmd: dict, checked_in_at: str | None = None) -> list:
    """The member, the community and the member's unit, as the cached member names it (a
    member's unit changes only with a change of workplace: then the right unit costs a second
    read); a member not cached yet costs a second read for its unit."""
    seen = cached(uow, Member, cmd["member_id"])
    wanted = [(Member, cmd["member_id"]), (Community, cmd["community_id"])]
    if seen is not None and seen.unit_id:
        wanted.append((Unit, seen.unit_id))
    return wanted


def check_in(uow, cmd: dict, checked_in_at: str) -> dict:
    member, community = uow.load_many(*_check_in_wants(uow, cmd))[:2]
    member.require_exists()
    unit = uow.load(Unit, member.unit_id)
    letter = member.letters.get(cmd["letter_id"])
    letter_community = (uow.load(Community, letter.community_id)
                        if letter is not None and letter.community_id != community.id else None)
    card_no = member.check_in(letter_id=cmd["letter_id"], unit=unit, community=community,
                              checked_in_at=checked_in_at, letter_community=letter_community,
                              grid_id=cmd.get("grid_id"), branch_id=cmd.get("branch_id"),
                              skills=cmd.get("skills", ()), willingness=cmd.get("willingness", ""),
                              availability=cmd.get("availability", ()))
    return {"member_id": member.id, "community_id": community.id, "card_no": card_no}


check_in.wants = _check_in_wants   # a batch of check-ins reads all their aggregates at once


# -- deadlines ------------------------------------------------------------------------------
def mark_overdue(uow, candidates: list[tuple[str, str]], today: date) -> int:
    """Mark each (member, obligation) past its deadline and unregistered; returns how many."""
    marked = 0
    for member_id, obligation_id in candidates:
        member = uow.load(Member, member_id)
        unit = uow.load(Unit, member.unit_id)
        marked += member.mark_overdue(unit=unit, obligation_id=obligation_id, today=today)
    return marked


def record_overdue_reason(uow, cmd: dict) -> dict:
    member = uow.load(Member, cmd["member_id"])
    member.record_overdue_reason(obligation_id=cmd["obligation_id"], reason=cmd["reason"], note=cmd.get("note", ""))
    return {"member_id": member.id}


def move_member(uow, cmd: dict) -> dict:
    member = uow.load(Member, cmd["member_id"])
    obligation_id = member.move(to=uow.load(Community, cmd["to_community_id"]), moved_on=cmd["moved_on"])
    return {"member_id": member.id, "obligation_id": obligation_id}


def change_workplace(uow, cmd: dict) -> dict:
    """工作地变动: the new unit takes the member on its roster; one month to register again."""
    member = uow.load(Member, cmd["member_id"]).require_exists()
    obligation_id = member.change_workplace(from_unit=uow.load(Unit, member.unit_id),
                                            to=uow.load(Unit, cmd["to_unit_id"]), changed_on=cmd["changed_on"],
                                            position=cmd.get("position", ""))
    return {"member_id": member.id, "unit_id": member.unit_id, "obligation_id": obligation_id}


def record_card_opinion(uow, cmd: dict, today: date) -> dict:
    member = uow.load(Member, cmd["member_id"])
    member.record_card_opinion(side=cmd["side"], opinion=cmd["opinion"], by=cmd["recorded_by"], on=today)
    return {"member_id": member.id, "card_no": member.card_no, "side": cmd["side"]}


# -- posts, commitments, teams --------------------------------------------------------------
def publish_post(uow, cmd: dict) -> dict:
    uow.load(Community, cmd["community_id"]).publish_post(post_id=cmd["post_id"], title=cmd["title"],
                                                          category=cmd["category"],
                                                          description=cmd.get("description", ""))
    return {"post_id": cmd["post_id"]}


def claim_post(uow, cmd: dict) -> dict:
    member = uow.load(Member, cmd["member_id"]).require_exists()
    member.claim_post(community=uow.load(Community, cmd["community_id"]), post_id=cmd["post_id"])
    return {"member_id": member.id, "post_id": cmd["post_id"]}


def make_commitment(uow, cmd: dict, today: date) -> dict:
    member = uow.load(Member, cmd["member_id"]).require_exists()
    commitment_id = member.make_commitment(community=uow.load(Community, cmd["community_id"]),
                                           items=cmd["items"], deadline=cmd["deadline"], today=today)
    return {"commitment_id": commitment_id}


def form_team(uow, cmd: dict) -> dict:
    team = uow.load(Team, cmd["team_id"])
    team.form(community=uow.load(Community, cmd["community_id"]), name=cmd["name"], basis=cmd["basis"],
              service=cmd["service"])
    return {"team_id": team.id}


def join_team(uow, cmd: dict) -> dict:
    team = uow.load(Team, cmd["team_id"]).require_exists()
    member = uow.load(Member, cmd["member_id"]).require_exists()
    joined = team.join(member=member, community=uow.load(Community, team.community_id))
    return {"team_id": team.id, "joined": joined}


def elect_team_leader(uow, cmd: dict) -> dict:
    team = uow.load(Team, cmd["team_id"])
    leader = team.elect_leader(ballots=cmd["ballots"])
    return {"team_id": team.id, "leader_member_id": leader}
