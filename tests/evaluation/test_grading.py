"""The year close's set-based grading (the grading read model, `GradingInputs`, one append per
batch) grades exactly as the member's replayed record does: same inputs, same grade, same
explanation, same events — and falls back to the replayed records when the read model is
behind."""
import dataclasses
import random
from datetime import date
from pathlib import Path

import pytest

from services.evaluation import domain, handlers, readmodels
from services.evaluation.domain import GradingInputs, MemberRecord
from services.evaluation.rules import RuleBook

BOOK = RuleBook.load(Path(__file__).resolve().parents[2] / "deploy" / "config" / "evaluation-rules")
YEARS = (2025, 2026, 2027)
STAFF = {"role": "community_staff", "id": "staff-1"}


# -- the fold on its own: random records, no database -------------------------------------------
def _random_record(rng: random.Random, member_id: str) -> tuple[MemberRecord, list]:
    """A member's record driven through the domain at random; returns it and its events."""
    r = MemberRecord(member_id)
    events, closed, n = [], set(), 0
    communities = [("xf", "xq"), ("hp", "xq"), ("dz", "dq"), ("", "")]

    def fact(kind, **kw):
        nonlocal n
        n += 1
        source = f"e{rng.randrange(n + 1)}" if rng.random() < 0.05 else f"e{n}"    # now and then a redelivery
        on = date(rng.choice((2025, 2026, 2026, 2026, 2027)), rng.randint(1, 12), rng.randint(1, 28))
        district = rng.choice(("xq", "dq", "other"))
        r.record_fact(kind=kind, source_event_id=source, source_event_type="X", occurred_on=on,
                      rules=BOOK.for_district(district), district_closed=closed, **kw)

    for _ in range(rng.randint(0, 40)):
        c, d = rng.choice(communities)
        step = rng.random()
        if step < 0.1:
            fact("enrolled", community_id=c, unit_id=rng.choice(("u1", "u2", "")), member_name=rng.choice(("张三", "")))
        elif step < 0.2:
            fact(rng.choice(("checked_in", "moved")), community_id=c, district_id=d,
                 member_name=rng.choice(("张三", "张三丰", "")), unit_id=rng.choice(("u1", "")))
        elif step < 0.3:
            fact(rng.choice(("overdue", "overdue_reason")), reason=rng.choice(("病假", "外派", "拒不报到", "")))
        elif step < 0.75:
            fact(rng.choice(("service_verified", "activity_attended", "activity_absent", "wish_fulfilled",
                             "service_rejected", "commitment")), community_id=c, hours=rng.choice((1, 2.5, 4)))
        elif step < 0.8:
            fact("service_rated", rating=rng.randint(1, 5))
        elif step < 0.9:
            party = rng.choice(domain.PARTIES)
            period = rng.choice(("2026H1", "2026H2", "2027H1"))
            role, attr = domain.PARTY_ROLES[party]
            try:
                r.submit_party_input(party=party, period=period, score=rng.choice((55, 72.5, 90, 100)), comment="意见",
                                     by_role=role, by_id=member_id if party == "self" else "x",
                                     by_scope="" if party == "self" else getattr(r, attr), district_closed=closed)
            except domain.DomainError:
                pass
        elif step < 0.93:
            try:
                r.veto(year=rng.choice(YEARS), statement="未服务社区群众", by_role="community_staff", by_id="s",
                       by_scope=r.community_id)
            except domain.DomainError:
                pass
        elif step < 0.96:
            closed.add(rng.choice(("2026H1", "2026H2")))
        else:
            year = rng.choice(YEARS)
            r.assign_grade(year, BOOK.for_district(r.district_id))
            if rng.random() < 0.5 and not r.disqualified.get(year) and year not in r.vetoes:
                r.award_title(year, domain.TITLE_STAR, 1)
    events = r.collect_pending()
    return MemberRecord.replay(member_id, events), events


def test_the_fold_gives_the_records_grading_inputs_for_any_history():
    rng = random.Random(20261129)
    for i in range(400):
        record, events = _random_record(rng, f"m{i}")
        inputs = GradingInputs(record.id)
        for version, event in enumerate(events, start=1):
            assert event.to_data() == dataclasses.asdict(event)
            inputs.apply(event.event_type, event.to_data(), version)
        stored = GradingInputs.from_state(record.id, inputs.version, inputs.to_state())
        for folded in (inputs, stored):
            assert folded.version == record.version
            assert (folded.name, folded.unit_id, folded.community_id, folded.district_id) == \
                   (record.name, record.unit_id, record.community_id, record.district_id)
            for year in YEARS:
                assert folded.year_inputs(year) == record.year_inputs(year), (i, year)
                rules = BOOK.for_district(record.district_id)
                mine, events_now = folded.assign_grade(year, rules)
                theirs = MemberRecord.replay(record.id, events).assign_grade(year, rules)
                assert (mine.grade, mine.stars, mine.points, mine.score, mine.disqualified, mine.eligible) == \
                       (theirs.grade, theirs.stars, theirs.points, theirs.score, theirs.disqualified, theirs.eligible)
                if events_now:
                    assert mine.explanation == theirs.explanation


