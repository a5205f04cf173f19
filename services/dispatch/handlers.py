"""Dispatch's service layer: one function per command, each `handler(uow, ...)`, and the
handlers of registration's events that keep the directory."""
from __future__ import annotations

from datetime import datetime, timedelta

from services.dispatch import readmodels
from services.dispatch.domain import Activity, Acting, Candidate, ServiceOrder, Wish

# Who acts, who is credited, who is dispatched to: the service looks the members and teams up
# in its directory and passes them in (`Acting`, `Member`, `ServiceTeam`, None when unknown);
# the domain decides whether they may.


def candidate(d: dict) -> Candidate:
    return Candidate(d["kind"], d["id"], d["name"])


# -- 点单 ------------------------------------------------------------------------------------
def record_demand(uow, cmd: dict, possible_duplicates: list[str]) -> dict:
    order = uow.load(ServiceOrder, cmd["demand_id"])
    order.record(community_id=cmd["community_id"], grid_id=cmd.get("grid_id"), resident_id=cmd["resident_id"],
                 resident_name=cmd["resident_name"], category=cmd["category"], description=cmd["description"],
                 address=cmd["address"], window_start=cmd["window_start"], window_end=cmd["window_end"],
                 urgency=cmd["urgency"], public=cmd["public"], channel=cmd["channel"], recorded_by=cmd["recorded_by"],
                 possible_duplicates=possible_duplicates)
    return {"demand_id": order.id, "possible_duplicate_of": possible_duplicates}


def merge_demands(uow, cmd: dict) -> dict:
    order = uow.load(ServiceOrder, cmd["demand_id"])
    order.merge_into(uow.load(ServiceOrder, cmd["into_demand_id"]), by=cmd["by"])
    return {"demand_id": order.id, "merged_into": cmd["into_demand_id"]}


# -- 下单 ------------------------------------------------------------------------------------
def dispatch_order(uow, demand_id: str, candidates: list[tuple], reasons: list[str], by: str, now: datetime,
                   accept_within: timedelta, due_within: timedelta) -> dict:
    """To `candidates` in order: `(kind, id, the directory's entry or None)`."""
    order = uow.load(ServiceOrder, demand_id)
    first = order.dispatch(candidates=[tuple(c) for c in candidates], now=now, accept_within=accept_within,
                           due_within=due_within, by=by, reasons=reasons)
    return {"demand_id": demand_id, "assignee": first, "accept_by": order.accept_by.isoformat()}


def publish_order(uow, demand_id: str, now: datetime, accept_within: timedelta, due_within: timedelta) -> dict:
    order = uow.load(ServiceOrder, demand_id)
    order.publish(now=now, accept_within=accept_within, due_within=due_within)
    return {"demand_id": demand_id, "accept_by": order.accept_by.isoformat()}


# -- 接单 ------------------------------------------------------------------------------------
def accept_order(uow, demand_id: str, acting: Acting, now: datetime) -> dict:
    order = uow.load(ServiceOrder, demand_id)
    order.accept(acting=acting, now=now)
    return {"demand_id": demand_id, "accepted_by": order.assignee}


def decline_order(uow, demand_id: str, acting: Acting, reason: str, now: datetime, accept_within: timedelta) -> dict:
    order = uow.load(ServiceOrder, demand_id)
    following = order.decline(acting=acting, reason=reason, now=now, accept_within=accept_within)
    return {"demand_id": demand_id, "next": following, "state": order.state}


def time_out_orders(uow, demand_ids: list[str], now: datetime, accept_within: timedelta) -> int:
    return sum(uow.load(ServiceOrder, d).time_out(now=now, accept_within=accept_within) for d in demand_ids)


def mark_overdue_orders(uow, demand_ids: list[str], now: datetime) -> int:
    return sum(uow.load(ServiceOrder, d).mark_overdue(now=now) for d in demand_ids)


# -- 服务纪实 ---------------------------------------------------------------------------------
def complete_service(uow, cmd: dict, acting: Acting, crew: dict, now: datetime, team_crew: dict | None = None) -> dict:
    """`acting` records it; `crew` (member id → directory entry) are the others it credits;
    `team_crew` the acting team's members (credited when a team's record names nobody)."""
    order = uow.load(ServiceOrder, cmd["demand_id"])
    order.complete(acting=acting, crew={m: e for m, e in crew.items() if m != acting.member_id},
                   team_crew=team_crew, hours=cmd["hours"], participants=cmd["participants"],
                   content=cmd["content"], photo_links=cmd.get("photo_links", ()), now=now)
    return {"demand_id": order.id, "state": order.state}


