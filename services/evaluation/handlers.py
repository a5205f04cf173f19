"""Evaluation's service layer: other services' events become facts on members' records, and one
function per command, each `handler(uow, ...)`.

The source event's id keys the fact, so the inbox and the record itself both refuse a
redelivery. Dates are taken in Beijing time (a 23:30 UTC verification on 30 June is 1 July).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import structlog

from services.evaluation import readmodels
from services.evaluation.domain import TITLE_CANDIDATE, TITLE_STAR, DistrictCalendar, MemberRecord, UnitBoard
from services.evaluation.rules import GRADES, RuleBook
from shared.application import rerun_on_redelivery
from shared.domain import NotFound
from shared.eventstore import ConcurrencyConflict

log = structlog.get_logger("baodao.evaluation")

BEIJING = timezone(timedelta(hours=8))


def local_date(iso: str) -> date:
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(BEIJING).date()


def _record(uow, rulebook: RuleBook, event, member_id: str, kind: str, occurred_on: date, *,
            community_id: str = "", unit_id: str = "", district_id: str = "", **details) -> bool:
    record = uow.load(MemberRecord, member_id)
    district = (district_id or record.district_id
                or readmodels.district_of(uow.conn, community_id or record.community_id, unit_id or record.unit_id))
    closed = uow.load(DistrictCalendar, district).closed if district else set()
    return record.record_fact(kind=kind, source_event_id=event.event_id, source_event_type=event.event_type,
                              occurred_on=occurred_on, rules=rulebook.for_district(district), district_closed=closed,
                              community_id=community_id, unit_id=unit_id, district_id=district, **details)


# -- registration's events --------------------------------------------------------------------
def community_registered(uow, event) -> None:
    readmodels.community_registered(uow.conn, event.data)


def unit_registered(uow, event) -> None:
    readmodels.unit_registered(uow.conn, event.data)


def member_enrolled(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    on = date.fromisoformat(d["joined_on"]) if d.get("joined_on") else local_date(event.occurred_at)
    _record(uow, rulebook, event, d["member_id"], "enrolled", on, community_id=d["residence_community_id"],
            unit_id=d["unit_id"], member_name=d["name"])


def member_checked_in(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    readmodels.community_registered(uow.conn, {"community_id": d["community_id"], "name": d["community_name"],
                                               "district_id": d["district_id"], "street_id": d.get("street_id", "")})
    _record(uow, rulebook, event, d["member_id"], "checked_in", local_date(d["checked_in_at"]),
            community_id=d["community_id"], unit_id=d["unit_id"], district_id=d["district_id"],
            member_name=d["member_name"], obligation_id=d["campaign_id"])


def obligation_opened(uow, event, rulebook: RuleBook) -> None:
    """A one-month obligation to (re-)register (moved, changed workplace, newly admitted,
    transferred in): what the year's registration status is judged on."""
    d = event.data
    _record(uow, rulebook, event, d["member_id"], "obligation_opened", local_date(event.occurred_at),
            unit_id=d["unit_id"], reason=d["kind"], obligation_id=d["obligation_id"], due_on=d["due_date"])