# -- the year close on a generated district (both back ends) --------------------------------------
def _district(ev, rng: random.Random, members: int = 40) -> list[str]:
    """Members of 西区 in two communities (and one of another district), with verified services,
    activities, ratings, rejections, moves, overdue reasons, the five parties (some amended),
    vetoes, and facts arriving after the first half closed."""
    ev.community("hp", "xq", "和平社区")
    ev.community("dz", "dq", "东区社区")
    ids = [f"m{i:03d}" for i in range(members)]
    for m in ids:
        kind = rng.random()
        community = rng.choice(("xf", "hp"))
        if kind < 0.15:                                     # never checked in
            ev.enrolled(m, community_id=community)
            ev.send("registration", "RegistrationOverdue", {"member_id": m, "unit_id": "czj", "obligation_id": "o",
                                                            "due_date": "2026-02-01", "detected_on": "2026-02-02"})
            if rng.random() < 0.7:
                ev.send("registration", "OverdueReasonRecorded", {"member_id": m, "unit_id": "czj",
                                                                  "obligation_id": "o",
                                                                  "reason": rng.choice(("外派", "拒不报到", "病假"))})
        elif kind < 0.25:                                   # rated before the check-in came
            ev.rated([m], rng.randint(1, 5))
            ev.member(m, community_id=community)
        else:
            ev.member(m, community_id=community)
    ev.member("other", community_id="dz", district_id="dq")
    for _ in range(members * 6):
        m = rng.choice(ids)
        peers = [m] + ([rng.choice(ids)] if rng.random() < 0.3 else [])
        at = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T02:00:00+00:00"
        step = rng.random()
        if step < 0.35:
            ev.verified(peers, hours=rng.choice((1, 2, 3)), at=at, community_id=rng.choice(("xf", "hp")))
        elif step < 0.75:
            ev.attended(peers, absent=[rng.choice(ids)] if rng.random() < 0.2 else [], at=at)
        elif step < 0.85:
            ev.rated(peers, rng.randint(1, 5))
        elif step < 0.9:
            ev.send("dispatch", "ServiceRejected", {"demand_id": "d", "community_id": "xf", "member_ids": peers,
                                                    "reason": "记录不完整", "rejected_by": "staff-1"})
        else:
            ev.send("dispatch", "WishFulfilled", {"wish_id": "w", "member_ids": peers, "record": "送去轮椅",
                                                  "fulfilled_at": at})
    for m in rng.sample(ids, 4):                            # moves within the district
        place = ev.query(readmodels.member, m)
        if place and place["community_id"]:
            to = "hp" if place["community_id"] == "xf" else "xf"
            ev.send("registration", "MemberMoved", {"member_id": m, "unit_id": "czj", "from_community_id":
                                                    place["community_id"], "to_community_id": to,
                                                    "moved_on": "2026-08-01"})
    for m in rng.sample(ids, members // 2):                 # the five parties, some amended
        record = _record(ev, m)
        for period in ("2026H1", "2026H2"):
            for party in domain.PARTIES:
                if rng.random() < 0.8:
                    role, attr = domain.PARTY_ROLES[party]
                    for _ in range(rng.choice((1, 1, 2))):
                        ev.do(handlers.submit_party_input, {
                            "member_id": m, "period": period, "party": party, "score": rng.choice((60, 77.5, 92, 100)),
                            "comment": "意见", "by": {"role": role, "id": m if party == "self" else "x",
                                                      "scope": "" if party == "self" else getattr(record, attr)}})
    for m in rng.sample(ids, 3):
        record = _record(ev, m)
        if record.community_id:
            ev.do(handlers.veto_member, {"member_id": m, "year": 2026, "statement": "全年未服务社区群众",
                                         "by": {**STAFF, "scope": record.community_id}})
    ev.do(handlers.close_period, "xq", "2026H1", "org-1")
    for m in rng.sample(ids, 5):                            # late: dated in the closed first half
        ev.verified([m], hours=2, at="2026-05-05T02:00:00+00:00")
    return ids


def _record(ev, member_id) -> MemberRecord:
    stored = ev.app.store.read_stream(MemberRecord.stream_id_for(member_id))
    return MemberRecord.replay(member_id, [ev.app.codec.decode(s) for s in stored])


def _grading_events(ev) -> dict:
    """member_id -> [(event type, data)] of the grades, disqualifications and reminders of
    missing inputs in the store."""
    out: dict = {}
    for e in ev.app.store.read_all(0, limit=10 ** 6):
        if e.event_type in ("GradeAssigned", "MemberDisqualified", "PartyInputReminded"):
            out.setdefault(e.data["member_id"], []).append((e.event_type, e.data))
    return out


def _disqualified(events) -> bool:
    return any(t == "MemberDisqualified" for t, _ in events)


def _grade_counts(ev) -> dict:
    return {m: sum(t == "GradeAssigned" for t, _ in v) for m, v in _grading_events(ev).items()}


@pytest.fixture
def replayed_calls(monkeypatch):
    calls = []
    original = handlers.grade_members_replayed

    def counting(uow, member_ids, year, rulebook):
        calls.append(list(member_ids))
        return original(uow, member_ids, year, rulebook)

    monkeypatch.setattr(handlers, "grade_members_replayed", counting)
    return calls


def test_the_close_grades_a_district_exactly_as_the_replayed_records_do(ev, replayed_calls):
    ids = _district(ev, random.Random(7))
    ev.query(readmodels.member_ids_of, "xq")                # the read models caught up
    # what each member's replayed record says (as the close will see it: both halves closed)
    expected = {}
    for m in ids:
        record = _record(ev, m)
        rules = ev.book.for_district(record.district_id)
        result = record.evaluate(2026, rules)
        expected[m] = [(e.event_type, e.to_data()) for e in domain.grade_events(
            m, record.name, record.unit_id, record.community_id, record.district_id, 2026, result)]
        with ev.db.transaction() as conn:
            folded = readmodels.grading_inputs(conn, [m])[m]
        assert folded.version == record.version and folded.year_inputs(2026) == record.year_inputs(2026)
    assert sum(_disqualified(v) for v in expected.values()) >= 5      # disqualifications among them
    assert sum(t == "PartyInputReminded" for v in expected.values() for t, _ in v) >= 5
    assert any("一票否决" in line for v in expected.values() for line in v[0][1]["explanation"])

    # an interrupted close: some members already graded, the replayed way
    ev.do(handlers.grade_members_replayed, ids[:7], 2026, ev.book)
    replayed_calls.clear()
    summary = ev.close_year("xq", 2026)
    assert replayed_calls == []                             # every batch took the set-based path
    assert _grading_events(ev) == expected                  # each member once, exactly as replayed
    grades = [v[0][1]["grade"] for v in expected.values()]
    assert summary["members"] == len(ids) and summary["distribution"] == {
        g: grades.count(g) for g in ("优秀", "良好", "一般", "较差", "差")}
    assert summary["disqualified"] == sum(_disqualified(v) or any("一票否决" in line for line in v[0][1]["explanation"])
                                          for v in expected.values())
    assert "other" not in _grading_events(ev)
    assert ev.query(readmodels.result, ids[10], 2026)["grade"] == expected[ids[10]][0][1]["grade"]

    again = ev.close_year("xq", 2026)                       # re-running changes nothing
    assert again == {**summary, "newly_awarded": 0} and _grading_events(ev) == expected


def test_a_read_model_behind_the_stream_falls_back_to_the_replayed_records(ev, replayed_calls):
    ev.member("m1")
    ev.member("m2")
    ev.verified(["m1", "m2"], hours=2)
    ev.query(readmodels.member_ids_of, "xq")                # the read models caught up …
    ev.verified(["m1"], hours=4)                            # … and m1's stream moved on since
    ev.member("m3")                                         # m3: not in the read model at all
    ev.do(handlers.close_period, "xq", "2026H2", "org-1")
    graded = ev.do(handlers.grade_members, ["m1", "m2", "m3"], 2026, ev.book)
    assert replayed_calls == [["m1", "m2", "m3"]]           # the whole batch, on the records
    assert [g["points"] for g in graded] == [_record(ev, m).points_in(2026) for m in ("m1", "m2", "m3")]
    assert graded[0]["points"] == 10 + (6 + 2 * 3) + (6 + 4 * 3)
    assert _grade_counts(ev) == {"m1": 1, "m2": 1, "m3": 1}

    ev.member("m4")                                         # not in the read model, the others are
    ev.query(readmodels.member_ids_of, "xq")
    ev.member("m5")
    replayed_calls.clear()
    graded = ev.do(handlers.grade_members, ["m4", "m5", "m1"], 2026, ev.book)
    assert replayed_calls == [["m5"]]                       # only the unknown member is replayed
    assert [g["member_id"] for g in graded] == ["m4", "m5", "m1"]
    assert _grade_counts(ev) == {"m1": 1, "m2": 1, "m3": 1, "m4": 1, "m5": 1}