def verify_service(uow, cmd: dict, now: datetime) -> dict:
    order = uow.load(ServiceOrder, cmd["demand_id"])
    order.verify(by=cmd["by"], now=now)
    return {"demand_id": order.id, "state": order.state}


def reject_service(uow, cmd: dict) -> dict:
    order = uow.load(ServiceOrder, cmd["demand_id"])
    order.reject(by=cmd["by"], reason=cmd["reason"])
    return {"demand_id": order.id, "state": order.state}


def rate_service(uow, cmd: dict) -> dict:
    order = uow.load(ServiceOrder, cmd["demand_id"])
    order.rate(resident_id=cmd["resident_id"], rating=cmd["rating"], comment=cmd.get("comment", ""))
    return {"demand_id": order.id, "rating": cmd["rating"]}


def cancel_order(uow, cmd: dict) -> dict:
    order = uow.load(ServiceOrder, cmd["demand_id"])
    order.cancel(by=cmd["by"], reason=cmd["reason"])
    return {"demand_id": order.id, "state": order.state}


def reopen_order(uow, cmd: dict) -> dict:
    order = uow.load(ServiceOrder, cmd["demand_id"])
    order.reopen(by=cmd["by"], reason=cmd.get("reason", ""))
    return {"demand_id": order.id, "state": order.state}


# -- wishes and activities ------------------------------------------------------------------
def post_wish(uow, cmd: dict) -> dict:
    uow.load(Wish, cmd["wish_id"]).post(community_id=cmd["community_id"], resident_id=cmd["resident_id"],
                                        resident_name=cmd["resident_name"], group=cmd["group"],
                                        content=cmd["content"])
    return {"wish_id": cmd["wish_id"]}


def claim_wish(uow, cmd: dict, members: dict) -> dict:
    """By a member (`claimant_id`), or by a unit with its members (集体认领); `members` maps the
    member ids taking part to the directory's entries."""
    wish = uow.load(Wish, cmd["wish_id"])
    wish.claim(claimant_kind=cmd["claimant_kind"], claimant_id=cmd["claimant_id"], members=members)
    return {"wish_id": cmd["wish_id"], "claimed_by": wish.claimant}


def fulfil_wish(uow, cmd: dict, now: datetime) -> dict:
    """`cmd["by"]`: `{"kind": "staff" | "member" | "unit", "id": ...}`, who records it."""
    by = cmd["by"]
    uow.load(Wish, cmd["wish_id"]).fulfil(record=cmd["record"], now=now, by_kind=by["kind"], by_id=by["id"])
    return {"wish_id": cmd["wish_id"]}


def schedule_activity(uow, cmd: dict, now: datetime) -> dict:
    uow.load(Activity, cmd["activity_id"]).schedule(community_id=cmd["community_id"], title=cmd["title"],
                                                    kind=cmd["kind"], starts_at=cmd["starts_at"],
                                                    capacity=cmd["capacity"], now=now)
    return {"activity_id": cmd["activity_id"]}


def sign_up(uow, cmd: dict, now: datetime) -> dict:
    signed = uow.load(Activity, cmd["activity_id"]).sign_up(member_id=cmd["member_id"], now=now)
    return {"activity_id": cmd["activity_id"], "signed_up": signed}


def record_attendance(uow, cmd: dict, now: datetime) -> dict:
    activity = uow.load(Activity, cmd["activity_id"])
    activity.record_attendance(attended=cmd["attended"], now=now)
    return {"activity_id": activity.id, "attended": len(set(cmd["attended"]))}


# -- registration's events: the directory ---------------------------------------------------
def directory_registered(uow, event) -> None:
    readmodels.member_registered(uow.conn, event)


def directory_moved(uow, event) -> None:
    readmodels.member_moved(uow.conn, event)


def directory_workplace_changed(uow, event) -> None:
    readmodels.member_changed_workplace(uow.conn, event)


def directory_team_formed(uow, event) -> None:
    readmodels.team_formed(uow.conn, event)


def directory_team_joined(uow, event) -> None:
    readmodels.member_joined_team(uow.conn, event)


class TeamNotYetKnown(Exception):
    """A leader elected for a team whose TeamFormed has not arrived: each event type has its
    own queue, so they can cross. Raising rolls the handling back; the inbox retries it later."""


def directory_team_leader(uow, event) -> None:
    if not readmodels.team_leader_elected(uow.conn, event):
        raise TeamNotYetKnown(f"team {event.data['team_id']} not formed here yet")