def registration_overdue(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    _record(uow, rulebook, event, d["member_id"], "overdue", date.fromisoformat(d["detected_on"]),
            unit_id=d["unit_id"], reason=f"应于 {d['due_date']} 前报到", obligation_id=d["obligation_id"],
            due_on=d["due_date"])


def overdue_reason_recorded(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    _record(uow, rulebook, event, d["member_id"], "overdue_reason", local_date(event.occurred_at),
            unit_id=d["unit_id"], reason=d["reason"], obligation_id=d["obligation_id"])


def member_moved(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    district = readmodels.district_of(uow.conn, d["to_community_id"])
    record = uow.load(MemberRecord, d["member_id"])
    closed = uow.load(DistrictCalendar, record.district_id).closed if record.district_id else set()
    record.record_fact(kind="moved", source_event_id=event.event_id, source_event_type=event.event_type,
                       occurred_on=date.fromisoformat(d["moved_on"]), rules=rulebook.for_district(record.district_id),
                       district_closed=closed, community_id=d["to_community_id"], district_id=district,
                       reason=f"居住地由 {d['from_community_id']} 迁至 {d['to_community_id']}")


def commitment_made(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    _record(uow, rulebook, event, d["member_id"], "commitment", local_date(event.occurred_at),
            community_id=d["community_id"], member_name=d["member_name"], reason="；".join(d["items"])[:200])


# -- dispatch's events ------------------------------------------------------------------------
def service_verified(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    for member_id in dict.fromkeys(d["member_ids"]):
        _record(uow, rulebook, event, member_id, "service_verified", local_date(d["verified_at"]),
                community_id=d["community_id"], hours=d["hours"])


def service_rejected(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    for member_id in dict.fromkeys(d["member_ids"]):
        _record(uow, rulebook, event, member_id, "service_rejected", local_date(event.occurred_at),
                community_id=d["community_id"], reason=d["reason"][:200])


def service_rated(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    for member_id in dict.fromkeys(d["member_ids"]):
        _record(uow, rulebook, event, member_id, "service_rated", local_date(event.occurred_at),
                rating=d["rating"])


def wish_fulfilled(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    for member_id in dict.fromkeys(d["member_ids"]):
        _record(uow, rulebook, event, member_id, "wish_fulfilled", local_date(d["fulfilled_at"]))


def attendance_recorded(uow, event, rulebook: RuleBook) -> None:
    d = event.data
    on = local_date(d["starts_at"])
    for member_id in dict.fromkeys(d["attended"]):
        _record(uow, rulebook, event, member_id, "activity_attended", on, community_id=d["community_id"])
    for member_id in dict.fromkeys(m for m in d["absent"] if m not in d["attended"]):
        _record(uow, rulebook, event, member_id, "activity_absent", on, community_id=d["community_id"])


# -- commands ---------------------------------------------------------------------------------
def submit_party_input(uow, cmd: dict) -> dict:
    record = uow.load(MemberRecord, cmd["member_id"])
    if not record.exists:
        raise NotFound(f"党员 {cmd['member_id']} 尚无记实档案")
    closed = uow.load(DistrictCalendar, record.district_id).closed if record.district_id else set()
    by = cmd["by"]
    revision = record.submit_party_input(party=cmd["party"], period=cmd["period"], score=cmd["score"],
                                         comment=cmd["comment"], by_role=by["role"], by_id=by["id"],
                                         by_scope=by.get("scope", ""), district_closed=closed)
    return {"member_id": record.id, "period": cmd["period"], "party": cmd["party"], "revision": revision}


def veto_member(uow, cmd: dict) -> dict:
    record = uow.load(MemberRecord, cmd["member_id"])
    by = cmd["by"]
    record.veto(year=cmd["year"], statement=cmd["statement"], by_role=by["role"], by_id=by["id"],
                by_scope=by.get("scope", ""), street_id=readmodels.street_of(uow.conn, record.community_id))
    return {"member_id": record.id, "year": cmd["year"], "vetoed": True}


def close_period(uow, district_id: str, period: str, by: str) -> dict:
    calendar = uow.load(DistrictCalendar, district_id)
    changed = calendar.close(period, by)
    return {"district_id": district_id, "period": period, "closed": sorted(calendar.closed), "changed": changed}


def _graded(member_id: str, community_id: str, district_id: str, result) -> dict:
    """What ranking needs of a member's grade."""
    return {"member_id": member_id, "community_id": community_id, "district_id": district_id,
            "grade": result.grade, "score": result.score, "points": result.points, "eligible": result.eligible}


@rerun_on_redelivery
def grade_members(uow, member_ids: list[str], year: int, rulebook: RuleBook) -> list[dict]:
    """Grade a batch of members for the year (each once); returns what ranking needs.

    Set-based: one read of the grading read model (a row per member: its stream folded down to
    what grading reads, and the stream version it was folded to), the same pure `evaluate` as
    the record's, and one append of every grade, each on its member's stream at that version.
    A member the read model has not seen yet is graded on its replayed record; if any stream
    moved on since the read model folded it (a fact or a grade it has not projected yet), the
    append writes nothing and the whole batch is graded on the replayed records instead, in
    the same transaction — so the result is always the record's."""
    member_ids = list(dict.fromkeys(member_ids))
    known = readmodels.grading_inputs(uow.conn, member_ids)
    by_member, decided, unknown = {}, [], []
    for member_id in member_ids:
        inputs = known.get(member_id)
        if inputs is None:
            unknown.append(member_id)
            continue
        result, events = inputs.assign_grade(year, rulebook.for_district(inputs.district_id))
        if events:
            decided.append((MemberRecord, member_id, inputs.version, events))
        by_member[member_id] = _graded(member_id, inputs.community_id, inputs.district_id, result)
    try:
        uow.append_decided(decided)
    except ConcurrencyConflict as conflict:
        log.info("grading_read_model_behind", stream_id=conflict.stream_id, members=len(member_ids))
        return grade_members_replayed(uow, member_ids, year, rulebook)
    if unknown:
        for graded in grade_members_replayed(uow, unknown, year, rulebook):
            by_member[graded["member_id"]] = graded
    return [by_member[m] for m in member_ids]


def grade_members_replayed(uow, member_ids: list[str], year: int, rulebook: RuleBook) -> list[dict]:
    """Grade a batch of members on their replayed records (each stream read and rebuilt)."""
    out = []
    uow.load_many(*[(MemberRecord, m) for m in member_ids])
    for member_id in member_ids:
        record = uow.load(MemberRecord, member_id)
        result = record.assign_grade(year, rulebook.for_district(record.district_id))
        out.append(_graded(member_id, record.community_id, record.district_id, result))
    return out


def choose_titles(graded: list[dict], rules) -> list[tuple[str, str, int]]:
    """社区服务之星 (top of each community) and 身边最美在职党员 candidates (top of the
    district), among eligible members graded at least `min_grade`; ties by points, then id."""
    floor = GRADES.index(rules.title_min_grade)
    eligible = sorted((g for g in graded if g["eligible"] and GRADES.index(g["grade"]) <= floor),
                      key=lambda g: (-g["score"], -g["points"], g["member_id"]))
    chosen, per_community = [], {}
    for g in eligible:
        n = per_community.get(g["community_id"], 0)
        if n < rules.community_stars:
            per_community[g["community_id"]] = n + 1
            chosen.append((g["member_id"], TITLE_STAR, n + 1))
    chosen += [(g["member_id"], TITLE_CANDIDATE, i) for i, g in enumerate(eligible[:rules.district_candidates], 1)]
    return chosen


@rerun_on_redelivery
def award_titles(uow, awards: list[tuple[str, str, int]], year: int) -> int:
    return sum(uow.load(MemberRecord, member_id).award_title(year, title, rank) for member_id, title, rank in awards)


@rerun_on_redelivery
def recompute(uow, member_ids: list[str], rulebook: RuleBook) -> int:
    corrected = 0
    uow.load_many(*[(MemberRecord, m) for m in member_ids])
    for member_id in member_ids:
        record = uow.load(MemberRecord, member_id)
        closed = uow.load(DistrictCalendar, record.district_id).closed if record.district_id else set()
        corrected += record.recompute(rulebook.for_district(record.district_id), closed)
    return corrected


@rerun_on_redelivery
def remind_party_inputs(uow, member_ids: list[str], period: str, occasion: str) -> int:
    """Remind the parties of each member's missing inputs for `period`; the number of reminders."""
    uow.load_many(*[(MemberRecord, m) for m in member_ids])
    return sum(uow.load(MemberRecord, m).remind_missing(period, occasion) is not None for m in member_ids)


@rerun_on_redelivery
def regrade(uow, member_ids: list[str], year: int, rulebook: RuleBook, by: str) -> dict:
    """Re-decide a batch of members' year from their histories under the current rules:
    {"changes": each changed grade, disqualification or withdrawn title, "standings": each
    graded member's decision as it now stands (for `award_free_titles`)}."""
    changes, standings = [], []
    uow.load_many(*[(MemberRecord, m) for m in member_ids])
    for member_id in member_ids:
        record = uow.load(MemberRecord, member_id)
        if year not in record.grades:
            continue
        rules = rulebook.for_district(record.district_id)
        closed = uow.load(DistrictCalendar, record.district_id).closed if record.district_id else set()
        titles_before = {t for y, t in record.titles if y == year}
        reasons_before = list(record.disqualified.get(year, []))
        old_grade, _, old_points, _ = record.current_grade(year)
        revised = record.regrade(year, rules, closed, by)
        reasons_after = list(record.disqualified.get(year, []))
        withdrawn = sorted(titles_before - {t for y, t in record.titles if y == year})
        if revised is not None or withdrawn or reasons_before != reasons_after:
            new_grade, _, new_points, _ = record.current_grade(year)
            changes.append({"member_id": member_id, "name": record.name, "old_grade": old_grade,
                            "new_grade": new_grade, "old_points": old_points, "new_points": new_points,
                            "old_rules": revised.old_rules if revised else "",
                            "new_rules": revised.new_rules if revised else "",
                            "old_disqualified": reasons_before, "new_disqualified": reasons_after,
                            "titles_withdrawn": withdrawn, "titles_awarded": []})
        standings.append(record.standing(year, rules))
    return {"changes": changes, "standings": standings}


class Preview(Exception):
    """Raised by `regrade_preview` so the transaction rolls back; carries the answer."""

    def __init__(self, answer):
        super().__init__("preview")
        self.answer = answer


def regrade_preview(uow, member_ids: list[str], year: int, rulebook: RuleBook, by: str):
    """`regrade` decided and never recorded: raises `Preview` with its answer."""
    raise Preview(regrade(uow, member_ids, year, rulebook, by))


@rerun_on_redelivery
def award_free_titles(uow, awards: list[tuple[str, str, int]], year: int) -> int:
    """Award the places a regrade left free (`free_title_places`), each with its reason."""
    return sum(uow.load(MemberRecord, member_id).award_title(
        year, title, rank, reason=f"重新评定后{title}名额空出，按积分依次递补") for member_id, title, rank in awards)


def publish_double_evaluation(uow, unit_id: str, year: int, members: int) -> dict:
    uow.load(UnitBoard, unit_id).publish(year, members)
    return {"unit_id": unit_id, "year": year, "members": members}
