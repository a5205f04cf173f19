"""The dispatch nameko service: thin entrypoints over the handlers, matching and read models."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from nameko.rpc import rpc

from services.dispatch import domain, handlers, ledger_forms, ledger_handlers, ledger_readmodels, ledgers, matching
from services.dispatch import readmodels, schemas
from services.dispatch.ledgers import Team
from services.dispatch.six_ones import LOCAL_TZ, quarter_of
from shared import yearly_minimum as minimum_policy
from shared.application import Application
from shared.codec import EventCodec
from shared.domain import DomainError, NotFound
from shared.nameko_edge import (
    CommandRejected, ApplicationProvider, EventSourcedService, WorkLogging, command, config_timer, subscribe,
)

DIRECTORY = "dispatch.directory"


def now() -> datetime:
    return datetime.now(timezone.utc)


def build_application(database):
    readmodels.directory_metadata.create_all(database.engine)
    return (Application(database, EventCodec("dispatch", domain.EVENTS + ledgers.EVENTS)),
            [readmodels.DispatchProjection(), ledger_readmodels.LedgerProjection()])


def local_today():
    return now().astimezone(LOCAL_TZ).date()


def document(filename: str, content: bytes, content_type: str) -> dict:
    import base64
    return {"filename": filename, "content_type": content_type,
            "content_base64": base64.b64encode(content).decode("ascii")}


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class DispatchService(EventSourcedService):
    """三单制: demands, dispatch, acceptance, service records, wishes, activities."""

    name = "dispatch"

    app = ApplicationProvider(build_application)
    work_logging = WorkLogging()

    # -- policy (config) ----------------------------------------------------------------------
    def _minimum(self) -> minimum_policy.YearlyMinimumPolicy:
        """The yearly minimum (shared.yearly_minimum), from YEARLY_MINIMUM_FILE or the repository's."""
        return minimum_policy.configured(self.app.config.get("YEARLY_MINIMUM_FILE") or None)

    def _policy(self) -> tuple[timedelta, timedelta]:
        cfg = self.app.config
        return (timedelta(minutes=float(cfg.get("ACCEPTANCE_LIMIT_MINUTES", 120))),
                timedelta(hours=float(cfg.get("SERVICE_DUE_HOURS", 72))))

    # -- the directory's facts about who acts; the domain decides -------------------------------
    def _member(self, member_id: str | None):
        found = self.app.query(readmodels.directory_member, member_id, fresh=False) if member_id else None
        return domain.Member.from_row(found)

    def _team(self, team_id: str | None):
        return domain.ServiceTeam.from_row(self.app.query(readmodels.team_view, team_id, fresh=False)
                                           if team_id else None)

    def _acting(self, who: dict) -> domain.Acting:
        """`who`: `{"kind": "member", "id"}` or `{"kind": "team", "id", "member_id"}`."""
        if who.get("kind") == "team":
            member_id = who.get("member_id") or ""
            return domain.Acting(member_id, self._member(member_id), who["id"], self._team(who["id"]))
        return domain.Acting(who["id"], self._member(who["id"]))

    def _crew(self, member_ids) -> dict:
        return {m: self._member(m) for m in dict.fromkeys(member_ids)}

    def _order(self, demand_id: str) -> dict:
        """The order's row, for what never changes after 点单 (community, category, grid, window);
        the command's handler decides on the aggregate itself. So a row already projected is
        good enough, and only a missing one (recorded a moment ago, maybe by another instance)
        costs catching the projection up (measured: the catch-up was a fifth of dispatch's CPU
        in bench.e2e)."""
        order = self.app.query(readmodels.order_view, demand_id, fresh=False)
        if order is None:
            order = self.app.query(readmodels.order_view, demand_id)
        if order is None:
            raise NotFound(f"订单 {demand_id} 不存在")
        return order

    # -- registration's events keep the directory --------------------------------------------
    @subscribe("registration", "MemberCheckedIn")
    def on_member_checked_in(self, event):
        self.app.handle_once(event, handlers.directory_registered, name=DIRECTORY)

    @subscribe("registration", "MemberMoved")
    def on_member_moved(self, event):
        self.app.handle_once(event, handlers.directory_moved, name=DIRECTORY)

    @subscribe("registration", "MemberChangedWorkplace")
    def on_member_changed_workplace(self, event):
        self.app.handle_once(event, handlers.directory_workplace_changed, name=DIRECTORY)

    @subscribe("registration", "TeamFormed")
    def on_team_formed(self, event):
        self.app.handle_once(event, handlers.directory_team_formed, name=DIRECTORY)

    @subscribe("registration", "MemberJoinedTeam")
    def on_member_joined_team(self, event):
        self.app.handle_once(event, handlers.directory_team_joined, name=DIRECTORY)

    @subscribe("registration", "TeamLeaderElected")
    def on_team_leader_elected(self, event):
        # ordered: of two elections in one team, an older one arriving late must not win
        self.app.handle_once(event, handlers.directory_team_leader, name=f"{DIRECTORY}.leader", ordered=True)

    # -- 点单 ----------------------------------------------------------------------------------
    @command(schemas.RecordDemandSchema)
    def record_demand(self, cmd):
        """A resident's demand; near-identical open ones in the same grid are flagged."""
        open_ones = self.app.query(readmodels.open_in_grid, cmd["community_id"], cmd.get("grid_id"),
                                   cmd["category"], cmd["address"])
        duplicates = matching.similar_demands(cmd, open_ones)
        return self.app.execute(handlers.record_demand, cmd, duplicates)

    @command(schemas.MergeDemandsSchema)
    def merge_demands(self, cmd):
        return self.app.execute(handlers.merge_demands, cmd)

    @rpc(expected_exceptions=CommandRejected)
    def shortlist(self, demand_id, limit=10):
        """Ranked members for a demand, each with the reasons for its place."""
        try:
            order = self._order(demand_id)
        except DomainError as exc:
            raise CommandRejected(exc.code, exc.message) from None
        candidates = self.app.query(readmodels.candidates_in, order["community_id"], now().year, fresh=False)
        return matching.rank_candidates(order, candidates, limit=int(limit))

    # -- 下单 ----------------------------------------------------------------------------------
    @command(schemas.DispatchOrderSchema)
    def dispatch_order(self, cmd):
        """To named members/teams in order, or to the top of the suggested shortlist; the next
        one gets the order if the first declines or does not accept in time."""
        self._order(cmd["demand_id"])
        if cmd["candidates"]:
            queue = [{"kind": c["kind"], "id": c["id"]} for c in cmd["candidates"]]
            reasons = ["社区工作人员指定"]
        else:
            ranked = self.shortlist(cmd["demand_id"], cmd["suggested"])
            if not ranked:
                raise CommandRejected("no_candidates", "该社区暂无可派单的已报到党员，请发布到服务菜单或指定人员")
            queue = [{"kind": r["kind"], "id": r["member_id"], "name": r["name"]} for r in ranked]
            reasons = ranked[0]["reasons"]
        accept_within, due_within = self._policy()
        entries = [(c["kind"], c["id"], self._team(c["id"]) if c["kind"] == "team" else self._member(c["id"]))
                   for c in queue]
        return self.app.execute(handlers.dispatch_order, cmd["demand_id"], entries, reasons, cmd["by"], now(),
                                accept_within, due_within)

    @command(schemas.StaffActionSchema)
    def publish_order(self, cmd):
        accept_within, due_within = self._policy()
        return self.app.execute(handlers.publish_order, cmd["demand_id"], now(), accept_within, due_within)

    # -- 接单 ----------------------------------------------------------------------------------
    @command(schemas.AcceptOrderSchema)
    def accept_order(self, cmd):
        return self.app.execute(handlers.accept_order, cmd["demand_id"], self._acting(cmd["who"]), now())

    @command(schemas.DeclineOrderSchema)
    def decline_order(self, cmd):
        return self.app.execute(handlers.decline_order, cmd["demand_id"], self._acting(cmd["who"]), cmd["reason"],
                                now(), self._policy()[0])

    # -- 服务纪实 ------------------------------------------------------------------------------
    @command(schemas.CompleteServiceSchema)
    def complete_service(self, cmd):
        acting = self._acting(cmd["who"])
        team_crew = self._crew(acting.team.member_ids) if acting.team is not None else {}
        return self.app.execute(handlers.complete_service, cmd, acting, self._crew(cmd["member_ids"]), now(),
                                team_crew)

    @command(schemas.StaffActionSchema)
    def verify_service(self, cmd):
        return self.app.execute(handlers.verify_service, cmd, now())

    @command(schemas.RejectServiceSchema)
    def reject_service(self, cmd):
        return self.app.execute(handlers.reject_service, cmd)

    @command(schemas.RateServiceSchema)
    def rate_service(self, cmd):
        return self.app.execute(handlers.rate_service, cmd)

    @command(schemas.CancelOrderSchema)
    def cancel_order(self, cmd):
        return self.app.execute(handlers.cancel_order, cmd)

    @command(schemas.StaffActionSchema)
    def reopen_order(self, cmd):
        return self.app.execute(handlers.reopen_order, cmd)

    # -- time rules ----------------------------------------------------------------------------
    @rpc
    def check_deadlines(self, as_of=None):
        """Re-dispatch orders not accepted in time (or escalate), and mark overdue ones."""
        moment = datetime.fromisoformat(as_of) if as_of else now()
        accept_within, _ = self._policy()
        timed_out = overdue = 0
        for batch in iter(lambda: self.app.query(readmodels.due_for_timeout, moment.isoformat()), []):
            done = self.app.execute(handlers.time_out_orders, batch, moment, accept_within)
            timed_out += done
            if not done:
                break
        for batch in iter(lambda: self.app.query(readmodels.due_for_overdue, moment.isoformat()), []):
            done = self.app.execute(handlers.mark_overdue_orders, batch, moment)
            overdue += done
            if not done:
                break
        return {"as_of": moment.isoformat(), "timed_out": timed_out, "overdue": overdue}

    @config_timer("DEADLINE_SCAN_SECONDS", 30)
    def scan_deadlines(self):
        self.check_deadlines()

    # -- wishes and activities -----------------------------------------------------------------
    @command(schemas.PostWishSchema)
    def post_wish(self, cmd):
        return self.app.execute(handlers.post_wish, cmd)

    @command(schemas.ClaimWishSchema)
    def claim_wish(self, cmd):
        """By a member, or collectively by a unit with its members registered there (集体认领)."""
        member_ids = [cmd["claimant_id"]] if cmd["claimant_kind"] == "member" else cmd["member_ids"]
        return self.app.execute(handlers.claim_wish, cmd, self._crew(member_ids))

    @command(schemas.FulfilWishSchema)
    def fulfil_wish(self, cmd):
        return self.app.execute(handlers.fulfil_wish, cmd, now())

    @command(schemas.ScheduleActivitySchema)
    def schedule_activity(self, cmd):
        return self.app.execute(handlers.schedule_activity, cmd, now())

    @command(schemas.SignUpSchema)
    def sign_up(self, cmd):
        return self.app.execute(handlers.sign_up, cmd, now())

    @command(schemas.AttendanceSchema)
    def record_attendance(self, cmd):
        return self.app.execute(handlers.record_attendance, cmd, now())

    # -- queries -------------------------------------------------------------------------------
    @rpc
    def order(self, demand_id):
        return self.app.query(readmodels.order_view, demand_id)

    @rpc
    def open_demands(self, community_id, page=1, page_size=50):
        return self.app.query(readmodels.open_demands, community_id, page, page_size)

    @rpc
    def member_orders(self, member_id):
        return self.app.query(readmodels.member_orders, member_id)

    @rpc
    def resident_orders(self, resident_id, page=1, page_size=20):
        return self.app.query(readmodels.resident_orders, resident_id, page, page_size)

    @rpc
    def resident_communities(self, resident_id):
        """Where the resident is known (has demands): the communities, sorted."""
        return self.app.query(readmodels.resident_communities, resident_id)

    @rpc
    def community_orders(self, community_id, states=None, page=1, page_size=20):
        return self.app.query(readmodels.community_orders, community_id, states, page, page_size)

    @rpc
    def demand_statistics(self, community_ids):
        return self.app.query(readmodels.demand_statistics, list(community_ids)[:5000])

    @rpc
    def services_by_month(self, community_ids):
        """Verified services and hours by month in the given communities."""
        return self.app.query(readmodels.services_by_month, community_ids)

    @rpc
    def yearly_minimum(self, year, unit_id=None, community_id=None):
        return self.app.query(readmodels.yearly_minimum, int(year), unit_id=unit_id, community_id=community_id,
                              policy=self._minimum())

    @rpc
    def activities(self, community_id):
        return self.app.query(readmodels.community_activities, community_id)

    @rpc
    def wish_wall(self, community_id):
        return self.app.query(readmodels.wish_wall, community_id)

    # -- the community's ledgers, 六个一, the yearly feedback card ------------------------------
    def _member_of(self, member_id: str, community_id: str) -> dict:
        member = self.app.query(readmodels.directory_member, member_id, fresh=False)
        domain.registered_here(domain.Member.from_row(member), community_id, member_id)
        return member

    @command(schemas.SubmitProposalSchema)
    def submit_proposal(self, cmd):
        """建议 (六个一: 提出一条好的建议), by a member registered in the community."""
        member = self._member_of(cmd["member_id"], cmd["community_id"])
        return self.app.execute(ledger_handlers.submit_proposal, cmd, member, now())

    @command(schemas.AdoptProposalSchema)
    def adopt_proposal(self, cmd):
        return self.app.execute(ledger_handlers.adopt_proposal, cmd, now())

    @command(schemas.ReportDeedSchema)
    def report_deed(self, cmd):
        """实事 (六个一: 办好一件社区实事), by a member registered in the community."""
        member = self._member_of(cmd["member_id"], cmd["community_id"])
        return self.app.execute(ledger_handlers.report_deed, cmd, member, now())

    @command(schemas.VerifyDeedSchema)
    def verify_deed(self, cmd):
        return self.app.execute(ledger_handlers.verify_deed, cmd, now())

    @command(schemas.RecordTeamVisitSchema)
    def record_team_visit(self, cmd):
        """组团走访: the team's visit to its area, who went, what residents asked."""
        found = self.app.query(readmodels.team_view, cmd["team_id"])
        domain.team_here(domain.ServiceTeam.from_row(found), cmd["community_id"], cmd["team_id"])
        team = Team(found["team_id"], found["community_id"], found["name"], found["member_ids"])
        return self.app.execute(ledger_handlers.record_team_visit, cmd, team, local_today())

    @rpc
    def remind_missed_visits(self, as_of=None):
        """Remind the community of each team that did not visit in the quarter before `as_of`
        (a date; today in Beijing by default): once per team and quarter."""
        from datetime import date
        day = date.fromisoformat(as_of) if as_of else local_today()
        q = quarter_of(day)
        year, quarter = (day.year, q - 1) if q > 1 else (day.year - 1, 4)
        teams = [Team(t["team_id"], t["community_id"], t["name"]) for t in self.app.query(ledger_readmodels.all_teams)]
        reminded = 0
        for start in range(0, len(teams), 200):
            reminded += self.app.execute(ledger_handlers.remind_missed_visits, teams[start:start + 200], year,
                                         quarter, day)
        return {"year": year, "quarter": quarter, "reminded": reminded}

    @config_timer("TEAM_VISIT_SCAN_SECONDS", 6 * 3600)
    def scan_missed_visits(self):
        self.remind_missed_visits()

    @command(schemas.IssueFeedbackCardSchema)
    def issue_feedback_card(self, cmd):
        """在职党员社区表现反馈卡: filled from the member's verified records and activities of the
        year, filed with the unit (once a year)."""
        member = self.app.query(readmodels.directory_member, cmd["member_id"])
        if member is None:
            raise domain.UnknownMember(f"党员 {cmd['member_id']} 不存在", member_id=cmd["member_id"])
        facts = self.app.query(ledger_readmodels.card_facts, cmd["member_id"], cmd["year"])
        district = self.app.query(readmodels.district_of_community, member["community_id"], fresh=False)
        meets = self._minimum().for_district(district).meets(facts["services"], facts["attended"])
        return self.app.execute(ledger_handlers.issue_feedback_card, cmd, member, facts, meets, now())

    @rpc
    def service_records(self, member_id, year=None):
        """The member's verified services (服务记录), oldest first."""
        return self.app.query(ledger_readmodels.member_service_records, member_id,
                              int(year) if year is not None else None)

    @rpc
    def member_six_ones(self, member_id, year):
        return self.app.query(ledger_readmodels.member_six_ones, member_id, int(year))

    @rpc
    def community_six_ones(self, community_id, year):
        return self.app.query(ledger_readmodels.community_six_ones, community_id, int(year))

    @rpc
    def visit_ledger(self, community_id, year):
        return self.app.query(ledger_readmodels.visit_ledger, community_id, int(year))

    @rpc
    def teams_without_visit(self, community_id, year, quarter):
        return self.app.query(ledger_readmodels.teams_without_visit, community_id, int(year), int(quarter))

    @rpc
    def demand_ledger(self, community_id, year):
        return self.app.query(ledger_readmodels.demand_ledger, community_id, int(year))

    @rpc
    def visit_ledger_xlsx(self, community_id, community_name, year):
        rows = self.app.query(ledger_readmodels.visit_ledger, community_id, int(year))
        return document(f"民情走访台账-{community_name}-{int(year)}.xlsx",
                        ledger_forms.visit_ledger_xlsx(community_name, int(year), rows, now().isoformat()), XLSX)

    @rpc
    def demand_ledger_xlsx(self, community_id, community_name, year):
        rows = self.app.query(ledger_readmodels.demand_ledger, community_id, int(year))
        return document(f"诉求反馈台账-{community_name}-{int(year)}.xlsx",
                        ledger_forms.demand_ledger_xlsx(community_name, int(year), rows, now().isoformat()), XLSX)

    @rpc
    def feedback_card(self, member_id, year):
        return self.app.query(ledger_readmodels.feedback_card, member_id, int(year))

    @rpc(expected_exceptions=CommandRejected)
    def feedback_card_pdf(self, member_id, year, community_name="", extra=None):
        """The card as PDF; `extra` adds what dispatch does not know (the member's gender, card
        number, registration date: registration's facts, filled by the caller)."""
        card = self.app.query(ledger_readmodels.feedback_card, member_id, int(year))
        if card is None:
            raise CommandRejected("not_found", "该年度的表现反馈卡尚未填写")
        content = ledger_forms.feedback_card_pdf({**card, "community_name": community_name, **(extra or {})})
        return document(f"表现反馈卡-{card['member_name']}-{int(year)}.pdf", content, "application/pdf")
