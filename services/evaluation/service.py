"""The evaluation nameko service: thin entrypoints over the handlers and read models."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from services.evaluation import domain, handlers, readmodels, schemas
from services.evaluation.rules import RuleBook, RulesError
from shared.application import Application
from shared.codec import EventCodec
from shared.yearly_minimum import PolicyError, YearlyMinimumPolicy
from shared.nameko_edge import (
    CommandRejected, ApplicationProvider, EventSourcedService, WorkLogging, command, subscribe,
)

RECORD = "evaluation.record"
BATCH = 500                 # members per transaction: recompute, titles
GRADE_BATCH = 2000          # members per transaction: grading (a row each of the grading read model)
DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent.parent / "deploy" / "config" / "evaluation-rules"


class OwnEventCodec(EventCodec):
    """Evaluation's codec: its own stored events of the current version were validated against
    their contract when they were appended, so reading them back skips the second validation
    (a year close replays every member's record; marshmallow per event was most of its time).
    Older versions still go through the contract's upcasters and validation."""

    def decode_data(self, stored):
        if stored.schema_version == self.classes[stored.event_type].schema_version:
            return stored.data
        return super().decode_data(stored)

    def decode(self, stored):
        cls = self.classes[stored.event_type]
        if stored.schema_version == cls.schema_version:
            return cls(**stored.data)       # written by to_data of this very class: same keys
        return cls.from_data(super().decode_data(stored))


def build_application(database):
    readmodels.places_metadata.create_all(database.engine)
    return (Application(database, OwnEventCodec("evaluation", domain.EVENTS)),
            [readmodels.EvaluationProjection(), readmodels.GradingProjection()])


class Rules(DependencyProvider):
    """The districts' point rules, loaded and validated at start-up (a bad file stops the
    service with every problem listed); `reload()` swaps them only if the new files are valid."""

    def setup(self):
        self.directory = self.container.config.get("EVALUATION_RULES_DIR") or str(DEFAULT_RULES_DIR)
        self.minimum_file = self.container.config.get("YEARLY_MINIMUM_FILE") or None
        self.book = self._load()

    def _load(self) -> RuleBook:
        # the yearly minimum is dispatch's too (shared.yearly_minimum): read fresh, validated here
        return RuleBook.load(self.directory, YearlyMinimumPolicy.load(self.minimum_file))

    def reload(self) -> RuleBook:
        self.book = self._load()
        return self.book

    def get_dependency(self, worker_ctx):
        return self


class EvaluationService(EventSourcedService):
    """五评议 and 记实积分: points, the five parties, grades, veto, double evaluation, rankings."""

    name = "evaluation"

    app = ApplicationProvider(build_application)
    rules = Rules()
    work_logging = WorkLogging()

    def _on(self, event, handler):
        self.app.handle_once(event, partial(handler, rulebook=self.rules.book), name=RECORD)

    # -- registration's events ------------------------------------------------------------------
    @subscribe("registration", "CommunityRegistered")
    def on_community_registered(self, event):
        self.app.handle_once(event, handlers.community_registered, name="evaluation.places")

    @subscribe("registration", "UnitRegistered")
    def on_unit_registered(self, event):
        self.app.handle_once(event, handlers.unit_registered, name="evaluation.places")

    @subscribe("registration", "MemberEnrolled")
    def on_member_enrolled(self, event):
        self._on(event, handlers.member_enrolled)

    @subscribe("registration", "MemberCheckedIn")
    def on_member_checked_in(self, event):
        self._on(event, handlers.member_checked_in)

    @subscribe("registration", "RegistrationObligationOpened")
    def on_registration_obligation_opened(self, event):
        self._on(event, handlers.obligation_opened)

    @subscribe("registration", "RegistrationOverdue")
    def on_registration_overdue(self, event):
        self._on(event, handlers.registration_overdue)

    @subscribe("registration", "OverdueReasonRecorded")
    def on_overdue_reason_recorded(self, event):
        self._on(event, handlers.overdue_reason_recorded)

    @subscribe("registration", "MemberMoved")
    def on_member_moved(self, event):
        self._on(event, handlers.member_moved)

    @subscribe("registration", "CommitmentMade")
    def on_commitment_made(self, event):
        self._on(event, handlers.commitment_made)

    # -- dispatch's events ----------------------------------------------------------------------
    @subscribe("dispatch", "ServiceVerified")
    def on_service_verified(self, event):
        self._on(event, handlers.service_verified)

    @subscribe("dispatch", "ServiceRejected")
    def on_service_rejected(self, event):
        self._on(event, handlers.service_rejected)

    @subscribe("dispatch", "ServiceRated")
    def on_service_rated(self, event):
        self._on(event, handlers.service_rated)

    @subscribe("dispatch", "WishFulfilled")
    def on_wish_fulfilled(self, event):
        self._on(event, handlers.wish_fulfilled)

    @subscribe("dispatch", "AttendanceRecorded")
    def on_attendance_recorded(self, event):
        self._on(event, handlers.attendance_recorded)

    # -- the five parties -----------------------------------------------------------------------
    def _party(self, party, cmd):
        return self.app.execute(handlers.submit_party_input, {**cmd, "party": party})

    @command(schemas.PartyInputSchema)
    def submit_self_evaluation(self, cmd):
        """党员自评: the member's written half-year report (by the member)."""
        return self._party("self", cmd)

    @command(schemas.PartyInputSchema)
    def record_leader_review(self, cmd):
        """领导点评 (by the unit leader)."""
        return self._party("leader", cmd)

    @command(schemas.PartyInputSchema)
    def record_resident_rating(self, cmd):
        """群众测评 (by the community's resident panel)."""
        return self._party("residents", cmd)

    @command(schemas.PartyInputSchema)
    def record_community_score(self, cmd):
        """社区参评 (by the community party organisation)."""
        return self._party("community", cmd)

    @command(schemas.PartyInputSchema)
    def record_organisation_assessment(self, cmd):
        """组织考评 (by the district organisation department)."""
        return self._party("organisation", cmd)

    @command(schemas.VetoSchema)
    def veto_member(self, cmd):
        return self.app.execute(handlers.veto_member, cmd)

    # -- periods and the year ---------------------------------------------------------------------
    @command(schemas.ClosePeriodSchema)
    def close_period(self, cmd):
        """Close a half year; the parties that owe members' inputs for it are reminded."""
        closed = self.app.execute(handlers.close_period, cmd["district_id"], cmd["period"], cmd["by"])
        if closed["changed"]:
            closed["reminded"] = remind(self.app, cmd["district_id"], cmd["period"], "period_closed")
        return closed

    @command(schemas.RemindSchema)
    def remind_party_inputs(self, cmd):
        """On request: remind the parties of every member's missing inputs for a half year."""
        return {"district_id": cmd["district_id"], "period": cmd["period"],
                "reminded": remind(self.app, cmd["district_id"], cmd["period"], "requested")}

    @command(schemas.RegradeSchema)
    def regrade(self, cmd):
        """Regrade a district's graded year from the members' histories under the current rules
        (after `reload_rules` or a corrected grading rule)."""
        return regrade(self.app, self.rules.book, cmd["district_id"], cmd["year"], cmd["by"], cmd["dry_run"])

    @command(schemas.CloseYearSchema)
    def close_year(self, cmd):
        """Close both halves, grade every member of the district (in batches), award titles."""
        return close_year(self.app, self.rules.book, cmd["district_id"], cmd["year"], cmd["by"])

    @command(schemas.PublishDoubleEvaluationSchema)
    def publish_double_evaluation(self, cmd):
        table = self.app.query(readmodels.double_evaluation, cmd["unit_id"], cmd["year"])
        result = self.app.execute(handlers.publish_double_evaluation, cmd["unit_id"], cmd["year"],
                                  len(table["members"]))
        return {**result, "table": self.app.query(readmodels.double_evaluation, cmd["unit_id"], cmd["year"])}

    @rpc(expected_exceptions=CommandRejected)
    def reload_rules(self, district_id=None):
        """Load the rules files again; if valid, recompute the open periods' ledgers of the
        district (or every district) from the recorded facts."""
        try:
            book = self.rules.reload()
        except (RulesError, PolicyError) as exc:
            raise CommandRejected(exc.code, str(exc), {"problems": exc.problems}) from None
        return recompute(self.app, book, district_id)

    # -- queries ----------------------------------------------------------------------------------
    @rpc
    def points_record(self, member_id, year=None, as_of=None):
        return self.app.query(readmodels.points_record, member_id, year, as_of)

    @rpc
    def party_history(self, member_id, period=None):
        return self.app.query(readmodels.party_history, member_id, period)

    @rpc
    def members_of_street(self, street_id):
        return self.app.query(readmodels.members_of_street, street_id)

    @rpc
    def missing_inputs(self, district_id, period):
        return self.app.query(readmodels.missing_inputs, district_id, period)

    @rpc
    def result(self, member_id, year):
        return self.app.query(readmodels.result, member_id, int(year))

    @rpc
    def grade_distribution(self, district_id, year):
        return self.app.query(readmodels.grade_distribution, district_id, int(year))

    @rpc
    def ranking(self, year, community_id=None, district_id=None, limit=10):
        return self.app.query(readmodels.ranking, int(year), community_id=community_id, district_id=district_id,
                              limit=int(limit))

    @rpc
    def double_evaluation(self, unit_id, year):
        return self.app.query(readmodels.double_evaluation, unit_id, int(year))

    @rpc
    def closed_periods(self, district_id):
        return self.app.query(readmodels.closed_periods, district_id)

    @rpc
    def published_results(self, community_id, year, limit=1000):
        """The community's ranking and grades of a closed year (公布), names masked."""
        return self.app.query(readmodels.published_results, community_id, int(year), int(limit))

    @rpc
    def communities_of(self, member_id=None, unit_id=None):
        return self.app.query(readmodels.communities_of, member_id=member_id, unit_id=unit_id)


def close_year(app, book: RuleBook, district_id: str, year: int, by: str) -> dict:
    """The year's close for a district; re-running it finishes an interrupted close."""
    app.execute(handlers.close_period, district_id, f"{year}H2", by)
    member_ids = app.query(readmodels.member_ids_of, district_id)
    graded = []
    for start in range(0, len(member_ids), GRADE_BATCH):
        graded += app.execute(handlers.grade_members, member_ids[start:start + GRADE_BATCH], year, book)
    awards = handlers.choose_titles(graded, book.for_district(district_id))
    awarded = 0
    for start in range(0, len(awards), BATCH):
        awarded += app.execute(handlers.award_titles, awards[start:start + BATCH], year)
    distribution = {g: 0 for g in ("优秀", "良好", "一般", "较差", "差")}
    for g in graded:
        distribution[g["grade"]] += 1
    return {"district_id": district_id, "year": year, "members": len(graded), "distribution": distribution,
            "disqualified": sum(not g["eligible"] for g in graded), "titles": len(awards), "newly_awarded": awarded}


def recompute(app, book: RuleBook, district_id: str | None) -> dict:
    member_ids = app.query(readmodels.member_ids_of, district_id)
    corrected = 0
    for start in range(0, len(member_ids), BATCH):
        corrected += app.execute(handlers.recompute, member_ids[start:start + BATCH], book)
    return {"district_id": district_id, "members": len(member_ids), "corrections": corrected}


def remind(app, district_id: str, period: str, occasion: str) -> int:
    member_ids = app.query(readmodels.member_ids_of, district_id)
    reminded = 0
    for start in range(0, len(member_ids), BATCH):
        reminded += app.execute(handlers.remind_party_inputs, member_ids[start:start + BATCH], period, occasion)
    return reminded


def regrade(app, book: RuleBook, district_id: str, year: int, by: str, dry_run: bool = False) -> dict:
    """Re-decide the district's year for every member (grade, disqualification, titles), then
    award the title places left free; what changed, old and new. `dry_run`: the same answer,
    decided on the records as read, with nothing recorded (the confirm step)."""
    member_ids = app.query(readmodels.member_ids_of, district_id)
    changes, standings = [], []
    for start in range(0, len(member_ids), BATCH):
        batch = member_ids[start:start + BATCH]
        if dry_run:
            try:
                app.execute(handlers.regrade_preview, batch, year, book, by)
            except handlers.Preview as preview:     # its transaction rolled back: nothing recorded
                done = preview.answer
        else:
            done = app.execute(handlers.regrade, batch, year, book, by)
        changes += done["changes"]
        standings += done["standings"]
    awards = domain.free_title_places(standings, book.for_district(district_id))
    if awards and not dry_run:
        app.execute(handlers.award_free_titles, awards, year)
    if awards:
        by_member = {c["member_id"]: c for c in changes}
        standing = {s["member_id"]: s for s in standings}
        for member_id, title, _ in awards:
            if member_id not in by_member:          # only a title changes: the grade stands
                s = standing[member_id]
                by_member[member_id] = {
                    "member_id": member_id, "name": s["name"], "old_grade": s["grade"], "new_grade": s["grade"],
                    "old_points": s["points"], "new_points": s["points"], "old_rules": "", "new_rules": "",
                    "old_disqualified": s["disqualified"], "new_disqualified": s["disqualified"],
                    "titles_withdrawn": [], "titles_awarded": []}
                changes.append(by_member[member_id])
            by_member[member_id]["titles_awarded"].append(title)
    return {"district_id": district_id, "year": year, "dry_run": dry_run, "members": len(member_ids),
            "revised": len(changes),
            "titles_withdrawn": sum(len(c["titles_withdrawn"]) for c in changes),
            "titles_awarded": len(awards), "changes": changes}
